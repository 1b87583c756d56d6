"""Pacing on Close's headers: a full sync against Close-style per-group windows, wall time vs the bound they allow.

    .venv/bin/python -m bench.bench_pacing [--scale medium] [--runs close:240,path:60] [--window-s 8]
                                           [--latency-ms 100] [--jitter-ms 100]

Each run serves Close's limits as windows (``--window-s``, 8 s as recorded on Close) of N requests per endpoint
group and key, under a grouping: ``close`` (the first path segment, ``data/search/`` its own group) or ``path``
(every path its own group); ``GROUPING:LIMIT/GROUP=N`` gives a group a limit of its own (``close:320/activity=240``
are the values recorded on Close). The connector runs without ``requests_per_second`` and, unless ``--workers`` is given,
without ``num_workers``: it paces on the ``RateLimit`` header alone. Answers take 150 +/- 50 ms (100 ms + uniform[0, 100] ms).

Printed per run: wall time, requests and 429s, and two bounds the limits allow: ``max over groups of (requests
of the group / its granted rate)``, where the granted rate is N per window, for the requests the sync made, and the
same for the minimum the data needs (per stream max(partitions, ceil(records / page)), as ``bench_requests`` counts
it) or, when longer, the records at ``--cpu-target`` records per CPU-second (the goal's bound); the ratios wall / bound, the busiest group, connector CPU, and whether every stream equals
the ground truth.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    SimulatorProcess, add_run_options, configured_catalog, connector_command, discover, end_of_run, fmt_table,
    machine_line, run_read, stream_endpoints, truth_ids,
)
from bench.bench_requests import page_sizes, partition_floors  # noqa: E402

# Records per CPU-second the issue names as the target: one worker's rate (RESULTS section 2).
CPU_TARGET = 5700.0


def one_run(scale: str, grouping: str, limit: int, window_s: float, latency_ms: float, jitter_ms: float, seed: int,
            check_truth: bool, command: list[str], workers: int | None = None,
            cpu_target: float = CPU_TARGET, group_limits: dict | None = None) -> dict:
    with SimulatorProcess(seed=seed, scale=scale, rps=None, org_rps=None, window_s=window_s, window_limit=limit,
                          group_limits=group_limits or {},
                          grouping=grouping, latency_ms=latency_ms, jitter_ms=jitter_ms) as sim:
        config = dict(sim.config)
        config.pop("num_workers", None)
        if workers:
            config["num_workers"] = workers
        workdir = Path(tempfile.mkdtemp(prefix="close-bench-pacing-"))
        catalog = discover(config, workdir, command)
        names = [s["name"] for s in catalog["streams"]]
        before = truth_ids(sim, names, config["start_date"]) if check_truth else None
        # Windows start afresh (discover's requests do not count against the read); every request kept, for the
        # busiest group's timeline.
        sim.configure(window_limit=limit, recent_limit=1_000_000)
        sim.reset_stats()
        result = run_read(config, configured_catalog(catalog, "full_refresh"), workdir=workdir, keep_ids=check_truth,
                          command=command)
        stats = sim.stats()
        after = truth_ids(sim, ["events", "deleted_records"], config["start_date"]) if check_truth else None
    totals = stats["totals"]
    throttled = totals["status"].get("429", 0)
    granted = {g: stats["limits"].get(g, limit) / window_s for g in stats["groups"]}
    need = {g: (c["requests"] - c["429"]) / granted[g] for g, c in stats["groups"].items()}
    busiest = max(need, key=need.get)
    bound = need[busiest]
    # The issue's bound: the slowest group's minimum requests (what its streams' records need) over its rate.
    minimum = group_minimum(stats, result.counts)
    requests_floor_s = max((minimum.get(g, 0) / granted[g] for g in granted), default=0.0) or bound
    # ... or the records at the target rate of one core, when the limits allow more than one core can take in.
    cpu_floor_s = result.records / cpu_target
    floor_s = max(requests_floor_s, cpu_floor_s)
    row = {
        "grouping": grouping, "limit": limit_label(limit, group_limits), "wall_s": result.wall_s, "requests": totals["requests"], "429": throttled,
        "share_429": throttled / max(totals["requests"], 1), "bound_s": bound, "ratio": result.wall_s / bound,
        "busiest": busiest, "groups": len(stats["groups"]), "records": result.records, "cpu_s": result.cpu_s,
        "rss_mb": result.peak_rss_mb, "errors": result.errors, "floor_s": floor_s, "floor_ratio": result.wall_s / floor_s,
    }
    print(f"\n== grouping {grouping}, {limit_label(limit, group_limits)} requests per {window_s:g} s per group, latency {latency_ms:g} ms + "
          f"[0, {jitter_ms:g}] ms")
    print(f"  wall {result.wall_s:.1f} s vs bound {bound:.1f} s ({row['ratio']:.2f}x): busiest group {busiest!r} "
          f"{stats['groups'][busiest]['requests']} requests at {granted[busiest]:.1f}/s; {len(stats['groups'])} groups")
    slowest = max(granted, key=lambda g: minimum.get(g, 0) / granted[g])
    print(f"  on the minimum the data needs: bound {floor_s:.1f} s ({row['floor_ratio']:.2f}x) = max({requests_floor_s:.1f} s: "
          f"{slowest!r} needs {minimum.get(slowest, 0)} requests at least (made "
          f"{stats['groups'][slowest]['requests'] - stats['groups'][slowest]['429']}), {cpu_floor_s:.1f} s: "
          f"{result.records} records at {cpu_target:.0f} per CPU-second)")
    print(f"  {totals['requests']} requests, {throttled} x 429 ({row['share_429']:.2%}), status {totals['status']}, "
          f"peak in flight {totals.get('peak_concurrency')}")
    # When the busiest group had requests to send: a late start or a thin tail is time the bound does not allow.
    started = stats["started_at"]
    times = sorted(entry["t"] - started for path in stats["paths"].values() if path["group"] == busiest
                   for entry in path["recent"])
    if times:
        buckets = [0] * (int(times[-1] // 5) + 1)
        for moment in times:
            buckets[int(moment // 5)] += 1
        print(f"  busiest group: first request at {times[0]:.1f} s, last at {times[-1]:.1f} s of the read; "
              f"requests per 5 s (its limit allows {granted[busiest] * 5:.0f}): {buckets}")
    print(f"  {result.records} records; connector CPU {result.cpu_s:.1f} s ({result.cpu_s / result.wall_s:.0%} of a "
          f"core), {result.records / max(result.cpu_s, 1e-9):.0f} records per CPU-second, peak RSS {result.peak_rss_mb:.0f} MB")
    return end_of_run(row, result, before, after)


def limit_label(limit: int, group_limits: dict | None) -> str:
    return f"{limit}" + "".join(f", {group} {n}" for group, n in (group_limits or {}).items())


def parse_run(spec: str) -> tuple:
    """``GROUPING:LIMIT[/GROUP=N...]``: a grouping, its groups' limit per window, and groups with a limit of their own."""
    grouping, _, rest = spec.partition(":")
    limit, *own = rest.split("/")
    return grouping, int(limit), {group: int(n) for group, _, n in (item.partition("=") for item in own)}


