"""Introductions (issue 15): partnership requests between schools, on the registry's unit of work.

Every operation checks who asks (``service.auth.Principal``) and takes its decision in one write
transaction holding the right locks (``store.Sessions.begin``): the request row (``FOR UPDATE`` on
PostgreSQL) and both schools' rows. Accepting records the partnership in the same transaction (a place on
both sides, or a 409 naming the school without one) and queues both schools' mail in the outbox
(``service.outbox`` sends it). Contacts are shown only once an accepted request or an active partnership
links two schools. The page and the API routes call these functions; their errors are
``service.errors`` (401/403/404/409/422).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from features.profiles import SchoolProfile, text_problem
from matching.errors import UnknownSchoolError
from service import db, mails, presenter, store
from service.auth import Principal
from service.errors import AuthError, ConflictError, NotFoundError, RequestError
from service.registry import Registry
from service.requests_state import DECLINE_REASONS, STATES, IllegalMove, next_state
from service.store.audit import Who

log = logging.getLogger(__name__)

MAX_MESSAGE = 1000
__all__ = [
    "DECLINE_REASONS",
    "MAX_MESSAGE",
    "STATES",
    "Contact",
    "IncomingItem",
    "RequestView",
    "accept",
    "contact_of",
    "create_request",
    "decline",
    "expire_and_remind",
    "exposure",
    "get_request",
    "incoming",
    "outgoing",
    "partner_contacts",
    "withdraw",
]  # fmt: skip


@dataclass(frozen=True)
class RequestView:
    """One partnership request (plain data)."""

    id: int
    from_school: str
    to_school: str
    message: str
    state: str
    decline_reason: str | None
    created_at: datetime
    answered_at: datetime | None
    expires_at: datetime
    partnership_id: int | None
    from_name: str
    to_name: str


@dataclass(frozen=True)
class IncomingItem:
    """An incoming request with "why they would suit you": the sender's fit for the receiver."""

    request: RequestView
    rank: int
    score: float
    allowed: bool
    contributions: dict[str, float]
    reasons: dict[str, Any]
    reasons_view: dict[str, Any]
    school: dict[str, Any]


@dataclass(frozen=True)
class Contact:
    """A partner's contact details (only after consent)."""

    school_id: str
    name: str
    contact_email: str | None
    country: str
    city: str | None


# ---------------------------------------------------------------- who may
def _must_act_for(principal: Principal, school_id: str, what: str) -> None:
    """Only the school itself (its signed-in user, or the site acting for it) may ``what``."""
    if principal.owns(school_id):
        return
    if principal.role == "anonymous":
        raise AuthError(401, f"{what} needs a signed-in school or a site key acting for {school_id!r}")
    if principal.role == "site" and principal.school_id is None:
        raise AuthError(403, "a site key must name the school it acts for in the X-Acting-For header")
    if principal.role in ("staff", "admin"):
        raise AuthError(403, f"{what} is for school {school_id!r} itself: staff can read requests, not act on them")
    raise AuthError(403, f"{principal.role} acting for {principal.school_id!r} may not {what} for {school_id!r}")


def must_be_a_school(principal: Principal) -> None:
    """Requests are sent and answered by schools (a signed-in user, or the site acting for one): 401 for
    nobody, 403 for any other role. The routes check this before reading the body."""
    if principal.role in ("school", "site") and principal.school_id is not None:
        return
    if principal.role == "anonymous":
        raise AuthError(401, "partnership requests need a signed-in school or a site key acting for one")
    if principal.role == "site":
        raise AuthError(403, "a site key must name the school it acts for in the X-Acting-For header")
    raise AuthError(
        403, f"partnership requests are sent and answered by the schools themselves, not with a {principal.role} key"
    )


