"""Pacing follows Close's headers: each endpoint group is paced within the limit its answers report, the grouping is
learned from those answers (never assumed), and a grouping that changes between two requests is followed.

The simulator here limits like Close: per endpoint group, a number of requests per window, reported in every answer
as `RateLimit: limit=N, remaining=M, reset=S`. A request the connector's own pacing lets out past a group's window is
refused with 429, so the count of 429s the limiter served (not the injected ones) is what the pacing overran. The one
request that cannot be paced is a path's first: nothing tells its group before Close answers it.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from source_close_com.components import ClosePacer, RateLimitReading
from unit_tests.harness import NO_LIMIT, alongside, catalog_for, id_diff, sync

STREAMS = [
    "users", "leads", "opportunities", "call_activities", "note_activities", "email_activities", "meeting_activities",
    "sms_activities", "lead_tasks", "incoming_email_tasks",
]
WINDOW = {"window_s": 2, "window_limit": 10, "latency_ms": 20}


def assert_truth(sim, result, streams) -> None:
    for stream in streams:
        expected = [r["id"] for r in sim.truth(stream, start_date="2021-01-01")]
        assert set(result.ids(stream)) == set(expected), f"{stream}: " + id_diff(result.ids(stream), expected)


def overruns(sim) -> int:
    """429s the simulator's limiter served (the injected ones are faults)."""
    totals = sim.stats()["totals"]
    return totals["status"].get("429", 0) - totals["faults"].get("429", 0)


def paths_read(sim) -> int:
    return len([p for p, s in sim.stats()["paths"].items() if s["requests"]])


@pytest.mark.parametrize(
    "grouping",
    ["path", {"activity/": "activity"}, "close"],
    ids=["every path its own group", "everything under activity/ one group", "first path segment"],
)
def test_no_window_is_overrun_whatever_the_grouping(make_simulator, grouping):
    sim = make_simulator(**NO_LIMIT, **WINDOW, grouping=grouping)
    config = {k: v for k, v in sim.config(window_days=365).items() if k != "requests_per_second"}
    catalog = catalog_for(config, STREAMS)
    sim.reset_stats()
    result = sync(config, catalog=catalog)
    assert_truth(sim, result, STREAMS)
    stats = sim.stats()
    busiest = max(stats["groups"], key=lambda g: stats["groups"][g]["requests"])
    # The pacing was put to work: the busiest group needed more than one window.
    assert stats["groups"][busiest]["requests"] > stats["limits"][busiest], stats["groups"][busiest]
    assert overruns(sim) <= paths_read(sim), f"{overruns(sim)} requests refused for {paths_read(sim)} paths"


def test_a_grouping_change_during_a_read_is_followed(make_simulator):
    sim = make_simulator(**NO_LIMIT, **WINDOW, grouping="path")
    config = sim.config(window_days=365)
    catalog = catalog_for(config, STREAMS)
    sim.reset_stats()

    def regroup(done: threading.Event):
        deadline = time.monotonic() + 60
        while not done.is_set() and sim.stats()["totals"]["requests"] < 25 and time.monotonic() < deadline:
            time.sleep(0.01)
        sim.configure(grouping={"activity/": "activity", "task/": "activity"})

    with alongside(regroup, "regroup-during-the-read", join_s=10):
        result = sync(config, catalog=catalog)
    assert_truth(sim, result, STREAMS)
    stats = sim.stats()
    assert stats["groups"].get("activity", {}).get("requests", 0) > 2 * 10, "the change came too late to prove anything"
    # At most one refusal per path before the change and one after, while the answers reveal the new grouping.
    assert overruns(sim) <= 2 * paths_read(sim), f"{overruns(sim)} requests refused for {paths_read(sim)} paths"


# ------------------------------------------------------------------------------------- the grouping, learned


def request(path: str) -> requests.PreparedRequest:
    return requests.Request("GET", f"http://127.0.0.1/api/v1/{path}").prepare()


def answer(sent: requests.PreparedRequest, limit: int, remaining: int, reset: float, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers["RateLimit"] = f"limit={limit}, remaining={remaining}, reset={reset}"
    response.request = sent
    response.url = sent.url
    return response


def sent_and_answered(pacer: ClosePacer, path: str, limit: int, remaining: int, reset: float) -> None:
    """One request of ``path`` let out by the pacer, and Close's answer to it."""
    sent = request(path)
    pacer.acquire(sent)
    pacer.learn(answer(sent, limit, remaining, reset))


def counter_of(pacer: ClosePacer, path: str):
    return pacer._by_path[f"GET /api/v1/{path}"]


def test_answers_from_one_counter_join_their_paths_and_a_count_that_goes_up_parts_them():
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 10, 9, 8)
    sent_and_answered(pacer, "activity/call/", 10, 8, 8)  # the count went on from 9: the same counter
    assert counter_of(pacer, "activity/email/") is counter_of(pacer, "activity/call/")
    assert counter_of(pacer, "activity/email/").remaining <= 8

    # Close regroups: activity/call/ now has a counter of its own, and its count is back near the top.
    sent_and_answered(pacer, "activity/call/", 10, 9, 8)
    assert counter_of(pacer, "activity/email/") is not counter_of(pacer, "activity/call/")


