"""How a read waits on Close: a 429 waits what Close says, requests in flight follow the workers, and the request
budget is shared by every thread."""

from __future__ import annotations

import pytest

from unit_tests.harness import NO_LIMIT, catalog_for, id_diff, sync, sync_streams


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
    result = sync_streams(sim.config(), ["users"])
    assert_truth(sim, result, "users")
    waits = waits_after_429(sim, "user/")
    assert waits, "no 429 was served: the test proves nothing"
    assert all(reset * 0.9 <= w <= reset + 2.0 for w in waits), waits


@pytest.mark.parametrize(
    "settings, most",
    [
        ({"requests_per_second": 60}, 20),  # unset: one worker per 3 requests/s
        ({"requests_per_second": 20}, 10),  # unset, Close's default rate: the floor of 10
        ({"requests_per_second": 60, "num_workers": 4}, 4),  # set: the user's number
        ({"window_days": 30}, 50),  # unset, no ceiling: the most the CDK allows (Close's headers set the pace)
    ],
    ids=["unset at 60 per second", "unset at 20 per second", "set to 4", "unset without a ceiling"],
)
def test_requests_in_flight_follow_num_workers_or_else_the_request_rate(make_simulator, settings, most):
    """With slow answers and about 50 date windows, requests in flight reach the worker count and never pass it."""
    sim = make_simulator(**NO_LIMIT, latency_ms=300)
    config = {k: v for k, v in sim.config(window_days=90).items() if k != "num_workers"}
    sync_streams({**config, **settings}, ["email_activities", "note_activities"])
    peak = sim.stats()["totals"]["peak_concurrency"]
    assert most - 2 <= peak <= most, f"{settings}: {peak} requests in flight at once, expected up to {most}"


def test_the_request_budget_is_shared_across_threads(make_simulator):
    sim = make_simulator(**NO_LIMIT)
    config = sim.config(requests_per_second=8, num_workers=10, window_days=120)  # about 60 requests
    # Discover (which builds the catalog) is its own run with its own budget, as in Airbyte: count the read alone.
    catalog = catalog_for(config, ["email_activities", "call_activities", "leads"])
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


def test_a_search_walk_restarted_on_an_expired_cursor_emits_each_record_once(make_simulator):
    """Close's search cursor expires (30 s on Close; at once here, so every second page is refused): the walk
    starts again from its last `date_updated`, inclusive, which reads that instant's records a second time. (The
    start date leaves out a bulk update of 300 contacts at one instant: restarted at every second page, a walk
    cannot get past more than a page of one instant.)"""
    stream, start = "contacts", "2024-03-01"
    sim = make_simulator(**NO_LIMIT, scale="medium", search_cursor_ttl_s=0.0)
    result = sync_streams(sim.config(start_date=start), [stream])
    assert sim.stats()["paths"]["data/search/"]["status"].get("400", 0) > 0, "no cursor expired: the test proves nothing"
    expected = [r["id"] for r in sim.truth(stream, start_date=start) if r["date_updated"] >= start]
    assert set(result.ids(stream)) == set(expected), id_diff(result.ids(stream), expected)
    ids = result.ids(stream)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} records emitted twice"
