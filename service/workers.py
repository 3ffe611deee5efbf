"""Several server processes on one port, each with its own listening socket (``SO_REUSEPORT``).

uvicorn's ``--workers`` shares one listening socket between the processes, and whichever process wakes
first accepts every connection waiting: with keep-alive clients one worker can end up holding nearly all
of them (measured with 32 ``wrk`` connections and two workers: 32/0, 29/3, 26/6) and queue while the other
idles. With a socket per process the kernel spreads new connections over the processes that are
listening (a worker listens only once its index is loaded). Linux only; elsewhere ``serve`` falls back to
uvicorn's shared socket.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from types import FrameType

logger = logging.getLogger("partnermatch.workers")

RESTART_PAUSE_S = 1.0  # between a worker's unexpected exit and its replacement
QUICK_EXIT_S = 120.0  # a worker exiting this soon after its start counts as failing to start
MAX_QUICK_EXITS = 3  # ... this many times in a row: give up (the log says why) rather than loop
STOP_GRACE_S = 30.0  # how long stopping workers may take before they are killed


def reuse_port_supported() -> bool:
    """Whether this platform balances connections over sockets sharing a port (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(host: str, port: int, log_level: str) -> None:
    """One worker process: its own socket on the shared port, then the app (``create_app`` from the
    environment's settings); uvicorn starts listening after the app's start-up."""
    import uvicorn

    sock = reuse_port_socket(host, port)
    from service.http_protocol import CoalescingHttpToolsProtocol

    config = uvicorn.Config(
        "service.app:create_app", factory=True, log_level=log_level, http=CoalescingHttpToolsProtocol
    )
    uvicorn.Server(config).run(sockets=[sock])


def run_workers(host: str, port: int, n_workers: int, log_level: str) -> int:
    """Run ``n_workers`` server processes on ``host:port`` until SIGINT or SIGTERM; a worker that exits on
    its own is replaced (unless workers keep failing to start). Returns the exit status for the command line."""
    holder = reuse_port_socket(host, port)  # reserves the port (never listens: gets no connections)
    port = holder.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    stopping: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    started: dict[int, float] = {}

    def start(i: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(host, port, log_level), name=f"partnermatch-worker-{i}")
        process.start()
        started[i] = time.monotonic()
        return process

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start(i) for i in range(n_workers)]
    quick_exits = 0
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                quick_exits = quick_exits + 1 if time.monotonic() - started[i] < QUICK_EXIT_S else 0
                if quick_exits >= MAX_QUICK_EXITS:
                    logger.error("workers keep exiting during start-up (last status %s): stopping", process.exitcode)
                    stopping.append(0)
                    status = 1
                    break
                logger.warning("worker %s exited with %s: starting another", process.pid, process.exitcode)
                time.sleep(RESTART_PAUSE_S)
                processes[i] = start(i)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + STOP_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        holder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def ready_processes(base_url: str, workers: int, timeout: float = 2.0) -> int:
    """How many distinct worker processes answer ``GET /ready`` on fresh connections (each worker listens once
    it has loaded the registry, and new connections spread over those listening): ``workers`` once all are
    up, 0 if one answers "not ready". Raises ``OSError`` while nothing listens yet."""
    seen: set[int] = set()
    for _ in range(8 * workers):
        try:
            with urllib.request.urlopen(f"{base_url}/ready", timeout=timeout) as response:
                seen.add(int(json.load(response)["process"]))
        except urllib.error.HTTPError:
            return 0
        if len(seen) == workers:
            break
    return len(seen)
