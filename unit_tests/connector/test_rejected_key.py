"""A key Close rejects (401): a config error that says what to do, at check, discover and read, without retries.

Once Close has rejected a key, no further request is sent with it in that process; the key never appears in what
the connector prints.
"""

from __future__ import annotations

import base64

import pytest

from airbyte_cdk.models import FailureType, Status, Type

from unit_tests.harness import NO_LIMIT, catalog_for, output_text, run_command, run_discover, sync
from unit_tests.helpers.catalogs import only
from unit_tests.helpers.console import console

REVOKED = "api_REVOKED0000000000000000"
KEY_ADVICE = ("Check the key", "create a new one")


@pytest.fixture(scope="module")
def catalog(simulator):
    """Every stream in full refresh (seed 7, small: every simulator here has the same account)."""
    return catalog_for(simulator.config())


def test_check_rejected_key_says_what_to_do(simulator):
    bad_key = "api_WRONGKEY0000000000000"
    output = run_command("check", simulator.config(api_key=bad_key))
    statuses = output.connection_status_messages
    assert len(statuses) == 1, output.get_formatted_error_message()
    status = statuses[0].connectionStatus
    assert status.status == Status.FAILED
    assert "API key" in status.message and "401" in status.message
    assert [e.trace.error.failure_type for e in output.errors] == [FailureType.config_error]
    assert bad_key not in output_text(output)


def test_a_rejected_key_fails_check_with_one_request_and_says_what_to_do(make_simulator, capfd, tmp_path):
    sim = make_simulator(**NO_LIMIT)
    run = console(capfd, tmp_path, "check", sim.config(api_key=REVOKED))
    assert run.status.status == Status.FAILED
    assert "401" in run.status.message and all(advice in run.status.message for advice in KEY_ADVICE), run.status.message
    assert [e.failure_type for e in run.errors] == [FailureType.config_error], run.errors
    assert all(advice in run.errors[0].message for advice in KEY_ADVICE), run.errors[0].message
    assert sim.stats()["totals"]["requests"] == 1, sim.stats()["totals"]  # no retry, no probe after a 401


def test_rejected_key_fails_discover_as_a_config_error(simulator):
    """Discover reads the account's custom fields, so it is the first to learn of a revoked key."""
    # A key of its own: this process remembers rejected keys (per API URL) for ten minutes.
    output = run_discover(simulator.config(api_key="api_REVOKEDATDISCOVER0000"))
    errors = [m.trace.error for m in output.errors]
    assert errors and all(e.failure_type == FailureType.config_error and "API key" in e.message for e in errors)


def test_rejected_key_is_a_config_error_on_read_without_retries(simulator, catalog):
    bad_key = "api_REVOKED0000000000000"
    simulator.reset_stats()
    result = sync(simulator.config(api_key=bad_key), catalog=only(catalog, ["users"]), expect_errors=True)
    errors = [m.trace.error for m in result.output.errors]
    assert any(e.failure_type == FailureType.config_error and "API key" in e.message for e in errors), errors
    assert simulator.stats()["paths"]["user/"]["status"] == {"401": 1}  # no retries
    text = output_text(result.output)
    assert bad_key not in text and base64.b64encode(f"{bad_key}:".encode()).decode() not in text


def test_a_rejected_key_stops_a_read_after_the_first_answer(make_simulator, catalog, capfd, tmp_path):
    """A 401 is final: once Close has rejected the key, no further request is sent with it. Only the requests
    already in flight when the first 401 came back reach Close (at most one per worker); every stream fails
    with the config error that says what to do."""
    sim = make_simulator(**NO_LIMIT)
    streams = ["users", "email_activities", "lead_tasks", "events"]
    workers = 3
    run = console(capfd, tmp_path, "read", sim.config(api_key=REVOKED, num_workers=workers), only(catalog, streams))
    assert run.errors, "the read did not fail"
    assert all(e.failure_type == FailureType.config_error for e in run.errors), [e.failure_type for e in run.errors]
    assert set(run.stream_errors) == set(streams), run.stream_errors.keys()
    for stream, errors in run.stream_errors.items():
        assert all("401" in e.message and all(advice in e.message for advice in KEY_ADVICE) for e in errors), errors[0].message
    sent = sim.stats()["totals"]["requests"]
    # dozens of date windows, yet only what was in flight at the first 401 was sent
    assert 1 <= sent <= workers, f"with a rejected key, {sent} requests reached Close"


def test_a_rejected_key_stops_a_read_of_custom_field_streams_at_the_first_request(make_simulator, catalog, capfd, tmp_path):
    """Streams with custom field columns read the account's definitions first: the 401 comes from there."""
    sim = make_simulator(**NO_LIMIT)
    run = console(capfd, tmp_path, "read", sim.config(api_key=REVOKED), only(catalog, ["leads", "users"]))
    assert run.errors and all(e.failure_type == FailureType.config_error for e in run.errors), run.errors
    assert any(all(advice in e.message for advice in KEY_ADVICE) for e in run.errors), [e.message for e in run.errors]
    assert not run.of(Type.RECORD)
    assert sim.stats()["totals"]["requests"] <= 2, sim.stats()["paths"].keys()  # at most one per stream
