"""partnermatch's certified optimum against openreview-matcher's ``MinMaxSolver`` on the same cohorts, scores and
hard rules (the demo generator, N UK schools x N schools abroad, C places each; as ``bench_certify.py``).

The peer is not a dependency: point ``--matcher`` at a checkout of https://github.com/openreview/openreview-matcher
(its ``matcher/solvers`` folder is imported without the package ``__init__``, which pulls in the service
clients). Its ``SimpleSolver`` uses the OR-Tools API before 9.4 (``ortools.graph.pywrapgraph``, CamelCase
methods); a small adapter onto today's ``ortools.graph.python.min_cost_flow`` stands in for it here.

Mapping: papers = UK schools (demand C each), reviewers = schools abroad (at most C, at least 0), cost
``-rint(score * 1e6)`` on the allowed pairs, constraint -1 on the others (the peer adds no arc there, nor
for pairs scoring 0 or less), and C extra "no partner" reviewers at cost -1 with room for every UK place
(the peer routes all of its demand). The peer maximises the total score only, not coverage first. Each
peer run is a subprocess with a time limit (``--timeout``): the sizes it does not finish are reported as such.

    python benchmarks/bench_minmax.py --matcher ~/src/openreview-matcher --sizes 500 1000 2000 --cache
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
from bench_assignment import ROOT, build_index, run  # the script's folder is first on sys.path

from matching.batch import AssignmentOptions, assign
from matching.batch.encode import encode
from matching.core.config import RankerConfig

SCALE = 1_000_000


class _LegacyMinCostFlow:
    """``pywrapgraph.SimpleMinCostFlow`` (OR-Tools < 9.4) on today's ``min_cost_flow.SimpleMinCostFlow``."""

    def __init__(self) -> None:
        from ortools.graph.python import min_cost_flow

        self._f = min_cost_flow.SimpleMinCostFlow()
        self.OPTIMAL = self._f.OPTIMAL

    def AddArcWithCapacityAndUnitCost(self, tail: int, head: int, cap: int, cost: int) -> int:
        return self._f.add_arc_with_capacity_and_unit_cost(tail, head, cap, cost)

    def SetNodeSupply(self, node: int, supply: int) -> None:
        self._f.set_node_supply(node, supply)

    def Solve(self) -> object:
        return self._f.solve()

    def NumArcs(self) -> int:
        return self._f.num_arcs()

    def Flow(self, arc: int) -> int:
        return self._f.flow(arc)

    def UnitCost(self, arc: int) -> int:
        return self._f.unit_cost(arc)

    def Tail(self, arc: int) -> int:
        return self._f.tail(arc)

    def Head(self, arc: int) -> int:
        return self._f.head(arc)

    def OptimalCost(self) -> int:
        return self._f.optimal_cost()


def load_minmax(matcher: Path) -> type:
    """The peer's ``MinMaxSolver`` class, imported from ``matcher/solvers`` without the package ``__init__``."""
    legacy = types.ModuleType("ortools.graph.pywrapgraph")
    legacy.SimpleMinCostFlow = _LegacyMinCostFlow  # type: ignore[attr-defined]
    sys.modules["ortools.graph.pywrapgraph"] = legacy
    import ortools.graph

    ortools.graph.pywrapgraph = legacy  # type: ignore[attr-defined]
    package = types.ModuleType("peer_solvers")
    package.__path__ = [str(matcher / "matcher" / "solvers")]  # type: ignore[attr-defined]
    sys.modules["peer_solvers"] = package
    return importlib.import_module("peer_solvers.minmax_solver").MinMaxSolver


def peer(n: int, args: argparse.Namespace) -> dict[str, object]:
    """One MinMax run (in this process): time, pairs and their total score under partnermatch's scores."""
    cache = ROOT / "var" / "bench" / f"certify-{args.encoder}-{n}-{args.seed}.pkl" if args.cache else None
    index, _ = build_index(n, args.seed, args.encoder, cache)
    minmax = load_minmax(args.matcher)
    p = encode(index, RankerConfig(), None, AssignmentOptions(capacity=args.capacity, progress=False))
    allowed, scores = p.pairs.dense(p.uk_rows)
    # extra reviewers, "no partner" (cost -1: a millionth of a score point), as many as the most places of a UK
    # school (the peer's arcs carry one unit each), with room for every UK place: the peer routes all of its
    # demand, so without them a cohort with fewer places abroad than in the UK fails
    n_uk, extra = len(p.uk_rows), int(p.cap_uk.max())
    cost = np.column_stack([-np.rint(scores.astype(np.float64) * SCALE), np.full((n_uk, extra), -1.0)])
    constraint = np.column_stack([np.where(allowed, 0, -1), np.zeros((n_uk, extra), int)])
    encoder = types.SimpleNamespace(cost_matrix=cost, constraint_matrix=constraint)
    maximums = np.append(p.cap_ab.astype(int), np.full(extra, int(p.cap_uk.sum())))
    start, cpu = time.perf_counter(), time.process_time()
    solver = minmax(np.zeros(len(maximums), int), maximums, p.cap_uk.astype(int), encoder)
    flow = solver.solve()[:, : len(p.ab_rows)]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    u, v = np.nonzero(flow > 0)
    ids = index.columns.ids
    return {
        "solved": bool(solver.solved),
        "wall_s": wall,
        "cpu_s": cpu,
        "partnerships": len(u),
        "uk_covered": len(np.unique(u)),
        "total_score": float(scores[u, v].astype(np.float64).sum()),
        "pairs": sorted((ids[p.uk_rows[a]], ids[p.ab_rows[b]]) for a, b in zip(u.tolist(), v.tolist(), strict=True)),
    }


def measure(n: int, args: argparse.Namespace) -> dict[str, object]:
    cache = ROOT / "var" / "bench" / f"certify-{args.encoder}-{n}-{args.seed}.pkl" if args.cache else None
    index, _ = build_index(n, args.seed, args.encoder, cache)
    options = AssignmentOptions(capacity=args.capacity, explain=False, progress=False, n_jobs=args.jobs)
    ours = run(index, options)
    pairs = assign(index, options=options).pairs
    out: dict[str, object] = {"n": n, "capacity": args.capacity, "partnermatch": ours}
    cmd = [sys.executable, __file__, "--peer-one", str(n), "--matcher", str(args.matcher), "--capacity",
           str(args.capacity), "--encoder", args.encoder, "--seed", str(args.seed)]  # fmt: skip
    cmd += ["--cache"] if args.cache else []
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=True)
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        out["minmax"] = {"finished": False, "note": f"killed at {args.timeout} s"}
        return out
    same = sorted(map(tuple, theirs.pop("pairs"))) == sorted(pairs)
    out["minmax"] = {"finished": True, **theirs, "same_pairs": same}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matcher", type=Path, required=True, help="a checkout of openreview-matcher")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1_000, 2_000], help="schools on each side")
    parser.add_argument("--capacity", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a peer run is killed")
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--cache", action="store_true", help="keep the built index under var/bench")
    parser.add_argument("--peer-one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.peer_one is not None:
        sys.stdout.write(json.dumps(peer(args.peer_one, args)) + "\n")
        return
    results = []
    for n in args.sizes:
        result = measure(n, args)
        results.append(result)
        sys.stdout.write(json.dumps(result, indent=2, default=float) + "\n")
        sys.stdout.flush()
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
