"""Scale: a full sync of over a million email activities, in flat memory and at a steady rate.

    .venv/bin/python -m bench.bench_scale [--window-days N] [--max-skip N] [--workers 10]

The ``large`` organisation has 1,000,000 emails (``email_activities``, 2021 to today). The simulator
answers at once and sets no rate limit; the connector reads the one stream with
``requests_per_second = 1000``. The harness keeps only each record's id (the payload is dropped as soon
as the line is parsed) and prints, live, the records/s, RSS and CPU of every 10% of the run, then the
totals and the check against the ground truth (the same organisation built in this process: every id
once, none missing). On a shared machine the wall rate of a tenth follows the CPU the connector got; the
records per CPU-second of each tenth is the measure of decay that other load does not move.

The simulator's ``max_skip`` is Close's 250,000 by default. With the default 30-day windows a window
holds ~14,000 emails, so no walk comes near it; ``--window-days 3650`` puts the whole history in one
window, so an offset walk would pass ``_skip`` 250,000 and have to restart from the last ``date_created``
seen (``--max-skip`` sets another cap). The simulator's 400s are such restarts; the deepest ``_skip`` the
connector sent is printed too (paging by the cursor's value keeps it at the rows of one instant).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Sample, SimulatorProcess, add_connector_options, configured_catalog, connector_command, discover, fmt_table,
    machine_line, proc_cpu_seconds, run_read,
)

STREAM = "email_activities"


def expected_ids(seed: int, scale: str, start_date: str) -> set[str]:
    """The ground truth of the stream, from the same organisation built here (cheaper than 1M records over HTTP)."""
    from close_simulator.generator import parse_instant
    from close_simulator.models import Organization

    store = Organization(seed=seed, scale=scale).activity_stores["email"]
    lo = parse_instant(start_date)
    return {store.id_of(i) for i in range(store.n) if store.times[i] >= lo and i not in store.deleted}


class Slices:
    """Prints a line each time the run passes another tenth of the expected records."""

    def __init__(self, expected: int, start: float):
        self.expected = max(expected, 1)
        self.rows: list[dict] = []
        self.last = Sample(0.0, 0, None, 0.0)
        self.next_mark = 1
        self.t0 = start

    def __call__(self, sample: Sample) -> None:
        while self.next_mark <= 10 and sample.records >= self.expected * self.next_mark / 10:
            prev = self.last
            dt = max(sample.t - prev.t, 1e-9)
            row = {"slice": f"{(self.next_mark - 1) * 10}-{self.next_mark * 10}%", "t": sample.t,
                   "records": sample.records - prev.records, "rec_s": (sample.records - prev.records) / dt,
                   "rss": sample.rss_mb or 0.0, "hwm": sample.hwm_mb or 0.0,
                   "cpu": ((sample.cpu_s or 0.0) - (prev.cpu_s or 0.0)) / dt}
            spent = (sample.cpu_s or 0.0) - (prev.cpu_s or 0.0)
            row["rec_cpu"] = row["records"] / spent if spent > 0 else 0.0
            self.rows.append(row)
            print(f"  {row['slice']:>8} at {sample.t:7.1f} s: {row['rec_s']:7.0f} records/s, RSS {row['rss']:5.0f} MB "
                  f"(peak {row['hwm']:5.0f}), CPU {row['cpu']:.0%} of a core, {row['rec_cpu']:.0f} records per CPU-second",
                  flush=True)
            self.last = sample
            self.next_mark += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--window-days", type=int, help="the connector's window_days (default: its own, 30)")
    parser.add_argument("--max-skip", type=int, help="the simulator's _skip cap (default: Close's 250,000)")
    parser.add_argument("--latency-ms", type=float, default=0)
    add_connector_options(parser)
    args = parser.parse_args()
    command = connector_command(args.manifest, args.components)

    print(f"scale benchmark: full sync of {STREAM}, scale {args.scale}, seed {args.seed}, num_workers {args.workers}, "
          f"window_days {args.window_days or 'default (30)'}, simulator max_skip "
          f"{args.max_skip if args.max_skip is not None else 'default (250000)'}, latency {args.latency_ms:g} ms")
    print(machine_line() + " (before)", flush=True)
    options = {"max_skip": args.max_skip} if args.max_skip is not None else {}
    started = time.monotonic()
    with SimulatorProcess(seed=args.seed, scale=args.scale, rps=None, org_rps=None, latency_ms=args.latency_ms,
                          startup_timeout=300, **options) as sim:
        print(f"simulator ready after {time.monotonic() - started:.0f} s", flush=True)
        config = dict(sim.config, requests_per_second=1000, num_workers=args.workers)
        if args.window_days:
            config["window_days"] = args.window_days
        workdir = Path(tempfile.mkdtemp(prefix="close-bench-scale-"))
        catalog = discover(config, workdir, command)
        truth = expected_ids(args.seed, args.scale, config["start_date"])
        print(f"ground truth: {len(truth)} emails; reading...", flush=True)
        sim.configure(recent_limit=1_000_000)  # keep every request's parameters: how deep did _skip go?
        sim.reset_stats()
        sim_cpu0 = proc_cpu_seconds(sim.pid) or 0.0
        slices = Slices(len(truth), time.monotonic())
        result = run_read(config, configured_catalog(catalog, "full_refresh", [STREAM]), workdir=workdir,
                          sample_every=1.0, on_sample=slices, command=command)
        # The last tenth ends with the run: count it from the final figures.
        if slices.next_mark <= 10:
            last_rss = next((x.rss_mb for x in reversed(result.samples) if x.rss_mb), None)
            slices(Sample(result.wall_s, result.records, last_rss, result.cpu_s, result.peak_rss_mb))
        sim_cpu = (proc_cpu_seconds(sim.pid) or 0.0) - sim_cpu0
        stats = sim.stats()
    emitted = result.ids.get(STREAM, [])
    got = set(emitted)
    missing, extra, dups = len(truth - got), len(got - truth), len(emitted) - len(got)
    totals = stats["totals"]
    recent = [e for p in stats["paths"].values() for e in p.get("recent", [])]
    skips = [int((e.get("params") or {}).get("_skip", ["0"])[0] or 0) for e in recent]
    deepest = max(skips, default=0)
    skip_restarts = totals["status"].get("400", 0)
    body = [r for r in slices.rows]
    steady = [r["rec_s"] for r in body[1:]] or [0.0]
    per_cpu = [r["rec_cpu"] for r in body[1:] if r["rec_cpu"]] or [0.0]
    print("\n" + machine_line() + " (after)\n")
    print(fmt_table(["slice", "ends at s", "records", "records/s", "records/CPU-s", "RSS MB", "peak RSS MB", "CPU"],
                    [[r["slice"], f"{r['t']:.0f}", r["records"], f"{r['rec_s']:.0f}", f"{r['rec_cpu']:.0f}",
                      f"{r['rss']:.0f}", f"{r['hwm']:.0f}", f"{r['cpu']:.0%}"] for r in body]))
    print(f"\nwall {result.wall_s:.0f} s (first record after {result.first_record_s or 0:.1f} s), {result.records} records, "
          f"{result.records / result.wall_s:.0f} records/s overall; {totals['requests']} requests "
          f"({skip_restarts} answered 400 at the skip cap, status {totals['status']})")
    print(f"deepest _skip sent: {deepest:,} (requests with _skip > 0: {sum(1 for x in skips if x)} of {len(skips)}; "
          f"the cap is {args.max_skip if args.max_skip is not None else 250000:,})")
    print(f"connector CPU {result.cpu_s:.0f} s ({result.records / max(result.cpu_s, 1e-9):.0f} records per CPU-second), "
          f"peak RSS {result.peak_rss_mb:.0f} MB (goal < 500 MB); simulator CPU {sim_cpu:.0f} s")
    if len(body) >= 3:
        print(f"rate of the last tenth vs the second tenth: {body[-1]['rec_s'] / max(body[1]['rec_s'], 1e-9):.2f}x; "
              f"slowest/fastest tenth after the first: {min(steady) / max(max(steady), 1e-9):.2f} by wall rate, "
              f"{min(per_cpu) / max(max(per_cpu), 1e-9):.2f} by records per CPU-second (the load-independent one); "
              f"RSS at the end vs at 20%: {body[-1]['rss'] / max(body[1]['rss'], 1e-9):.2f}x" if body[-1]["rss"] else "")
    print(f"ground truth: emitted {len(emitted)}, expected {len(truth)}, missing {missing}, extra {extra}, "
          f"duplicates {dups} -> {'ok' if not (missing or extra) else 'DIFF'}"
          + (" (duplicates are rows re-read when a walk restarts from its last cursor value)" if dups else ""))
    if result.errors:
        print(f"ERRORS: {result.errors[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
