"""``serve --workers N`` on Linux: a listening socket per worker on one port (``service.workers``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from service.workers import reuse_port_supported
from tests.support.api import server_process
from tests.support.polling import eventually
from tests.support.servers import REPO

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux only")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def answering(base: str, tries: int = 40) -> set[int]:
    """Worker processes that answer on fresh connections."""
    return {httpx.get(f"{base}/ready", timeout=30).json()["process"] for _ in range(tries)}


def test_workers_share_connections_replace_a_dead_worker_and_stop_together(tmp_path):
    with server_process(tmp_path, workers=2) as base:
        clients = [httpx.Client(base_url=base, timeout=30) for _ in range(16)]
        try:
            held = [c.get("/ready").json()["process"] for c in clients]  # each client keeps its connection
            assert len(set(held)) == 2, f"16 connections all went to one worker: {held}"
            assert [c.get("/ready").json()["process"] for c in clients] == held  # keep-alive: same worker
        finally:
            for c in clients:
                c.close()
        workers = answering(base)
        assert len(workers) == 2
        dead = min(workers)
        os.kill(dead, signal.SIGKILL)

        def replaced() -> set[int] | None:
            now = answering(base, 20)
            return now if len(now) == 2 and dead not in now else None

        # Connections the kernel handed to the killed worker's socket before it closed (a SYN that arrived
        # between the kill and the process's exit) are reset: no supervisor can hand those on, so, as a
        # client would, the test retries a reset connection. The supervisor starts a replacement, which
        # listens once loaded.
        now = eventually(replaced, 90, 0.5, what=f"a replacement for worker {dead}", ignore=(httpx.TransportError,))
    eventually(lambda: not any(alive(pid) for pid in now), 20, 0.2, what="the workers to stop with the server")


def test_a_taken_port_is_a_clear_error_not_a_traceback(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
               "--data-dir", str(tmp_path), "--encoder", "hashing", "--no-demo", "--api-key", "k" * 24]  # fmt: skip
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