def _must_read(principal: Principal, school_ids: tuple[str, ...]) -> None:
    """The schools themselves and staff may read their requests."""
    if principal.role in ("staff", "admin") or any(principal.owns(sid) for sid in school_ids):
        return
    if principal.role == "anonymous":
        raise AuthError(401, "reading partnership requests needs a signed-in school, a site key or a staff key")
    if principal.role == "site" and principal.school_id is None:
        raise AuthError(403, "a site key must name the school it acts for in the X-Acting-For header")
    names = " or ".join(repr(s) for s in school_ids)
    raise AuthError(403, f"these partnership requests are for {names} itself or programme staff")


def _must_be_staff(principal: Principal, what: str) -> None:
    if principal.role in ("staff", "admin"):
        return
    raise AuthError(401 if principal.role == "anonymous" else 403, f"{what} is for programme staff only")


# ---------------------------------------------------------------- views
def _name(registry: Registry, school_id: str) -> str:
    try:
        return registry.profile(school_id).name
    except (UnknownSchoolError, KeyError):
        return ""


def view(registry: Registry, row: db.PartnershipRequest) -> RequestView:
    """The plain view of a request row."""
    return RequestView(
        id=row.id, from_school=row.from_school, to_school=row.to_school, message=row.message, state=row.state,
        decline_reason=row.decline_reason, created_at=row.created_at, answered_at=row.answered_at,
        expires_at=row.expires_at, partnership_id=row.partnership_id,
        from_name=_name(registry, row.from_school), to_name=_name(registry, row.to_school),
    )  # fmt: skip


def _illegal(exc: IllegalMove, request_id: int) -> ConflictError:
    return ConflictError(f"partnership request {request_id}: {exc}", [("state", str(exc), exc.state, None, None)])


def _profiles(s: Session, ids: list[str]) -> dict[str, db.School]:
    rows = store.schools.rows(s, ids, lock=True)
    for sid in ids:
        if sid not in rows:
            raise NotFoundError(f"unknown school_id {sid!r}: it is not in the registry")
    return rows


# ---------------------------------------------------------------- create
def create_request(
    registry: Registry, principal: Principal, from_school: str, to_school: str, message: str, *, who: Who | None = None
) -> RequestView:
    """School ``from_school`` asks ``to_school`` to partner (see the module docstring for the checks)."""
    _must_act_for(principal, from_school, "send a partnership request")
    if len(message) > MAX_MESSAGE:
        raise RequestError("message", f"has {len(message)} characters; at most {MAX_MESSAGE} are allowed", None)
    if problem := text_problem(message, free_text=True):
        raise RequestError("message", problem, None)
    if from_school == to_school:
        raise RequestError("to_school", "a school cannot send a partnership request to itself", to_school)
    settings = registry.settings
    try:
        explained = registry.explain(from_school, to_school)
    except UnknownSchoolError:
        registry.changes.catch_up()  # another process may have just registered it: apply the feed first
        try:
            explained = registry.explain(from_school, to_school)
        except UnknownSchoolError as exc:
            raise NotFoundError(f"unknown school: {exc}; it is not in the registry") from None
    e = explained.explanation
    if not e.allowed:
        rules = "; ".join(f"{r}: {m}" for r, m in e.blocked_by)
        raise ConflictError(
            f"{from_school!r} cannot ask {to_school!r}: the pair is blocked by a hard rule ({rules})",
            [("to_school", f"blocked by the rule {r}: {m}", to_school, None, to_school) for r, m in e.blocked_by],
        )
    with registry.sessions.begin(feed=False) as s:
        rows = _profiles(s, [from_school, to_school])
        if store.partnerships.active_between(s, from_school, to_school):
            raise ConflictError(f"{from_school!r} and {to_school!r} are already partners")
        if (existing := store.requests.open_between(s, from_school, to_school)) is not None:
            raise ConflictError(
                f"an open partnership request already links {from_school!r} and {to_school!r} "
                f"(request {existing.id}, from {existing.from_school!r}); answer or withdraw it first"
            )
        n_open = store.requests.count_open_from(s, from_school)
        if n_open >= settings.max_open_requests:
            raise ConflictError(
                f"{from_school!r} has {n_open} open partnership requests, the most allowed "
                f"(max_open_requests={settings.max_open_requests}); withdraw one or wait for answers",
                [("from_school", "too many open requests", n_open, None, from_school)],
            )
        expires = db.utcnow() + timedelta(days=settings.request_expiry_days)
        row = store.requests.add(s, from_school, to_school, message, expires, e.score)
        receiver = rows[to_school].to_profile()
        if receiver.contact_email:
            mail = mails.new_request(settings, receiver, rows[from_school].to_profile(), row, e)
            store.outbox.add(s, "request.new", **mail, dedupe_key=f"request:{row.id}:new")
        if who is not None:
            store.audit.add(s, who, "request.create", [f"request:{row.id}", from_school, to_school])
        out = view(registry, row)
    registry.requests_changed()
    registry.wake_outbox()
    return out


