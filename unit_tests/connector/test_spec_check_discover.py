"""spec, check and discover against the simulator, including every config error the spec defines."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
import yaml

from airbyte_cdk.models import FailureType, Status, TraceType
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command

from unit_tests.harness import output_text, run_command, run_discover

MANIFEST = yaml.safe_load(Path("source_close_com/manifest.yaml").read_text())
STREAM_NAMES = [s["name"] for s in MANIFEST["streams"]]


def test_every_stream_entry_names_itself_once():
    assert len(set(STREAM_NAMES)) == len(STREAM_NAMES) == 69
    assert [s["$parameters"]["name"] for s in MANIFEST["streams"]] == STREAM_NAMES
    # Read as text, too, the streams list their names: one `name:` line per entry, right after its shape.
    text = Path("source_close_com/manifest.yaml").read_text()
    assert re.findall(r"^  - \$ref: .*\n    name: (\w+)$", text, re.M) == STREAM_NAMES


def run(command: str, config=None) -> EntrypointOutput:
    """Run one connector command in-process, as `source-close-com` would."""
    return run_command(command, config)


def connection_status(output: EntrypointOutput):
    statuses = output.connection_status_messages
    assert len(statuses) == 1, output.get_formatted_error_message()
    return statuses[0].connectionStatus


def test_spec_fields():
    spec = run("spec").spec_messages[0].spec.connectionSpecification
    props = spec["properties"]
    assert spec["required"] == ["api_key"]
    assert props["api_key"]["airbyte_secret"] is True
    assert props["start_date"]["format"] == "date"
    # Empty means the full history: no default for a UI to fill in, and "" (an emptied field) passes the pattern.
    assert "default" not in props["start_date"]
    assert re.fullmatch(props["start_date"]["pattern"], "") and re.fullmatch(props["start_date"]["pattern"], "2021-01-01")
    assert props["api_url"]["airbyte_hidden"] is True
    assert props["api_url"]["default"] == "https://api.close.com/api/v1/"
    assert props["lookback_window_days"]["default"] == 1 and props["lookback_window_days"]["minimum"] == 0
    assert props["num_workers"]["minimum"] == 1 and props["num_workers"]["maximum"] == 50
    # An optional ceiling: without one the connector paces on Close's own rate-limit headers.
    assert "default" not in props["requests_per_second"] and "requests_per_second" not in spec["required"]


def test_check_succeeds(simulator):
    assert connection_status(run("check", simulator.config())).status == Status.SUCCEEDED


def test_check_rejected_key_says_what_to_do(simulator):
    bad_key = "api_WRONGKEY0000000000000"
    output = run("check", simulator.config(api_key=bad_key))
    status = connection_status(output)
    assert status.status == Status.FAILED
    assert "API key" in status.message and "401" in status.message
    assert [e.trace.error.failure_type for e in output.errors] == [FailureType.config_error]
    assert bad_key not in output_text(output)


def test_check_unreachable_host():
    config = {"api_key": "api_x" * 5, "api_url": "http://127.0.0.1:9/api/v1/", "start_date": "2021-01-01"}
    status = connection_status(run("check", config))
    assert status.status == Status.FAILED
    assert "api_x" not in status.message


@pytest.mark.parametrize(
    "override, fix",
    [
        ({"start_date": "2021-13-45x"}, "YYYY-MM-DD"),
        ({"start_date": "01/02/2021"}, "YYYY-MM-DD"),
        ({"start_date": "2021-02-30"}, "not a real date"),
        ({"start_date": "2999-01-01"}, "in the future"),
        ({"num_workers": 0}, "from 1 to 50"),
        ({"num_workers": 500}, "from 1 to 50"),
        ({"num_workers": "many"}, "whole number"),
        ({"lookback_window_days": -1}, "from 0 to 365"),
        ({"requests_per_second": 0}, "above 0"),
    ],
)
def test_config_that_breaks_the_spec_is_a_config_error_naming_the_field(simulator, override, fix):
    ((field, value),) = override.items()
    output = run("check", {**simulator.config(), **override})
    status = connection_status(output)
    assert status.status == Status.FAILED
    assert f"'{field}'" in status.message and fix in status.message and repr(value) in status.message
    assert simulator.config()["api_key"] not in output_text(output)


def test_missing_api_key_names_the_field(simulator):
    config = {k: v for k, v in simulator.config().items() if k != "api_key"}
    status = connection_status(run("check", config))
    assert status.status == Status.FAILED and "'api_key'" in status.message and "API Keys" in status.message


def test_check_names_the_streams_a_restricted_key_cannot_read(make_simulator):
    sim = make_simulator(rps=None, org_rps=None, restricted_keys=True)
    status = connection_status(run("check", sim.config(api_key=sim.restricted_key)))
    assert status.status == Status.SUCCEEDED and "403" in status.message
    listed = status.message.split("may not read: ")[1].split(" (403")[0].split(", ")
    # the simulator's restricted key may not read send_as/, event/ and custom_field/
    assert sorted(listed) == [
        "activity_custom_fields", "contact_custom_fields", "custom_object_custom_fields", "deleted_records", "events",
        "lead_custom_fields", "opportunity_custom_fields", "send_as", "shared_custom_fields",
    ]
    me_requests = sim.stats()["paths"]["me/"]["requests"]
    assert me_requests == 1


def test_check_asks_close_who_the_key_is(make_simulator):
    sim = make_simulator(rps=None, org_rps=None)
    assert connection_status(run("check", sim.config())).status == Status.SUCCEEDED
    paths = sim.stats()["paths"]
    assert paths["me/"]["requests"] == 1
    # one cheap probe per endpoint, never a page of data; contacts are probed where they are read (a search)
    assert all("_limit=1" in entry["query"] for p, s in paths.items() if p not in ("me/", "data/search/") for entry in s["recent"])
    searches = paths["data/search/"]["recent"]
    assert [(e["method"], e["body"]["_limit"]) for e in searches] == [("POST", 1)], searches
    assert "contact/" not in paths


@pytest.mark.parametrize(
    "api_url",
    ["http://api.close.com/api/v1/", "ftp://127.0.0.1/api/v1/", "http://10.0.0.5/api/v1/", "api.close.com"],
)
def test_unsafe_api_url_is_a_config_error_naming_the_field(simulator, api_url):
    output = run("check", simulator.config(api_url=api_url))
    status = connection_status(output)
    assert status.status == Status.FAILED
    assert "'api_url'" in status.message and "https://" in status.message


def test_discover_lists_every_stream_with_its_modes(simulator):
    catalog = {s.name: s for s in run_discover(simulator.config()).catalog.catalog.streams}
    assert sorted(catalog) == sorted(STREAM_NAMES)
    assert len(catalog) == 69
    incremental = {
        "leads": "date_updated", "contacts": "date_updated", "opportunities": "date_updated",
        "events": "date_updated", "email_activities": "date_created", "lead_tasks": "date_updated",
        "incoming_sms_tasks": "date_updated", "custom_activity_instances": "date_created",
        "deleted_records": "date_deleted",
    }
    for name, cursor in incremental.items():
        modes = {m.value for m in catalog[name].supported_sync_modes}
        assert modes == {"full_refresh", "incremental"}, name
        assert catalog[name].default_cursor_field == [cursor], name
    for name in ("users", "roles", "pipelines", "google_connected_accounts", "email_bulk_actions"):
        assert {m.value for m in catalog[name].supported_sync_modes} == {"full_refresh"}, name
    for stream in catalog.values():
        assert stream.source_defined_primary_key == [["id"]], stream.name
