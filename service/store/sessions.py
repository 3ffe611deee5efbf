"""The unit of work: ``Sessions.begin()`` is one transaction; ``Sessions.read()`` a session for reads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service import db


class Sessions:
    """Sessions on one engine. Every school written in a ``begin()`` block gets a change-log row (``db.Change``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.factory: sessionmaker[Session] = db.make_sessionmaker(engine)

    def __call__(self) -> Session:
        """A plain session (use as a context manager)."""
        return self.factory()

    def read(self) -> Session:
        """A session for reads (use as a context manager)."""
        return self.factory()

    @contextlib.contextmanager
    def begin(self, on_commit: set[int] | None = None) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        ``on_commit``, if given, receives the sequence numbers of the change-log rows the transaction wrote
        (once it has committed).
        """
        with self.factory.begin() as s:
            yield s
        if on_commit is not None:
            on_commit.update(c.seq for c in s.info.get("changes", ()))
