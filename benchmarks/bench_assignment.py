"""Batch matching at scale: N UK schools x N schools abroad, every school with C places.

Times the candidate scoring (sparse top-K graph from the core's masks and scores) and the exact
min-cost-flow solve separately, with wall and CPU seconds (the machine may be shared: CPU seconds are
the steadier figure), the peak memory of the assignment, the widening check (K vs a wider K) and the
ratio to the greedy baseline. Building the profiles and the index is reported on its own.

The schools come from the demo generator (``matching.demo.generator.generate_registry``: real English-register
schools, schools in ~50 countries abroad, ~2,200 distinct descriptions). The register has about 27,000
open UK schools: beyond that, UK schools are copies of drawn ones with new ids and freshly drawn themes
and skills. Embeddings are stored: the real model (all-MiniLM-L6-v2) behind the disk cache in
``var/bench`` (each distinct text is encoded once, ever), or ``--encoder hashing`` (same width, 384).

    python benchmarks/bench_assignment.py                      # 20,000 x 20,000, capacity 3
    python benchmarks/bench_assignment.py --n 100000 --no-greedy
    python benchmarks/bench_assignment.py --scoring pruned    # coarse-index bounds (the same graph)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from features import vocab
from features.profiles import SchoolProfile, Skills
from matching.batch import AssignmentOptions, assign
from matching.core.engine import make_encoder
from matching.core.index import SchoolIndex
from matching.demo.generator import generate_registry

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class PeakMemory:
    """Samples this process's resident memory in a thread; ``peak`` in MiB."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss / 2**20)
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cohort_profiles(n: int, seed: int) -> list[SchoolProfile]:
    """n UK schools then n schools abroad from the demo generator (UK copies beyond the register)."""
    profiles = generate_registry(2 * n, uk_share=0.5, seed=seed, progress=True)
    uk = [p for p in profiles if p.is_uk][:n]
    abroad = [p for p in profiles if not p.is_uk][:n]
    rng = random.Random(seed)
    themes = vocab.themes()
    copies = []
    for i in range(n - len(uk)):
        base = uk[i % len(uk)]
        skills = {
            key: Skills(**{s: rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for s in vocab.SKILLS})
            for key in ("skills_want", "skills_offer")
        }
        copies.append(
            base.model_copy(
                update={
                    "school_id": f"{base.school_id}-c{i}",
                    "themes": tuple(rng.sample(themes, rng.randint(1, 4))),
                    "current_partners": (),
                    "excluded": (),
                    **skills,
                }
            )
        )
    return uk + copies + abroad


