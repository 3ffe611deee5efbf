"""A description write while another thread answers suggestions: the text model traced against run eagerly.

In a service worker the event loop answers suggestions while a write runs in a threadpool thread; the write's
model call competes with the loop for the GIL. This script reproduces that in one process: ``Registry`` on a
copy of the registry ``bench_mixed.py --data-dir DIR`` seeded (seeded here the same way when missing), a thread
answering suggestions back to back, and the main thread writing new descriptions (the model encodes each) with
a pause between writes. Per write: wall time and the CPU time of the writing thread; and the suggestions served
meanwhile. Each round runs both models in fresh processes, alternating: ``traced`` (the default,
``features.traced_model``) and ``eager`` (``SentenceTransformerEncoder(trace=False)``).

    .venv/bin/python benchmarks/bench_write_beside_reads.py --data-dir var/bench/mixed
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from _common import machine

MODELS = ("traced", "eager")


def one_process(args: argparse.Namespace) -> dict[str, float]:
    """One model's figures, in this process."""
    import pydantic_core
    from bench_inprocess import seeded_copy
    from bench_mixed import KEY

    if args.one == "eager":  # the encoder is loaded by Registry.open: keep its transformer eager
        import features.traced_model

        features.traced_model.trace_transformer = lambda model: None  # type: ignore[assignment]
    from matching.core.filters import RequestFilters
    from service import presenter
    from service.config import Settings
    from service.registry import Registry

    data_dir = seeded_copy(argparse.Namespace(data_dir=args.data_dir, schools=args.schools, encoder="real"))
    registry = Registry.open(Settings(data_dir=data_dir, encoder="real", api_keys=(KEY,), sync_interval=0))
    ids = (data_dir / "ids.txt").read_text().split()
    rng, filters = random.Random(args.seed), RequestFilters()
    stop, served = threading.Event(), [0]

    def reads() -> None:
        pick = random.Random(args.seed + 1)
        while not stop.is_set():
            found = registry.suggest(pick.choice(ids), 10, filters)
            pydantic_core.to_json(presenter.suggestion_list(found, 10))
            served[0] += 1

    def write(i: int) -> None:
        text = (f"Our pupils run project {rng.randint(1, 10**9)} with a partner school abroad: letters, shared "
                f"lessons and a joint exhibition ({i}).")  # fmt: skip
        registry.patch(rng.choice(ids), {"description": text})

    try:
        for i in range(5):  # warm-up, before the reads start
            write(-i)
        reader = threading.Thread(target=reads)
        reader.start()
        time.sleep(1.0)
        wall, cpu = [], []
        start, start_served = time.perf_counter(), served[0]
        for i in range(args.writes):
            t, c = time.perf_counter(), time.thread_time()
            write(i)
            wall.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
            time.sleep(args.pause_ms / 1000)
        rate = (served[0] - start_served) / (time.perf_counter() - start)
        stop.set()
        reader.join()
    finally:
        registry.close()
    return {"wall_ms": float(np.median(wall) * 1000), "wall_p90_ms": float(np.percentile(wall, 90) * 1000),
            "cpu_ms": float(np.median(cpu) * 1000), "suggestions_per_s": rate}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="where bench_mixed.py keeps its seeded registry")
    parser.add_argument("--schools", type=int, default=20_000)
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--pause-ms", type=float, default=50.0, help="pause after each write")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--one", choices=MODELS, help=argparse.SUPPRESS)  # internal: one model, this process
    args = parser.parse_args()
    if args.one:
        print("BENCH_JSON " + json.dumps(one_process(args)))
        return
    print(f"machine: {machine()}")
    print(f"{args.writes} description writes per run, {args.pause_ms:g} ms apart, beside a suggestions thread")
    for r in range(args.rounds):
        for model in MODELS if r % 2 == 0 else MODELS[::-1]:
            cmd = [sys.executable, __file__, "--one", model, *sys.argv[1:]]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
            if out.returncode != 0 or line is None:
                raise SystemExit(f"the {model} run failed ({out.returncode}): {out.stderr[-2000:]}")
            f = json.loads(line.removeprefix("BENCH_JSON "))
            print(
                f"  round {r + 1}, {model:<6}: write wall median {f['wall_ms']:.1f} ms (p90 {f['wall_p90_ms']:.1f}),"
                f" writing thread CPU {f['cpu_ms']:.1f} ms; suggestions meanwhile {f['suggestions_per_s']:.0f}/s"
            )


if __name__ == "__main__":
    main()
