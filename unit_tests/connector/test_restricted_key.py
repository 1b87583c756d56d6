"""A key that may read some endpoints and not others (403): check names the streams it may not read, a sync skips
them with one warning each and syncs everything else, and a key that may read nothing fails check.

The simulator's restricted key (``restricted_keys=True``) may not read ``send_as/``, ``event/`` and
``custom_field/``; other tests give a key a list of refused path prefixes of their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airbyte_cdk.models import FailureType, Status

from source_close_com.run import SourceCloseCom
from unit_tests.harness import NO_LIMIT, as_emitted, catalog_for, id_diff, run_command, run_discover, sync, sync_streams, without_nulls
from unit_tests.helpers.catalogs import only
from unit_tests.helpers.console import console, invoke, write

START = "2021-01-01"
FORBIDDEN_STREAMS = {  # the simulator's restricted key may not read send_as/, event/ and custom_field/
    "send_as", "events", "deleted_records",
    "lead_custom_fields", "contact_custom_fields", "opportunity_custom_fields", "activity_custom_fields",
    "custom_object_custom_fields", "shared_custom_fields",
}
CUSTOM_FIELD_STREAMS = ["leads", "contacts", "opportunities", "custom_activity_instances"]


@pytest.fixture(scope="module")
def catalog(simulator):
    """Every stream in full refresh (seed 7, small: every simulator here has the same account)."""
    return catalog_for(simulator.config())


def assert_truth(sim, result, stream):
    expected = [r["id"] for r in sim.truth(stream, start_date=START)]
    assert set(result.ids(stream)) == set(expected), f"{stream}: " + id_diff(result.ids(stream), expected)


# ------------------------------------------------------------------------------------------------- check


def test_check_names_the_streams_a_restricted_key_cannot_read(make_simulator):
    sim = make_simulator(**NO_LIMIT, restricted_keys=True)
    output = run_command("check", sim.config(api_key=sim.restricted_key))
    statuses = output.connection_status_messages
    assert len(statuses) == 1, output.get_formatted_error_message()
    status = statuses[0].connectionStatus
    assert status.status == Status.SUCCEEDED and "403" in status.message
    listed = status.message.split("may not read: ")[1].split(" (403")[0].split(", ")
    assert sorted(listed) == sorted(FORBIDDEN_STREAMS)
    me_requests = sim.stats()["paths"]["me/"]["requests"]
    assert me_requests == 1


def test_check_probes_contacts_where_they_are_read(make_simulator, capfd, tmp_path):
    """Contacts are read from Advanced Filtering: a key refused there must be reported, whatever contact/ says."""
    sim = make_simulator(**NO_LIMIT, restricted_keys={"api_nosearch000000000000": ["data/search/"]})
    run = invoke(capfd, "check", "--config", write(tmp_path, "c.json", sim.config(api_key="api_nosearch000000000000")))
    assert run.status.status == Status.SUCCEEDED
    assert run.status.message.split("may not read: ")[1].split(" (403")[0] == "contacts", run.status.message


def test_check_fails_a_key_that_can_read_nothing_but_who_it_is(make_simulator, capfd, tmp_path):
    source = SourceCloseCom()
    prefixes = sorted({path.split("/")[0] + "/" for path in source.stream_endpoints().values()})
    key = "api_onlyme0000000000000000"
    sim = make_simulator(**NO_LIMIT, restricted_keys={key: prefixes})
    run = invoke(capfd, "check", "--config", write(tmp_path, "c.json", sim.config(api_key=key)))
    assert run.status.status == Status.FAILED
    assert "may not read any of the data the connector syncs" in run.status.message, run.status.message
    assert [e.failure_type for e in run.errors] == [FailureType.config_error]


# ------------------------------------------------------------------------------------------------- discover


def test_a_key_that_may_not_read_definitions_keeps_the_static_schema(make_simulator):
    sim = make_simulator(seed=7, scale="small", **NO_LIMIT, restricted_keys=True)
    config = sim.config(api_key=sim.restricted_key)
    output = run_discover(config)
    schemas = {s.name: s.json_schema for s in output.catalog.catalog.streams}
    warnings = [m.log.message for m in output.logs if m.log.level.value == "WARN"]
    for stream in CUSTOM_FIELD_STREAMS:
        assert not [k for k in schemas[stream]["properties"] if k.startswith("custom.")], stream
        assert "id" in schemas[stream]["properties"]
        assert any(f"'{stream}'" in w and "custom field" in w for w in warnings), stream
    # and the records still sync, custom values included
    read = sync_streams(config, ["leads"], sync_mode="full_refresh")
    assert len(read.ids("leads")) == len(sim.truth("leads"))
    assert any(k.startswith("custom.") for r in read.records["leads"] for k in r)


# ------------------------------------------------------------------------------------------------- read


def test_restricted_key_skips_only_the_forbidden_streams(make_simulator, catalog):
    sim = make_simulator(**NO_LIMIT, restricted_keys=True)
    config = sim.config(api_key=sim.restricted_key, requests_per_second=500)
    result = sync(config, catalog=only(catalog, ["send_as", "users", "events", "lead_statuses"]))
    assert result.output.errors == []
    assert result.ids("send_as") == [] and result.ids("events") == []
    assert_truth(sim, result, "users")
    assert_truth(sim, result, "lead_statuses")
    warnings = [m.log.message for m in result.output.logs if m.log.level.value == "WARN" and "403" in m.log.message]
    for stream in ("send_as", "events"):
        # one warning per skipped stream, however many windows it has, naming the stream and what to do
        mine = [w for w in warnings if f"'{stream}'" in w]
        assert len(mine) == 1 and "permission" in mine[0] and "Close admin" in mine[0], warnings
    assert not [w for w in warnings if "'users'" in w or "'lead_statuses'" in w]


def test_a_restricted_key_skips_what_it_may_not_read_and_syncs_everything_else(make_simulator, catalog, capfd, tmp_path):
    sim = make_simulator(**NO_LIMIT, restricted_keys=True)
    config = sim.config(api_key=sim.restricted_key, window_days=365, requests_per_second=500)
    run = console(capfd, tmp_path, "read", config, catalog)
    assert not run.errors, [e.message for e in run.errors]

    problems = []
    for entry in catalog.streams:
        stream = entry.stream.name
        emitted = run.records(stream)
        if stream in FORBIDDEN_STREAMS:
            if emitted:
                problems.append(f"{stream}: {len(emitted)} records from an endpoint the key may not read")
            continue
        truth = {r["id"]: as_emitted(r) for r in sim.truth(stream, start_date=START)}
        got = {r["id"]: without_nulls(r) for r in emitted}
        if set(got) != set(truth):
            problems.append(f"{stream}: " + id_diff(got, truth))
        elif any(got[i] != truth[i] for i in truth):
            problems.append(f"{stream}: records differ from the server's")
    assert not problems, "\n".join(problems)

    warnings = [w for w in run.warnings() if "403" in w]
    for stream in sorted(FORBIDDEN_STREAMS):
        mine = [w for w in warnings if f"'{stream}'" in w]
        assert len(mine) == 1, f"{stream}: {len(mine)} warnings: {warnings}"
        assert "permission" in mine[0] and "Close admin" in mine[0], mine[0]
    assert len({w for w in warnings if any(f"'{s}'" in w for s in FORBIDDEN_STREAMS)}) == len(FORBIDDEN_STREAMS)


def test_a_forbidden_stream_is_warned_about_once_however_many_windows_meet_the_403(make_simulator, catalog, capfd, tmp_path):
    sim = make_simulator(**NO_LIMIT, restricted_keys=True)
    config = sim.config(api_key=sim.restricted_key, requests_per_second=500)
    # From a saved position 20 days back: a first sync would ask once (its read of the whole range meets the 403).
    since = (datetime.now(timezone.utc) - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%S.000000+00:00")
    state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"date_updated": since}}}]
    run = console(capfd, tmp_path, "read", config, catalog_for(sim.config(), ["events"], "incremental"), state=state)
    assert run.code == 0 and not run.errors
    refused = sim.stats()["paths"]["event/"]["status"].get("403", 0)
    assert refused >= 3, f"events are read in 7-day windows: expected one 403 per window, got {refused}"
    about_403 = [line for line in run.logs() if "403" in line]
    assert len(about_403) == 1 and "Stream 'events' is skipped" in about_403[0], about_403


@pytest.mark.parametrize("stream, fields_of", [("leads", "lead"), ("contacts", "contact")])
def test_a_key_refused_custom_field_definitions_still_syncs_every_record_with_one_honest_warning(
    make_simulator, capfd, tmp_path, stream, fields_of
):
    """Leads page the lead list, contacts Advanced Filtering: either way the 403 is on the definitions only."""
    key = "api_nofields00000000000000"
    sim = make_simulator(**NO_LIMIT, restricted_keys={key: ["custom_field/"]})
    config = sim.config(api_key=key, requests_per_second=500)
    run = console(capfd, tmp_path, "read", config, catalog_for(sim.config(), [stream], "incremental"))
    assert run.code == 0 and not run.errors
    expected = [r["id"] for r in sim.truth(stream, start_date="2021-01-01") if r["date_updated"] >= "2021-01-01"]
    assert sorted(r["id"] for r in run.records(stream)) == sorted(expected)
    about_stream = [w for w in run.warnings() if f"'{stream}'" in w]
    assert len(about_stream) == 1, about_stream
    assert "is synced in full" in about_stream[0] and f"custom_field/{fields_of}/" in about_stream[0], about_stream
    assert not [line for line in run.logs() if "skipped" in line.lower()], [line for line in run.logs() if "kipped" in line]
