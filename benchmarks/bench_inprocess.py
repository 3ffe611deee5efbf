"""Where a request's CPU goes without HTTP: the mixed load of ``bench_mixed.py`` run inside one process.

Opens the registry that ``bench_mixed.py --data-dir DIR`` seeded (a copy of it: writes never touch the
seed; seeded here the same way when missing) and measures CPU time per operation (``time.process_time``,
every thread of the process), one phase at a time:

1. each kind alone: suggestions (k=10, with the JSON body), capacity writes, description writes (the model
   encodes each new text), then suggestions again after the writes;
2. the mix: 19 suggestions then 1 write (capacity and description in turn), against the sum of its parts;
3. three suspects for a mixed load costing more than that sum: reads switching between 1, 2 and 4 copies of
   the index (the left-right holder keeps two per process), the constraint-mask cache emptied every 10
   reads (every change empties it), and garbage collection (timed by ``gc.callbacks`` in every phase);
4. ``Registry.patch`` from the main thread and from a pool thread (a route runs it in the threadpool);
5. the same capacity write as ``PATCH /v1/schools/{id}`` through the app in this process (Starlette's
   ``TestClient``), against ``GET /health`` through it (the client's own cost), with the CPU of the
   ``Registry.patch`` call inside the request timed on its thread (``time.thread_time``).

    .venv/bin/python benchmarks/bench_inprocess.py --data-dir var/bench/mixed
    .venv/bin/python benchmarks/bench_inprocess.py --data-dir var/bench/mixed --schools 2000 --encoder hashing
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydantic_core
from _common import machine
from bench_mixed import KEY, seed_database
from fastapi.testclient import TestClient

from matching.core.filters import RequestFilters
from service import presenter
from service.app import create_app
from service.config import Settings
from service.index_holder import Snapshot, clone_snapshot
from service.registry import Registry


class GcTimer:
    """CPU seconds spent in cyclic garbage collections while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds, self.collections, self._start = 0.0, 0, 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start
            self.collections += 1

    def reset(self) -> None:
        self.seconds, self.collections = 0.0, 0


def seeded_copy(args: argparse.Namespace) -> Path:
    """A temporary copy of the seeded registry (seeded first, into ``--data-dir``, when missing)."""
    kept = args.data_dir / f"{args.schools}-{args.encoder}"
    if not (kept / "ids.txt").exists():
        kept.mkdir(parents=True, exist_ok=True)
        ids = seed_database(f"sqlite:///{kept / 'registry.sqlite'}", kept, args.schools, args.encoder)
        (kept / "ids.txt").write_text("\n".join(ids) + "\n")
    work = Path(tempfile.mkdtemp(prefix="partnermatch-bench-inprocess-")) / "data"
    shutil.copytree(kept, work)
    return work


