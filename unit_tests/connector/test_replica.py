"""After every incremental sync a deduplicating destination holds what Close holds: old activities edited,
records deleted (with Close's cascades), leads merged and records created all reach it, through the event log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import List

import pytest
from airbyte_cdk.models import AirbyteStateMessageSerializer

from close_simulator.testing import Simulator
from unit_tests.harness import DedupedDestination, ReadResult, as_emitted, sync

START = "2021-01-01"
ACTIVITY_KINDS = {  # stream -> the simulator's activity kind
    "note_activities": "note", "email_thread_activities": "emailthread", "email_activities": "email",
    "sms_activities": "sms", "call_activities": "call", "meeting_activities": "meeting",
    "lead_status_change_activities": "status_change/lead",
    "opportunity_status_change_activities": "status_change/opportunity",
    "task_completed_activities": "task_completed", "custom_activity_instances": "custom",
    "whatsapp_message_activities": "whatsapp_message", "form_submission_activities": "form_submission",
}
# Close logs no `updated` event for these kinds, so they cannot be edited unseen.
NOT_EDITABLE = {"task_completed"}
# Close logs no event at all for Created and lead-merge activities: one that goes with its deleted lead leaves no
# id behind to delete by. These two streams differ from Close by exactly those rows (the docs say so).
NO_EVENTS = {"created_activities", "lead_merge_activities"}
TASK_TYPES = ("lead", "incoming_email", "email_followup", "missed_call", "answered_detached_call", "voicemail",
              "opportunity_due", "incoming_sms")
CURSORS = {
    "leads": "date_updated", "contacts": "date_updated", "opportunities": "date_updated",
    "custom_objects": "date_updated",
    **{stream: "date_created" for stream in [*ACTIVITY_KINDS, "created_activities", "lead_merge_activities"]},
    **{f"{t}_tasks": "date_updated" for t in TASK_TYPES},
}


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def old_activity(sim, stream: str, skip: int) -> str:
    """An activity created after the start date and well before the activity lookback (so only the event log can
    show that it changed)."""
    floor, ceiling = _parse(START + "T00:00:00"), datetime.now(timezone.utc) - timedelta(days=5)
    candidates = sorted(r["id"] for r in sim.truth(stream, start_date=START) if floor <= _parse(r["date_created"]) <= ceiling)
    assert candidates, f"the simulator has no old {stream}: the test would prove nothing"
    return candidates[skip % len(candidates)]


def round_of_changes(sim, number: int) -> None:
    """A day of ordinary changes: old activities of every editable kind edited, one record of every object type
    deleted (a lead with its contacts, opportunities, tasks and activities), two leads merged (the source's
    records move to the destination lead), records created and updated."""
    for stream, kind in ACTIVITY_KINDS.items():
        if kind not in NOT_EDITABLE:
            sim.mutate({"action": "update", "object_type": "activity", "id": old_activity(sim, stream, number)})
        sim.mutate({"action": "delete", "object_type": "activity", "subtype": kind, "id": old_activity(sim, stream, number + 7)})
    for task_type in TASK_TYPES:
        sim.mutate({"action": "delete", "object_type": "task", "subtype": task_type, "count": 1})
    for object_type in ("contact", "opportunity", "custom_object", "lead"):
        sim.mutate({"action": "delete", "object_type": object_type, "count": 1})
    sim.mutate({"action": "merge", "object_type": "lead"})
    sim.mutate({"action": "create", "object_type": "lead", "count": 1})
    sim.mutate({"action": "create", "object_type": "activity", "subtype": "call", "count": 2})
    sim.mutate({"action": "create", "object_type": "task", "subtype": "lead", "count": 1})
    sim.mutate({"action": "update", "object_type": "opportunity", "count": 2, "fields": {"confidence": 40 + number}})


@dataclass
class Replica:
    sim: Simulator
    results: List[ReadResult]  # the three syncs
    differences: List[List[str]]  # how the destination differed from Close after each
    unlogged: DedupedDestination  # the streams of NO_EVENTS, loaded from the same syncs


@pytest.fixture(scope="module")
def replica():
    """Three incremental syncs of every object stream with two rounds of changes between them, each loaded into a
    deduplicating destination."""
    with Simulator(seed=11, scale="small", rps=None, org_rps=None) as sim:
        config = sim.config(start_date=START)
        destination = DedupedDestination({s: c for s, c in CURSORS.items() if s not in NO_EVENTS})
        unlogged = DedupedDestination({s: c for s, c in CURSORS.items() if s in NO_EVENTS})
        results, differences = [], []
        for number in range(3):
            if number:
                round_of_changes(sim, number)
            results.append(sync(config, list(CURSORS), sync_mode="incremental", state=results[-1].final_state if results else None))
            destination.load(results[-1])
            unlogged.load(results[-1])
            differences.append(destination.differences(sim, START))
        yield Replica(sim, results, differences, unlogged)


def test_every_sync_leaves_the_destination_equal_to_close(replica):
    problems = [f"after sync {n + 1}: {p}" for n, found in enumerate(replica.differences) for p in found]
    assert not problems, "\n".join(problems)


def test_activities_close_logs_no_event_for_differ_only_by_those_of_deleted_leads(replica):
    live_leads = {r["id"] for r in replica.sim.truth("leads")}
    for stream in NO_EVENTS:
        truth = {r["id"]: as_emitted(r) for r in replica.sim.truth(stream, start_date=START)}
        rows = replica.unlogged.rows(stream)
        assert all(rows.get(i) == record for i, record in truth.items()), f"{stream}: a record is missing or stale"
        extra = [rows[i] for i in set(rows) - set(truth)]
        assert all(row["lead_id"] not in live_leads for row in extra), f"{stream}: a row of a live lead is not in Close"


def test_deletions_arrive_as_rows_with_their_deletion_time(replica):
    deleted = {stream: [r for r in records if r.get("_ab_cdc_deleted_at")] for stream, records in replica.results[1].records.items()}
    for stream in [*ACTIVITY_KINDS, "leads", "contacts", "opportunities", "custom_objects", *(f"{t}_tasks" for t in TASK_TYPES)]:
        assert deleted.get(stream), f"{stream}: no deletion row after a round that deleted one"
        for row in deleted[stream]:
            assert row[CURSORS[stream]] == row["_ab_cdc_deleted_at"], row
            assert set(row) == {"id", CURSORS[stream], "_ab_cdc_deleted_at"}, row


def test_a_first_sync_replays_nothing(replica):
    assert not [r for records in replica.results[0].records.values() for r in records if r.get("_ab_cdc_deleted_at")]


def test_a_position_older_than_the_event_log_is_said_once_and_not_replayed():
    with Simulator(seed=5, scale="small", rps=None, org_rps=None) as sim:
        old = (datetime.now(timezone.utc) - timedelta(days=45)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "call_activities"}, "stream_state": {"date_created": old}}}]
        sim.reset_stats()
        result = sync(sim.config(start_date=START), ["call_activities"], sync_mode="incremental", state=[AirbyteStateMessageSerializer.load(entry) for entry in state])
        warnings = [m.log.message for m in result.output.logs if "event log" in m.log.message]
        assert len(warnings) == 1 and "call_activities" in warnings[0] and "full refresh" in warnings[0], warnings
        assert not [r for r in result.records["call_activities"] if r.get("_ab_cdc_deleted_at")]
        assert not [p for p in sim.stats().get("paths", {}) if "event" in p], sim.stats().get("paths")


def test_a_key_that_may_not_read_the_event_log_syncs_new_records_with_one_warning():
    with Simulator(seed=5, scale="small", rps=None, org_rps=None, restricted_keys={"api_no_event_log": ["event/"]}) as sim:
        config = sim.config(start_date=START, api_key="api_no_event_log")
        first = sync(config, ["note_activities", "leads"], sync_mode="incremental")
        created = sim.mutate({"action": "create", "object_type": "activity", "subtype": "note", "count": 1})["records"][0]
        second = sync(config, ["note_activities", "leads"], sync_mode="incremental", state=first.final_state)
        warnings = [m.log.message for m in second.output.logs if "may not read Close's event log" in m.log.message]
        assert sorted(w.split("'")[1] for w in warnings) == ["leads", "note_activities"], warnings
        assert created["id"] in second.ids("note_activities")
        assert not [r for records in second.records.values() for r in records if r.get("_ab_cdc_deleted_at")]