def build_index(n: int, seed: int, encoder: str, cache: Path | None) -> tuple[SchoolIndex, dict[str, float]]:
    """n UK schools and n schools abroad, indexed (cached as a pickle when ``cache`` is given)."""
    if cache is not None and cache.is_file():
        start = time.perf_counter()
        index = SchoolIndex.__new__(SchoolIndex)
        with cache.open("rb") as f:
            index.__dict__.update(pickle.load(f))
        return index, {"load_index_s": time.perf_counter() - start}
    start = time.perf_counter()
    profiles = cohort_profiles(n, seed)
    profiles_s = time.perf_counter() - start
    start = time.perf_counter()
    # one embedding cache per model (a cache holds one model's vectors): the real model's is var/bench's own
    cache_dir = ROOT / "var" / "bench" / ("" if encoder == "real" else encoder)
    index = SchoolIndex.build(profiles, make_encoder(encoder, cache_dir), progress=True)
    index_s = time.perf_counter() - start
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        state = {**index.__dict__, "vectorizer": None}  # the encoder holds a database handle; not needed here
        partial = cache.with_suffix(".partial")
        with partial.open("wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(cache)
    return index, {"profiles_s": profiles_s, "index_s": index_s}


def run(index: SchoolIndex, options: AssignmentOptions) -> dict[str, object]:
    rss_before = psutil.Process().memory_info().rss / 2**20
    with PeakMemory() as mem:
        result = assign(index, options=options)
    d = result.diagnostics
    return {
        "mode": d.mode,
        "top_k": d.top_k,
        "edges": d.n_candidate_edges,
        "partnerships": d.n_partnerships,
        "uk_covered": d.uk_covered,
        "uk_seeking": d.n_uk_seeking,
        "total_score": d.total_score,
        "mean_score": d.mean_score,
        "candidates_s": d.candidate_seconds,
        "solve_s": d.solve_seconds,
        "explain_s": d.explain_seconds,
        "total_s": d.total_seconds,
        "certified": d.certified,
        "pricing_rounds": d.pricing_rounds,
        "pairs_added": d.pairs_added,
        "certificate_note": d.certificate_note,
        "cpu_s": d.cpu_seconds,
        "peak_rss_mib": mem.peak,
        "rss_before_mib": rss_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="schools on each side")
    parser.add_argument("--capacity", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--widen", type=int, default=2, help="also solve with K x this (0: skip)")
    parser.add_argument("--no-greedy", action="store_true", help="skip the greedy baseline")
    parser.add_argument("--n-jobs", type=int, default=2, help="threads for candidate scoring (the target is 2 cores)")
    parser.add_argument("--no-explain", action="store_true", help="skip contributions and reasons per pair")
    parser.add_argument(
        "--scoring",
        choices=["auto", "exact", "pruned"],
        default="auto",
        help="candidate bounds: the exact product, the coarse index (pruned), or by size (the same graph)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--encoder", choices=["real", "hashing"], default="real", help="stored real embeddings or hashing"
    )
    parser.add_argument("--cache", type=Path, default=None, help="pickle the built index here and reuse it")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()

    load = os.getloadavg()
    index, build = build_index(args.n, args.seed, args.encoder, args.cache)
    print(
        f"index: {len(index):,} schools, {index.matrix.shape[1]} columns; "
        + ", ".join(f"{k} {v:.1f}" for k, v in build.items())
    )
    options = AssignmentOptions(
        capacity=args.capacity,
        top_k=args.top_k,
        n_jobs=args.n_jobs,
        explain=not args.no_explain,
        progress=False,
        pruned={"auto": None, "exact": False, "pruned": True}[args.scoring],
    )
    runs = {"optimal": run(index, options)}
    if args.widen:
        runs["optimal_wide"] = run(index, options.replace(top_k=args.top_k * args.widen, explain=False))
    if not args.no_greedy:
        runs["greedy"] = run(index, options.replace(mode="greedy", explain=False))
    figures: dict[str, object] = {
        "n_per_side": args.n,
        "encoder": args.encoder,
        "capacity": args.capacity,
        "n_jobs": args.n_jobs,
        "candidate_scoring": args.scoring,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load,
        "build": build,
        "runs": runs,
    }
    opt = runs["optimal"]
    if "greedy" in runs:
        figures["ratio_to_greedy"] = opt["total_score"] / runs["greedy"]["total_score"]  # type: ignore[operator]
    if "optimal_wide" in runs:
        wide = runs["optimal_wide"]
        figures["widening_gap"] = (wide["total_score"] - opt["total_score"]) / wide["total_score"]  # type: ignore[operator]
    for name, r in runs.items():
        cpu = r["cpu_s"]
        print(
            f"{name:13s} K={r['top_k']:<4} edges {r['edges']:>10,}  candidates {r['candidates_s']:6.2f} s "
            f"(cpu {cpu['candidates']:6.2f})  solve {r['solve_s']:6.2f} s (cpu {cpu['solve']:6.2f})  "
            f"explain {r['explain_s']:5.2f} s  total {r['total_s']:6.2f} s (cpu {cpu['total']:6.2f})  "
            f"peak {r['peak_rss_mib']:,.0f} MiB  covered {r['uk_covered']:,}/{r['uk_seeking']:,}  "
            f"pairs {r['partnerships']:,}  total score {r['total_score']:,.2f}"
        )
    if "ratio_to_greedy" in figures:
        print(f"optimal / greedy total score: {figures['ratio_to_greedy']:.4f}")
    if "widening_gap" in figures:
        print(f"widening K x{args.widen}: total score +{100 * figures['widening_gap']:.4f} %")  # type: ignore[operator]
    print(f"load average at start {load[0]:.1f} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
