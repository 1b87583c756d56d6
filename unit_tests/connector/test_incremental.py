"""Incremental syncs lose nothing and re-read little: state, boundaries, deep windows, server-side filters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from close_simulator.testing import Simulator
from unit_tests.harness import id_diff, sync_streams
from unit_tests.helpers.times import edited_lately, parse, reread_floor

ACTIVITY_STREAMS = [
    "created_activities", "note_activities", "email_thread_activities", "email_activities", "sms_activities",
    "call_activities", "meeting_activities", "lead_status_change_activities",
    "opportunity_status_change_activities", "task_completed_activities", "custom_activity_instances",
]
TASK_STREAMS = [
    "lead_tasks", "incoming_email_tasks", "email_followup_tasks", "missed_call_tasks",
    "answered_detached_call_tasks", "voicemail_tasks", "opportunity_due_tasks", "incoming_sms_tasks",
]
WINDOWED_STREAMS = ["leads", "contacts", "opportunities", *ACTIVITY_STREAMS, *TASK_STREAMS]
CURSOR = {name: "date_created" for name in ACTIVITY_STREAMS} | {
    name: "date_updated" for name in ["leads", "contacts", "opportunities", "events", *TASK_STREAMS]
}


def state_value(result, stream: str) -> datetime:
    states = result.states[stream]
    assert states, f"{stream} emitted no state"
    return parse(states[-1][CURSOR[stream]])


@pytest.fixture(scope="module")
def mutated_pair():
    """A first incremental sync, mutations of every incremental object, and a second sync from its state. Built
    once for the tests that read it (none changes it)."""
    with Simulator(seed=7, scale="small", rps=None, org_rps=None) as sim:
        yield build_mutated_pair(sim)


def build_mutated_pair(sim):
    config = sim.config()
    streams = [*WINDOWED_STREAMS, "events"]
    first = sync_streams(config, streams, sync_mode="incremental")
    changed = {
        "leads": sim.mutate({"action": "create", "object_type": "lead", "count": 3})["records"]
        + sim.mutate({"action": "update", "object_type": "lead", "count": 2, "fields": {"description": "edited"}})["records"],
        "contacts": sim.mutate({"action": "create", "object_type": "contact", "count": 2})["records"],
        "opportunities": sim.mutate({"action": "update", "object_type": "opportunity", "count": 3, "fields": {"confidence": 77}})["records"],
        "email_activities": sim.mutate({"action": "create", "object_type": "activity", "subtype": "email", "count": 4})["records"],
        "call_activities": sim.mutate({"action": "create", "object_type": "activity", "subtype": "call", "count": 2})["records"],
        "lead_tasks": sim.mutate({"action": "update", "object_type": "task", "subtype": "lead", "count": 2, "fields": {"is_complete": True}})["records"],
        "voicemail_tasks": sim.mutate({"action": "create", "object_type": "task", "subtype": "voicemail", "count": 1})["records"],
    }
    second = sync_streams(config, streams, sync_mode="incremental", state=first.final_state)
    return sim, first, second, changed


def test_second_sync_yields_every_change(mutated_pair):
    _, _, second, changed = mutated_pair
    for stream, records in changed.items():
        ids = {r["id"] for r in records if r.get("_type", "") != "deleted"}
        assert ids, stream
        missing = ids - set(second.ids(stream))
        assert not missing, f"{stream}: changes not synced: {sorted(missing)[:5]}"


def test_second_sync_rereads_only_the_documented_overlap(mutated_pair):
    _, first, second, changed = mutated_pair
    for stream in WINDOWED_STREAMS:
        saved = state_value(first, stream)
        changed_ids = {r["id"] for r in changed.get(stream, [])}
        floor = reread_floor(stream, CURSOR[stream], saved)
        for record in second.records[stream]:
            if record["id"] in changed_ids or edited_lately(record):
                continue
            assert parse(record[CURSOR[stream]]) >= floor, (
                f"{stream} re-read {record['id']} ({record[CURSOR[stream]]}), older than {floor} (state {saved})"
            )


def test_state_moves_forward_and_never_past_the_sync_start(mutated_pair):
    _, first, second, _ = mutated_pair
    now = datetime.now(timezone.utc)
    for stream in [*WINDOWED_STREAMS, "events"]:
        before, after = state_value(first, stream), state_value(second, stream)
        assert before <= after <= now, f"{stream}: {before} -> {after} (now {now})"
        values = [parse(s[CURSOR[stream]]) for s in second.states[stream] if CURSOR[stream] in s]
        assert values == sorted(values), f"{stream}: state went backwards within a sync"


def test_unchanged_leads_cost_a_handful_of_requests(make_simulator):
    sim = make_simulator(seed=7, scale="small", rps=None, org_rps=None)
    first = sync_streams(sim.config(), ["leads", "contacts"], sync_mode="incremental")
    assert len(first.ids("leads")) == len(sim.truth("leads"))
    sim.reset_stats()
    second = sync_streams(sim.config(), ["leads", "contacts"], sync_mode="incremental", state=first.final_state)
    stats = sim.stats()
    lead_requests = stats["paths"]["lead/"]["requests"]
    search_requests = stats["paths"].get("data/search/", {}).get("requests", 0)
    assert lead_requests <= 3, f"an unchanged leads sync sent {lead_requests} requests"
    assert search_requests <= 3, f"an unchanged contacts sync sent {search_requests} searches"
    assert len(second.ids("leads")) < len(first.ids("leads")) // 10


def test_no_window_is_truncated_by_max_skip(make_simulator):
    """With max_skip far below the rows of a window (and bursts of equal timestamps), every row arrives."""
    sim = make_simulator(seed=7, scale="small", max_skip=300, rps=None, org_rps=None)
    config = sim.config(window_days=3650)  # one window holding every row of a stream
    result = sync_streams(config, WINDOWED_STREAMS, sync_mode="incremental")
    for stream in WINDOWED_STREAMS:
        expected = [r["id"] for r in sim.truth(stream, start_date=config["start_date"])]
        assert set(result.ids(stream)) == set(expected), f"{stream}: " + id_diff(result.ids(stream), expected)
    deep = [s for s in WINDOWED_STREAMS if len(sim.truth(s, start_date=config["start_date"])) > 300]
    assert len(deep) >= 4, "few windows are deeper than max_skip: the test proves nothing"
    # Pages are anchored on the cursor's value: `_skip` only counts rows read at one instant, never the window.
    refused = sum(p["status"].get("400", 0) for p in sim.stats()["paths"].values())
    assert refused == 0


def test_events_never_ask_for_more_than_30_days(simulator):
    simulator.reset_stats()
    sync_streams(simulator.config(start_date="2015-01-01"), ["events"], sync_mode="incremental")
    queries = simulator.stats()["paths"]["event/"]["recent"]
    oldest = min(parse(q["params"]["date_updated__gte"][0]) for q in queries if "date_updated__gte" in q["params"])
    assert oldest >= datetime.now(timezone.utc) - timedelta(days=31)


def test_a_state_older_than_closes_retention_is_reported_and_not_asked_for(simulator):
    """Close keeps 30 days of events: a state older than that cannot be honoured, and the user is told."""
    from airbyte_cdk.models import AirbyteStateBlob, AirbyteStateMessage, AirbyteStateType, AirbyteStreamState, StreamDescriptor

    old = (datetime.now(timezone.utc) - timedelta(days=45)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    state = [
        AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=name), stream_state=AirbyteStateBlob(**{cursor: old})),
        )
        for name, cursor in (("events", "date_updated"), ("deleted_records", "date_deleted"))
    ]
    simulator.reset_stats()
    result = sync_streams(simulator.config(start_date="2015-01-01"), ["events", "deleted_records"], sync_mode="incremental", state=state)
    warnings = [m.log.message for m in result.output.logs if m.log.level.value == "WARN"]
    for name in ("events", "deleted_records"):
        assert any(f"'{name}'" in w and "30 days" in w and old in w for w in warnings), (name, warnings)
    queries = simulator.stats()["paths"]["event/"]["recent"]
    oldest = min(parse(q["params"]["date_updated__gte"][0]) for q in queries if "date_updated__gte" in q["params"])
    assert oldest >= datetime.now(timezone.utc) - timedelta(days=31)
    assert result.ids("events"), "the events Close still keeps are read"


def test_deleted_records_ask_the_event_log_only_in_combinations_close_supports(simulator):
    """`action` alone is refused by Close: every deletions request names its object type, and every object type the
    deleted_records stream reports is asked (the simulator answers 400 to anything else, so nothing fails)."""
    simulator.reset_stats()
    result = sync_streams(simulator.config(), ["deleted_records"], sync_mode="incremental")
    queries = [q["params"] for q in simulator.stats()["paths"]["event/"]["recent"]]
    assert queries and all(q.get("action") == ["deleted"] and len(q.get("object_type", [])) == 1 for q in queries)
    asked = {q["object_type"][0] for q in queries}
    assert {"lead", "contact", "opportunity", "task.lead", "activity.email", "activity.call"} <= asked
    assert {r["object_type"] for r in result.records["deleted_records"]} <= asked
    assert sum(p["status"].get("400", 0) for p in simulator.stats()["paths"].values()) == 0


def test_a_task_window_past_max_skip_is_split_before_the_stream_stops_with_advice(make_simulator):
    """Tasks split a window Close refuses to page (its `maximum skip`) instead of failing it. Only a run of tasks
    sharing one instant stays too deep at the narrowest split: the stream then stops with the task advice, not
    with the message every other stream gives."""
    sim = make_simulator(seed=7, scale="small", max_skip=50, rps=None, org_rps=None, recent_limit=5000)
    sim.mutate({"action": "create", "object_type": "task", "subtype": "lead", "count": 1100})
    result = sync_streams(sim.config(window_days=3650), ["lead_tasks"], sync_mode="incremental", expect_errors=True)
    messages = [m.trace.error.message or "" for m in result.output.errors]
    assert any("Set a later start date so that each window holds fewer tasks." in m for m in messages), messages
    assert not any("Please report the stream" in m for m in messages), messages
    asked = [r["params"] for r in sim.stats()["paths"]["task/"]["recent"]]
    refused = sim.stats()["paths"]["task/"]["status"].get("400", 0)
    windows = {(p["date_updated__gte"][0], p["date_updated__lte"][0]) for p in asked if "date_updated__lte" in p}
    assert refused >= 2 and len(windows) >= 3, f"{refused} refusals, windows asked: {sorted(windows)}"
