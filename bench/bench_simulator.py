"""Throughput of the Close simulator: can it feed a connector fast enough?

Target: 20,000 activity records/s at zero latency on one core, i.e. >= 200 requests/s of
``activity/email/?_limit=100``. The simulator runs in its own process (``python -m close_simulator
serve``, one event loop, so one core); a pool of threads with one keep-alive ``requests`` session
each sends a fixed number of page requests, walking ``_skip`` over the whole email history.

Besides wall-clock throughput it reports the server's own CPU time (from /proc), because on a
small machine the Python client can be the bottleneck: records per server CPU-second is what the
server could do on a core of its own. A first run of ``GET me/`` measures the HTTP layer alone
(auth, rate-limit bookkeeping, stats, routing), so the cost of the page itself can be told apart.

    .venv/bin/python bench/bench_simulator.py [--requests 3000] [--threads 8] [--scale small]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import sys
import threading
import time
from pathlib import Path

import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from close_simulator.testing import SimulatorProcess  # noqa: E402

TARGET_RECORDS_PER_S = 20_000
PATH = "activity/email/"
PAGE = 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux only)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(sim: SimulatorProcess, n: int, threads: int, path: str, params_of) -> tuple[float, float | None, int]:
    """Send ``n`` GETs of ``path`` from ``threads`` keep-alive sessions.

    Returns wall seconds, server CPU seconds (None off Linux) and the records received.
    """
    local = threading.local()
    counter = iter(range(n))
    lock = threading.Lock()

    def one(i: int) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.auth = (sim.api_key, "")
        response = session.get(sim.url + path, params=params_of(i), timeout=30)
        response.raise_for_status()
        return len(orjson.loads(response.content).get("data", ()))

    def worker(_: int) -> int:
        records = 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return records
            records += one(i)

    for i in range(min(50, n)):  # warm up: imports, caches, connections
        one(i)
    sim.reset_stats()
    cpu_before = cpu_seconds(sim.pid)
    start = time.perf_counter()
    with cf.ThreadPoolExecutor(threads) as pool:
        records = sum(pool.map(worker, range(threads)))
    elapsed = time.perf_counter() - start
    cpu_after = cpu_seconds(sim.pid)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return elapsed, cpu, records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with SimulatorProcess(seed=args.seed, scale=args.scale, rps=None, org_rps=None) as sim:
        n_records = len(sim.truth("email_activities"))
        skips = list(range(0, max(1, n_records - PAGE + 1), PAGE)) or [0]
        # The HTTP layer alone: auth, rate-limit bookkeeping, stats, routing, a tiny JSON answer.
        me_elapsed, me_cpu, _ = drive(sim, args.requests, args.threads, "me/", lambda i: None)
        elapsed, cpu, records = drive(
            sim, args.requests, args.threads, PATH, lambda i: {"_limit": PAGE, "_skip": skips[i % len(skips)]}
        )
        stats = sim.stats()

    rec_s = records / elapsed
    print(f"simulator benchmark: {args.requests} x GET {PATH}?_limit={PAGE} ({args.scale}, "
          f"{n_records} emails), {args.threads} client threads, keep-alive")
    print(f"  wall time      {elapsed:8.2f} s")
    print(f"  requests/s     {args.requests / elapsed:8.0f}")
    print(f"  records/s      {rec_s:8.0f}   ({rec_s / TARGET_RECORDS_PER_S:.2f}x the {TARGET_RECORDS_PER_S:,} target)")
    if cpu:
        print(f"  server CPU     {cpu:8.2f} s ({cpu / elapsed:.0%} of one core), "
              f"{cpu / args.requests * 1000:.2f} ms per page")
        print(f"  records per server CPU-second {records / cpu:8.0f} "
              f"({records / cpu / TARGET_RECORDS_PER_S:.2f}x target)")
    if me_cpu:
        print(f"  HTTP layer alone (GET me/): {args.requests / me_elapsed:.0f} requests/s, "
              f"{me_cpu / args.requests * 1000:.2f} ms server CPU per request")
    print(f"  server saw {stats['totals']['requests']} page requests, status {stats['totals']['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
