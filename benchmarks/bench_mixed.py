"""Mixed-load benchmark of the HTTP API: reads while other clients write, on SQLite or PostgreSQL (issue 12).

1. Registers ``--schools`` demo schools (default 20,000) in a fresh database: SQLite in a temporary data dir,
   or (``--database postgresql``) a PostgreSQL server this script starts itself in a temporary directory
   (the tests' own helper, tests/support/postgres.py; Debian's ``postgresql`` package).
2. Starts ``python -m service serve --workers 2`` on it (a real uvicorn server per core, loopback).
3. Read-only saturation: suggestions only, ``--clients`` connections back to back, ``--seconds``.
4. Mixed saturation: 90% suggestions, 5% explanations, 5% writes (``--explain``, ``--writes``); a write is a
   ``PATCH`` of a random school's capacity or, every other write, of its description (a new sentence, so the
   model encodes it).
5. Mixed, paced: the clients offer about ``--rate`` requests/s (exponential think time, calibrated by a 5 s
   pilot); the latency at that load.
Each run reports throughput, p50/p99/max and errors (connection errors, timeouts and non-2xx answers by
status). Uses ``wrk`` (``apt-get install -y wrk``) when present, else an asyncio httpx client (which takes CPU
from the server: figures are then lower, and the paced run is left out).

    python benchmarks/bench_mixed.py                                   # 20,000 schools, real model, SQLite
    python benchmarks/bench_mixed.py --database postgresql
    python benchmarks/bench_mixed.py --schools 2000 --seconds 15 --encoder hashing   # a quick look

Targets (issue 12): mixed throughput >= 80% of the read-only one; p99 <= 50 ms at 400 req/s offered; 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
from _common import ROOT, machine, registry
from _profile import record, summarise
from bench_service import free_port, server_cpu_seconds, worker_pids

from service.workers import ready_processes

KEY = "bench-write-key-000000"
# one kind of request at a time (``--per-kind``): the wrk script's settings for it
KINDS = {
    "suggestion": {"BENCH_WRITES": "0", "BENCH_EXPLAIN": "0"},
    "explanation": {"BENCH_WRITES": "0", "BENCH_EXPLAIN": "1"},
    "capacity write": {"BENCH_WRITES": "1", "BENCH_EXPLAIN": "0", "BENCH_WRITE_KIND": "capacity"},
    "description write": {"BENCH_WRITES": "1", "BENCH_EXPLAIN": "0", "BENCH_WRITE_KIND": "description"},
}
V1 = "/v1"

WRK_SCRIPT = r"""
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("BENCH_KEY")
local p_write = tonumber(os.getenv("BENCH_WRITES") or "0")
local p_explain = tonumber(os.getenv("BENCH_EXPLAIN") or "0")
local write_kind = os.getenv("BENCH_WRITE_KIND") or "both"  -- capacity, description or both (alternating)
local mean_delay = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local prefix = os.getenv("BENCH_PREFIX")
local json_headers = {["Content-Type"] = "application/json", ["X-API-Key"] = key}
local writes, threads = 0, {}
statuses = {}  -- a global: done() reads each thread's copy with thread:get
math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1") + (tonumber(tostring({}):sub(8), 16) or 0))
if mean_delay > 0 then
  delay = function() return -math.log(1 - math.random()) * mean_delay end
