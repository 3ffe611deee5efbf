"""The certificate of optimality at scale: N UK schools x N schools abroad, every school with C places.

For each N: the default run (certified: top_k is only the starting size, pricing rounds add the left-out
pairs that could improve the flow), the same graph uncertified (``certify=False``, the old default), and
the exact dense graph (``top_k = N``, where it fits: ``--dense-max``). Reports wall and CPU seconds, peak
resident memory, pricing rounds, pairs added, and the objective (covered units, total score) of each, so
the certified answer can be checked against the dense optimum. Cohorts as ``bench_assignment.py`` (the
demo generator; ``--encoder hashing`` by default: the pricing does not depend on the text model).

    python benchmarks/bench_certify.py                    # 2,000 and 20,000 a side
    python benchmarks/bench_certify.py --sizes 2000 --dense-max 2000
    python benchmarks/bench_certify.py --with-100k        # adds 100,000 a side (needs a large machine)
    python benchmarks/bench_certify.py --sizes 100000 --certified-only --cache --stages   # the certified run alone,
                                                          # each stage's wall, CPU, peak RSS (sampled) and the
                                                          # process's high-water mark after it, on stderr
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from bench_assignment import ROOT, build_index, run  # the script's folder is first on sys.path

from matching.batch import AssignmentOptions

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class StageTimer:
    """Wraps the batch's stages (candidate building, each flow solve, potentials, pricing pass, decode) and writes
    one line per call to stderr as it ends: wall and CPU seconds, peak resident memory during the call (sampled)."""

    STAGES = (
        ("matching.batch.encode", "build_candidates"),
        ("matching.batch.pricing", "solve_network"),
        ("matching.batch.pricing", "residual_potentials"),
        ("matching.batch.pricing", "price"),
        ("matching.batch.assign", "decode"),
    )

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self._proc = psutil.Process()
        self._peak = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()
        import importlib

        for module, name in self.STAGES:
            mod = importlib.import_module(module)
            setattr(mod, name, self._wrap(name, getattr(mod, name)))

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._proc.memory_info().rss / 2**20)
            time.sleep(0.02)

    def _wrap(self, name: str, fn: Callable[..., object]) -> Callable[..., object]:
        def timed(*args: object, **kwargs: object) -> object:
            self._peak = self._proc.memory_info().rss / 2**20
            wall, cpu = time.perf_counter(), time.process_time()
            out = fn(*args, **kwargs)
            row = {"stage": name, "wall_s": round(time.perf_counter() - wall, 2),
                   "cpu_s": round(time.process_time() - cpu, 2), "peak_rss_mib": round(self._peak),
                   "rss_after_mib": round(self._proc.memory_info().rss / 2**20),
                   "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10)}  # fmt: skip
            self.rows.append(row)
            sys.stderr.write(f"[stage] {json.dumps(row)}\n")
            sys.stderr.flush()
            return out

        return timed


def measure(n: int, args: argparse.Namespace) -> dict[str, object]:
    cache = ROOT / "var" / "bench" / f"certify-{args.encoder}-{n}-{args.seed}.pkl" if args.cache else None
    index, build = build_index(n, args.seed, args.encoder, cache)
    base = AssignmentOptions(capacity=args.capacity, top_k=args.top_k, explain=False, progress=False,
                             n_jobs=args.jobs)  # fmt: skip
    out: dict[str, object] = {"n": n, "capacity": args.capacity, "build": build}
    timer = StageTimer() if args.stages and not hasattr(measure, "timer") else getattr(measure, "timer", None)
    measure.timer = timer  # type: ignore[attr-defined]
    start = len(timer.rows) if timer else 0
    out["certified"] = run(index, base)
    if timer is not None:
        out["stages"] = timer.rows[start:]
    if not args.certified_only:
        out["uncertified"] = run(index, base.replace(certify=False))
    if n <= args.dense_max and not args.certified_only:
        out["dense"] = run(index, base.replace(top_k=index.n_rows, certify=False))
        cert, dense = out["certified"], out["dense"]
        out["certified_equals_dense"] = (
            cert["uk_covered"] == dense["uk_covered"]
            and abs(
                float(cert["total_score"]) - float(dense["total_score"])  # type: ignore[arg-type]
            )
            <= 1e-4
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000], help="schools on each side")
    parser.add_argument("--with-100k", action="store_true", help="also 100,000 a side")
    parser.add_argument("--capacity", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=20, help="the starting size of each school's list")
    parser.add_argument("--dense-max", type=int, default=4_000, help="largest N run on the exact dense graph")
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--cache", action="store_true", help="keep the built index under var/bench")
    parser.add_argument("--certified-only", action="store_true", help="only the certified run (no comparison runs)")
    parser.add_argument("--stages", action="store_true", help="time each stage of the certified run (stderr)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    sizes = list(args.sizes) + ([100_000] if args.with_100k else [])
    results = []
    for n in sizes:
        result = measure(n, args)
        results.append(result)
        sys.stdout.write(json.dumps(result, indent=2, default=float) + "\n")
        sys.stdout.flush()
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
