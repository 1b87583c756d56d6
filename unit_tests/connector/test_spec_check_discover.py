"""spec, check and discover against the simulator, including every config error the spec defines."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml

from airbyte_cdk.models import FailureType, Status, TraceType
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command

from unit_tests.harness import output_text, run_discover, source

MANIFEST = yaml.safe_load(Path("source_close_com/manifest.yaml").read_text())
STREAM_NAMES = [s["$parameters"]["name"] for s in MANIFEST["streams"]]


def run(command: str, config=None) -> EntrypointOutput:
    """Run one connector command in-process, as the Airbyte entrypoint would."""
    args = [command]
    if config is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(config, handle)
        args += ["--config", handle.name]
    return _run_command(source(config), args, expecting_exception=True)


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
    assert props["start_date"]["default"] == "2021-01-01"
    assert props["start_date"]["pattern"]
    assert props["api_url"]["airbyte_hidden"] is True
    assert props["api_url"]["default"] == "https://api.close.com/api/v1/"
    assert props["lookback_window_days"]["default"] == 1 and props["lookback_window_days"]["minimum"] == 0
    assert props["num_workers"]["minimum"] == 1 and props["num_workers"]["maximum"] == 50
    assert props["requests_per_second"]["default"] == 20


def test_check_succeeds(simulator):
    assert connection_status(run("check", simulator.config())).status == Status.SUCCEEDED


def test_check_rejected_key_says_what_to_do(simulator):
    bad_key = "api_WRONGKEY0000000000000"
    output = run("check", simulator.config(api_key=bad_key))
    status = connection_status(output)
    assert status.status == Status.FAILED
    assert "API key" in status.message and "401" in status.message
    assert bad_key not in output_text(output)


def test_check_unreachable_host():
    config = {"api_key": "api_x" * 5, "api_url": "http://127.0.0.1:9/api/v1/", "start_date": "2021-01-01"}
    status = connection_status(run("check", config))
    assert status.status == Status.FAILED
    assert "api_x" not in status.message


@pytest.mark.parametrize(
    "override, field",
    [
        ({"start_date": "2021-13-45x"}, "2021-13-45x"),
        ({"start_date": "01/02/2021"}, "01/02/2021"),
        ({"num_workers": 0}, "0"),
        ({"num_workers": 500}, "500"),
        ({"lookback_window_days": -1}, "-1"),
        ({"requests_per_second": 0}, "0"),
    ],
)
def test_config_that_breaks_the_spec_is_a_config_error(simulator, override, field):
    output = run("check", {**simulator.config(), **override})
    status = connection_status(output)
    assert status.status == Status.FAILED
    assert "Config validation error" in status.message and field in status.message


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
    assert len(catalog) == 47
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