def test_a_path_with_a_counter_of_its_own_keeps_it():
    pacer = ClosePacer(None)
    for path, remaining in (("lead/", 9), ("opportunity/", 9), ("lead/", 8), ("opportunity/", 8)):
        sent_and_answered(pacer, path, 10, remaining, 8)
    assert counter_of(pacer, "lead/") is not counter_of(pacer, "opportunity/")


def test_a_counter_lets_out_only_what_is_left_in_its_window():
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "lead/", 10, 3, 30)
    for _ in range(3):
        pacer.acquire(request("lead/"))
    blocked = threading.Thread(target=pacer.acquire, args=(request("lead/"),), daemon=True)
    blocked.start()
    blocked.join(0.5)
    assert blocked.is_alive(), "a fourth request left although Close said three were left for 30 s"


def test_answers_coming_back_out_of_order_take_no_request_off_twice():
    """Close counts requests as they arrive and answers them in any order: an answer counted early but back late
    shows more left than one counted late, and neither may lower the count below what was sent."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 60, 59, 8)
    burst = [request("activity/email/") for _ in range(20)]
    for sent in burst:
        pacer.acquire(sent)
    # Close counted them in the order they left (58 down to 39 left) and answers them last first.
    for index, sent in reversed(list(enumerate(burst))):
        pacer.learn(answer(sent, 60, 58 - index, 8))
        assert counter_of(pacer, "activity/email/").remaining == 39, index


def test_a_path_read_for_the_first_time_takes_nothing_from_the_other_counters_once_answered():
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 60, 59, 8)
    newcomer = request("user/")
    pacer.acquire(newcomer)
    # Until its answer tells which counter it spent, every counter keeps room for it.
    assert pacer._unplaced(time.monotonic()) == 1
    pacer.learn(answer(newcomer, 60, 59, 8))
    assert pacer._unplaced(time.monotonic()) == 0
    assert counter_of(pacer, "user/") is not counter_of(pacer, "activity/email/")
    assert counter_of(pacer, "activity/email/").remaining == 59


def test_an_answer_from_the_window_before_a_refill_tells_nothing_of_the_new_one():
    """A request sent late in a window is answered after the counter refilled: its `remaining` is the old window's."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "lead/", 10, 9, 0.2)
    late = request("lead/")
    pacer.acquire(late)  # the old window's last request
    time.sleep(0.3)
    pacer.acquire(request("lead/"))  # the window has passed: the counter refills, and this one leaves
    pacer.learn(answer(late, 10, 0, 0.05))
    # Ten in the new window, less the one sent in it and the late one, in flight when the refill came.
    assert counter_of(pacer, "lead/").remaining == 8


def test_a_request_counted_before_an_earlier_one_is_taken_off_only_while_on_its_way():
    """Close counted the second request before the first: the first's answer shows both counted, and while the
    second is still on its way the pacer takes it off too. Its answer ends that, and the whole count is back."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 60, 59, 8)
    first, second = request("activity/email/"), request("activity/email/")
    pacer.acquire(first)
    pacer.acquire(second)
    pacer.learn(answer(first, 60, 57, 8))  # counted last: 57 left, and the second still on its way
    assert counter_of(pacer, "activity/email/").remaining == 56
    pacer.learn(answer(second, 60, 58, 8))  # counted first
    assert counter_of(pacer, "activity/email/").remaining == 57


def test_a_first_request_refused_with_429_keeps_the_end_the_answers_told():
    """Each answer's `reset` is rounded up to a whole second: the counter keeps the earliest end the answers show,
    and a refused first request of a path that spends it does not push that end later."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 60, 0, 3)
    counter = counter_of(pacer, "activity/email/")
    end = counter.window_end
    newcomer = request("activity/call/")
    pacer.acquire(newcomer)
    pacer.learn(answer(newcomer, 60, 0, 3.9, status=429))
    assert counter_of(pacer, "activity/call/") is counter
    assert counter.window_end == end


