"""The ``incremental`` section of ``acceptance-test-config.yml``, which the CDK's standard suite does not collect.

In the manner of Airbyte's connector acceptance tests, with the suite's connector (the bundled manifest with
components.py injected, see ``suite.py``) and the section's config and catalog (24 incremental streams, 23 full
refresh):

* a read from the saved state of ``sample_files/state.json`` returns every record changed since each stream's
  cursor (compared with the simulator's ground truth) and nothing older than the documented overlap;
* a second read from the state the first one ended with re-reads only that overlap, and no state goes backwards;
* a read from the future state of ``integration_tests/abnormal_state.json`` does not fail, re-reads no history,
  saves no state later than now, and the next sync still returns the changes made after it;
* the section's catalog is what ``discover`` reports (streams, sync modes, cursors, primary keys).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml

from airbyte_cdk.test import entrypoint_wrapper
from close_simulator.testing import SimulatorProcess
from unit_tests.helpers.times import EVENT_LOG_STREAMS, edited_lately, parse
from unit_tests.standard.suite import (
    EVENT_RETENTION,
    LOOKBACK,
    ROOT,
    CloseComSuiteBase as Suite,
    IncrementalRead,
    with_simulator,
)

SAVED_STATE_PATH = ROOT / "sample_files" / "state.json"


def stream_cursors(state_messages: list) -> dict:
    return {m["stream"]["stream_descriptor"]["name"]: m["stream"]["stream_state"] for m in state_messages}


@pytest.fixture(scope="module")
def saved_state_read(live_simulator: SimulatorProcess) -> IncrementalRead:
    """A read of the incremental section's catalog from the saved state of sample_files/state.json."""
    return Suite.incremental_read(live_simulator, json.loads(SAVED_STATE_PATH.read_text()))


def test_read_from_the_saved_state(live_simulator: SimulatorProcess, saved_state_read: IncrementalRead) -> None:
    result = saved_state_read
    cursors = stream_cursors(json.loads(SAVED_STATE_PATH.read_text()))
    assert set(cursors) == set(result.incremental_streams), "sample_files/state.json must cover every incremental stream"
    for stream in result.catalog_streams:
        assert result.records(stream), f"{stream}: the read returned no record"
    for stream, stream_state in cursors.items():
        field = result.cursor_field(stream)
        saved_at = parse(stream_state[field])
        floor = saved_at
        if stream in EVENT_LOG_STREAMS:  # Close keeps its event log for 30 days
            floor = max(saved_at, result.started - EVENT_RETENTION + timedelta(hours=1))
        expected = {r["id"] for r in live_simulator.truth(stream) if parse(r[field]) >= floor}
        emitted = result.records(stream)
        assert expected, f"{stream}: the simulator has no record after {floor}: the test proves nothing"
        missing = expected - {r["id"] for r in emitted}
        assert not missing, f"{stream}: {len(missing)} records changed after the saved state were not read: {sorted(missing)[:5]}"
        lower = result.reread_floor(stream, saved_at)
        if stream in EVENT_LOG_STREAMS:
            lower = max(lower, result.reread_floor(stream, result.started - EVENT_RETENTION))
        stale = [r["id"] for r in emitted if parse(r[field]) < lower]
        assert not stale, f"{stream}: {len(stale)} records older than the saved state minus the overlap: {stale[:5]}"
        assert saved_at <= result.final_cursor(stream) <= result.ended, (
            f"{stream}: state {result.final_cursor(stream)} is not between the saved {saved_at} and the read's end"
        )


