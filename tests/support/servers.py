"""A real uvicorn server of the service (``python -m service serve``) on a free loopback port, for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.workers import ready_processes
from tests.support.polling import eventually

REPO = Path(__file__).resolve().parents[2]


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

    def all_workers_ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        return ready_processes(base, workers, 1.0) == workers

    try:
        try:  # OSError: nothing listens yet
            eventually(all_workers_ready, timeout, 0.2, what=f"{workers} ready worker(s) at {base}", ignore=(OSError,))
        except AssertionError as exc:  # the server exited or was not ready in time: show its log
            raise AssertionError(f"{exc}\nserver log:\n{log_path.read_text()}") from None
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
