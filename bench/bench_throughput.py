"""Throughput at the rate limit: a full history sync of every stream against a simulator with real latency.

    .venv/bin/python -m bench.bench_throughput [--scale medium] [--limits 60,20] [--workers 20]
                                               [--latency-ms 150] [--jitter-ms 50]

For each limit L the simulator allows L requests/s per key (and max(L, 60) per organisation, Close's
default ratio), answers after 150 ms + uniform[0, 50] ms, and the connector runs with
``requests_per_second = L`` (the user-facing knob) and ``num_workers`` from ``--workers``. Printed per
run: wall time, the busy span (first to last second with a request), requests and requests/s, the share
of the limit used over the span, 429s, records/s, connector CPU and peak RSS, how fast the run reached
50/90/100% of its requests (the tail), the streams that finished last, and whether every stream's ids
equal the simulator's ground truth. Then the ratio between the runs.

``--workers`` takes a list (``10,20,40``) to compare worker counts at each limit; ``unset`` leaves
``num_workers`` out of the config, so the connector picks its own from the rate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    SimulatorProcess, add_run_options, connector_command, configured_catalog, cpu_timeline, discover, end_of_run,
    fmt_table, machine_line, proc_cpu_seconds, request_span, run_read, truth_ids,
)


def tail_profile(stats: dict, limit: float) -> dict:
    """When the run reached 50/90/100% of its requests, and how many busy seconds ran near the limit."""
    seconds = sorted((s["second"], s["requests"], s.get("429", 0)) for s in stats.get("per_second", []) if s["requests"])
    if not seconds:
        return {}
    first = seconds[0][0]
    total = sum(n for _, n, _ in seconds)
    reached, running, marks = {}, 0, (0.5, 0.9, 1.0)
    for second, n, _ in seconds:
        running += n
        for mark in marks:
            if mark not in reached and running >= mark * total:
                reached[mark] = second - first + 1
    span = seconds[-1][0] - first + 1
    near = sum(1 for _, n, r in seconds if n - r >= 0.9 * limit)
    return {"t50": reached[0.5], "t90": reached[0.9], "t100": reached[1.0], "span": span, "near_limit_s": near}


def timeline(stats: dict, slices: int = 10) -> list[float]:
    """Accepted requests/s in ``slices`` equal parts of the busy span."""
    seconds = {s["second"]: s["requests"] - s.get("429", 0) for s in stats.get("per_second", []) if s["requests"]}
    if not seconds:
        return []
    first, last = min(seconds), max(seconds)
    span = last - first + 1
    out = []
    for k in range(slices):
        a = first + span * k // slices
        b = first + span * (k + 1) // slices
        if b <= a:
            continue
        out.append(sum(seconds.get(s, 0) for s in range(a, b)) / (b - a))
    return out


def one_run(scale: str, limit: float, workers: int | str, latency_ms: float, jitter_ms: float, seed: int,
            check_truth: bool, command: list[str], extra: dict) -> dict:
    org_rps = max(limit, 60)
    with SimulatorProcess(seed=seed, scale=scale, rps=limit, org_rps=org_rps, latency_ms=latency_ms,
                          jitter_ms=jitter_ms) as sim:
        config = dict(sim.config, requests_per_second=limit, num_workers=workers, **extra)
        if workers == "unset":
            del config["num_workers"]
        workdir = Path(tempfile.mkdtemp(prefix="close-bench-throughput-"))
        catalog = discover(config, workdir, command)
        names = [s["name"] for s in catalog["streams"]]
        before = truth_ids(sim, names, config["start_date"]) if check_truth else None
        sim.reset_stats()
        sim_cpu0 = proc_cpu_seconds(sim.pid)
        result = run_read(config, configured_catalog(catalog, "full_refresh"), workdir=workdir, keep_ids=check_truth,
                          command=command)
        sim_cpu = (proc_cpu_seconds(sim.pid) or 0) - (sim_cpu0 or 0)
        stats = sim.stats()
        after = truth_ids(sim, ["events", "deleted_records"], config["start_date"]) if check_truth else None
    requests, throttled, span = request_span(stats)
    accepted = requests - throttled
    tail = tail_profile(stats, limit)
    row = {
        "limit": limit, "org_rps": org_rps, "workers": workers, "wall_s": result.wall_s, "span_s": span,
        "requests": requests, "accepted": accepted, "429": throttled,
        "req_s_wall": requests / result.wall_s, "req_s_span": accepted / span if span else 0.0,
        "share": (accepted / span / limit) if span else 0.0, "share_429": throttled / max(requests, 1),
        "records": result.records, "rec_s": result.records / result.wall_s,
        "cpu_s": result.cpu_s, "cpu_util": result.cpu_s / result.wall_s, "rss_mb": result.peak_rss_mb,
        "sim_cpu_s": sim_cpu, "peak_in_flight": stats["totals"].get("peak_concurrency"),
        "errors": result.errors, "tail": tail, "timeline": timeline(stats),
        "last_streams": sorted(result.stream_times.items(), key=lambda kv: kv[1][1])[-5:],
        "first_record_s": result.first_record_s, "status": stats["totals"].get("status"),
    }
    print(f"\n== limit {limit:g} requests/s (org {org_rps:g}), num_workers {workers}, "
          f"latency {latency_ms:g} ms + [0, {jitter_ms:g}] ms")
    print(f"  wall {result.wall_s:.1f} s (first record after {result.first_record_s or 0:.1f} s), "
          f"busy span {span:.0f} s, {requests} requests ({throttled} x 429), status {row['status']}")
    print(f"  {row['req_s_span']:.1f} accepted requests/s over the span = {row['share']:.1%} of the limit; "
          f"{row['req_s_wall']:.1f}/s over the wall time")
    print(f"  {result.records} records, {row['rec_s']:.0f} records/s; connector CPU {result.cpu_s:.1f} s "
          f"({row['cpu_util']:.0%} of a core), peak RSS {result.peak_rss_mb:.0f} MB; simulator CPU {sim_cpu:.1f} s; "
          f"peak in flight {row['peak_in_flight']}")
    if tail:
        print(f"  requests done: 50% after {tail['t50']} s, 90% after {tail['t90']} s, 100% after {tail['t100']} s; "
              f"{tail['near_limit_s']} of {tail['span']} busy seconds at >= 90% of the limit")
    print("  accepted requests/s per tenth of the span: " + " ".join(f"{v:.0f}" for v in row["timeline"]))
    print("  connector CPU (share of a core) per tenth of the wall time: "
          + " ".join(f"{v:.0%}" for v in cpu_timeline(result.samples, result.wall_s)))
    print("  last streams to finish (started -> complete, s): "
          + ", ".join(f"{name} {a:.0f}->{b:.0f}" for name, (a, b) in row["last_streams"]))
    return end_of_run(row, result, before, after)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", default="60,20", help="requests/s per key, comma separated")
    parser.add_argument("--workers", default="20", help="num_workers, comma separated (each limit runs with each)")
    parser.add_argument("--window-days", type=int, help="the connector's hidden window_days setting (default 30)")
    add_run_options(parser, latency_ms=150, jitter_ms=50)
    args = parser.parse_args()
    command = connector_command(args.manifest, args.components)
    extra = {"window_days": args.window_days} if args.window_days else {}
    limits = [float(x) for x in args.limits.split(",")]
    workers = [x if x == "unset" else int(x) for x in args.workers.split(",")]

    print(f"throughput benchmark: full sync of every stream, scale {args.scale}, seed {args.seed}")
    if args.manifest:
        print(f"manifest: {args.manifest}" + (f", components: {args.components}" if args.components else ""))
    if extra:
        print(f"extra connector settings: {extra}")
    print(machine_line() + " (before)")
    rows = [one_run(args.scale, limit, w, args.latency_ms, args.jitter_ms, args.seed, not args.no_truth,
                    command, extra)
            for limit in limits for w in workers]
    print("\n" + machine_line() + " (after)")
    print()
    print(fmt_table(
        ["limit", "workers", "wall s", "span s", "requests", "req/s", "share", "429s", "429 %", "records/s",
         "CPU s", "CPU %", "RSS MB", "truth"],
        [[f"{r['limit']:g}", r["workers"], f"{r['wall_s']:.1f}", f"{r['span_s']:.0f}", r["requests"],
          f"{r['req_s_span']:.1f}", f"{r['share']:.1%}", r["429"], f"{r['share_429']:.2%}", f"{r['rec_s']:.0f}",
          f"{r['cpu_s']:.1f}", f"{r['cpu_util']:.0%}", f"{r['rss_mb']:.0f}",
          {True: "ok", False: "DIFF", None: "-"}[r.get("truth_ok")]] for r in rows]))
    by_limit = {}
    for r in rows:
        by_limit.setdefault(r["limit"], r)
    if len(by_limit) >= 2:
        (hi, a), (lo, b) = sorted(by_limit.items(), reverse=True)[:2]
        print(f"\nratio {hi:g} vs {lo:g} requests/s (first worker count): limit {hi / lo:.2f}x, "
              f"requests/s {a['req_s_span'] / max(b['req_s_span'], 1e-9):.2f}x, "
              f"records/s {a['rec_s'] / max(b['rec_s'], 1e-9):.2f}x, wall time {b['wall_s'] / a['wall_s']:.2f}x shorter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