def test_two_sequential_reads(live_simulator: SimulatorProcess, saved_state_read: IncrementalRead) -> None:
    first = saved_state_read
    second = Suite.incremental_read(live_simulator, first.state_for_next_sync())
    for stream in first.incremental_streams:
        field = first.cursor_field(stream)
        before = first.final_cursor(stream)
        lower = second.reread_floor(stream, before)
        stale = [r["id"] for r in second.records(stream) if parse(r[field]) < lower and not edited_lately(r)]
        assert not stale, f"{stream}: the second read re-read {len(stale)} records older than {lower}: {stale[:5]}"
        assert len(second.records(stream)) < len(first.records(stream)) or len(first.records(stream)) <= 5, (
            f"{stream}: the second read returned {len(second.records(stream))} records, the first "
            f"{len(first.records(stream))}"
        )
        cursors = second.cursors(stream)
        assert cursors == sorted(cursors), f"{stream}: the state went backwards within the second read"
        assert before <= second.final_cursor(stream) <= second.ended, (
            f"{stream}: {before} -> {second.final_cursor(stream)} (read ended {second.ended})"
        )


def test_read_from_a_future_state() -> None:
    """A cursor in 2099 that survived the sync would hide every later change: a correct connector clamps it."""
    future_state_path = ROOT / Suite.incremental_entry()["future_state"]["future_state_path"]
    future = json.loads(future_state_path.read_text())
    with SimulatorProcess(seed=7, scale="small", rps=None, org_rps=None) as simulator:  # mutated below: not the shared one
        first = Suite.incremental_read(simulator, future)
        assert set(stream_cursors(future)) == set(first.incremental_streams), (
            "abnormal_state.json must cover every incremental stream"
        )
        recent = first.started - LOOKBACK - timedelta(days=1)
        for stream in first.incremental_streams:
            field = first.cursor_field(stream)
            assert first.final_cursor(stream) <= first.ended, (
                f"{stream}: the read kept the future state {first.final_cursor(stream)} (read ended {first.ended})"
            )
            old = [r["id"] for r in first.records(stream) if parse(r[field]) < recent and not edited_lately(r)]
            assert not old, f"{stream}: a future state made the read return {len(old)} records older than {recent}"

        changed = {
            "leads": simulator.mutate({"action": "create", "object_type": "lead", "count": 2})["records"],
            "contacts": simulator.mutate({"action": "create", "object_type": "contact", "count": 2})["records"],
            "opportunities": simulator.mutate(
                {"action": "update", "object_type": "opportunity", "count": 2, "fields": {"confidence": 42}}
            )["records"],
            "email_activities": simulator.mutate(
                {"action": "create", "object_type": "activity", "subtype": "email", "count": 2}
            )["records"],
            "lead_tasks": simulator.mutate(
                {"action": "update", "object_type": "task", "subtype": "lead", "count": 2, "fields": {"is_complete": True}}
            )["records"],
        }
        second = Suite.incremental_read(simulator, first.state_for_next_sync())
    for stream, records in changed.items():
        ids = {r["id"] for r in records}
        assert ids, f"the simulator changed no {stream}"
        missing = ids - {r["id"] for r in second.records(stream)}
        assert not missing, f"{stream}: changes made after a sync from a future state were lost: {sorted(missing)}"


def test_the_catalog_is_what_discover_reports(live_simulator: SimulatorProcess) -> None:
    """integration_tests/configured_catalog.json names every discovered stream, incremental exactly where the
    stream supports it, on the cursor the connector declares."""
    entry = Suite.incremental_entry()
    config = with_simulator(yaml.safe_load((ROOT / entry["config_path"]).read_text()), live_simulator)
    catalog = json.loads((ROOT / entry["configured_catalog_path"]).read_text())
    output = entrypoint_wrapper.discover(Suite.create_stateful_connector(config, None, None), config)
    assert not output.errors, output.get_formatted_error_message()
    discovered = {stream.name: stream for stream in output.catalog.catalog.streams}
    configured = {c["stream"]["name"]: c for c in catalog["streams"]}
    assert sorted(configured) == sorted(discovered)
    for name, stream in discovered.items():
        modes = [mode.value for mode in stream.supported_sync_modes]
        assert (configured[name]["sync_mode"] == "incremental") == ("incremental" in modes), name
        if "incremental" in modes:
            assert configured[name]["cursor_field"] == stream.default_cursor_field, name
        assert [["id"]] == stream.source_defined_primary_key == configured[name]["primary_key"], name
