"""Applying other processes' committed writes, read from the change log, to this process's index.

Every write logs one ``db.Change`` row per school in its transaction. ``ChangeSync.sync`` reads the
rows after the last one applied, skips those this process wrote itself (already in its index), reads each
other changed school as it is now and adds, updates or removes it in the index. Idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

from features.profiles import SchoolProfile
from service import db
from service.encoder import ServiceEncoder
from service.index_holder import IndexHolder
from service.store import Sessions, changes, schools

log = logging.getLogger(__name__)

Apply = Callable[[Sequence[SchoolProfile], Sequence[SchoolProfile], Sequence[str]], None]


class ChangeSync:
    """Keeps one process's index in step with the change log (``sync`` now, or a thread every interval)."""

    def __init__(self, sessions: Sessions, holder: IndexHolder, encoder: ServiceEncoder, apply: Apply) -> None:
        self.sessions = sessions
        self.holder = holder
        self.encoder = encoder
        self.apply = apply  # (added, updated, removed) -> None, rebuilding the index if it fails
        self.applied_seq = 0  # changes up to here are in the index
        self.own_seqs: set[int] = set()  # change-log rows this process wrote (already in its index)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, interval: float) -> None:
        """Sync every ``interval`` seconds (a daemon thread)."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sync()
                except Exception:  # the next round tries again; a failing round must not kill the thread
                    log.exception("registry sync failed")

        self._thread = threading.Thread(target=loop, name="registry-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (if started)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def sync(self) -> int:
        """Apply the changes logged since the last sync (by any process); returns the schools changed."""
        with self.sessions.engine.connect() as conn:
            if changes.last_seq(conn) <= self.applied_seq:
                return 0
        with self.holder.writer:
            with self.sessions.read() as s:
                logged = changes.since(s, self.applied_seq)
                if not logged:
                    return 0
                last = max(seq for seq, _ in logged)
                ids = list(dict.fromkeys(sid for seq, sid in logged if seq not in self.own_seqs))
                self.own_seqs = {seq for seq in self.own_seqs if seq > last}
                if not ids:  # only this process's own writes: already in the index
                    self.applied_seq = last
                    return 0
                current = schools.profiles(s, ids)
            added, updated, removed = [], [], []
            with self.holder.read() as snap:
                for sid in ids:
                    p = current.get(sid)
                    if p is None:
                        if sid in snap.index:
                            removed.append(sid)
                    elif sid not in snap.index:
                        added.append(p)
                    elif snap.index.profile(sid) != p:
                        updated.append(p)
            self.encoder.warm([*added, *updated])
            self.apply(added, updated, removed)
            self.applied_seq = last
        return len(added) + len(updated) + len(removed)

    def prune(self, keep_days: float = 2.0) -> None:
        """Forget change-log rows older than ``keep_days`` (every serving process applies them far sooner)."""
        with self.sessions.begin() as s:
            changes.prune(s, db.utcnow() - timedelta(days=keep_days))
