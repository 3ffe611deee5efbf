"""Sampling profiles of running server workers with py-spy (``pip install py-spy``), summed by function."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str:
    """The py-spy executable (next to this Python first); a clear exit when it is not installed."""
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    return found


def record(pids: list[int], seconds: int, out_dir: Path, rate: int = 200) -> list[subprocess.Popen]:
    """Start one ``py-spy record`` per process (raw collapsed stacks, ``out_dir/worker-<pid>.txt``); wait on them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [py_spy(), "record", "--rate", str(rate), "--nonblocking", "--format", "raw", "-d", str(seconds)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return [subprocess.Popen([*cmd, "-o", str(out_dir / f"worker-{pid}.txt"), "-p", str(pid)], **quiet) for pid in pids]


def summarise(
    paths: list[Path], top: int = 20, packages: tuple[str, ...] = ("matching/", "features/", "service/")
) -> tuple[int, list[tuple[float, str]], list[tuple[float, str]]]:
    """Samples in all; the ``top`` functions of this project's ``packages`` by inclusive share of the samples
    (counted once per sample however deep they recurse; the worker's own entry point left out); and the ``top``
    functions of any package by self share (the frame on top of the stack). Names are ``function file``."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            names = []
            for frame in stack.split(";"):
                m = _FRAME.match(frame)
                names.append((f"{m['name']} {m['file']}", m["file"]) if m else (frame, ""))
            own[names[-1][0]] += n
            for name in {name for name, file in names if file.startswith(packages) and file != "service/workers.py"}:
                inclusive[name] += n

    def shares(counts: Counter[str]) -> list[tuple[float, str]]:
        return [(100 * v / max(total, 1), k) for k, v in counts.most_common(top)]

    return total, shares(inclusive), shares(own)