# ---------------------------------------------------------------- reads
def get_request(registry: Registry, principal: Principal, request_id: int) -> RequestView:
    """One request: for its sender, its receiver and staff."""
    with registry.sessions.read() as s:
        row = store.requests.get(s, request_id)
        _must_read(principal, (row.from_school, row.to_school))
        return view(registry, row)


def incoming(
    registry: Registry,
    principal: Principal,
    school_id: str,
    state: str | None = "open",
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[IncomingItem], int]:
    """A school's incoming requests ranked by the sender's fit for it (best first), and the total."""
    _must_read(principal, (school_id,))
    _check_state(state)
    with registry.sessions.read() as s:
        rows = store.requests.incoming(s, school_id, state)
    scored = []
    for row in rows:
        try:
            x = registry.explain(school_id, row.from_school, demand=False)  # by fit: the exposure cap is for lists
        except (UnknownSchoolError, KeyError):
            scored.append((row, None))
            continue
        scored.append((row, x))
    scored.sort(key=lambda rx: (-(rx[1].explanation.score if rx[1] else float("-inf")), -rx[0].id))
    items = []
    for rank, (row, x) in enumerate(scored, start=1):
        if rank <= offset or len(items) >= limit:
            continue
        e = x.explanation if x else None
        items.append(
            IncomingItem(
                request=view(registry, row),
                rank=rank,
                score=float(e.score) if e else 0.0,
                allowed=bool(e.allowed) if e else False,
                contributions=dict(e.contributions) if e else {},
                reasons=presenter.reasons_record(e.reasons) if e else {},
                reasons_view=presenter.reasons_view(e.reasons, x.school) if x and e else {},
                school=presenter.card(x.school) if x else {"school_id": row.from_school},
            )
        )
    return items, len(scored)


def outgoing(
    registry: Registry,
    principal: Principal,
    school_id: str,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[RequestView], int]:
    """A school's outgoing requests, newest first, and the total."""
    _must_read(principal, (school_id,))
    _check_state(state)
    with registry.sessions.read() as s:
        rows, total = store.requests.outgoing(s, school_id, state, offset, limit)
        return [view(registry, r) for r in rows], total


def _check_state(state: str | None) -> None:
    if state is not None and state not in STATES:
        raise RequestError("state", f"must be one of {', '.join(STATES)}", state)


def exposure(registry: Registry, school_ids: list[str] | None = None) -> dict[str, int]:
    """Each school's count of unanswered (open, not past their expiry) incoming requests: the exposure cap's input
    (``service.demand``)."""
    with registry.sessions.read() as s:
        return store.requests.unanswered_incoming(s, school_ids, now=db.utcnow())


