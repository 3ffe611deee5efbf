"""A real uvicorn server of the service (``python -m service serve``) on a free loopback port, for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.workers import ready_processes

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server_process(
    data_dir: Path,
    env: dict[str, str],
    encoder: str = "hashing",
    timeout: float = 90.0,
    workers: int = 1,
) -> Iterator[str]:
    """Start the server (extra environment ``env``), wait until every worker is ready, yield its base URL.

    Fails with the server's log if it exits or is not ready within ``timeout``; always stops it.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data_dir), "--encoder", encoder, "--no-demo", "--log-level", "warning",
           "--workers", str(workers)]  # fmt: skip
    log_path = data_dir / f"server-{port}.log"
    log = log_path.open("w")
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env}
    proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if ready_processes(base, workers, 1.0) == workers:
                    break
            except OSError:  # nothing listens yet
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not become ready in {timeout:g} s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
