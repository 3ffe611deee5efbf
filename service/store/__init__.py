"""The registry's SQL: plain functions on SQLAlchemy sessions, one module per table, and the unit of work.

``Sessions.begin()`` is the unit of work (one transaction; the change-log rows it wrote are remembered),
``Sessions.read()`` a session for reads. The functions in ``schools``, ``partnerships``, ``feedback``,
``changes``, ``jobs``, ``meta``, ``auth`` (sessions, sign-in links) and ``audit`` take the session they
run in, so a caller composes them into one
transaction. Nothing here touches the in-memory index (``service.index_holder``).
"""

from __future__ import annotations

from service.store import audit, auth, changes, feedback, jobs, keys, meta, outbox, partnerships, requests, schools
from service.store.sessions import Sessions

__all__ = [
    "Sessions", "audit", "auth", "changes", "feedback", "jobs", "keys", "meta", "outbox", "partnerships", "requests",
    "schools",
]  # fmt: skip