def test_two_views_of_one_counter_merged_keep_the_room_close_shows():
    """A path's first answer made a counter of its own; a later answer shows it is the counter another path spends.
    The first answer already counted the other path's requests, so the merged counter may not count them twice."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 60, 59, 8)
    for remaining in range(58, 49, -1):
        sent_and_answered(pacer, "activity/email/", 60, remaining, 8)  # 10 sent, 50 left
    email = counter_of(pacer, "activity/email/")
    call = pacer._new_counter("GET /api/v1/activity/call/", RateLimitReading(60, 49, 8), time.monotonic())
    pacer._merge(email, call)
    assert counter_of(pacer, "activity/call/") is email
    sent_and_answered(pacer, "activity/email/", 60, 48, 8)
    assert email.remaining == 48


def test_a_first_answer_counted_before_a_busy_counters_sends_one_request_at_a_time_until_the_next_tells():
    """Close counted a newcomer's first request before a burst of another path's, whose answers came back first:
    its answer shows more left than that counter and fits none. It may be that counter seen earlier, so the path
    sends one request at a time until an answer tells; a drop its own request does not explain makes them one,
    though that answer too was counted before the busy path's last."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 60, 59, 8)
    newcomer = request("activity/call/")
    pacer.acquire(newcomer)
    burst = [request("activity/email/") for _ in range(20)]
    for sent in burst:
        pacer.acquire(sent)
    # Close counted the newcomer first (58 left), then the burst (57 down to 38); the burst is answered first.
    for index, sent in enumerate(burst):
        pacer.learn(answer(sent, 60, 57 - index, 8))
    pacer.learn(answer(newcomer, 60, 58, 8))
    assert counter_of(pacer, "activity/call/") is not counter_of(pacer, "activity/email/")

    second = request("activity/call/")
    pacer.acquire(second)
    third = threading.Thread(target=pacer.acquire, args=(request("activity/call/"),), daemon=True)
    third.start()
    third.join(0.3)
    assert third.is_alive(), "a second request left before the first answer of the path's counter was confirmed"
    # Close counted the second at 37 left, then three more of activity/email/, answered first (36 to 34).
    for remaining in (36, 35, 34):
        sent_and_answered(pacer, "activity/email/", 60, remaining, 8)
    pacer.learn(answer(second, 60, 37, 8))
    assert counter_of(pacer, "activity/call/") is counter_of(pacer, "activity/email/")
    third.join(1.0)
    assert not third.is_alive(), "the path stayed held once its counter was known"


def test_a_path_with_a_counter_of_its_own_is_let_loose_by_its_second_answer():
    """A counter of the same limit ending with another's is held to one request at a time only until its next
    answer: a drop its own request explains confirms it, and it sends what its window has left."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "lead/", 60, 59, 8)
    sent_and_answered(pacer, "opportunity/", 60, 59, 8)  # the same limit and end as lead/'s: it may be lead/'s
    sent_and_answered(pacer, "opportunity/", 60, 58, 8)  # its own request explains the drop: a counter of its own
    assert counter_of(pacer, "opportunity/") is not counter_of(pacer, "lead/")
    burst = threading.Thread(target=lambda: [pacer.acquire(request("opportunity/")) for _ in range(10)], daemon=True)
    burst.start()
    burst.join(1.0)
    assert not burst.is_alive(), "a confirmed counter with 58 left let out fewer than 10 requests"


def test_an_answer_late_on_its_way_back_is_of_the_window_its_request_left_in():
    """An answer's end (its arrival plus the rounded-up `reset`) is late by its way back, which on a busy machine
    can pass the tolerance. Its request left early in the known window, so Close counted it there: its high count
    (counted before the others) does not start a new window that would forget what others spent in this one."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 60, 59, 8)
    burst = [request("activity/email/") for _ in range(20)]
    for sent in burst:
        pacer.acquire(sent)
    # Close counted the burst's first at 58 left, then 10 requests of another client, then the other 19 (47 to 29).
    for index, sent in enumerate(burst[1:]):
        pacer.learn(answer(sent, 60, 47 - index, 8))
    assert counter_of(pacer, "activity/email/").remaining == 29
    pacer.learn(answer(burst[0], 60, 58, 9.5))  # answered last, after a long way back
    assert counter_of(pacer, "activity/email/").remaining == 29


def test_paths_whose_answers_name_no_window_are_never_held_to_one_request_at_a_time():
    """An answer with `reset` 0 (a counter with room, or no limit at all) tells of no window another path could share:
    a second path answered so sends as many requests at once as the first."""
    pacer = ClosePacer(None)
    sent_and_answered(pacer, "activity/email/", 1_000_000, 999_999, 0)
    sent_and_answered(pacer, "activity/note/", 1_000_000, 999_999, 0)  # as the first: a counter of its own
    burst = threading.Thread(target=lambda: [pacer.acquire(request("activity/note/")) for _ in range(10)], daemon=True)
    burst.start()
    burst.join(1.0)
    assert not burst.is_alive(), "a path answered with reset 0 was held to one request at a time"
