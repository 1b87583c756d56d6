"""Faults Close and the network cause, errors a person must act on, secrets, and the shared request budget."""

from __future__ import annotations

import base64
import json

import pytest

from airbyte_cdk.models import FailureType, TraceType

from unit_tests.harness import configured_catalog, run_discover, id_diff, output_text, sync

NO_LIMIT = {"rps": None, "org_rps": None}


def assert_truth(sim, result, stream):
    expected = [r["id"] for r in sim.truth(stream, start_date="2021-01-01")]
    assert set(result.ids(stream)) == set(expected), f"{stream}: " + id_diff(result.ids(stream), expected)


def waits_after_429(sim, path):
    """Seconds between each 429 on `path` and the request that followed it."""
    recent = sim.stats()["paths"][path]["recent"]
    return [b["t"] - a["t"] for a, b in zip(recent, recent[1:]) if a["status"] == 429]


@pytest.mark.parametrize(
    "options, reset",
    [
        ({"header_style": "standard"}, 1.0),
        ({"header_style": "lower-semicolon"}, 1.0),
        ({"fractional_reset": True}, 0.4),
        ({"legacy_429_body": True}, 1.0),
    ],
)
def test_a_429_waits_what_close_says_then_retries_the_same_request(make_simulator, options, reset):
    fault = {"kind": "429", "path": "user/", "nth": [1], "burst": 0, "reset": reset}
    sim = make_simulator(**NO_LIMIT, faults=[fault], **options)
    result = sync(sim.config(), ["users"])
    assert_truth(sim, result, "users")
    waits = waits_after_429(sim, "user/")
    assert waits, "no 429 was served: the test proves nothing"
    assert all(reset * 0.9 <= w <= reset + 2.0 for w in waits), waits


def test_rejected_key_is_a_config_error_on_read_without_retries(simulator):
    bad_key = "api_REVOKED0000000000000"
    catalog = configured_catalog(simulator.config(), ["users"])
    simulator.reset_stats()
    result = sync(simulator.config(api_key=bad_key), catalog=catalog, expect_errors=True)
    errors = [m.trace.error for m in result.output.errors]
    assert any(e.failure_type == FailureType.config_error and "API key" in e.message for e in errors), errors
    assert simulator.stats()["paths"]["user/"]["status"] == {"401": 1}  # no retries
    text = output_text(result.output)
    assert bad_key not in text and base64.b64encode(f"{bad_key}:".encode()).decode() not in text


def test_rejected_key_fails_discover_as_a_config_error(simulator):
    """Discover reads the account's custom fields, so it is the first to learn of a revoked key."""
    output = run_discover(simulator.config(api_key="api_REVOKED0000000000000"))
    errors = [m.trace.error for m in output.errors]
    assert errors and all(e.failure_type == FailureType.config_error and "API key" in e.message for e in errors)


def test_restricted_key_skips_only_the_forbidden_streams(make_simulator):
    sim = make_simulator(**NO_LIMIT, restricted_keys=True)
    config = sim.config(api_key=sim.restricted_key)
    result = sync(config, ["send_as", "users", "events", "lead_statuses"])
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


def test_the_key_never_appears_in_any_output(make_simulator):
    sim = make_simulator(**NO_LIMIT, faults=["503@1:user/", "drop@1:pipeline/"])
    key = sim.api_key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    result = sync(sim.config(), ["users", "pipelines", "lead_statuses"])
    catalog = configured_catalog(sim.config(), ["users"])
    failed = sync(sim.config(api_url=sim.url.replace("/api/v1/", "/nowhere/")), catalog=catalog, expect_errors=True)
    assert failed.output.errors
    for text in (output_text(result.output), output_text(failed.output)):
        assert key not in text and basic not in text


@pytest.mark.parametrize(
    "settings, most",
    [
        ({"requests_per_second": 60}, 20),  # unset: one worker per 3 requests/s
        ({"requests_per_second": 20}, 10),  # unset, Close's default rate: the floor of 10
        ({"requests_per_second": 60, "num_workers": 4}, 4),  # set: the user's number
    ],
    ids=["unset at 60 per second", "unset at 20 per second", "set to 4"],
)
def test_requests_in_flight_follow_num_workers_or_else_the_request_rate(make_simulator, settings, most):
    """With slow answers and about 50 date windows, requests in flight reach the worker count and never pass it."""
    sim = make_simulator(**NO_LIMIT, latency_ms=300)
    config = {k: v for k, v in sim.config(window_days=90).items() if k != "num_workers"}
    sync({**config, **settings}, ["email_activities", "note_activities"])
    peak = sim.stats()["totals"]["peak_concurrency"]
    assert most - 2 <= peak <= most, f"{settings}: {peak} requests in flight at once, expected up to {most}"


def test_the_request_budget_is_shared_across_threads(make_simulator):
    sim = make_simulator(**NO_LIMIT)
    config = sim.config(requests_per_second=8, num_workers=10, window_days=90)
    # Discover (which builds the catalog) is its own run with its own budget, as in Airbyte: count the read alone.
    catalog = configured_catalog(config, ["email_activities", "call_activities", "leads"])
    sim.reset_stats()
    sync(config, catalog=catalog)
    per_second = [s["requests"] for s in sim.stats()["per_second"]]
    assert sum(per_second) > 40, "too few requests to judge the pace"
    # Tolerance: the budget is a moving window (at most 8 acquisitions in any one second), but a request reaches
    # the server a moment after it is acquired, and a busy machine may stretch that moment across the turn of a
    # calendar second; over the whole run the pace stays at the limit.
    assert max(per_second) <= 8 * 1.5, per_second
    busy = per_second[1:-1]
    assert sum(busy) / len(busy) <= 8.5, per_second
