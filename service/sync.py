"""The change feed: every process, the writer included, applies committed writes to its index from it.

Every write transaction logs one ``db.Change`` row per school it wrote; the rows' sequence numbers are
the feed's order (SQLite's ``BEGIN IMMEDIATE`` and PostgreSQL's lock on ``changes`` serialise writers,
so a number never becomes visible after a larger one). ``ChangeSync`` applies the rows after the last
one applied, in order, under the holder's ``writer`` lock:

- a writer calls ``catch_up(known)`` after its commit, with the profiles it committed (no read-back),
  and answers only after that returns: read-your-writes;
- every process also calls ``sync()`` every ``sync_interval`` seconds (SQLite polling; on PostgreSQL
  a ``LISTEN`` wakes it as soon as a change commits), so other processes' writes arrive within that
  bound. Schools changed by other writers are read as they are now. Idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from features.profiles import SchoolProfile
from service import db, notify
from service.encoder import ServiceEncoder
from service.index_holder import IndexHolder
from service.store import Sessions, changes, schools

log = logging.getLogger(__name__)

Apply = Callable[[Sequence[SchoolProfile], Sequence[SchoolProfile], Sequence[str]], None]


class ChangeSync:
    """Keeps one process's index in step with the change feed (``sync`` now, or a thread every interval)."""

    def __init__(self, sessions: Sessions, holder: IndexHolder, encoder: ServiceEncoder, apply: Apply) -> None:
        self.sessions = sessions
        self.holder = holder
        self.encoder = encoder
        self.apply = apply  # (added, updated, removed) -> None, rebuilding the index if it fails
        self.applied_seq = 0  # changes up to here are in the index
        self._known: dict[int, SchoolProfile | None] = {}  # seq -> profile this process committed (None: deleted)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: notify.ChangeListener | None = None

    def start(self, interval: float) -> None:
        """Sync every ``interval`` seconds, and whenever the database signals a change (PostgreSQL)."""

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(interval)
                self._wake.clear()
                if self._stop.is_set():
                    break
                try:
                    self.sync()
                except Exception:  # the next round tries again; a failing round must not kill the thread
                    log.exception("registry sync failed")

        self._listener = notify.listen_for_changes(self.sessions.engine, self._wake.set)  # None on SQLite: polling
        self._thread = threading.Thread(target=loop, name="registry-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (if started)."""
        self._stop.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def catch_up(self, known: Mapping[int, SchoolProfile | None] | None = None) -> int:
        """Apply the feed up to its current end; ``known``: ``{seq: profile}`` this process just committed
        (None: deleted), used instead of reading those schools back. Returns the schools changed."""
        with self.holder.writer:
            if known:
                self._known.update(known)
            return self._sync_locked()

    def sync(self) -> int:
        """Apply the changes logged since the last sync (by any process); returns the schools changed."""
        with self.sessions.engine.connect() as conn:
            if changes.last_seq(conn) <= self.applied_seq:
                return 0
        with self.holder.writer:
            return self._sync_locked()

    def _sync_locked(self) -> int:
        with self.sessions.read() as s:
            logged = changes.since(s, self.applied_seq)
            if not logged:
                return 0
            last = logged[-1][0]
            seqs: dict[str, list[int]] = {}
            for seq, sid in logged:
                seqs.setdefault(sid, []).append(seq)
            current: dict[str, SchoolProfile | None] = {}
            for sid, numbers in seqs.items():
                if all(n in self._known for n in numbers):  # every change to it since is this process's own
                    current[sid] = self._known[max(numbers)]
            read = schools.profiles(s, [sid for sid in seqs if sid not in current])
            current.update({sid: read.get(sid) for sid in seqs if sid not in current})
        added, updated, removed = [], [], []
        index = self.holder.current.index  # the writer lock is held: no change lands meanwhile
        for sid, p in current.items():
            if p is None:
                if sid in index:
                    removed.append(sid)
            elif sid not in index:
                added.append(p)
            elif index.profile(sid) != p:
                updated.append(p)
        self.encoder.warm([*added, *updated])
        self.apply(added, updated, removed)
        self.applied_seq = last
        self._known = {n: p for n, p in self._known.items() if n > last}
        return len(added) + len(updated) + len(removed)

    def prune(self, keep_days: float = 2.0) -> None:
        """Forget change-log rows older than ``keep_days`` (every serving process applies them far sooner)."""
        with self.sessions.begin() as s:
            changes.prune(s, db.utcnow() - timedelta(days=keep_days))
