"""The exposure cap (issue 15): a school with many unanswered partnership requests is shown less in others' lists.

A school with at least ``exposure_cap`` open incoming requests (not yet past their expiry) has its score
multiplied by ``exposure_cap / (open + 1)`` in every other school's suggestions and explanations: at the cap
it loses ``1 / (cap + 1)`` of its score, with twice the cap about half. The factors reach the ranker as its
scorer's ``Demand`` (``matching.core.scoring``), which multiplies candidate scores as the programme
priorities do, so the bounded search stays exact; the reasons of such a candidate end with ``NOTE``.

The counts are read from the database (one grouped query over the open requests): at once in the process
that creates, accepts, declines or withdraws a request or expires some (``Registry.requests_changed``), and
every ``sync_interval`` seconds in every process (``DemandSync.start``), so another process's change reaches a
process's lists within ``sync_interval`` (0.5 s by default; with ``sync_interval`` 0, only its own changes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from matching.core.scoring import Demand
from service import db, store
from service.index_holder import IndexHolder
from service.outbox import Every
from service.store import Sessions

log = logging.getLogger(__name__)

NOTE = "many unanswered partnership requests: shown less"


def demand_factor(open_requests: int, cap: int) -> float:
    """The score factor of a school with ``open_requests`` unanswered incoming requests: 1 below ``cap``, then
    ``cap / (open_requests + 1)`` (falls as the count grows)."""
    if cap < 1:
        raise ValueError(f"exposure_cap: {cap!r} must be at least 1")
    return 1.0 if open_requests < cap else cap / (open_requests + 1)


def demand_of(counts: Mapping[str, int], cap: int) -> Demand:
    """The ranker's ``Demand`` for open-request counts (only the schools at or over the cap)."""
    return Demand({sid: demand_factor(n, cap) for sid, n in sorted(counts.items()) if n >= cap}, NOTE)


class DemandSync:
    """Keeps the ranker's demand factors in step with the open requests in the database."""

    def __init__(self, sessions: Sessions, holder: IndexHolder, cap: int) -> None:
        self.sessions = sessions
        self.holder = holder
        self.cap = cap
        self._lock = threading.Lock()
        self._seq = 0  # refreshes started (each numbered before it reads)
        self._applied = 0  # the latest refresh applied: an older read never replaces a newer one
        self._job: Every | None = None

    def counts(self) -> dict[str, int]:
        """Each school's open incoming requests not yet past their expiry (schools with none left out)."""
        with self.sessions.read() as s:
            return store.requests.unanswered_incoming(s, now=db.utcnow())

    def refresh(self) -> Demand:
        """Read the counts and give the ranker their factors (only when they changed); returns the demand in use.
        A refresh that starts after a commit reads it; if a later-numbered refresh was applied first, that one
        read it too, so this one is dropped."""
        with self._lock:
            self._seq += 1
            seq = self._seq
        demand = demand_of(self.counts(), self.cap)
        with self.holder.writer:  # the holder's applier lock (re-entrant): never held while waiting for ``_lock``
            if seq > self._applied:
                self._applied = seq
                if dict(demand.factors) != dict(self.holder.demand.factors):
                    self.holder.set_demand(demand)
                    log.info("exposure cap: %d school(s) shown less", len(demand.factors))
            return self.holder.demand

    def start(self, interval: float) -> None:
        """Refresh every ``interval`` seconds in a thread (other processes' request changes)."""
        self._job = Every(interval, self.refresh, "exposure-cap").start()

    def stop(self) -> None:
        """Stop the thread (if started)."""
        if self._job is not None:
            self._job.stop()
            self._job = None