def through_the_app(
    data_dir: Path, args: argparse.Namespace, ids: list[str], rng: random.Random, phase: Callable[..., float]
) -> None:
    """Phase 5: capacity writes as requests to the app in this process, ``Registry.patch`` timed inside."""
    inside = [0.0]
    patch = Registry.patch

    def timed_patch(self: Registry, *a: object, **kw: object) -> object:
        start = time.thread_time()
        try:
            return patch(self, *a, **kw)  # type: ignore[arg-type]
        finally:
            inside[0] += time.thread_time() - start

    settings = Settings(data_dir=data_dir, encoder=args.encoder, api_keys=(KEY,), rate_writes="1000000/minute")
    Registry.patch = timed_patch  # type: ignore[method-assign]
    try:
        with TestClient(create_app(settings)) as client:

            def request(i: int) -> None:
                body = {"capacity": rng.randint(2, 6)}
                response = client.patch(f"/v1/schools/{rng.choice(ids)}", json=body, headers={"X-API-Key": KEY})
                if response.status_code != 200:
                    raise SystemExit(f"PATCH answered {response.status_code}: {response.text}")

            print("through the app (TestClient, in this process):")
            for _ in range(args.rounds):
                phase("GET /health (the client's own cost)", lambda i: client.get("/health"), args.writes * 3)
                inside[0] = 0.0
                phase("PATCH capacity", request, args.writes * 3)
                print(
                    f"  {'  of which Registry.patch, on its thread':<44} {inside[0] / (args.writes * 3) * 1000:7.3f} ms"
                )
    finally:
        Registry.patch = patch  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="where bench_mixed.py keeps its seeded registry")
    parser.add_argument("--schools", type=int, default=20_000)
    parser.add_argument("--encoder", default="real", choices=["real", "hashing"])
    parser.add_argument("--reads", type=int, default=1500, help="suggestions per read phase")
    parser.add_argument("--writes", type=int, default=100, help="writes per write phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    data_dir = seeded_copy(args)
    registry = Registry.open(Settings(data_dir=data_dir, encoder=args.encoder, api_keys=(KEY,), sync_interval=0))
    ids = (data_dir / "ids.txt").read_text().split()
    rng = random.Random(args.seed)
    filters = RequestFilters()
    gc_timer = GcTimer()
    gc.callbacks.append(gc_timer)
    written = [0]

    def suggest(snapshot: Snapshot | None = None) -> None:
        if snapshot is None:
            found = registry.suggest(rng.choice(ids), 10, filters)
            pydantic_core.to_json(presenter.suggestion_list(found, 10))
        else:
            snapshot.ranker.suggest(rng.choice(ids), 10, filters)

    def write(kind: str) -> None:
        written[0] += 1
        if kind == "capacity":
            changes: dict[str, object] = {"capacity": rng.randint(2, 6)}
        else:  # the same template as bench_mixed.py: a text never seen, so the model encodes it
            changes = {"description": f"Our pupils run project {rng.randint(1, 10**9)} with a partner school "
                       f"abroad: letters, shared lessons and a joint exhibition ({written[0]})."}  # fmt: skip
        registry.patch(rng.choice(ids), changes)

    def phase(label: str, op: Callable[[int], None], n: int) -> float:
        gc_timer.reset()
        start = time.process_time()
        for i in range(n):
            op(i)
        ms = (time.process_time() - start) / n * 1000
        print(f"  {label:<44} {ms:7.3f} ms CPU per operation ({n}; gc {gc_timer.seconds / n * 1000:.3f} ms)")
        return ms

    def mixed(i: int) -> None:
        if i % 20 == 19:
            write("description" if (i // 20) % 2 == 0 else "capacity")
        else:
            suggest()

    for _ in range(100):
        suggest()
    for round_no in range(1, args.rounds + 1):
        print(f"round {round_no}:")
        phase("suggestion", lambda i: suggest(), args.reads)
        capacity = phase("capacity write", lambda i: write("capacity"), args.writes)
        description = phase("description write", lambda i: write("description"), args.writes)
        read = phase("suggestion after the writes", lambda i: suggest(), args.reads)
        measured = phase("mix: 19 suggestions, then 1 write", mixed, 20 * (args.reads // 20))
        predicted = (19 * read + (capacity + description) / 2) / 20
        print(f"  {'mix by the costs above':<44} {predicted:7.3f} ms (measured / predicted {measured / predicted:.2f})")

    front = registry.holder.current
    copies = [front, *(clone_snapshot(front) for _ in range(3))]
    for snapshot in copies:
        snapshot.ranker.prepare()
    print("suspects (suggestions on the ranker alone, no JSON):")
    for _ in range(args.rounds):
        for n_copies in (1, 2, 4):
            phase(f"copies of the index read in turn: {n_copies}", lambda i, n=n_copies: suggest(copies[i // 5 % n]),
                  args.reads)  # fmt: skip

        def emptied_masks(i: int) -> None:
            if i % 10 == 0:
                front.index._masks = (-1, {})  # what a change does to the mask cache (SchoolIndex.cached_mask)
            suggest(front)

        phase("mask cache kept", lambda i: suggest(front), args.reads)
        phase("mask cache emptied every 10 reads", emptied_masks, args.reads)

    with ThreadPoolExecutor(1) as pool:
        for _ in range(args.rounds):
            phase("capacity write, main thread", lambda i: write("capacity"), args.writes)
            phase("capacity write, pool thread", lambda i: pool.submit(write, "capacity").result(), args.writes)
    registry.close()
    through_the_app(data_dir, args, ids, rng, phase)
    gc.callbacks.remove(gc_timer)
    shutil.rmtree(data_dir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
