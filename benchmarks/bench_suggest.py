"""Latency of one suggestion request (k=10, every hard constraint on, default diversity) on demo registries.

For each registry size: build time and memory, then the same random registered schools (half UK,
half abroad) asked through the default path (``search="auto"``: a bounded coarse first pass, then
exact re-ranking) and through the exact scan; median and p99 per path and side, recall@10 of the
fast path against the exact scan, and the cost of the constraint mask rule by rule.

    .venv/bin/python benchmarks/bench_suggest.py                      # 10k and 100k schools, real embeddings
    .venv/bin/python benchmarks/bench_suggest.py --sizes 100000 --encoder hashing --requests 300
    .venv/bin/python benchmarks/bench_suggest.py --sizes 100000 --ann   # plus hnswlib, if installed

Real embeddings: the demo registry draws its descriptions from a pool of ~2,200 texts; they are
encoded once with all-MiniLM-L6-v2 and cached in var/bench/embeddings.sqlite (the first run takes
about a minute more). ``--encoder hashing`` uses HashingEncoder(dim=384): the same matrix shape.
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
from _common import encoder, machine, peak_rss_mb, registry, stats_ms, timed

from matching.core.config import RankerConfig
from matching.core.constraints import Query
from matching.core.index import SchoolIndex, single_threaded_blas
from matching.core.ranker import Ranker


def sample_queries(index: SchoolIndex, n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` registered school ids, half UK and half abroad (active or not: any school may ask)."""
    rng = np.random.default_rng(seed)
    present = np.flatnonzero(index.columns.present[: index.n_rows])
    uk = present[index.columns.is_uk[present]]
    abroad = present[~index.columns.is_uk[present]]
    rows = np.concatenate([rng.choice(uk, n // 2, replace=False), rng.choice(abroad, n - n // 2, replace=False)])
    rng.shuffle(rows)
    return [index.columns.ids[r] for r in rows], index.columns.is_uk[rows]


def time_requests(ranker: Ranker, ids: list[str], k: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Wall time and CPU time (this thread) of each ``suggest`` call, and the rankings.

    CPU time leaves out the time the request waited for a CPU: on a shared machine it shows the
    work itself, while wall time shows what a caller saw.
    """
    wall, cpu, out = [], [], []
    for sid in ids:
        start, start_cpu = time.perf_counter(), time.thread_time()
        ranking = ranker.suggest(sid, k)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
        out.append(ranking)
    return np.array(wall), np.array(cpu), out


def rule_costs(ranker: Ranker, ids: list[str], reps: int = 3) -> dict[str, np.ndarray]:
    """Seconds per call of each constraint rule and of the combined ``allowed`` mask, for one query."""
    index = ranker.index
    constraints = ranker.constraint_set()
    cands = index.cols()
    costs: dict[str, list[float]] = {name: [] for name in constraints.rules()}
    costs["allowed (all rules)"] = []
    for sid in ids:
        query = Query.registered(index, [index.row(sid)])
        for _ in range(reps):
            for name, rule in constraints.rules().items():
                start = time.perf_counter()
                rule(query, cands, index)
                costs[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            constraints.allowed(index, query)
            costs["allowed (all rules)"].append(time.perf_counter() - start)
    return {name: np.array(v) for name, v in costs.items()}


def survivors(ranker: Ranker, ids: list[str], k: int) -> np.ndarray:
    """How many rows the bounded first pass sends to exact re-ranking, per request (k * pool best wanted)."""
    out = []
    index = ranker.index
    constraints = ranker.constraint_set()
    div = ranker.config.diversity
    with single_threaded_blas():
        for sid in ids:
            row = index.row(sid)
            query = Query.registered(index, [row])
            mask = constraints.allowed(index, query)[0]
            n_allowed = int(mask.sum())
            if n_allowed == 0:
                continue
            q = ranker.scorer.query_vectors(index.matrix[row])[0]
            side = (int(not index.columns.is_uk[row]),)
            pool = min(n_allowed, k * div.pool)
            cands = ranker.scorer.bounded_candidates(q, index.columns.tz_offset[row], mask, pool, side)
            out.append(len(cands))
    return np.array(out)


def bench_size(n: int, args: argparse.Namespace, enc: object) -> None:
    print(f"\n=== {n:,} schools ===")
    profiles, t_gen = timed(lambda: registry(n, seed=args.seed))
    rss0 = peak_rss_mb()
    index, t_build = timed(lambda: SchoolIndex.build(profiles, enc, progress=False))
    fast = Ranker(index, RankerConfig())  # search="auto": bounded first pass on large registries
    exact = Ranker(index, RankerConfig(search="exact"))
    _, t_prepare = timed(fast.prepare)
    coarse = index.coarse
    n_uk = int(index.columns.is_uk[: index.n_rows].sum())
    print(f"registry: {len(index):,} schools ({n_uk:,} UK, {len(index) - n_uk:,} abroad), generated in {t_gen:.1f} s")
    print(
        f"build: index {t_build:.1f} s (vectorize + encode, cached texts), coarse first pass {t_prepare:.2f} s; "
        f"matrix {index.matrix.shape[1]} columns, {index.matrix[: index.n_rows].nbytes / 2**20:.0f} MiB"
    )
    if coarse is not None:
        dims = {name: b.shape[1] for name, b in coarse.bases.items()}
        print(
            f"coarse: {coarse.width} columns (block projections {dims} + pair columns), "
            f"{coarse.nbytes / 2**20:.0f} MiB; peak RSS {peak_rss_mb():.0f} MiB (before the index {rss0:.0f} MiB)"
        )

    ids, is_uk = sample_queries(index, args.requests, args.seed + 1)
    for sid in ids[:20]:  # warm-up: caches, first-call overheads
        fast.suggest(sid, args.k)
        exact.suggest(sid, args.k)
    gc.collect()
    gc.disable()  # collector pauses belong to the process, not to the request path measured here
    try:
        t_fast, c_fast, r_fast = time_requests(fast, ids, args.k)
        t_exact, c_exact, r_exact = time_requests(exact, ids, args.k)
    finally:
        gc.enable()

    print(f"one request (k={args.k}, all constraints, diversity {fast.config.diversity.method}), {len(ids)} requests:")
    for label, t, c in (("default (bounded)", t_fast, c_fast), ("exact scan", t_exact, c_exact)):
        print(f"  {label:18s} wall, all     {stats_ms(t)}")
        print(f"  {'':18s} wall, UK      {stats_ms(t[is_uk])}")
        print(f"  {'':18s} wall, abroad  {stats_ms(t[~is_uk])}")
        print(f"  {'':18s} CPU,  all     {stats_ms(c)}")

    recalls, same, max_diff, sums = [], 0, 0.0, 0.0
    for a, b in zip(r_fast, r_exact, strict=True):
        truth = set(b.ids)
        if truth:
            recalls.append(len(truth & set(a.ids)) / len(truth))
        same += list(a.ids) == list(b.ids)
        if list(a.ids) == list(b.ids) and len(a):
            max_diff = max(max_diff, float(np.abs(a.scores - b.scores).max()))
        if len(a):
            sums = max(sums, float(np.abs(a.contributions.sum(axis=1) - a.scores).max()))
    allowed = np.array([r.n_allowed for r in r_exact])
    print(
        f"recall@{args.k} of the default path vs the exact scan: {np.mean(recalls):.4f} "
        f"(identical rankings {same}/{len(ids)}; max |score diff| {max_diff:.1e}; "
        f"max |sum(contributions) - score| {sums:.1e})"
    )
    print(f"allowed candidates per request: median {np.median(allowed):,.0f}, min {allowed.min():,}")
    if coarse is not None:
        surv = survivors(fast, ids, args.k)
        print(
            f"rows re-ranked exactly after the first pass: median {np.median(surv):.0f}, "
            f"p99 {np.percentile(surv, 99):.0f}, max {surv.max()} (of the {args.k * fast.config.diversity.pool} wanted)"
        )
    print("constraint mask, one query (per rule):")
    for name, t in rule_costs(fast, ids[:50]).items():
        print(f"  {name:22s} {stats_ms(t)}")
    if args.ann:
        ann_comparison(exact, [sid for sid, uk in zip(ids, is_uk, strict=True) if uk][:100], args.k)


def ann_comparison(exact: Ranker, uk_ids: list[str], k: int) -> None:
    """hnswlib (inner product over the full rows of the schools abroad), over-fetch, drop disallowed, re-rank
    exactly, diversify: wall time and recall@k against the exact scan, for UK schools asking."""
    try:
        import hnswlib
    except ImportError:
        print("--ann: hnswlib is not installed (pip install hnswlib); skipped")
        return
    index = exact.index
    n = index.n_rows
    abroad = np.flatnonzero(~index.columns.is_uk[:n] & index.columns.present[:n])
    ann = hnswlib.Index(space="ip", dim=index.matrix.shape[1])
    _, t_build = timed(
        lambda: (ann.init_index(len(abroad), ef_construction=100, M=16), ann.add_items(index.matrix[abroad], abroad))
    )
    ann.set_num_threads(1)
    print(f"hnswlib (M=16, ef_construction=100) over the {len(abroad):,} schools abroad: built in {t_build:.1f} s")
    constraints = exact.constraint_set()
    div = exact.config.diversity
    for fetch in (200, 1000):
        ann.set_ef(fetch)
        times, recalls = [], []
        for sid in uk_ids:
            truth = exact.suggest(sid, k)
            if not len(truth):
                continue
            row = index.row(sid)
            start = time.perf_counter()
            with single_threaded_blas():
                mask = constraints.allowed(index, Query.registered(index, [row]))[0]
                q = exact.scorer.query_vectors(index.matrix[row])[0]
                labels, _ = ann.knn_query(q[None, :], k=min(fetch, len(abroad)))
                cands = np.sort(labels[0].astype(np.int64))
                cands = cands[mask[cands]]
                scores = exact.scorer.scores(q, index.columns.tz_offset[row : row + 1], cands)[0]
                order = np.lexsort((cands, -scores))[: k * div.pool]
                chosen = exact.diversify(cands[order], scores[order], k, div)
            times.append(time.perf_counter() - start)
            got = {index.columns.ids[r] for r in cands[order][chosen]}
            recalls.append(len(got & set(truth.ids)) / len(truth))
        print(f"  fetch {fetch:5d} (ef {fetch}): recall@{k} {np.mean(recalls):.3f}   {stats_ms(np.array(times))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--encoder", choices=["real", "hashing"], default="real")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ann", action="store_true", help="also measure an hnswlib index (if installed)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    enc, t_model = timed(lambda: encoder(args.encoder))
    if args.encoder == "real":
        print(f"encoder: all-MiniLM-L6-v2 (loaded in {t_model:.1f} s), descriptions cached in var/bench/")
    else:
        print("encoder: HashingEncoder(dim=384) — the same matrix shape as all-MiniLM-L6-v2, not its spectrum")
    for n in args.sizes:
        bench_size(n, args, enc)


if __name__ == "__main__":
    main()
