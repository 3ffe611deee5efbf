"""A throwaway PostgreSQL server for the benchmarks: the same code the tests use to start theirs
(``tests/support/postgres.py``: Debian's ``initdb``/``pg_ctl`` in a temporary directory, on a free loopback port,
as the ``postgres`` OS user when run as root). Not part of the library."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from _common import ROOT

if str(ROOT) not in sys.path:  # scripts under benchmarks/ run with only benchmarks/ on the path
    sys.path.insert(0, str(ROOT))

from tests.support.postgres import DURABLE, SETTINGS, PostgresServer


def note(durable: bool = True) -> str:
    """The server settings that matter for the figures, as one line."""
    settings = DURABLE if durable else SETTINGS
    return ", ".join(f"{k}={v}" for k, v in settings.items() if k in ("fsync", "synchronous_commit", "shared_buffers"))


@contextmanager
def postgres_database(prefix: str = "bench", durable: bool = True) -> Iterator[str]:
    """Start a PostgreSQL server (``durable``: fsync and synchronous commits on, as PostgreSQL ships; else the
    tests' fast settings), yield the SQLAlchemy URL of a new empty database on it, stop it after."""
    server = PostgresServer(settings=DURABLE if durable else SETTINGS).start()
    try:
        yield server.create_database(prefix)
    finally:
        server.stop()
