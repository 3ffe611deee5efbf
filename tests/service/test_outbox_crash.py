"""kill -9 of a server between the commit of an accept and the send of its mail (issue 15): the restarted
server sends every queued mail exactly once (a real SMTP server on loopback counts them)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.service.requests_support import school
from tests.support import servers
from tests.support.api import SITE_KEY, WRITE, WRITE_KEY, site
from tests.support.polling import eventually
from tests.support.races import sql
from tests.support.smtp import Mailbox

pytestmark = pytest.mark.slow


class Stalling:
    """An SMTP handler that, while ``stall`` is set, holds every message in DATA (never accepting it) until
    released, then refuses it (451); otherwise it keeps the message."""

    def __init__(self, box: Mailbox) -> None:
        self.box = box
        self.stall = threading.Event()
        self.stalled = threading.Event()  # a message is being held

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall.is_set():
            self.stalled.set()
            while self.stall.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 try again later"
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.box._lock:
            self.box.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def stalling_smtp() -> Iterator[tuple[Mailbox, Stalling]]:
    box = Mailbox("127.0.0.1", servers.free_port())
    handler = Stalling(box)
    controller = Controller(handler, hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box, handler
    finally:
        handler.stall.clear()
        controller.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_between_commit_and_send_loses_no_mail_and_doubles_none(tmp_path, request, backend):
    if backend == "postgresql":
        database_url = request.getfixturevalue("postgres_server").create_database("outbox_crash")
    else:
        database_url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    with stalling_smtp() as (box, handler):
        env = box.env(PARTNERMATCH_API_KEYS=WRITE_KEY, PARTNERMATCH_SITE_KEYS=SITE_KEY,
                      PARTNERMATCH_DATABASE_URL=database_url, PARTNERMATCH_OUTBOX_POLL_SECONDS="0.2",
                      PARTNERMATCH_OUTBOX_LEASE_SECONDS="3")  # fmt: skip
        handler.stall.set()
        with servers.server_process(tmp_path, env) as base, httpx.Client(base_url=base + "/v1", timeout=30) as c:
            assert c.post("/schools/import", json=[school("u0", "GB"), school("k0")], headers=WRITE).status_code == 200
            made = c.post("/partnership-requests", json={"from_school": "u0", "to_school": "k0"}, headers=site("u0"))
            assert made.status_code == 201, made.text
            accepted = c.post(f"/partnership-requests/{made.json()['id']}/accept", headers=site("k0"))
            assert accepted.status_code == 200, accepted.text
            assert handler.stalled.wait(20), "the sender never reached the SMTP server"
            pid = int(c.get("/ready").json()["process"])
            os.kill(pid, signal.SIGKILL)  # the accept is committed; its mail is not sent
        handler.stall.clear()  # the held message is refused: the SMTP server kept nothing so far
        time.sleep(0.3)
        assert box.messages == []
        queued = sql(database_url, "SELECT message_id, to_addr FROM outbox WHERE sent_at IS NULL ORDER BY id")
        assert len(queued) == 3  # the new-request mail and one acceptance mail per school, all committed

        with servers.server_process(tmp_path, env):
            eventually(lambda: len(box.messages) >= 3, 30, 0.1, what="the 3 queued mails after the restart")
            time.sleep(4)  # longer than a lease: a second send would have happened by now
            got = sorted((str(m["Message-ID"]), str(m["To"])) for m in box.messages)
            assert got == sorted(queued), "each queued mail must arrive exactly once, with its own Message-ID"
        assert sql(database_url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == [(0,)]
