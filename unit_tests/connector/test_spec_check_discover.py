"""spec, check and discover against the simulator (the config errors of the spec: test_spec_errors; rejected and
restricted keys: test_rejected_key, test_restricted_key)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from airbyte_cdk.models import Status
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from unit_tests.harness import run_command, run_discover

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


def test_check_unreachable_host():
    config = {"api_key": "api_x" * 5, "api_url": "http://127.0.0.1:9/api/v1/", "start_date": "2021-01-01"}
    status = connection_status(run("check", config))
    assert status.status == Status.FAILED
    assert "api_x" not in status.message


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