end
local function any_id() return ids[math.random(#ids)] end
setup = function(thread) threads[#threads + 1] = thread end
request = function()
  local u = math.random()
  if u < p_write then
    writes = writes + 1
    local body
    if write_kind == "capacity" or (write_kind == "both" and writes % 2 == 0) then
      body = string.format('{"capacity": %d}', math.random(2, 6))
    else
      body = string.format('{"description": "Our pupils run project %d with a partner school abroad: letters, '
        .. 'shared lessons and a joint exhibition (%d)."}', math.random(1, 1000000000), writes)
    end
    return wrk.format("PATCH", prefix .. "/schools/" .. any_id(), json_headers, body)
  elseif u < p_write + p_explain then
    return wrk.format("GET", prefix .. "/schools/" .. any_id() .. "/explain/" .. any_id())
  end
  return wrk.format("GET", prefix .. "/schools/" .. any_id() .. "/suggestions?k=10")
end
response = function(status, headers, body)
  if status >= 300 then statuses[status] = (statuses[status] or 0) + 1 end
end
done = function(summary, latency, requests)
  local bad = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do bad[#bad + 1] = string.format('"%d": %d', status, n) end
  end
  local e = summary.errors
  io.stderr:write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "timeout": %d, "statuses": [{%s}]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, table.concat(bad, ", ")))
end
"""


def seed_database(database_url: str, data_dir: Path, n: int, encoder: str) -> list[str]:
    """Register ``n`` demo schools in the database (as a bulk import would); returns their ids."""
    from service.config import Settings
    from service.registry import Registry

    t0 = time.perf_counter()
    profiles = registry(n)
    settings = Settings(data_dir=data_dir, database_url=database_url, encoder=encoder, api_keys=(KEY,))
    reg = Registry.open(settings)
    try:
        reg.import_profiles(profiles)
    finally:
        reg.close()
    print(f"registry: {n} schools generated and registered in {time.perf_counter() - t0:.1f} s")
    return [p.school_id for p in profiles]


def start_server(data_dir: Path, database_url: str, encoder: str, workers: int) -> tuple[subprocess.Popen, str]:
    """``serve --workers N`` on the database; returns the process and its base URL once every worker is ready."""
    port = free_port()
    # one key writes for every simulated client: its write rate limit (120/minute by default) would answer 429
    env = {**os.environ, "PARTNERMATCH_API_KEYS": KEY, "PARTNERMATCH_DATABASE_URL": database_url,
           "PARTNERMATCH_RATE_WRITES": "100000/minute"}  # fmt: skip
    cmd = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
           str(data_dir), "--encoder", encoder, "--no-demo", "--log-level", "warning",
           "--workers", str(workers)]  # fmt: skip
    log_path = data_dir / "server.log"
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {log_path.read_text()[-2000:]}")
        try:
            if ready_processes(base, workers, 2) == workers:
                print(f"server: {workers} workers ready in {time.perf_counter() - t0:.1f} s")
                return proc, base
        except OSError:  # nothing listens yet
            pass
        time.sleep(0.2)


def run_wrk(
    base: str, ids_file: Path, args: argparse.Namespace, mix: bool, seconds: float, delay_ms: float = 0.0,
    only: str | None = None,
):  # fmt: skip
    """One wrk run; returns its figures. ``only``: one kind of request (``KINDS``) instead of the mix."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
    env = {**os.environ, "BENCH_IDS": str(ids_file), "BENCH_KEY": KEY, "BENCH_PREFIX": V1,
           "BENCH_WRITES": str(args.writes if mix else 0), "BENCH_EXPLAIN": str(args.explain if mix else 0),
           **(KINDS[only] if only else {}),
           "BENCH_DELAY_MS": str(delay_ms)}  # fmt: skip
    cmd = ["wrk", f"-t{args.wrk_threads}", f"-c{args.clients}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
           "-s", f.name, base]  # fmt: skip
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    finally:
        os.unlink(f.name)
    line = next((ln for ln in out.stderr.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr[-2000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    statuses = Counter({int(k): v for part in data["statuses"] for k, v in part.items()})
    return figures(
        data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1e3, data["p99_us"] / 1e3,
        data["max_us"] / 1e3, {k: data[k] for k in ("connect", "read", "write", "timeout")}, statuses, "wrk",
    )  # fmt: skip


def figures(requests, seconds, p50, p99, worst, transport: dict, statuses: Counter, tool: str) -> dict:
    """One run's figures as a dict (milliseconds)."""
    errors = sum(transport.values()) + sum(statuses.values())
    return {"tool": tool, "requests": requests, "rps": requests / seconds, "p50_ms": p50, "p99_ms": p99,
            "max_ms": worst, "errors": errors, "transport": transport, "statuses": dict(statuses)}  # fmt: skip


async def httpx_load(base: str, ids: list[str], args: argparse.Namespace, mix: bool, seconds: float) -> dict:
    """The same mix from an asyncio httpx client (back to back only)."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    transport = Counter()
    rng = random.Random(1)
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=base + V1, limits=limits, timeout=5) as client:

        async def one() -> None:
            writes = 0
            while time.perf_counter() < stop:
                u, a, b = rng.random(), rng.choice(ids), rng.choice(ids)
                t = time.perf_counter()
                try:
                    if mix and u < args.writes:
                        writes += 1
                        body = (
                            {"capacity": rng.randint(2, 6)}
                            if writes % 2 == 0
                            else {
                                "description": f"Our pupils run project {rng.randint(1, 10**9)} with a partner school."
                            }
                        )
                        r = await client.patch(f"/schools/{a}", json=body, headers={"X-API-Key": KEY})
                    elif mix and u < args.writes + args.explain:
                        r = await client.get(f"/schools/{a}/explain/{b}")
                    else:
                        r = await client.get(f"/schools/{a}/suggestions", params={"k": 10})
                    if r.status_code >= 300:
                        statuses[r.status_code] += 1
                except httpx.TimeoutException:
                    transport["timeout"] += 1
                except httpx.HTTPError:
                    transport["read"] += 1
                latencies.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(args.clients)))
        elapsed = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return figures(len(latencies), elapsed, q[49] * 1e3, q[98] * 1e3, max(latencies) * 1e3, dict(transport),
                   statuses, "httpx")  # fmt: skip


def report(title: str, res: dict) -> None:
    why = ", ".join(f"{k} {v}" for k, v in {**res["transport"], **res["statuses"]}.items() if v)
    print(
        f"{title}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, "
        f"max {res['max_ms']:.1f} ms, {res['requests']} requests, {res['errors']} errors" + (f" ({why})" if why else "")
    )
    print(f"  server CPU {res['cpu_ms']:.2f} ms per request (both workers), load average {res['load']:.1f} after")


def measure(base: str, ids: list[str], ids_file: Path, args: argparse.Namespace, tool: str, server_pid: int) -> bool:
    """The runs (read-only and mixed, ``--rounds`` times back to back, then mixed paced); returns whether the
    targets were met."""
    mix_name = f"{1 - args.writes - args.explain:.0%} suggestions, {args.explain:.0%} explain, {args.writes:.0%} writes"

    def load(mix: bool, seconds: float, delay_ms: float = 0.0) -> dict:
        cpu = server_cpu_seconds(server_pid)
        if tool == "wrk":
            res = run_wrk(base, ids_file, args, mix, seconds, delay_ms)
        else:
            res = asyncio.run(httpx_load(base, ids, args, mix, seconds))
        res["cpu_ms"] = (server_cpu_seconds(server_pid) - cpu) * 1e3 / max(res["requests"], 1)
        res["load"] = os.getloadavg()[0]
        return res

    load(False, 3)  # every worker answers its first requests (lazy first-call costs) before anything is measured
    shares, cpu_shares, errors = [], [], 0
    for _ in range(args.rounds):
        reads = load(False, args.seconds)
        report(f"read-only saturation: {args.clients} clients back to back, {args.seconds:g} s ({tool})", reads)
        mixed = load(True, args.seconds)
        title = f"mixed saturation ({mix_name}): {args.clients} clients back to back, {args.seconds:g} s ({tool})"
        report(title, mixed)
        shares.append(mixed["rps"] / reads["rps"])
        cpu_shares.append(reads["cpu_ms"] / mixed["cpu_ms"])
        errors += reads["errors"] + mixed["errors"]
        print(
            f"mixed throughput = {shares[-1]:.0%} of the read-only one; by server CPU per request "
            f"(less sensitive to other load on the machine): {cpu_shares[-1]:.0%}"
        )
    share = statistics.median(shares)
    if args.rounds > 1:
        print(f"median of {args.rounds} rounds: {share:.0%} (throughput), {statistics.median(cpu_shares):.0%} (CPU)")
    met = share >= 0.8 and errors == 0
    if tool != "wrk":
        print("paced run: needs wrk (apt-get install -y wrk); left out")
        return False
    if args.per_kind:
        per_kind(base, ids_file, args, server_pid)
    if args.profile is not None:
        profile_writes(base, ids_file, args, server_pid)
    cycle = args.clients * 1000 / args.rate  # each client's time per request at the offered rate
    pilot = load(True, 5, cycle)
    latency = max(0.0, args.clients * 1000 / pilot["rps"] - cycle)
    paced = load(True, args.seconds, max(0.0, cycle - latency))
    report(f"mixed paced: {args.clients} clients offering ~{args.rate:.0f} req/s, {args.seconds:g} s (wrk)", paced)
    if paced["rps"] < 0.95 * args.rate:
        print(f"  (the server did not keep up with the offered {args.rate:.0f} req/s: these are saturation figures)")
    return met and paced["p99_ms"] <= 50 and paced["errors"] == 0 and paced["rps"] >= 0.95 * args.rate


def per_kind(base: str, ids_file: Path, args: argparse.Namespace, server_pid: int) -> None:
    """Server CPU per request of each kind alone (8 clients, half ``--seconds`` each), and the mixed / read-only
    share they predict: the budget a write must fit in for the 80% target."""
    cpu_ms = {}
    for kind in KINDS:
        cpu = server_cpu_seconds(server_pid)
        res = run_wrk(base, ids_file, argparse.Namespace(**{**vars(args), "clients": 8}), False, args.seconds / 2,
                      only=kind)  # fmt: skip
        cpu_ms[kind] = (server_cpu_seconds(server_pid) - cpu) * 1e3 / max(res["requests"], 1)
        print(f"  {kind} alone: {res['rps']:.0f} req/s, server CPU {cpu_ms[kind]:.2f} ms per request, "
              f"{res['errors']} errors")  # fmt: skip
    read = 1 - args.writes - args.explain
    mixed = (read * cpu_ms["suggestion"] + args.explain * cpu_ms["explanation"]
             + args.writes / 2 * (cpu_ms["capacity write"] + cpu_ms["description write"]))  # fmt: skip
    budget = ((cpu_ms["suggestion"] / 0.8 - read * cpu_ms["suggestion"] - args.explain * cpu_ms["explanation"])
              / args.writes)  # fmt: skip
    write = (cpu_ms["capacity write"] + cpu_ms["description write"]) / 2
    print(f"  by these costs: mixed / read-only = {cpu_ms['suggestion'] / mixed:.0%}; 80% needs a write to cost "
          f"at most {budget:.1f} ms on average (now {write:.1f})")  # fmt: skip


def profile_writes(base: str, ids_file: Path, args: argparse.Namespace, server_pid: int) -> None:
    """Each kind of write alone once more (8 clients, half ``--seconds``; not counted) with py-spy on every worker:
    the raw stacks in ``--profile``/<kind>, the largest shares printed."""
    for kind in ("capacity write", "description write"):
        out = args.profile / kind.replace(" ", "-")
        spies = record(worker_pids(server_pid), max(1, int(args.seconds / 2) - 1), out)
        run_wrk(base, ids_file, argparse.Namespace(**{**vars(args), "clients": 8}), False, args.seconds / 2,
                only=kind)  # fmt: skip
        for spy in spies:
            spy.wait()
        total, inclusive, own = summarise(sorted(out.glob("worker-*.txt")))
        print(f"profile of the workers, {kind}s alone ({total} samples, py-spy; not counted)")
        for title, shares in (("this project's functions, with what they call", inclusive), ("on top", own)):
            print(f"  {title}:")
            for share, name in shares:
                print(f"    {share:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=20_000)
    parser.add_argument("--encoder", default="real", choices=["real", "hashing"])
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--seconds", type=float, default=60, help="length of each measured run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="server processes (one per core)")
    parser.add_argument("--writes", type=float, default=0.05, help="share of writes in the mixed runs")
    parser.add_argument("--explain", type=float, default=0.05, help="share of explanations in the mixed runs")
    parser.add_argument(
        "--per-kind",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure each kind of request alone (server CPU per request; wrk only)",
    )
    parser.add_argument("--rate", type=float, default=400, help="offered load (req/s) of the paced run")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="after the measured runs, each kind of write alone with py-spy on every worker "
                             "(pip install py-spy): raw stacks in DIR, the largest shares printed")  # fmt: skip
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="read-only and mixed runs, back to back, this many times")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--pg-fast", action="store_true", help="PostgreSQL with the tests' settings (fsync off) instead of durable ones"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="SQLite: keep the seeded registry here and reuse it on the next run (a copy "
        "is written to, so every run starts from the same registry)"
    )  # fmt: skip
    args = parser.parse_args()
    if not (args.writes >= 0 and args.explain >= 0 and args.writes + args.explain <= 1):
        parser.error(f"--writes {args.writes} and --explain {args.explain}: each >= 0, together <= 1")
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    print(f"machine: {machine()}")
    with ExitStack() as stack:
        data_dir = Path(tempfile.mkdtemp(prefix="partnermatch-bench-mixed-"))
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        if args.database == "postgresql":
            from _pg import note, postgres_database

            database_url = stack.enter_context(postgres_database(durable=not args.pg_fast))
            print(f"database: PostgreSQL started by this script ({note(not args.pg_fast)})")
        else:
            database_url = f"sqlite:///{data_dir / 'registry.sqlite'}"
            print("database: SQLite (WAL) in a temporary data dir")
        kept = None
        if args.data_dir is not None and args.database == "sqlite":
            kept = args.data_dir / f"{args.schools}-{args.encoder}"
        ids_file = data_dir / "ids.txt"
        if kept is not None and (kept / "ids.txt").exists():
            shutil.copytree(kept, data_dir, dirs_exist_ok=True)
            ids = ids_file.read_text().split()
            print(f"registry: {len(ids)} schools copied from {kept}")
        else:
            ids = seed_database(database_url, data_dir, args.schools, args.encoder)
            ids_file.write_text("\n".join(ids) + "\n")
            if kept is not None:
                shutil.copytree(data_dir, kept, dirs_exist_ok=True)
        proc, base = start_server(data_dir, database_url, args.encoder, args.workers)
        stack.callback(proc.wait, 30)
        stack.callback(proc.terminate)
        met = measure(base, ids, ids_file, args, tool, proc.pid)
        print(
            "targets on 2 cores (mixed >= 80% of read-only; p99 <= 50 ms at 400 req/s offered; 0 errors):",
            "MET" if met else "NOT MET",
        )


if __name__ == "__main__":
    main()
