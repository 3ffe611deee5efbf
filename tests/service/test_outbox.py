"""The transactional outbox (issue 15) against a real SMTP server on loopback: mail queued with the state
change is sent once with its row's Message-ID, failures are retried with exponential back-off and then given
up, and two senders never send one row twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from service import db
from service.app import create_app
from service.outbox import OutboxSender, backoff
from tests.service.requests_support import V1, ask, school, seed
from tests.support.api import make_settings, site
from tests.support.servers import free_port
from tests.support.smtp import Mailbox, smtp, text_of

__all__ = ["smtp"]  # the fixture


def rows(client: TestClient) -> list[dict]:
    """Every outbox row as a dict (timestamps timezone-aware), oldest first."""
    registry = client.app.state.registry  # type: ignore[attr-defined]
    with registry.sessions.read() as s:
        found = s.scalars(sqlalchemy.select(db.OutboxMessage).order_by(db.OutboxMessage.id))
        return [{c.key: getattr(r, c.key) for c in db.OutboxMessage.__table__.columns} for r in found]


def app_with_mail(tmp_path, box: Mailbox, **overrides) -> TestClient:
    env = box.env()
    values = dict(
        smtp_host=env["PARTNERMATCH_SMTP_HOST"], smtp_port=int(env["PARTNERMATCH_SMTP_PORT"]), smtp_starttls=False,
        mail_sender=env["PARTNERMATCH_MAIL_SENDER"], outbox_poll_seconds=0, requests_job_seconds=0,
    )  # fmt: skip
    settings = make_settings(tmp_path, **(values | overrides))
    return TestClient(create_app(settings))


def sender_of(client: TestClient) -> OutboxSender:
    registry = client.app.state.registry  # type: ignore[attr-defined]
    return OutboxSender(registry.settings, registry.sessions)


def test_accepting_mails_both_schools_once_with_the_rows_message_ids(tmp_path, smtp):
    with app_with_mail(tmp_path, smtp) as c:
        seed(c, [school("u0", "GB"), school("k0")])
        rid = ask(c, "u0", "k0").json()["id"]
        assert c.post(f"{V1}/{rid}/accept", headers=site("k0")).status_code == 200
        sender = sender_of(c)
        assert sender.run_once() == 3  # the new request to k0, then one acceptance each
        assert sender.run_once() == 0
        to_u0 = smtp.wait_for("head-u0@school.example")
        assert "head-k0@school.example" in text_of(to_u0) and "Why you were matched" in text_of(to_u0)
        to_k0 = [m for m in smtp.to("head-k0@school.example") if "agreed" in str(m["Subject"])]
        assert len(to_k0) == 1 and "head-u0@school.example" in text_of(to_k0[0])
        stored = rows(c)
        assert sorted(str(m["Message-ID"]) for m in smtp.messages) == sorted(r["message_id"] for r in stored)
        assert all(r["sent_at"] is not None and r["attempts"] == 1 for r in stored)


def test_failures_are_retried_with_back_off_and_then_given_up(tmp_path):
    dead = Mailbox("127.0.0.1", free_port())  # nothing listens there
    with app_with_mail(tmp_path, dead, outbox_retry_seconds=10, outbox_max_attempts=2) as c:
        seed(c, [school("u0", "GB"), school("k0")])
        ask(c, "u0", "k0")
        sender = sender_of(c)
        before = db.utcnow()
        assert sender.run_once() == 0
        [row] = rows(c)
        assert row["attempts"] == 1 and row["sent_at"] is None and row["failed_at"] is None
        assert "127.0.0.1" in row["last_error"]
        wait = row["next_attempt_at"] - before
        assert timedelta(seconds=9) < wait < timedelta(seconds=15)  # outbox_retry_seconds * 2**0
        assert sender.run_once() == 0 and rows(c)[0]["attempts"] == 1  # not due yet: not tried
        engine = c.app.state.registry.engine
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("UPDATE outbox SET next_attempt_at = :t"), {"t": before})
        assert sender.run_once() == 0
        [row] = rows(c)
        assert row["attempts"] == 2 and row["failed_at"] is not None  # outbox_max_attempts reached
    s = make_settings(tmp_path, outbox_retry_seconds=30)
    assert [backoff(s, n) for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]


def test_two_senders_never_send_one_row_twice(tmp_path, smtp):
    with app_with_mail(tmp_path, smtp) as c:
        seed(c, [school("u0", "GB", capacity=5), *(school(f"k{i}") for i in range(5))])
        for i in range(5):
            assert ask(c, "u0", f"k{i}").status_code == 201
        senders = [sender_of(c) for _ in range(3)]
        sent: list[int] = []
        barrier = threading.Barrier(len(senders))

        def run(sender: OutboxSender) -> None:
            barrier.wait()
            sent.append(sender.run_once(limit=2))
            sent.append(sender.run_once(limit=2))

        threads = [threading.Thread(target=run, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(sent) == 5
        assert len(smtp.messages) == 5 and len({str(m["Message-ID"]) for m in smtp.messages}) == 5


@pytest.mark.parametrize("decision", ["accept"])
def test_the_sender_thread_delivers_after_the_commit(tmp_path, smtp, decision):
    with app_with_mail(tmp_path, smtp, outbox_poll_seconds=0.2) as c:
        seed(c, [school("u0", "GB"), school("k0")])
        rid = ask(c, "u0", "k0").json()["id"]
        assert c.post(f"{V1}/{rid}/{decision}", headers=site("k0")).status_code == 200
        smtp.wait_for("head-u0@school.example")
        smtp.wait_for("head-k0@school.example", n=2)
        assert len(smtp.messages) == 3