# ---------------------------------------------------------------- answers
def accept(registry: Registry, principal: Principal, request_id: int, *, who: Who | None = None) -> RequestView:
    """The receiver accepts: the partnership is recorded in the same transaction (a free place on both sides,
    or 409 naming the school without one) and both schools' mail is queued."""
    settings = registry.settings
    written: dict[int, str] = {}
    with registry.sessions.begin(written) as s:
        row = store.requests.get(s, request_id, lock=True)
        _must_act_for(principal, row.to_school, "accept this partnership request")
        _move(row, "accept")
        if row.expires_at <= db.utcnow():
            raise ConflictError(f"partnership request {request_id} expired at {row.expires_at:%Y-%m-%d %H:%M} UTC")
        a, b = row.from_school, row.to_school
        rows = _profiles(s, [a, b])
        pa, pb = rows[a].to_profile(), rows[b].to_profile()
        if b in pa.current_partners or a in pb.current_partners or store.partnerships.active_between(s, a, b):
            raise ConflictError(f"{a!r} and {b!r} are already partners")
        for p in (pb, pa):
            if p.free_capacity <= 0:
                raise ConflictError(
                    f"school {p.school_id!r} has no free place (capacity {p.capacity}, "
                    f"{len(p.current_partners)} partner(s)); the request stays open",
                    [("capacity", "no free place", p.capacity, None, p.school_id)],
                )
        new_a = store.schools.with_partners(pa, {b})
        new_b = store.schools.with_partners(pb, {a})
        store.schools.write(rows[a], new_a)
        store.schools.write(rows[b], new_b)
        partnership = store.partnerships.add(s, a, b, f"partnership request {request_id}")
        s.flush()
        row.state, row.answered_at, row.partnership_id = "accepted", db.utcnow(), partnership.id
        reasons = _reasons_both(registry, a, b)
        for me, other in ((new_a, new_b), (new_b, new_a)):
            if me.contact_email:
                mail = mails.accepted(settings, me, other, row, reasons[me.school_id])
                store.outbox.add(s, "request.accepted", **mail, dedupe_key=f"request:{row.id}:accepted:{me.school_id}")
        if who is not None:
            store.audit.add(s, who, "request.accept", [f"request:{row.id}", f"partnership:{partnership.id}", a, b])
        out = view(registry, row)
    registry._applied(written, {a: new_a, b: new_b})
    registry.requests_changed()
    registry.wake_outbox()
    return out


def _reasons_both(registry: Registry, a: str, b: str) -> dict[str, list[str]]:
    """For each school, the sentences saying why the other suits it (empty if the index cannot say)."""
    out: dict[str, list[str]] = {}
    for me, other in ((a, b), (b, a)):
        try:
            out[me] = list(registry.explain(me, other).explanation.reasons.sentences())
        except (UnknownSchoolError, KeyError):
            out[me] = []
    return out


def decline(
    registry: Registry, principal: Principal, request_id: int, reason: str | None = None, *, who: Who | None = None
) -> RequestView:
    """The receiver declines, with an optional reason (``DECLINE_REASONS``)."""
    if reason is not None and reason not in DECLINE_REASONS:
        raise RequestError("reason", f"must be one of {', '.join(DECLINE_REASONS)} (or left out)", reason)
    with registry.sessions.begin(feed=False) as s:
        row = store.requests.get(s, request_id, lock=True)
        _must_act_for(principal, row.to_school, "decline this partnership request")
        _move(row, "decline")
        row.state, row.answered_at, row.decline_reason = "declined", db.utcnow(), reason
        sender = store.schools.row(s, row.from_school)
        if sender is not None and (p := sender.to_profile()).contact_email:
            mail = mails.declined(registry.settings, p, row, _name(registry, row.to_school))
            store.outbox.add(s, "request.declined", **mail, dedupe_key=f"request:{row.id}:declined")
        if who is not None:
            store.audit.add(s, who, "request.decline", [f"request:{row.id}", row.from_school, row.to_school])
        out = view(registry, row)
    registry.requests_changed()
    registry.wake_outbox()
    return out


