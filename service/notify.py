"""Waking every process when changes commit: PostgreSQL ``LISTEN/NOTIFY`` on ``db.CHANGES_CHANNEL``.

SQLite has no such thing; its processes poll the change log (``service.sync``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from service.db import CHANGES_CHANNEL

log = logging.getLogger(__name__)


def supports_notify(engine: Engine) -> bool:
    """Whether committed changes wake other processes (PostgreSQL ``LISTEN/NOTIFY``); SQLite polls instead."""
    return engine.dialect.name == "postgresql"


class ChangeListener:
    """Calls ``on_change()`` (on its own thread) whenever a transaction that logged changes commits.

    A dedicated psycopg connection (outside the engine's pool) ``LISTEN``s on ``CHANGES_CHANNEL``.
    ``on_change`` is also called once each time listening (re)starts, so a notification missed while
    disconnected costs one extra sync, never a lost change. Notifications arriving together are
    coalesced into one call. Errors of ``on_change`` are logged; the connection is re-opened after a failure.
    """

    def __init__(self, engine: Engine, on_change: Callable[[], None], *, poll: float = 0.5, retry: float = 1.0):
        if not supports_notify(engine):
            raise ValueError(f"LISTEN/NOTIFY needs PostgreSQL; this engine is {engine.dialect.name}")
        self.engine = engine
        self.on_change = on_change
        self.poll = poll
        self.retry = retry
        self.listening = threading.Event()  # set while LISTEN is in force (tests wait on it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ChangeListener:
        """Start the listening thread (a daemon); returns self."""
        self._thread = threading.Thread(target=self._run, name="registry-listen", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening and close the connection (within about ``poll`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _connect(self) -> Any:
        import psycopg

        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        conn = psycopg.connect(*cargs, **cparams, autocommit=True)
        conn.execute(f"LISTEN {CHANGES_CHANNEL}")
        return conn

    def _notify_callback(self) -> None:
        try:
            self.on_change()
        except Exception:  # the next notification tries again; a failing callback must not stop listening
            log.exception("change listener: on_change failed")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    self.listening.set()
                    self._notify_callback()
                    while not self._stop.is_set():
                        got = False
                        for _ in conn.notifies(timeout=self.poll, stop_after=1):
                            got = True  # the rest of this batch coalesces into one call
                        if got:
                            self._notify_callback()
            except Exception as exc:  # the database went away: retry, then catch up through on_change
                log.warning("change listener: %s; reconnecting in %.1f s", exc, self.retry)
                self._stop.wait(self.retry)
            finally:
                self.listening.clear()


def listen_for_changes(engine: Engine, on_change: Callable[[], None]) -> ChangeListener | None:
    """A started ``ChangeListener`` on PostgreSQL; None on SQLite (poll the change log there)."""
    return ChangeListener(engine, on_change).start() if supports_notify(engine) else None
