"""Shared fixtures (a fast fake encoder, a small random registry, the real model once) and the ``slow`` marks."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from features.profiles import SchoolProfile
from features.text import HashingEncoder
from tests.support.factories import make_registry
from tests.support.postgres import PostgresServer

TESTS = Path(__file__).resolve().parent
# Tests marked ``slow`` here, by where they live (a folder, a file or ``file::test`` under tests/): `make test-fast`
# (pytest -m "not slow") leaves them out, `make test` runs them. Tests marked ``real_model`` are slow too.
SLOW: dict[str, str] = {
    "docs/test_examples.py::test_console_examples_print_what_they_show": "each console example is a new process",
    "web": "a real server and headless Chromium",
    "notebooks": "each notebook runs top to bottom in a Jupyter kernel",
    "service/test_service_schemathesis.py": "schemathesis sends hundreds of generated requests",
    "service/test_service_processes.py": "several server processes, one killed and replaced",
    "service/test_service_server.py": "real uvicorn processes, stopped and restarted",
    "service/test_races.py": "two server processes per database racing on every write",
    "service/test_crash.py": "server processes killed with kill -9 and restarted, on each database",
}


def is_slow(item: pytest.Item) -> bool:
    """Whether a collected test belongs to ``SLOW`` or loads the real model."""
    if item.get_closest_marker("real_model"):
        return True
    where = item.path.resolve().relative_to(TESTS).as_posix()
    test = f"{where}::{getattr(item, 'originalname', item.name)}"
    return any(place in (where, test) or where.startswith(f"{place}/") for place in SLOW)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow tests ``slow`` (see ``SLOW``)."""
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def fake_encoder() -> HashingEncoder:
    """A fast deterministic encoder standing in for sentence-transformers in unit tests."""
    return HashingEncoder(dim=64)


@pytest.fixture(scope="session")
def real_encoder():
    """The real all-MiniLM-L6-v2 model, loaded once per test session (tests marked real_model)."""
    from features.text import SentenceTransformerEncoder

    return SentenceTransformerEncoder()


@pytest.fixture
def registry() -> list[SchoolProfile]:
    """A small random registry (200 schools)."""
    return make_registry(200)


# ------------------------------------------------------------------ database backends
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole test session (started on first use, stopped at the end)."""
    try:
        server = PostgresServer().start()
    except RuntimeError as exc:
        pytest.fail(f"the PostgreSQL tests need a PostgreSQL server they start themselves: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test run: "sqlite" or "postgresql" (each test runs once per backend)."""
    return request.param


@pytest.fixture
def make_database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], str]:
    """Makes empty databases of this test's backend; each call returns a new one's SQLAlchemy URL.

    SQLite: the first is ``<tmp_path>/registry.sqlite`` (the service's default with ``data_dir=tmp_path``).
    """
    if db_backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database
    names = (f"registry-{n}.sqlite" if n > 1 else "registry.sqlite" for n in itertools.count(1))
    return lambda: f"sqlite:///{tmp_path / next(names)}"


@pytest.fixture
def database_url(make_database_url: Callable[[], str]) -> str:
    """The SQLAlchemy URL of an empty database for this test, once per backend (``db_backend``)."""
    return make_database_url()
