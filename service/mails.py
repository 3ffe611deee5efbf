"""The texts of the introductions' mail (issue 15), as ``store.outbox.add`` keyword arguments.

Plain text plus an HTML alternative in which every school-supplied value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from features.profiles import SchoolProfile
from matching.core.explain import PairExplanation
from service import db
from service.config import Settings


def _domain(settings: Settings) -> str:
    sender = settings.mail_sender or "partnermatch@partnermatch.invalid"
    return sender.rpartition("@")[2] or "partnermatch.invalid"


def _out(settings: Settings, to: str, subject: str, lines: list[str]) -> dict[str, Any]:
    text = "\n".join(lines) + "\n"
    html = "".join(f"<p>{escape(line)}</p>" if line else "" for line in lines)
    return {"to": to, "subject": subject, "text": text, "html": html, "domain": _domain(settings)}


def _inbox(settings: Settings, school_id: str) -> str:
    return f"{settings.base_url}/ui/schools/{school_id}/requests"


def new_request(
    settings: Settings, receiver: SchoolProfile, sender: SchoolProfile, row: db.PartnershipRequest, e: PairExplanation
) -> dict[str, Any]:
    """To the receiver: a school asks to partner."""
    lines = [
        f"Hello {receiver.name},",
        "",
        f"{sender.name} ({sender.country}) would like to partner with your school.",
        *([f"Their message: {row.message}"] if row.message else []),
        "",
        f"Answer by {row.expires_at:%d %B %Y}: {_inbox(settings, receiver.school_id)}",
    ]
    return _out(settings, receiver.contact_email or "", f"Partnership request from {sender.name}", lines)


def accepted(
    settings: Settings, me: SchoolProfile, other: SchoolProfile, row: db.PartnershipRequest, reasons: list[str]
) -> dict[str, Any]:
    """To each school once a request is accepted: the other's contact and why they were matched."""
    lines = [
        f"Hello {me.name},",
        "",
        f"{me.name} and {other.name} agreed to partner (request {row.id}).",
        "",
        f"Your partner: {other.name}, {other.city or ''} {other.country}".rstrip(),
        f"Contact: {other.contact_email or 'no contact e-mail on record; ask programme staff'}",
        "",
        "Why you were matched:",
        *[f"- {r}" for r in reasons],
    ]
    return _out(settings, me.contact_email or "", f"Partnership agreed: {other.name}", lines)


def declined(settings: Settings, sender: SchoolProfile, row: db.PartnershipRequest, to_name: str) -> dict[str, Any]:
    """To the sender: the request was declined (with the reason given, if any)."""
    reason = {"not_right_ages": "not the right ages", "no_places": "no places", "language": "language",
              "other": "other"}.get(row.decline_reason or "", "none given")  # fmt: skip
    lines = [f"Hello {sender.name},", "", f"{to_name or row.to_school} declined your partnership request.",
             f"Reason: {reason}."]  # fmt: skip
    return _out(settings, sender.contact_email or "", "Partnership request declined", lines)


def expired(settings: Settings, sender: SchoolProfile, row: db.PartnershipRequest, to_name: str) -> dict[str, Any]:
    """To the sender: the request expired unanswered."""
    lines = [f"Hello {sender.name},", "", f"Your partnership request to {to_name or row.to_school} expired "
             "without an answer. You can ask another school."]  # fmt: skip
    return _out(settings, sender.contact_email or "", "Partnership request expired", lines)


def reminder(settings: Settings, receiver: SchoolProfile, row: db.PartnershipRequest, from_name: str) -> dict[str, Any]:
    """To the receiver, once: a request is waiting for an answer."""
    lines = [
        f"Hello {receiver.name},",
        "",
        f"{from_name or row.from_school} is waiting for your answer to their partnership request.",
        f"It expires on {row.expires_at:%d %B %Y}: {_inbox(settings, receiver.school_id)}",
    ]
    return _out(settings, receiver.contact_email or "", "Reminder: a partnership request is waiting", lines)


def mutual(settings: Settings, me: SchoolProfile, other: SchoolProfile) -> dict[str, Any]:
    """To each of two schools that marked each other "Interested"."""
    lines = [
        f"Hello {me.name},",
        "",
        f"You and {other.name} ({other.country}) both marked each other as interesting.",
        f"Send them a partnership request: {settings.base_url}/ui/schools/{me.school_id}",
    ]
    return _out(settings, me.contact_email or "", f"Mutual interest: {other.name}", lines)
