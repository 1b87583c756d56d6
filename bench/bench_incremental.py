"""What an incremental sync with nothing changed costs, per stream, next to the history sync before it.

    .venv/bin/python -m bench.bench_incremental [--scale medium] [--limit 20] [--workers 10]
                                                [--latency-ms 150] [--jitter-ms 50]

Two syncs of every stream (incremental where the stream supports it) against one simulator: the history
sync without state, then a second sync from the first one's final state with nothing changed in between.
Close's default limit (20 requests/s per key, 60 per organisation) and 150 ms + [0, 50] ms latency by
default; the connector runs with ``requests_per_second`` = the limit. Requests are attributed to streams
from the simulator's request log (path and filters); seconds per stream run from the stream's STARTED to
its COMPLETE status message (streams run side by side, so these overlap and include queueing behind other
streams). Prints the per-stream table and the totals, and checks the first sync against the ground truth
and that the second sync's records all lie in the re-read overlap (nothing lost, nothing new expected).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    SimulatorProcess, add_connector_options, compare, configured_catalog, connector_command, discover, fmt_table,
    machine_line, print_checks, requests_per_stream, run_read, stream_endpoints, truth_ids,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limit", type=float, default=20, help="requests/s per key (0: no limit)")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--jitter-ms", type=float, default=50)
    add_connector_options(parser)
    args = parser.parse_args()
    command = connector_command(args.manifest, args.components)
    limit = args.limit or None
    endpoints = stream_endpoints(Path(args.manifest) if args.manifest else None)

    print(f"incremental benchmark: scale {args.scale}, seed {args.seed}, limit {limit or 'none'} requests/s, "
          f"num_workers {args.workers}, latency {args.latency_ms:g} ms + [0, {args.jitter_ms:g}] ms")
    print(machine_line() + " (before)", flush=True)
    with SimulatorProcess(seed=args.seed, scale=args.scale, rps=limit, org_rps=max(limit, 60) if limit else None,
                          latency_ms=args.latency_ms, jitter_ms=args.jitter_ms) as sim:
        sim.configure(recent_limit=1_000_000)  # keep every request's filters for the per-stream attribution
        config = dict(sim.config, requests_per_second=limit or 1000, num_workers=args.workers)
        workdir = Path(tempfile.mkdtemp(prefix="close-bench-incremental-"))
        catalog = configured_catalog(discover(config, workdir, command), "incremental")
        names = [entry["stream"]["name"] for entry in catalog["streams"]]
        truth = truth_ids(sim, names, config["start_date"])

        runs = []
        state = None
        for label in ("history", "incremental"):
            sim.reset_stats()
            result = run_read(config, catalog, state, workdir=workdir, command=command)
            stats = sim.stats()
            per_stream = requests_per_stream(stats, endpoints)
            runs.append((label, result, stats, per_stream))
            print(f"\n== {label} sync: wall {result.wall_s:.1f} s, {stats['totals']['requests']} requests "
                  f"(status {stats['totals']['status']}), {result.records} records, connector CPU {result.cpu_s:.1f} s, "
                  f"peak RSS {result.peak_rss_mb:.0f} MB", flush=True)
            if result.errors:
                print(f"  ERRORS: {result.errors[:3]}")
            state = result.final_state
        after = truth_ids(sim, ["events", "deleted_records"], config["start_date"])

    (_, first, stats1, req1), (_, second, stats2, req2) = runs
    print_checks(compare(first.ids, truth, after), "history sync vs ground truth")
    union = {n: first.ids.get(n, []) + second.ids.get(n, []) for n in names}
    print_checks(compare(union, truth, after, duplicates_allowed=True),
                 "both syncs together vs ground truth (nothing changed, so nothing new)")

    rows = []
    for name in sorted(names, key=lambda n: -req1.get(n, 0)):
        s1 = first.stream_times.get(name, (0.0, 0.0))
        s2 = second.stream_times.get(name, (0.0, 0.0))
        mode = next(e["sync_mode"] for e in catalog["streams"] if e["stream"]["name"] == name)
        rows.append([name, "inc" if mode == "incremental" else "full", f"{req1.get(name, 0):.0f}",
                     f"{req2.get(name, 0):.0f}", f"{s1[1] - s1[0]:.1f}", f"{s2[1] - s2[0]:.1f}",
                     first.counts.get(name, 0), second.counts.get(name, 0)])
    others = sorted(k for k in set(req1) | set(req2) if k.startswith("(other)"))
    for name in others:
        rows.append([name, "-", f"{req1.get(name, 0):.0f}", f"{req2.get(name, 0):.0f}", "-", "-", "-", "-"])
    print()
    print(fmt_table(["stream", "mode", "requests 1st", "requests 2nd", "seconds 1st", "seconds 2nd",
                     "records 1st", "records 2nd"], rows))
    t1, t2 = stats1["totals"]["requests"], stats2["totals"]["requests"]
    print(f"\ntotals: requests {t1} -> {t2} ({t2 / max(t1, 1):.1%}), wall {first.wall_s:.1f} s -> {second.wall_s:.1f} s "
          f"({second.wall_s / first.wall_s:.1%}), records {first.records} -> {second.records}, "
          f"connector CPU {first.cpu_s:.1f} s -> {second.cpu_s:.1f} s")
    inc = [n for n in names if next(e["sync_mode"] for e in catalog["streams"] if e["stream"]["name"] == n) == "incremental"]
    full = [n for n in names if n not in inc]
    print(f"second sync: {sum(req2.get(n, 0) for n in inc):.0f} requests for {len(inc)} incremental streams, "
          f"{sum(req2.get(n, 0) for n in full):.0f} for {len(full)} full-refresh streams; "
          f"records re-read by incremental streams: {sum(second.counts.get(n, 0) for n in inc)}")
    print(machine_line() + " (after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
