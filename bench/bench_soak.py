"""Soak: three syncs in a row with faults at realistic rates and changes between the syncs.

    .venv/bin/python -m bench.bench_soak [--scale medium] [--runs 3] [--limit 20] [--broken-bodies]

One simulator (``medium`` by default; Close's default limit of 20 requests/s per key and 60 per
organisation; 150 ms + [0, 50] ms latency) injects, on every API path: 429 bursts (0.5% of requests, each
followed by two more 429s), 500/502/503/504 (0.3% each, 1.2% together), dropped connections (0.2%) and
3-second stalls (0.2%). ``--broken-bodies`` adds 200s with a JSON body cut in half and 200s with an HTML
page instead of JSON (0.3% each). Sync 1 reads the whole history; syncs 2 and 3 start from the previous
sync's final state, after the simulator created, updated and deleted leads, contacts, opportunities,
activities and tasks.

Checks after every sync, per stream:
- nothing missing: the ground truth now is contained in the union of the ids of this and earlier syncs;
- nothing invented: any id emitted but not in the truth now was in an earlier truth (deleted since, or aged
  out of the 30-day event log);
- changes synced: every record new or changed since the previous sync is in this sync's output, except
  updates to activities created before the previous sync's lookback (Close filters activities only by
  ``date_created``: such an update is not visible to an incremental sync by design, and is listed apart),
  and records whose content changed while their ``date_updated`` did not (the simulator derives old
  activities, and the data of the events that created them, from current objects: deleting a contact
  clears ``contact_id`` on the lead's old activities, an opportunity update changes
  ``opportunity_confidence`` on its old status-change activities; no incremental sync can see that
  either; also listed apart);
- the connector's peak RSS, per sync, does not grow from sync to sync.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    SimulatorProcess, add_connector_options, configured_catalog, connector_command, discover, fmt_table,
    machine_line, run_read,
)

FAULTS = [
    {"kind": "429", "probability": 0.005, "burst": 2},
    {"kind": "500", "probability": 0.003},
    {"kind": "502", "probability": 0.003},
    {"kind": "503", "probability": 0.003},
    {"kind": "504", "probability": 0.003},
    {"kind": "drop", "probability": 0.002},
    {"kind": "slow", "probability": 0.002, "delay_s": 3},
]
BROKEN_BODIES = [
    {"kind": "truncated", "probability": 0.003},
    {"kind": "invalid", "probability": 0.003},
]
ACTIVITY_CURSOR = "date_created"

# One round of changes between two syncs: (action, object_type, subtype, count).
ROUND = [
    ("create", "lead", None, 4), ("update", "lead", None, 6), ("delete", "lead", None, 1),
    ("create", "contact", None, 4), ("update", "contact", None, 5), ("delete", "contact", None, 2),
    ("create", "opportunity", None, 3), ("update", "opportunity", None, 5), ("delete", "opportunity", None, 2),
    ("create", "activity", "email", 12), ("create", "activity", "call", 6), ("create", "activity", "note", 4),
    ("create", "activity", "sms", 2), ("create", "activity", "meeting", 2), ("create", "activity", "custom", 2),
    ("update", "activity", "email", 3), ("update", "activity", "call", 2), ("delete", "activity", "email", 3),
    ("delete", "activity", "note", 2),
    ("create", "task", "lead", 4), ("create", "task", "email_followup", 2), ("update", "task", "lead", 4),
    ("delete", "task", "lead", 2),
]


def truth_digest(sim: SimulatorProcess, names: list[str], start_date: str) -> dict[str, dict[str, tuple[int, str]]]:
    """stream -> id -> (hash of the record, its date_created, its date_updated): enough to tell new and changed
    records apart, and to say when they changed."""
    out = {}
    for name in names:
        out[name] = {r["id"]: (hash(orjson.dumps(r, option=orjson.OPT_SORT_KEYS)), str(r.get(ACTIVITY_CURSOR) or ""),
                               str(r.get("date_updated") or ""))
                     for r in sim.truth(name, start_date=start_date)}
    return out


def mutate_round(sim: SimulatorProcess, round_no: int, recent: dict[str, list[str]]) -> list[str]:
    """Apply one round of changes; also update a few activities created in the previous round (inside the lookback)."""
    lines = []
    for action, otype, subtype, count in ROUND:
        change = {"action": action, "object_type": otype, "count": count}
        if subtype:
            change["subtype"] = subtype
        if action == "update" and otype == "lead":
            change["fields"] = {"description": f"soak round {round_no}"}
        result = sim.mutate(change)
        if action == "create" and otype == "activity":
            recent.setdefault(subtype, []).extend(r["id"] for r in result["records"])
        lines.append(f"{action} {count} {otype}{'/' + subtype if subtype else ''}")
    for subtype, ids in recent.items():
        for rid in ids[:2]:
            sim.mutate({"action": "update", "object_type": "activity", "id": rid})
        lines.append(f"update 2 recent activity/{subtype}")
    return lines


def parse_time(value: str) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit", type=float, default=20, help="requests/s per key (0: none)")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--jitter-ms", type=float, default=50)
    parser.add_argument("--broken-bodies", action="store_true", help="also inject truncated and invalid 200 bodies")
    parser.add_argument("--no-faults", action="store_true")
    add_connector_options(parser)
    args = parser.parse_args()
    command = connector_command(args.manifest, args.components)
    faults = [] if args.no_faults else FAULTS + (BROKEN_BODIES if args.broken_bodies else [])
    limit = args.limit or None

    print(f"soak benchmark: scale {args.scale}, seed {args.seed}, {args.runs} syncs, limit {limit or 'none'} requests/s, "
          f"num_workers {args.workers}, latency {args.latency_ms:g} ms + [0, {args.jitter_ms:g}] ms")
    print("faults: " + (", ".join(f"{f['kind']} {f['probability']:.1%}" for f in faults) or "none"))
    print(machine_line() + " (before)", flush=True)
    rows = []
    all_ok = True
    with SimulatorProcess(seed=args.seed, scale=args.scale, rps=limit, org_rps=max(limit, 60) if limit else None,
                          latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, faults=faults) as sim:
        config = dict(sim.config, requests_per_second=limit or 1000, num_workers=args.workers)
        workdir = Path(tempfile.mkdtemp(prefix="close-bench-soak-"))
        catalog = configured_catalog(discover(config, workdir, command), "incremental")
        names = [entry["stream"]["name"] for entry in catalog["streams"]]
        activity_streams = {n for n in names if n.endswith("_activities") or n == "custom_activity_instances"}
        full_refresh = {e["stream"]["name"] for e in catalog["streams"] if e["sync_mode"] == "full_refresh"}
        state = None
        union: dict[str, set[str]] = {n: set() for n in names}
        seen_truth: dict[str, set[str]] = {n: set() for n in names}
        previous: dict[str, dict[str, tuple[int, str]]] | None = None
        recent: dict[str, list[str]] = {}
        sync_started_prev: datetime | None = None
        for run in range(1, args.runs + 1):
            if run > 1:
                lines = mutate_round(sim, run - 1, recent)
                print(f"\nchanges before sync {run}: " + "; ".join(lines), flush=True)
            truth = truth_digest(sim, names, config["start_date"])
            sim.reset_stats()
            started = datetime.now(timezone.utc)
            result = run_read(config, catalog, state, workdir=workdir, command=command)
            after = truth_digest(sim, ["events", "deleted_records"], config["start_date"])
            stats = sim.stats()
            totals = stats["totals"]
            missing, invented, unsynced, by_design, in_place = {}, {}, {}, {}, {}
            for name in names:
                emitted = set(result.ids.get(name, []))
                union[name] |= emitted
                now_truth = set(truth[name]) if name not in after else set(after[name])
                seen_truth[name] |= set(truth[name]) | set(after.get(name, {}))
                gone = sorted(now_truth - union[name])
                if gone:
                    missing[name] = gone
                made_up = sorted(union[name] - seen_truth[name])
                if made_up:
                    invented[name] = made_up
                if previous is None:
                    continue
                changed = [rid for rid, digest in truth[name].items() if previous[name].get(rid) != digest]
                not_emitted = [rid for rid in changed if rid not in emitted and rid in now_truth]
                # A record whose content changed while its cursor stayed put cannot be seen by any incremental sync.
                quiet = [rid for rid in not_emitted if rid in previous[name]
                         and previous[name][rid][2] == truth[name][rid][2] and name not in full_refresh]
                if quiet:
                    in_place[name] = quiet
                not_emitted = [rid for rid in not_emitted if rid not in quiet]
                if name in activity_streams and sync_started_prev is not None:
                    horizon = sync_started_prev - timedelta(days=1)  # previous state minus the 1-day lookback
                    old = [rid for rid in not_emitted if (parse_time(truth[name][rid][1]) or horizon) < horizon]
                    if old:
                        by_design[name] = old
                    not_emitted = [rid for rid in not_emitted if rid not in old]
                if not_emitted:
                    unsynced[name] = not_emitted
            ok = not (missing or invented or unsynced or result.errors)
            all_ok &= ok
            faults_seen = totals.get("faults", {})
            print(f"\n== sync {run} ({'history' if run == 1 else 'incremental'}): wall {result.wall_s:.1f} s, "
                  f"{totals['requests']} requests, status {totals['status']}, faults injected {faults_seen}")
            print(f"  {result.records} records, connector CPU {result.cpu_s:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB, "
                  f"warnings logged {result.warnings}, exit code {result.exit_code}")
            for label, found in (("MISSING", missing), ("INVENTED", invented), ("CHANGES NOT SYNCED", unsynced)):
                for name, ids in found.items():
                    saved = next((m["stream"].get("stream_state") for m in (state or [])
                                  if m["stream"]["stream_descriptor"]["name"] == name), None)
                    print(f"  {label} {name}: {len(ids)} e.g. {ids[:3]} (state the sync started from: {saved})")
                    for rid in ids[:3]:
                        now_row, before_row = truth[name].get(rid), (previous or {}).get(name, {}).get(rid)
                        print(f"    {rid}: date_created {now_row and now_row[1]}, date_updated {now_row and now_row[2]}"
                              f" (before: {'absent' if before_row is None else 'date_updated ' + before_row[2]})")
            for name, ids in by_design.items():
                print(f"  not re-read by design (activity updated, created before the lookback): {name} {len(ids)}")
            for name, ids in in_place.items():
                print(f"  changed in the simulator without a new date_updated (invisible to incremental syncs): "
                      f"{name} {len(ids)} e.g. {ids[:2]}")
            if result.errors:
                print(f"  ERRORS: {result.errors[:3]}")
            changed_total = sum(
                sum(1 for rid, d in truth[n].items() if previous[n].get(rid) != d) for n in names) if previous else 0
            print(f"  -> {'ok' if ok else 'FAILED'}: truth {'contained' if not missing else 'NOT contained'} in the "
                  f"union of syncs 1..{run}, nothing invented"
                  + (f", {changed_total} new or changed records (including full-refresh and event streams) synced"
                     if previous else ""), flush=True)
            rows.append([run, "history" if run == 1 else "incremental", f"{result.wall_s:.1f}", totals["requests"],
                         sum(faults_seen.values()) if isinstance(faults_seen, dict) else faults_seen,
                         totals.get("429", 0), result.records, f"{result.cpu_s:.1f}", f"{result.peak_rss_mb:.0f}",
                         "ok" if ok else "FAILED"])
            previous = truth if not after else {**truth, **after}
            state = result.final_state
            sync_started_prev = started
            time.sleep(1)  # changes of the next round fall strictly after this sync
    print("\n" + machine_line() + " (after)\n")
    print(fmt_table(["sync", "kind", "wall s", "requests", "faults", "429s", "records", "CPU s", "peak RSS MB",
                     "check"], rows))
    rss = [float(r[8]) for r in rows]
    if len(rss) >= 2:
        print(f"\npeak RSS last vs first sync: {rss[-1] / rss[0]:.2f}x; max of the incremental syncs vs the history sync: "
              f"{max(rss[1:]) / rss[0]:.2f}x")
    print(f"overall: {'every sync matched the ground truth' if all_ok else 'SOME SYNC FAILED A CHECK'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
