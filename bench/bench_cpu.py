"""CPU cost of the connector: the full sync of every stream with nothing else in the way.

    .venv/bin/python -m bench.bench_cpu [--scale medium] [--workers 10,1] [--streams a,b]

The simulator answers at once and sets no rate limit; the connector runs with
``requests_per_second = 1000`` and each ``num_workers`` in turn. Printed per run: wall time, connector
CPU seconds (user + system, from ``os.wait4``), records per CPU-second, peak RSS (``VmHWM``, see common.py), the
simulator's CPU and the ground-truth check; then the ratios to the last run (``num_workers=1`` by
default). On a shared 2-core machine the wall time depends on the other load; records per CPU-second
much less so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    SimulatorProcess, add_connector_options, compare, configured_catalog, connector_command, cpu_timeline,
    discover, fmt_table, machine_line, print_checks, proc_cpu_seconds, run_read, truth_ids,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", default="10,1", help="num_workers per run, comma separated")
    parser.add_argument("--streams", help="only these streams (comma separated); default every stream")
    parser.add_argument("--rps", type=float, default=1000, help="the connector's requests_per_second")
    parser.add_argument("--no-truth", action="store_true")
    add_connector_options(parser)
    args = parser.parse_args()
    command = connector_command(args.manifest, args.components)
    streams = args.streams.split(",") if args.streams else None

    print(f"CPU benchmark: full sync, scale {args.scale}, seed {args.seed}, no latency, no rate limit"
          + (f", streams {streams}" if streams else ", every stream"))
    if args.manifest:
        print(f"manifest: {args.manifest}" + (f", components: {args.components}" if args.components else ""))
    print(machine_line() + " (before)")
    rows = []
    with SimulatorProcess(seed=args.seed, scale=args.scale, rps=None, org_rps=None) as sim:
        workdir = Path(tempfile.mkdtemp(prefix="close-bench-cpu-"))
        base = dict(sim.config, requests_per_second=args.rps)
        catalog = discover(base, workdir, command)
        names = streams or [s["name"] for s in catalog["streams"]]
        truth = None if args.no_truth else truth_ids(sim, names, base["start_date"])
        for workers in [int(w) for w in args.workers.split(",")]:
            config = dict(base, num_workers=workers)
            sim.reset_stats()
            sim_cpu0 = proc_cpu_seconds(sim.pid) or 0.0
            result = run_read(config, configured_catalog(catalog, "full_refresh", streams), workdir=workdir,
                              keep_ids=truth is not None, command=command)
            sim_cpu = (proc_cpu_seconds(sim.pid) or 0.0) - sim_cpu0
            requests = sim.stats()["totals"]["requests"]
            load = machine_line().split("load average ")[1].split()[0]
            print(f"\n== num_workers {workers}: wall {result.wall_s:.1f} s, {requests} requests, {result.records} records")
            print(f"  connector CPU {result.cpu_s:.1f} s (user {result.cpu_user_s:.1f}, system {result.cpu_sys_s:.1f}) "
                  f"= {result.records / result.cpu_s:.0f} records per CPU-second, {result.cpu_s / max(requests, 1) * 1000:.1f} "
                  f"ms CPU per request; {result.cpu_s / result.wall_s:.0%} of a core over the wall time")
            print(f"  peak RSS {result.peak_rss_mb:.0f} MB; simulator CPU {sim_cpu:.1f} s; load average {load}")
            print("  connector CPU per tenth of the wall time: "
                  + " ".join(f"{v:.0%}" for v in cpu_timeline(result.samples, result.wall_s)))
            ok = None
            if result.errors:
                print(f"  ERRORS: {result.errors[:3]}")
            if truth is not None:
                after = truth_ids(sim, [n for n in ("events", "deleted_records") if n in names], base["start_date"])
                ok = print_checks(compare(result.ids, truth, after))
            rows.append({"workers": workers, "wall": result.wall_s, "cpu": result.cpu_s, "records": result.records,
                         "requests": requests, "rss": result.peak_rss_mb, "sim_cpu": sim_cpu, "ok": ok, "load": load})
    print("\n" + machine_line() + " (after)\n")
    print(fmt_table(
        ["num_workers", "wall s", "records/s", "CPU s", "records/CPU-s", "ms CPU/request", "peak RSS MB",
         "sim CPU s", "load", "truth"],
        [[r["workers"], f"{r['wall']:.1f}", f"{r['records'] / r['wall']:.0f}", f"{r['cpu']:.1f}",
          f"{r['records'] / r['cpu']:.0f}", f"{r['cpu'] / max(r['requests'], 1) * 1000:.1f}", f"{r['rss']:.0f}",
          f"{r['sim_cpu']:.1f}", r["load"], {True: "ok", False: "DIFF", None: "-"}[r["ok"]]] for r in rows]))
    if len(rows) >= 2:
        ref = rows[-1]
        for r in rows[:-1]:
            print(f"\nnum_workers {r['workers']} vs {ref['workers']}: records per CPU-second "
                  f"{(r['records'] / r['cpu']) / (ref['records'] / ref['cpu']):.2f}x, CPU seconds "
                  f"{r['cpu'] / ref['cpu']:.2f}x, wall time {r['wall'] / ref['wall']:.2f}x, "
                  f"peak RSS {r['rss'] / ref['rss']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