def group_minimum(stats: dict, counts: dict) -> dict:
    """Per endpoint group, the requests its streams' records need at least: max(partitions, ceil(records / page))
    per stream, with the page each stream's requests asked for (as ``bench_requests`` counts them)."""
    endpoints = stream_endpoints()
    sizes = page_sizes(stats, endpoints)
    floors = partition_floors(None)
    minimum: dict = {}
    for stream, (path, _) in endpoints.items():
        scope = stats["paths"].get(path)
        if scope is None or stream not in counts:
            continue
        need = max(floors.get(stream, 1), math.ceil(counts[stream] / max(sizes.get(stream) or 100, 1)))
        minimum[scope["group"]] = minimum.get(scope["group"], 0) + need
    return minimum


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="close:240,path:60",
                        help="GROUPING:LIMIT[/GROUP=N...], comma separated (close:320/activity=240: Close's recorded values)")
    parser.add_argument("--window-s", type=float, default=8.0)
    parser.add_argument("--workers", type=int, help="num_workers (default: unset, the connector's own choice)")
    parser.add_argument("--cpu-target", type=float, default=CPU_TARGET,
                        help="records per CPU-second in the bound's CPU term (default: one worker's rate, RESULTS section 2)")
    add_run_options(parser, latency_ms=100, jitter_ms=100)
    args = parser.parse_args()
    command = connector_command(args.manifest, args.components)
    runs = [parse_run(spec) for spec in args.runs.split(",")]
    print(f"pacing benchmark: full sync of every stream, scale {args.scale}, seed {args.seed}, goal wall <= 1.25x bound, "
          "429s <= 1% of requests")
    print(machine_line() + " (before)")
    rows = [one_run(args.scale, g, n, args.window_s, args.latency_ms, args.jitter_ms, args.seed, not args.no_truth,
                    command, args.workers, args.cpu_target, own) for g, n, own in runs]
    print("\n" + machine_line() + " (after)\n")
    print(fmt_table(
        ["grouping", "limit/window", "wall s", "bound s", "wall/bound", "minimum bound s", "wall/minimum bound",
         "requests", "429s", "429 %", "CPU s", "RSS MB", "truth"],
        [[r["grouping"], r["limit"], f"{r['wall_s']:.1f}", f"{r['bound_s']:.1f}", f"{r['ratio']:.2f}x",
          f"{r['floor_s']:.1f}", f"{r['floor_ratio']:.2f}x", r["requests"],
          r["429"], f"{r['share_429']:.2%}", f"{r['cpu_s']:.1f}", f"{r['rss_mb']:.0f}",
          {True: "ok", False: "DIFF", None: "-"}[r.get("truth_ok")]] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
