"""Requests a sync makes next to the requests its data needs.

    .venv/bin/python -m bench.bench_requests [--scale small] [--start-dates none,2021-01-01]

For each start date: a history sync of every stream (incremental where supported) and a no-op incremental sync
after it, against one simulator without rate limit or latency. Prints, per sync, the requests made by the
incremental streams next to the minimum their records need (the sum over streams of ceil(records / page size),
at least one request per stream and one per partition of a partitioned stream, with the page size each request
asked for), the requests of the event-log replay (a no-op sync still walks it once per object type and action)
and those of the full-refresh streams (read whole every sync, one request per page or per parent).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT, SimulatorProcess, add_connector_options, configured_catalog, connector_command, discover, fmt_table,
    machine_line, requests_per_stream, run_read, stream_endpoints,
)


def page_sizes(stats: dict, endpoints: dict) -> dict:
    """The largest `_limit` each stream's requests asked for (50 on the event log, which names none)."""
    sizes: Counter = Counter()
    by_path = {}
    for stream, (path, _) in endpoints.items():
        by_path.setdefault(path, []).append(stream)
    for path, entry in stats["paths"].items():
        for request in entry["recent"]:
            limit = (request.get("params") or {}).get("_limit") or [(request.get("body") or {}).get("_limit")]
            for stream in by_path.get(path, []):
                sizes[stream] = max(sizes[stream], int(limit[0] or 50))
    return sizes


def partition_floors(manifest: Path | None) -> dict:
    """The requests a partitioned stream needs at least: one per partition (deleted_records: Close filters its log
    by `action` only together with one `object_type`)."""
    import yaml

    doc = yaml.safe_load((manifest or ROOT / "source_close_com" / "manifest.yaml").read_text())
    floors = {}
    for stream in doc["streams"]:
        router = (stream.get("retriever") or {}).get("partition_router") or {}
        if router.get("type") == "ListPartitionRouter":
            floors[stream["$parameters"]["name"]] = len(router["values"])
    return floors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start-dates", default="none,2021-01-01")
    parser.add_argument("--per-stream", action="store_true", help="print each incremental stream's figures")
    add_connector_options(parser)
    args = parser.parse_args()
    command = connector_command(args.manifest, args.components)
    endpoints = stream_endpoints(Path(args.manifest) if args.manifest else None)
    floors = partition_floors(Path(args.manifest) if args.manifest else None)
    print(f"requests benchmark: scale {args.scale}, seed {args.seed}, no rate limit, no latency")
    print(machine_line() + " (before)", flush=True)
    rows = []
    for start in args.start_dates.split(","):
        with SimulatorProcess(seed=args.seed, scale=args.scale, rps=None, org_rps=None) as sim:
            sim.configure(recent_limit=1_000_000)
            config = dict(sim.config, requests_per_second=1000, start_date="" if start == "none" else start)
            workdir = Path(tempfile.mkdtemp(prefix="close-bench-requests-"))
            catalog = configured_catalog(discover(config, workdir, command), "incremental")
            incremental = {e["stream"]["name"] for e in catalog["streams"] if e["sync_mode"] == "incremental"}
            state = None
            for label in ("history", "no-op"):
                sim.reset_stats()
                result = run_read(config, catalog, state, workdir=workdir, command=command)
                state = result.final_state
                stats = sim.stats()
                made = requests_per_stream(stats, endpoints)
                sizes = page_sizes(stats, endpoints)
                need = {s: max(floors.get(s, 1), math.ceil(result.counts.get(s, 0) / max(sizes.get(s, 100), 1)))
                        for s in incremental}
                needed = sum(need.values())
                inc = sum(made.get(s, 0) for s in incremental)
                replay = made.get("(other) event/", 0)
                full = stats["totals"]["requests"] - inc - replay
                if args.per_stream:
                    for s in sorted(incremental):
                        n = result.counts.get(s, 0)
                        print(f"  {start} {label} {s}: {n} records, {made.get(s, 0):.0f} requests, minimum {need[s]}")
                rows.append([start, label, result.records, f"{inc:.0f}", needed, f"{inc / needed:.2f}x", f"{replay:.0f}", f"{full:.0f}",
                             stats["totals"]["requests"]])
    print()
    print(fmt_table(["start date", "sync", "records", "incremental requests", "minimum", "ratio",
                     "replay requests", "full-refresh requests", "all requests"], rows))
    print("\nminimum = sum over incremental streams of max(partitions, ceil(records / page size)); replay: the event-log "
          "walks of the object streams' change capture; full-refresh: those streams and the schemas' custom fields")
    print(machine_line() + " (after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
