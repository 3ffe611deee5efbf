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

from tests.support.postgres import SETTINGS, PostgresServer

NOTE = ", ".join(f"{k}={v}" for k, v in SETTINGS.items() if k in ("fsync", "synchronous_commit", "shared_buffers"))


@contextmanager
def postgres_database(prefix: str = "bench") -> Iterator[str]:
    """Start a PostgreSQL server, yield the SQLAlchemy URL of a new empty database on it, stop it after."""
    server = PostgresServer().start()
    try:
        yield server.create_database(prefix)
    finally:
        server.stop()
