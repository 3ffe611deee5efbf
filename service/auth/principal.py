"""Who is asking (``Principal``) and what each role may do (``authorize``).

Roles: ``anonymous``; ``reader`` (a read-only key); ``school`` (a signed-in school user: exactly one school);
``site`` (the Schools Online server's key: acts for the one school named in ``X-Acting-For``); ``staff``
(programme staff: any school, cohorts, batch jobs, the audit log); ``admin`` (keys, and staff powers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service.errors import AuthError
from service.store.audit import Who

Role = Literal["anonymous", "reader", "school", "site", "staff", "admin"]
Via = Literal["anonymous", "api_key", "session"]

ACTIONS = (
    "read",
    "school.create",
    "school.import",
    "school.write",
    "school.delete",
    "school.private",
    "feedback.write",
    "feedback.read",
    "partnership.write",
    "batch",
    "audit.read",
    "keys",
)
STAFF = frozenset({"staff", "admin"})
OWNER_ACTIONS = frozenset({"school.write", "school.private", "feedback.write", "feedback.read"})
STAFF_ACTIONS = frozenset({"school.import", "partnership.write", "batch", "audit.read"})
SITE_ONLY_ACTIONS = frozenset({"school.create", "school.delete"})  # staff, or the site for that school


@dataclass(frozen=True)
class Principal:
    """Who is asking: a role, the school acted for (a school user's own, or the one a site key names),
    a subject for the audit log (a user's e-mail or id, or a key's label: never a key) and how it signed in."""

    role: Role
    school_id: str | None = None
    subject: str = "anonymous"
    via: Via = "anonymous"

    def who(self, address: str | None) -> Who:
        """This principal as the audit log records it, asking from ``address``."""
        return Who(subject=self.subject, role=self.role, acting_for=self.school_id, address=address)

    def owns(self, school_id: str | None) -> bool:
        """Whether this principal acts for ``school_id`` (a school user's own, or the site acting for it)."""
        return school_id is not None and self.role in ("school", "site") and self.school_id == school_id


ANONYMOUS = Principal("anonymous")


def _reason(principal: Principal, action: str, school_id: str | None) -> str | None:
    """Why ``principal`` may not do ``action`` (on ``school_id``), or None if it may."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is unknown; known: {', '.join(ACTIONS)}")
    role = principal.role
    if action == "read":
        return None if role != "anonymous" else "reading needs an API key or a signed-in session"
    if action == "keys":
        return None if role == "admin" else "only an admin key manages keys"
    if role in STAFF:
        return None
    if role == "site" and principal.school_id is None:
        return "a site key must name the school it acts for in the X-Acting-For header"
    if action in STAFF_ACTIONS:
        return f"{action} is for programme staff only"
    if action in SITE_ONLY_ACTIONS:
        if role == "site" and principal.school_id == school_id:
            return None
        return f"{action} is for programme staff, or the site acting for that school"
    if action in OWNER_ACTIONS:
        if school_id is None:
            return f"{action} across every school is for programme staff only"
        if principal.owns(school_id):
            return None
        if role in ("school", "site"):
            return f"{principal.role} acting for {principal.school_id!r} may not act for school {school_id!r}"
        return f"{action} is for school {school_id!r} itself or programme staff"
    raise ValueError(f"action {action!r} has no rule")  # every action above has one: a new one needs its rule


def allowed(principal: Principal, action: str, school_id: str | None = None) -> bool:
    """Whether ``principal`` may do ``action`` (on ``school_id``); ``authorize`` without raising."""
    return _reason(principal, action, school_id) is None


def authorize(principal: Principal, action: str, school_id: str | None = None) -> None:
    """Raise ``AuthError`` unless ``principal`` may do ``action`` on ``school_id``: 401 when nobody is signed in
    (anonymous), 403 otherwise; the message says what is missing."""
    reason = _reason(principal, action, school_id)
    if reason is None:
        return
    if principal.role == "anonymous":
        raise AuthError(401, f"{reason}: send an API key in the X-API-Key header, or sign in")
    raise AuthError(403, reason)
