"""What an incremental sync of the object streams costs as a function of how much changed in Close.

    .venv/bin/python -m bench.bench_changes [--scale small] [--changes 0,10,100,1000]
                                            [--latency-ms 150] [--jitter-ms 50]

One history sync of every object stream (leads, contacts, opportunities, custom objects, every activity and task
stream), then, for each N, N ordinary changes in Close (half of them edits of activities, half deletions of
activities, tasks, contacts and opportunities) and an incremental sync from the previous state. For each sync it
prints the requests by kind (the stream's own date windows, the event log, fetches by id or by lead) and the
wall time, next to the bound the data sets: the event log serves 50 events a page and a typed activity list 100
ids a request, so a sync needs at least one event-log request per (stream, action) it replays, plus
ceil(events / 50) more and ceil(edited / 100) fetches, plus one window request per stream.
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
    SimulatorProcess, add_connector_options, configured_catalog, connector_command, discover, fmt_table,
    machine_line, run_read,
)

ACTIVITY_KINDS = ("note", "email", "call", "sms", "meeting", "emailthread", "status_change/lead", "custom")
OBJECT_STREAMS = [
    "leads", "contacts", "opportunities", "custom_objects", "created_activities", "note_activities",
    "email_thread_activities", "email_activities", "sms_activities", "call_activities", "meeting_activities",
    "lead_status_change_activities", "opportunity_status_change_activities", "task_completed_activities",
    "custom_activity_instances", "whatsapp_message_activities", "form_submission_activities", "lead_merge_activities",
    "lead_tasks", "incoming_email_tasks", "email_followup_tasks", "missed_call_tasks", "answered_detached_call_tasks",
    "voicemail_tasks", "opportunity_due_tasks", "incoming_sms_tasks",
]


def make_changes(sim: SimulatorProcess, n: int) -> Counter:
    """``n`` changes, half edits of activities and half deletions; returns how many events each event-log walk
    will meet, by (object, action)."""
    made: Counter = Counter()
    for i in range(n):
        kind = ACTIVITY_KINDS[i // 2 % len(ACTIVITY_KINDS)]
        if i % 2 == 0:
            sim.mutate({"action": "update", "object_type": "activity", "subtype": kind, "count": 1})
            made[(kind, "updated")] += 1
        elif i % 6 == 1:
            sim.mutate({"action": "delete", "object_type": "task", "subtype": "lead", "count": 1})
            made[("task.lead", "deleted")] += 1
        elif i % 6 == 3:
            object_type = ("contact", "opportunity")[i % 12 // 6]
            sim.mutate({"action": "delete", "object_type": object_type, "count": 1})
            made[(object_type, "deleted")] += 1
        else:
            sim.mutate({"action": "delete", "object_type": "activity", "subtype": kind, "count": 1})
            made[(kind, "deleted")] += 1
    return made


def requests_by_kind(stats: dict) -> Counter:
    """The sync's requests: event-log walks, fetches by id or by lead, and everything else (windows, schemas)."""
    kinds: Counter = Counter()
    for path, entry in stats["paths"].items():
        for request in entry["recent"]:
            params = request.get("params") or {}
            if path == "event/":
                kinds["event log"] += 1
            elif "id__in" in params:
                kinds["by id"] += 1
            elif "lead_id" in params:
                kinds["by lead"] += 1
            else:
                kinds["windows and schemas"] += 1
    return kinds


def walks_per_sync(catalog: dict) -> int:
    """Event-log walks one incremental sync makes: deletions for every stream with events, edits for the activity
    streams Close logs edits of, lead merges for every activity stream."""
    names = {entry["stream"]["name"] for entry in catalog["streams"]}
    unlogged = {"created_activities", "lead_merge_activities"}
    activities = {n for n in names if n.endswith("_activities") or n == "custom_activity_instances"}
    edited = activities - unlogged - {"task_completed_activities"}
    return len(names - unlogged) + len(edited) + len(activities)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--changes", default="0,10,100,1000", help="comma-separated numbers of changes")
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--jitter-ms", type=float, default=50)
    add_connector_options(parser)
    args = parser.parse_args()
    command = connector_command(args.manifest, args.components)
    steps = [int(n) for n in args.changes.split(",")]

    print(f"change-capture benchmark: scale {args.scale}, seed {args.seed}, {len(OBJECT_STREAMS)} object streams, "
          f"latency {args.latency_ms:g} ms + [0, {args.jitter_ms:g}] ms, no rate limit")
    print(machine_line() + " (before)", flush=True)
    rows = []
    with SimulatorProcess(seed=args.seed, scale=args.scale, rps=None, org_rps=None,
                          latency_ms=args.latency_ms, jitter_ms=args.jitter_ms) as sim:
        sim.configure(recent_limit=1_000_000)
        config = dict(sim.config, requests_per_second=1000)
        workdir = Path(tempfile.mkdtemp(prefix="close-bench-changes-"))
        catalog = configured_catalog(discover(config, workdir, command), "incremental", OBJECT_STREAMS)
        walks = walks_per_sync(catalog)
        sim.reset_stats()
        history = run_read(config, catalog, workdir=workdir, command=command)
        print(f"history sync: {sim.stats()['totals']['requests']} requests, {history.records} records, "
              f"wall {history.wall_s:.1f} s", flush=True)
        state = history.final_state
        for n in steps:
            made = make_changes(sim, n)
            sim.reset_stats()
            result = run_read(config, catalog, state, workdir=workdir, command=command)
            if result.errors:
                print(f"  ERRORS after {n} changes: {result.errors[:3]}")
            state = result.final_state
            kinds = requests_by_kind(sim.stats())
            total = sum(kinds.values())
            # Each walk's first page is counted in `walks`; each 50 events more cost a page; each 100 edits a fetch.
            more_pages = sum(max(0, math.ceil(count / 50) - 1) for count in made.values())
            fetches = sum(math.ceil(count / 100) for (_, action), count in made.items() if action == "updated")
            bound = walks + more_pages + fetches + len(OBJECT_STREAMS)
            rows.append([n, kinds["windows and schemas"], kinds["event log"], kinds["by id"], kinds["by lead"], total,
                         bound, f"{total / bound:.2f}x", f"{result.wall_s:.1f}", result.records])
    print()
    print(fmt_table(["changes", "windows+schemas", "event log", "by id", "by lead", "requests", "bound", "ratio",
                     "wall s", "records"], rows))
    print(f"\nbound = {walks} event-log walks (one per stream and action replayed) + one page per 50 events more in a "
          f"walk + one fetch per 100 edits of a stream + one window request per stream ({len(OBJECT_STREAMS)})")
    print(machine_line() + " (after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
