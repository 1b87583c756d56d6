"""A 429 is a pause, never a failure: while Close keeps answering 429 with a reset, the connector waits and goes on.

The waiting is bounded by time (a quarter of an hour per request), not by the number of 429s, and the log says,
once per throttle episode, how long the key was held up and what Close said.
"""

from __future__ import annotations

from unit_tests.harness import NO_LIMIT, assert_ground_truth, catalog_for, manifest, sync, sync_streams

START = "2021-01-01"

# Streams that between them page by offset, by keyset on activities and opportunities, by the lead query, by the
# contact search cursor and by task windows.
STREAMS = ["users", "leads", "contacts", "opportunities", "call_activities", "note_activities", "lead_tasks", "events"]

# A storm: 8% of requests are refused with 429, each followed by two more refusals for the same key (whatever
# the path), plus 6% server errors.
STORM = [
    {"kind": "429", "probability": 0.08, "burst": 2, "reset": 0.5},
    {"kind": "500", "probability": 0.02},
    {"kind": "502", "probability": 0.02},
    {"kind": "503", "probability": 0.02},
]


def throttle_lines(result) -> list:
    return [m.log.message for m in result.output.logs if "429" in m.log.message and "rate-limited" in m.log.message]


def test_a_storm_of_429s_and_server_errors_is_waited_out_and_the_read_equals_the_truth(make_simulator):
    sim = make_simulator(**NO_LIMIT, fault_seed=3, fractional_reset=True)
    # 90-day windows: about 240 requests, 40 of them refused (the default 30-day windows send 620 for the same proof).
    config = sim.config(max_retries=5, window_days=90)
    catalog = catalog_for(config, STREAMS)
    sim.configure(faults=STORM)
    sim.reset_stats()
    # The server errors are retried with a shorter backoff (`harness.manifest`): the 429s are what this test proves.
    result = sync(config, catalog=catalog, source_manifest=manifest())
    assert_ground_truth(sim, STREAMS, result, start_date=START)
    totals = sim.stats()["totals"]
    refused = totals["status"].get("429", 0)
    # Enough throttling that a budget counted in 429s (five retries per request) would have run out.
    assert refused >= 30 and totals["faults"].get("429", 0) >= 10, totals
    lines = throttle_lines(result)
    assert lines, "the throttling was not logged"
    assert len(lines) < refused, f"{len(lines)} log lines for {refused} answers 429: one per episode, not per 429"
    assert all(" s " in line or "s (" in line for line in lines), lines[:3]


def test_one_request_refused_many_times_in_a_row_still_completes(make_simulator):
    """Twelve 429s in a row for the same request: twice as many as the old budget of retries allowed."""
    throttle = {"kind": "429", "path": "user/", "nth": [1], "burst": 11, "reset": 0.1}
    sim = make_simulator(**NO_LIMIT, faults=[throttle], fractional_reset=True)
    result = sync_streams(sim.config(), ["users"])
    assert_ground_truth(sim, ["users"], result, start_date=START)
    assert sim.stats()["paths"]["user/"]["status"].get("429") == 12
    lines = throttle_lines(result)
    assert len(lines) == 1 and "12 answers 429" in lines[0], lines


def test_throttling_past_the_bound_fails_the_stream_with_a_transient_error_that_says_why(make_simulator, monkeypatch):
    from source_close_com import components

    monkeypatch.setattr(components, "MAX_THROTTLED_S", 3.0)
    throttle = {"kind": "429", "path": "user/", "nth": list(range(1, 1000)), "burst": 0, "reset": 0.2}
    sim = make_simulator(**NO_LIMIT, faults=[throttle], fractional_reset=True)
    result = sync_streams(sim.config(), ["users"], expect_errors=True)
    errors = [m.trace.error for m in result.output.errors]
    assert errors, "the read did not fail"
    assert any(e.failure_type.value == "transient_error" and "429" in e.message and "user/" in e.message for e in errors), errors
    refused = sim.stats()["paths"]["user/"]["status"].get("429", 0)
    # Each 429 asks for 0.2 s: about 12 fit in 3 s; a loaded machine (a round trip of up to 1 s) still fits 3.
    assert 3 <= refused <= 20, refused