def withdraw(registry: Registry, principal: Principal, request_id: int, *, who: Who | None = None) -> RequestView:
    """The sender withdraws an open request."""
    with registry.sessions.begin(feed=False) as s:
        row = store.requests.get(s, request_id, lock=True)
        _must_act_for(principal, row.from_school, "withdraw this partnership request")
        _move(row, "withdraw")
        row.state, row.answered_at = "withdrawn", db.utcnow()
        if who is not None:
            store.audit.add(s, who, "request.withdraw", [f"request:{row.id}", row.from_school, row.to_school])
        out = view(registry, row)
    registry.requests_changed()
    return out


def _move(row: db.PartnershipRequest, action: str) -> None:
    try:
        next_state(row.state, action)
    except IllegalMove as exc:
        raise _illegal(exc, row.id) from None


# ---------------------------------------------------------------- contacts after consent
def _contact(p: SchoolProfile) -> Contact:
    return Contact(p.school_id, p.name, p.contact_email, p.country, p.city)


def contact_of(registry: Registry, principal: Principal, school_id: str, partner_id: str) -> Contact:
    """``partner_id``'s contact for ``school_id``: only when an accepted request or an active partnership
    links them (403 otherwise, the same answer whether the partner exists or not)."""
    _must_read(principal, (school_id,))
    with registry.sessions.read() as s:
        linked = store.requests.accepted_between(s, school_id, partner_id) or store.partnerships.active_between(
            s, school_id, partner_id
        )
        row = store.schools.row(s, partner_id) if linked else None
        if row is None:
            raise AuthError(
                403, f"{partner_id!r}'s contact is shown to {school_id!r} only after both agreed to partner"
            )
        return _contact(row.to_profile())


def partner_contacts(registry: Registry, principal: Principal, school_id: str) -> list[Contact]:
    """The contacts of every school ``school_id`` agreed to partner with (accepted requests, active partnerships)."""
    _must_read(principal, (school_id,))
    with registry.sessions.read() as s:
        ids = store.requests.accepted_partners(s, school_id)
        ids += sorted(store.partnerships.active_partners(s, [school_id])[school_id] - set(ids))
        rows = store.schools.rows(s, ids)
        return [_contact(rows[sid].to_profile()) for sid in ids if sid in rows]


# ---------------------------------------------------------------- the clock
def expire_and_remind(registry: Registry, now: datetime | None = None) -> tuple[int, int]:
    """Expire the open requests past their time (the sender is told) and remind receivers once, after
    ``request_reminder_days``; returns (expired, reminded). Each request in its own short transaction."""
    settings = registry.settings
    now = now or db.utcnow()
    with registry.sessions.read() as s:
        expiring = store.requests.due_to_expire(s, now)
        reminding = store.requests.due_a_reminder(s, now - timedelta(days=settings.request_reminder_days), now)
    expired = reminded = 0
    for request_id in expiring:
        with registry.sessions.begin(feed=False) as s:
            row = store.requests.get(s, request_id, lock=True)
            if row.state != "open" or row.expires_at > now:
                continue
            row.state = next_state(row.state, "expire")
            sender = store.schools.row(s, row.from_school)
            if sender is not None and (p := sender.to_profile()).contact_email:
                mail = mails.expired(settings, p, row, _name(registry, row.to_school))
                store.outbox.add(s, "request.expired", **mail, dedupe_key=f"request:{row.id}:expired")
            expired += 1
    for request_id in reminding:
        with registry.sessions.begin(feed=False) as s:
            row = store.requests.get(s, request_id, lock=True)
            if row.state != "open" or row.reminded_at is not None:
                continue
            row.reminded_at = now
            receiver = store.schools.row(s, row.to_school)
            if receiver is not None and (p := receiver.to_profile()).contact_email:
                mail = mails.reminder(settings, p, row, _name(registry, row.from_school))
                store.outbox.add(s, "request.reminder", **mail, dedupe_key=f"request:{row.id}:reminder")
            reminded += 1
    if expired:
        registry.requests_changed()
    if expired or reminded:
        registry.wake_outbox()
    return expired, reminded
