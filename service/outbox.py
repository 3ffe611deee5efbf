"""The outbox's sender (issue 15): delivers the mail rows the state changes committed, exactly once each.

Each round claims the due rows (a lease, one short transaction), sends each through ``service.mail.Mailer``
with the row's own ``Message-ID`` and marks it sent; a failure is retried after ``outbox_retry_seconds``
doubled per attempt (at most an hour), and given up after ``outbox_max_attempts``. A sender killed between
the commit and the send leaves the row claimed: once its lease runs out another sender (or the restarted
one) sends it. A sender killed after the SMTP server took the message but before marking it resends it with
the same ``Message-ID`` (mail systems drop the copy); that window is the send's own round trip.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

from service import db, store
from service.config import Settings
from service.mail import Mail, Mailer, MailError
from service.store import Sessions

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: ``outbox_retry_seconds * 2**(attempts-1)``,
    at most an hour."""
    return min(MAX_BACKOFF_S, settings.outbox_retry_seconds * 2 ** max(0, attempts - 1))


class _RowMailer(Mailer):
    """The mailer's SMTP path with the outbox row's own Message-ID (a resend carries the same id)."""

    def __init__(self, mailer: Mailer, message_id: str) -> None:
        super().__init__(mailer.settings)
        self.message_id = message_id

    def message(self, mail: Mail) -> EmailMessage:
        msg = super().message(mail)
        msg.replace_header("Message-ID", self.message_id)
        return msg


class OutboxSender:
    """Sends the outbox's due mail: ``run_once()`` one round; ``start()``/``stop()`` a thread doing rounds."""

    def __init__(self, settings: Settings, sessions: Sessions, mailer: Mailer | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.mailer = mailer or Mailer(settings)
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def message(self, row: db.OutboxMessage) -> tuple[str, Mail]:
        """A row as (its Message-ID, the mail)."""
        return row.message_id, Mail(to=row.to_addr, subject=row.subject, text=row.body_text, html=row.body_html)

    def run_once(self, limit: int = 20) -> int:
        """Claim the due rows and send each; returns how many were sent."""
        lease = timedelta(seconds=self.settings.outbox_lease_seconds)
        with self.sessions.begin(feed=False) as s:
            claimed = [
                (r.id, r.attempts, self.message(r)) for r in store.outbox.claim(s, self.name, db.utcnow(), lease, limit)
            ]
        sent = 0
        for row_id, attempts, msg in claimed:
            if self._stop.is_set():
                break  # the lease runs out and another round sends it
            try:
                _RowMailer(self.mailer, msg[0]).send(msg[1])
            except MailError as exc:
                give_up = attempts >= self.settings.outbox_max_attempts
                at = db.utcnow() + timedelta(seconds=backoff(self.settings, attempts))
                with self.sessions.begin(feed=False) as s:
                    store.outbox.mark_retry(s, row_id, self.name, exc.detail, at, give_up)
                log.warning("mail %d: attempt %d failed (%s)%s", row_id, attempts, exc.detail,
                            "; given up" if give_up else f"; next try at {at:%H:%M:%S}")  # fmt: skip
                continue
            with self.sessions.begin(feed=False) as s:
                store.outbox.mark_sent(s, row_id, self.name)
            sent += 1
        return sent

    def wake(self) -> None:
        """Run a round now (after a commit that queued mail)."""
        self._wake.set()

    def start(self) -> OutboxSender:
        """Send in a daemon thread every ``outbox_poll_seconds`` (and when woken)."""
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (the mail it holds is sent by the next sender once its lease runs out)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("the outbox sender's round failed; it tries again")
            self._wake.wait(self.settings.outbox_poll_seconds)
            self._wake.clear()


class Every:
    """A daemon thread calling ``fn`` every ``seconds`` (errors are logged; the next round runs anyway)."""

    def __init__(self, seconds: float, fn: Callable[[], object], name: str) -> None:
        self.seconds, self.fn, self.name = seconds, fn, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Every:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.fn()
            except Exception:
                log.exception("the periodic job %s failed; it runs again in %.0f s", self.name, self.seconds)
