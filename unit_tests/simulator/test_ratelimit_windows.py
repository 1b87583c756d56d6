"""Close's rate limits as the simulator serves them with `window_s` set: per endpoint group, a number of requests per
window, per key and per organisation, reported in every answer's `RateLimit` header; the grouping and each group's
limit are configurable, and the stats give each group's limit to compute bounds with."""

from __future__ import annotations

import re

import pytest
import requests

from close_simulator.ratelimit import Grouping, WindowLimiter
from close_simulator.testing import Simulator

RATELIMIT_RE = re.compile(r"limit=(\d+), remaining=(\d+), reset=([0-9.]+)")


def header(response) -> tuple[int, int, float]:
    limit, remaining, reset = RATELIMIT_RE.fullmatch(response.headers["RateLimit"]).groups()
    return int(limit), int(remaining), float(reset)


def test_a_window_admits_its_limit_then_refuses_until_it_ends():
    now = [100.0]
    limiter = WindowLimiter(3, 8.0, org_factor=None, clock=lambda: now[0])
    decisions = [limiter.check("k", "lead") for _ in range(3)]
    assert [(d.allowed, d.limit, d.remaining, d.reset) for d in decisions] == [
        (True, 3, 2, 8.0), (True, 3, 1, 8.0), (True, 3, 0, 8.0)
    ]
    now[0] = 106.5
    refused = limiter.check("k", "lead")
    assert (refused.allowed, refused.remaining, refused.reset) == (False, 0, 1.5)
    assert limiter.check("k", "activity").allowed  # another group, another window
    now[0] = 108.0
    fresh = limiter.check("k", "lead")
    assert (fresh.allowed, fresh.remaining, fresh.reset) == (True, 2, 8.0)  # a new window from this request on


def test_the_organisation_window_is_shared_by_keys_and_a_group_may_have_its_own_limit():
    now = [0.0]
    limiter = WindowLimiter(2, 10.0, group_limits={"search": 1}, org_factor=1.5, clock=lambda: now[0])
    assert limiter.check("a", "lead").allowed and limiter.check("b", "lead").allowed
    assert limiter.check("b", "lead").allowed is True  # b's own second request, the organisation's third
    refused = limiter.check("c", "lead")
    assert (refused.allowed, refused.limit) == (False, 3)  # the organisation's window refuses
    assert limiter.check("a", "search").allowed and not limiter.check("a", "search").allowed


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("close", {"activity/email/": "activity", "activity/call/": "activity", "lead/": "lead"}),
        ("path", {"activity/email/": "GET activity/email/", "activity/call/": "GET activity/call/", "lead/": "GET lead/"}),
        ({"activity/": "activities", "activity/call/": "calls"}, {"activity/email/": "activities", "activity/call/": "calls", "lead/": "lead"}),
    ],
)
def test_groupings(spec, expected):
    grouping = Grouping(spec)
    assert {path: grouping("GET", path) for path in expected} == expected


def test_a_bad_grouping_is_refused():
    with pytest.raises(ValueError, match="grouping"):
        Grouping(["activity/"])


def test_over_http_every_answer_reports_its_groups_window_and_a_grouping_change_applies_at_once():
    with Simulator(rps=None, org_rps=None, window_s=8, window_limit=5, group_limits={"lead": 2}) as sim:
        def get(path):
            return requests.get(sim.url + path, params={"_limit": 1}, auth=sim.auth, timeout=10)

        assert header(get("activity/email/"))[:2] == (5, 4)
        assert header(get("activity/call/"))[:2] == (5, 3)  # same group by default
        first, second, third = get("lead/"), get("lead/"), get("lead/")
        assert [header(r)[:2] for r in (first, second)] == [(2, 1), (2, 0)]
        assert third.status_code == 429 and 0 < header(third)[2] <= 8
        stats = sim.stats()
        assert stats["limits"] == {"activity": 5, "lead": 2}
        assert stats["groups"]["lead"]["429"] == 1

        sim.configure(grouping="path")
        assert header(get("activity/email/"))[:2] == (5, 4)
        assert header(get("activity/call/"))[:2] == (5, 4)  # now a group of its own
        assert set(sim.stats()["limits"]) >= {"GET activity/email/", "GET activity/call/"}
