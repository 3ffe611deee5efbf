"""The unit of work: ``Sessions.begin()`` is one write transaction; ``Sessions.read()`` a session for reads.

Write transactions hold the locks that make the database the arbiter of every invariant:

- SQLite: ``BEGIN IMMEDIATE`` (the database's write lock from the first statement, so the reads that
  decide a write see the latest commit and nothing commits in between; ``db.make_engine`` switches
  pysqlite's own transaction handling off and sends ``BEGIN`` itself, with the mode the execution option
  ``db.BEGIN_OPTION`` names; reads get a plain ``BEGIN``: one snapshot per read transaction).
- PostgreSQL: ``LOCK TABLE changes IN EXCLUSIVE MODE`` first, so writers commit in change-feed order
  (a sequence number is never visible after a larger one: other processes can apply the feed in
  order), plus ``SELECT ... FOR UPDATE`` on the school rows a write decides on (``store.schools.rows``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service import db


class Sessions:
    """Sessions on one engine. Every school written in a ``begin()`` block gets a change-log row (``db.Change``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.factory: sessionmaker[Session] = db.make_sessionmaker(engine)
        self.write_factory: sessionmaker[Session] = db.make_sessionmaker(
            engine.execution_options(**{db.BEGIN_OPTION: "IMMEDIATE"})
        )

    def __call__(self) -> Session:
        """A plain session (use as a context manager)."""
        return self.factory()

    def read(self) -> Session:
        """A session for reads (use as a context manager): its queries share one transaction's snapshot."""
        return self.factory()

    @contextlib.contextmanager
    def begin(self, on_commit: dict[int, str] | None = None, *, feed: bool = True) -> Iterator[Session]:
        """One write transaction holding the write locks (see the module docstring): committed when the
        block ends, rolled back if it raises.

        ``on_commit``, if given, receives the change-log rows the transaction wrote, ``{seq: school_id}``
        (once it has committed). ``feed=False``: a write that touches no school (sessions, sign-in links)
        skips PostgreSQL's change-feed table lock.
        """
        with self.write_factory.begin() as s:
            if feed and self.dialect == "postgresql":
                s.execute(text(f"LOCK TABLE {db.Change.__tablename__} IN EXCLUSIVE MODE"))
            yield s
        if on_commit is not None:
            on_commit.update({c.seq: c.school_id for c in s.info.get("changes", ())})

    @property
    def locks_rows(self) -> bool:
        """Whether ``SELECT ... FOR UPDATE`` means something here (not on SQLite: the whole database is locked)."""
        return self.dialect != "sqlite"
