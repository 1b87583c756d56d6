"""Throughput at the rate limit: a full sync of every stream against the simulator with real latency.

    .venv/bin/python -m bench.bench_throughput [--scale medium] [--limits 60,20]

For each limit the simulator enforces it on the key (150 ms +- 50 ms latency) and the connector is
configured to the same `requests_per_second`; prints wall time, requests/s, the share of the limit
used, 429s and records/s, and the ratio between the runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from close_simulator.testing import SimulatorProcess
from tools.demo import configured

CONNECTOR = str(Path(sys.executable).with_name("source-close-com"))


def run_sync(config: dict, workdir: Path) -> tuple[int, float]:
    (workdir / "config.json").write_text(json.dumps(config))
    discover = subprocess.run([CONNECTOR, "discover", "--config", str(workdir / "config.json")], capture_output=True, text=True)
    catalog = next(json.loads(l)["catalog"] for l in discover.stdout.splitlines() if '"CATALOG"' in l)
    (workdir / "catalog.json").write_text(json.dumps(configured(catalog, "full_refresh")))
    started = time.monotonic()
    proc = subprocess.Popen(
        [CONNECTOR, "read", "--config", str(workdir / "config.json"), "--catalog", str(workdir / "catalog.json")],
        stdout=subprocess.PIPE, text=True,
    )
    records = sum(1 for line in proc.stdout if line.startswith('{"type":"RECORD"'))
    proc.wait()
    return records, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--limits", default="60,20")
    args = parser.parse_args()
    rows = []
    for limit in [int(x) for x in args.limits.split(",")]:
        with SimulatorProcess(scale=args.scale, rps=limit, org_rps=limit * 3, latency_ms=150, jitter_ms=50) as sim:
            config = dict(sim.config, requests_per_second=limit, num_workers=20)
            records, wall = run_sync(config, Path(tempfile.mkdtemp()))
            totals = sim.stats()["totals"]
            requests = totals["requests"]
            row = {
                "limit": limit, "wall_s": round(wall, 1), "requests": requests,
                "requests_per_s": round(requests / wall, 1), "share_of_limit": round(requests / wall / limit, 3),
                "429s": totals.get("429", 0), "share_429": round(totals.get("429", 0) / max(requests, 1), 4),
                "records": records, "records_per_s": round(records / wall),
            }
            rows.append(row)
            print(json.dumps(row))
    if len(rows) == 2:
        print(f"ratio of records/s ({rows[0]['limit']} vs {rows[1]['limit']} req/s): "
              f"{rows[0]['records_per_s'] / max(rows[1]['records_per_s'], 1):.2f}")


if __name__ == "__main__":
    main()
