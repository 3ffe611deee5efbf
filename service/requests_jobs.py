"""The introductions' background parts (issue 15): the mutual-interest hook on feedback, the outbox sender
and the clock that expires and reminds requests, started by the app's lifespan in every server process."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import db, mails, store
from service.introductions import expire_and_remind
from service.mail import Mailer, MailError
from service.outbox import Every, OutboxSender
from service.registry import Registry

log = logging.getLogger(__name__)


def install(registry: Registry) -> None:
    """Hook mutual interest into the registry's feedback: two schools marking each other "Interested"
    (decision ``accept``) are both told, once per pair, by mail queued in the feedback's own transaction."""

    def on_feedback(s: Session, row: db.Feedback) -> None:
        if row.decision != "accept":
            return
        theirs = s.scalar(
            select(db.Feedback.decision)
            .where(db.Feedback.school_id == row.candidate_id, db.Feedback.candidate_id == row.school_id)
            .order_by(db.Feedback.id.desc())
            .limit(1)
        )
        if theirs != "accept":
            return
        lo, hi = sorted((row.school_id, row.candidate_id))
        rows = store.schools.rows(s, [lo, hi])
        if len(rows) < 2:
            return
        pa, pb = rows[lo].to_profile(), rows[hi].to_profile()
        for me, other in ((pa, pb), (pb, pa)):
            if me.contact_email:
                mail = mails.mutual(registry.settings, me, other)
                store.outbox.add(s, "mutual", **mail, dedupe_key=f"mutual:{lo}:{hi}:{me.school_id}")

    registry.feedback_hooks.append(on_feedback)


def start_background(registry: Registry) -> list[Any]:
    """This process's part of the introductions: the mutual-interest hook, the outbox sender (when mail is
    configured: otherwise the mail waits in the outbox) and the clock expiring and reminding requests.
    Returns the threads started (each has ``stop()``)."""
    settings = registry.settings
    install(registry)
    jobs: list[Any] = []
    if settings.outbox_poll_seconds > 0:
        try:
            Mailer(settings).check()
        except MailError as exc:
            log.info("the outbox sender is off (%s): mail waits in the outbox", exc.detail)
        else:
            sender = OutboxSender(settings, registry.sessions).start()
            registry.outbox_wake = sender.wake
            jobs.append(sender)
    if settings.requests_job_seconds > 0:
        jobs.append(Every(settings.requests_job_seconds, lambda: expire_and_remind(registry), "requests-clock").start())
    return jobs
