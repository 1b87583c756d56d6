"""Faults Close and the network cause are survived, with the ground truth as the proof.

Each fault kind alone, then every kind together at realistic rates: a full read, changes on the server, then an
incremental read from the first read's state end with exactly the server's records (every id, and for every id
its latest content). Also:

* an outage longer than the retry budget ends the sync with a transient error naming the endpoint, after state
  was saved for what was complete; a restart from that state reads the rest;
* records created and updated while a read pages through them: the read plus one incremental read emit every
  record that exists, each in its latest version.

What `test_resilience.py` already covers (the wait after a 429 of each header style, one transient fault on one
stream, 401/403 handling, secrets, the shared request budget) is not repeated here.

The lone-fault scenarios run at once, each in a thread against a simulator of its own (``fault_scenarios``): part
of their time is their retries' backoff. Each test raises what its scenario raised. The every-fault read runs on its
own: with a 1.5 s read timeout it must not share the process with five other syncs and their simulators.

The connector is built from the manifest as a dict (the same manifest `SourceCloseCom` reads), so a test can lower
the requester's read timeout (120 s in the manifest) to provoke client timeouts with the simulator's `slow` fault.
Every read here also shortens the exponential backoff (`harness.manifest`): what these tests prove is that nothing
is lost or repeated, not how long a retry waits.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Dict, List, Optional

import pytest

from airbyte_cdk.models import ConfiguredAirbyteCatalog, FailureType, TraceType, Type

import source_close_com.run  # noqa: F401  (registers the manifest's custom components module)
from close_simulator.testing import Simulator
from unit_tests.harness import NO_LIMIT, ReadResult, alongside, assert_ground_truth, at_once, catalog_for, manifest, sync
from unit_tests.helpers.times import parse

START = "2021-01-01"

# A few streams that between them use the main ways the connector pages: offset pages (users, activities,
# opportunities), the lead query (leads), the contact search cursor (contacts), task windows (lead_tasks).
# `_cursor` paging (events, smart_views) meets its faults in the all-streams test.
SUBSET = ["users", "leads", "contacts", "opportunities", "call_activities", "lead_tasks"]

# Changes made on the server between the first and the second read.
CHANGES = [
    {"action": "create", "object_type": "lead", "count": 2},
    {"action": "update", "object_type": "lead", "count": 2, "fields": {"description": "changed between syncs"}},
    {"action": "create", "object_type": "contact", "count": 2},
    {"action": "update", "object_type": "contact", "count": 2, "fields": {"title": "Head of Operations"}},
    {"action": "update", "object_type": "opportunity", "count": 2, "fields": {"confidence": 64}},
    {"action": "create", "object_type": "activity", "subtype": "email", "count": 3},
    {"action": "create", "object_type": "activity", "subtype": "call", "count": 1},
    {"action": "update", "object_type": "task", "subtype": "lead", "count": 2, "fields": {"is_complete": True}},
    {"action": "create", "object_type": "task", "subtype": "lead", "count": 1},
]


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def catalog(simulator) -> ConfiguredAirbyteCatalog:
    """Every stream, incremental where supported. Every simulator here has the same organisation (seed 7,
    small), so one discover serves them all."""
    return catalog_for(simulator.config(), None, "incremental")


def read(
    config: dict,
    catalog: ConfiguredAirbyteCatalog,
    streams: Optional[List[str]] = None,
    state=None,
    source_manifest: Optional[dict] = None,
    expect_errors: bool = False,
) -> ReadResult:
    """One read through the CDK entrypoint, of the named streams (all by default)."""
    wanted = set(streams) if streams is not None else None
    chosen = ConfiguredAirbyteCatalog(
        streams=[s for s in catalog.streams if wanted is None or s.stream.name in wanted]
    )
    return sync(config, catalog=chosen, state=state, expect_errors=expect_errors, source_manifest=source_manifest or manifest())


def stream_names(catalog: ConfiguredAirbyteCatalog) -> List[str]:
    return [s.stream.name for s in catalog.streams]


def assert_no_duplicates(result: ReadResult, streams) -> None:
    """A retried page must not be emitted twice."""
    for stream in streams:
        repeated = [i for i, n in Counter(result.ids(stream)).items() if n > 1]
        assert not repeated, f"{stream} emitted {len(repeated)} records twice: {repeated[:3]}"


def apply_changes(sim) -> List[dict]:
    changed = []
    for change in CHANGES:
        changed += sim.mutate(change)["records"]
    assert len(changed) >= sum(c["count"] for c in CHANGES)
    return changed


def fired(sim) -> Counter:
    """Faults served since the last stats reset, by kind; a `slow` answer the client gave up on counts as `slow`."""
    stats = sim.stats()["totals"]
    served = Counter(stats["faults"])
    served["slow"] += served.pop("client-gone", 0)
    return served


# ------------------------------------------------------------------------------ each fault on its own

# Where a lone fault lands. In the first read (one deep window per stream): a page in the middle of a walk of
# offset pages, of the lead query, of the contact search cursor, and the first task and user pages. In the
# incremental read every endpoint sends few requests: its first one.
FIRST_READ_SPOTS = [
    ("activity/call/", 2), ("lead/", 2), ("data/search/", 2), ("opportunity/", 2), ("task/", 1), ("user/", 1),
]
INCREMENTAL_SPOTS = [(path, 1) for path, _ in FIRST_READ_SPOTS]
# A 429 also refuses the next `burst` requests of the key on any endpoint: two spots make bursts enough.
THROTTLE_SPOTS = {"first": FIRST_READ_SPOTS[:3:2], "incremental": INCREMENTAL_SPOTS[:3:2]}
PLAIN = {"header_style": "standard", "legacy_429_body": False, "fractional_reset": False}
SERVER_ERRORS = ["500", "502", "503", "504"]

# name -> (how one rule looks, simulator settings for that read). The header styles are Close's current one,
# its lower-case variant with `;` separators, and the pre-2023 X-Rate-Limit-* trio that came with the legacy
# JSON body; every 429 also carries Retry-After.
FAULTS = {
    "429 with RateLimit header": ({"kind": "429", "burst": 1}, {"header_style": "standard"}),
    "429 with lower-case ratelimit; fractional reset": (
        {"kind": "429", "burst": 1, "reset": 0.3}, {"header_style": "lower-semicolon", "fractional_reset": True}
    ),
    "429 with X-Rate-Limit headers and the legacy body": (
        {"kind": "429", "burst": 1}, {"header_style": "x-rate-limit", "legacy_429_body": True}
    ),
    # With reset 0 the connector falls back to its exponential backoff (shortened here, see `harness.manifest`):
    # single 429s keep the case short.
    "429 with reset 0": ({"kind": "429", "burst": 0, "reset": 0}, {}),
    "500 502 503 504": ({"kind": "5xx"}, {}),
    "slow answer past the read timeout": ({"kind": "slow", "delay_s": 3}, {}),
    "connection dropped mid-body": ({"kind": "drop"}, {}),
    "200 with truncated JSON": ({"kind": "truncated"}, {}),
    "200 with a non-JSON body": ({"kind": "invalid"}, {}),
}


def install(sim, fault: str, phase: str) -> Counter:
    """Install one fault kind for the next read; return how many of each kind must fire at least."""
    rule, settings = FAULTS[fault]
    kind = rule["kind"]
    if kind == "429":
        spots = THROTTLE_SPOTS[phase]
    else:
        spots = FIRST_READ_SPOTS if phase == "first" else INCREMENTAL_SPOTS
    rules = []
    for i, (path, nth) in enumerate(spots):
        kind_here = SERVER_ERRORS[i % len(SERVER_ERRORS)] if kind == "5xx" else kind
        rules.append({**rule, "kind": kind_here, "path": path, "nth": [nth]})
    sim.configure(faults=rules, **{**PLAIN, **settings})
    sim.reset_stats()
    return Counter(r["kind"] for r in rules)


# Each read carries one fault kind (the four 5xx statuses count as one: each hits its own endpoint). Every kind
# meets a read, slow answers and truncated bodies in the middle of walks; pairs keep the file fast, as every
# retry of a 5xx, a timeout or a broken body waits (1.1 s or more, see `harness.manifest`).
PAIRS = [
    ("429 with RateLimit header", "429 with lower-case ratelimit; fractional reset"),
    ("429 with X-Rate-Limit headers and the legacy body", "429 with reset 0"),
    ("500 502 503 504", "connection dropped mid-body"),
    ("slow answer past the read timeout", "200 with a non-JSON body"),
    ("200 with truncated JSON", "500 502 503 504"),
]


def lone_fault_scenario(sim, catalog: ConfiguredAirbyteCatalog, first_fault: str, incremental_fault: str) -> None:
    """A full read with one fault kind, changes, an incremental read with another: both end with the truth."""
    timeout = 1.0 if "slow answer past the read timeout" in (first_fault, incremental_fault) else None
    source_manifest = manifest(read_timeout=timeout)
    config = sim.config(window_days=3650)  # one deep window per stream: faults land mid-walk

    expected = install(sim, first_fault, "first")
    first = read(config, catalog, SUBSET, source_manifest=source_manifest)
    served = fired(sim)
    assert all(served[k] >= n for k, n in expected.items()), f"{first_fault}: planned {dict(expected)}, served {dict(served)}"
    assert_ground_truth(sim, SUBSET, first)
    assert_no_duplicates(first, SUBSET)

    apply_changes(sim)
    expected = install(sim, incremental_fault, "incremental")
    second = read(config, catalog, SUBSET, state=first.final_state, source_manifest=source_manifest)
    served = fired(sim)
    assert all(served[k] >= n for k, n in expected.items()), f"{incremental_fault}: planned {dict(expected)}, served {dict(served)}"
    assert_ground_truth(sim, SUBSET, first, second)


@pytest.fixture(scope="module")
def fault_scenarios(catalog) -> Dict[tuple, Optional[BaseException]]:
    """Each pair's scenario, all at once, each against a simulator of its own: a scenario spends most of its time
    in the backoff of its retries, so they share that time instead of adding it up. What each
    scenario raised is raised by its test."""
    with contextlib.ExitStack() as stack:
        sims = {pair: stack.enter_context(Simulator(**NO_LIMIT)) for pair in PAIRS}
        return at_once({pair: functools.partial(lone_fault_scenario, sims[pair], catalog, *pair) for pair in PAIRS})


@pytest.mark.parametrize("first_fault, incremental_fault", PAIRS, ids=[f"{a} | {b}" for a, b in PAIRS])
def test_a_lone_fault_loses_nothing_in_a_full_then_incremental_read(fault_scenarios, first_fault, incremental_fault):
    error = fault_scenarios[(first_fault, incremental_fault)]
    if error is not None:
        raise error


# ------------------------------------------------------------------------------- every fault together

# Realistic background rates on every endpoint (about 3% of requests fail in some way), plus one scheduled
# fault of each kind on an endpoint every read visits, so that each kind is certain to meet both reads.
BACKGROUND = [
    {"kind": "429", "probability": 0.01, "burst": 1},
    {"kind": "500", "probability": 0.002},
    {"kind": "502", "probability": 0.002},
    {"kind": "503", "probability": 0.004},
    {"kind": "504", "probability": 0.002},
    {"kind": "drop", "probability": 0.002},
    {"kind": "truncated", "probability": 0.002},
    {"kind": "invalid", "probability": 0.002},
    {"kind": "slow", "probability": 0.002, "delay_s": 3},
]
SCHEDULED = [
    {"kind": "429", "path": "user/", "nth": [1], "burst": 2},
    {"kind": "500", "path": "lead/", "nth": [1]},
    {"kind": "502", "path": "data/search/", "nth": [1]},
    {"kind": "503", "path": "activity/email/", "nth": [1]},
    {"kind": "504", "path": "task/", "nth": [1]},
    {"kind": "drop", "path": "opportunity/", "nth": [1]},
    {"kind": "truncated", "path": "event/", "nth": [1]},
    {"kind": "invalid", "path": "activity/call/", "nth": [1]},
    {"kind": "slow", "path": "saved_search/", "nth": [1], "delay_s": 3},
]


def every_fault_scenario(sim, catalog: ConfiguredAirbyteCatalog) -> None:
    """A full read of every stream with every fault kind, changes, an incremental read: both end with the truth."""
    source_manifest = manifest(read_timeout=1.5)
    config = sim.config(window_days=365)
    streams = stream_names(catalog)
    assert len(streams) == 69

    sim.configure(faults=SCHEDULED + BACKGROUND)
    sim.reset_stats()
    first = read(config, catalog, source_manifest=source_manifest)
    served = fired(sim)
    assert set(served) >= {r["kind"] for r in SCHEDULED}, f"not every kind was served: {dict(served)}"
    assert_ground_truth(sim, streams, first)
    assert_no_duplicates(first, streams)

    apply_changes(sim)
    sim.configure(faults=SCHEDULED + BACKGROUND)  # schedules count again from the first request
    sim.reset_stats()
    second = read(config, catalog, state=first.final_state, source_manifest=source_manifest)
    served = fired(sim)
    assert set(served) >= {r["kind"] for r in SCHEDULED}, f"not every kind was served: {dict(served)}"
    assert_ground_truth(sim, streams, first, second)
    print(f"\nall faults together: served {dict(served)} in the incremental read")


def test_every_fault_together_on_every_stream_loses_nothing(make_simulator, catalog):
    every_fault_scenario(make_simulator(**NO_LIMIT, fault_seed=11), catalog)


# ----------------------------------------------------------------------- an outage past the retry budget

CURSOR = {"leads": "date_updated", "call_activities": "date_created", "note_activities": "date_created"}


def test_an_outage_past_the_retry_budget_fails_transiently_after_saving_what_was_complete(make_simulator, catalog):
    streams = ["users", "leads", "note_activities", "call_activities"]
    # activity/call/ answers 503 from its 12th request on, for good; max_retries=1 keeps the budget short. Its
    # first request plans the history; the CDK hands the windows (about a dozen, of one page each) to its 10
    # workers oldest first, so the oldest window is among the next 10 requests whatever the threads' order.
    outage = {"kind": "503", "path": "activity/call/", "nth": list(range(12, 5000))}
    sim = make_simulator(**NO_LIMIT, faults=[outage])
    config = sim.config(window_days=180, max_retries=1)
    first = read(config, catalog, streams, expect_errors=True)
    messages = list(first.output.get_message_iterator())

    # The failure: transient error traces on call_activities, naming the endpoint and what Close said.
    stream_errors = [
        (i, m.trace.error) for i, m in enumerate(messages)
        if m.type == Type.TRACE and m.trace.type == TraceType.ERROR and m.trace.error.stream_descriptor is not None
    ]
    assert stream_errors, "the outage did not fail the sync"
    assert {e.stream_descriptor.name for _, e in stream_errors} == {"call_activities"}
    for _, error in stream_errors:
        assert error.failure_type == FailureType.transient_error, error
        assert "activity/call/" in error.message and "Service Unavailable" in error.message, error.message
    statuses = sim.stats()["paths"]["activity/call/"]["status"]
    assert statuses.get("503", 0) >= 2, statuses  # a request was retried before the sync gave up
    last = messages[-1]
    assert last.type == Type.TRACE and last.trace.type == TraceType.ERROR, "the sync must end with an error trace"
    assert "call_activities" in last.trace.error.message

    # The other streams completed: all their records, and a state that covers them.
    assert_ground_truth(sim, ["users", "leads", "note_activities"], first)
    assert first.states["users"], "users saved no state"
    for stream in ("leads", "note_activities"):
        newest = max(parse(r[CURSOR[stream]]) for r in sim.truth(stream, start_date=START))
        assert first.states[stream], f"{stream} saved no state"
        assert parse(first.states[stream][-1][CURSOR[stream]]) >= newest, f"{stream}: the state does not cover the stream"

    # call_activities: the state saved before the first error covers the windows read in full, and no more.
    first_error = stream_errors[0][0]
    saved = [
        m.state.stream.stream_state.__dict__ for m in messages[:first_error]
        if m.type == Type.STATE and m.state.stream.stream_descriptor.name == "call_activities"
    ]
    assert saved, "no state was saved for call_activities before the outage"
    checkpoint = parse(saved[-1]["date_created"])
    truth = sim.truth("call_activities", start_date=START)
    assert parse(START + "T00:00:00+00:00") < checkpoint < max(parse(r["date_created"]) for r in truth), checkpoint
    emitted = set(first.ids("call_activities"))
    behind = [r["id"] for r in truth if parse(r["date_created"]) <= checkpoint and r["id"] not in emitted]
    assert not behind, f"the state claims {len(behind)} calls that were never emitted: {behind[:3]}"

    # A restart from that state reads the rest, from the checkpoint (minus the lookback), not from the start.
    sim.configure(faults=[])
    second = read(config, catalog, streams, state=first.final_state)
    assert_ground_truth(sim, streams, first, second)
    lookback = timedelta(days=1)
    reread = [r["id"] for r in second.records["call_activities"] if parse(r["date_created"]) < checkpoint - lookback]
    assert not reread, f"the restart re-read {len(reread)} calls from before the checkpoint"


# --------------------------------------------------------------------- records changing during a read

MIDSYNC_STREAMS = ["leads", "contacts", "opportunities", "call_activities", "lead_tasks", "events"]
MIDSYNC_CHANGES = [
    {"action": "create", "object_type": "lead", "count": 1},
    {"action": "create", "object_type": "activity", "subtype": "call", "count": 2},
    {"action": "update", "object_type": "contact", "count": 1, "fields": {"title": "Changed mid-sync"}},
    {"action": "create", "object_type": "contact", "count": 1},
    {"action": "update", "object_type": "task", "subtype": "lead", "count": 1, "fields": {"is_complete": True}},
    {"action": "create", "object_type": "activity", "subtype": "call", "count": 1},
    {"action": "update", "object_type": "lead", "count": 1, "fields": {"description": "changed mid-sync"}},
    {"action": "create", "object_type": "task", "subtype": "lead", "count": 1},
]


def test_records_changing_during_a_read_are_all_caught_by_the_next_incremental_read(make_simulator, catalog):
    """While the first read pages through one deep window per stream, another thread creates and updates
    records. Among the updates are the oldest leads and opportunities, which sit on the first page of their
    windows and leave those windows when updated, while the second page waits at the server (a 1 s pause, far
    below the read timeout).

    The contract, after the first read and one incremental read from its state (no change in between):
    every record that exists on the server was emitted by one of the two reads, no other record was, and the
    last version emitted of each record is the server's current one. (Activities are read by creation date:
    an update to an old activity is only caught within the lookback, so activities here are only created.)
    """
    pause = [{"kind": "slow", "path": path, "nth": [2], "delay_s": 1.0} for path in ("lead/", "opportunity/")]
    sim = make_simulator(**NO_LIMIT, latency_ms=5, faults=pause)
    config = sim.config(window_days=3650)
    oldest = {
        otype: sorted(sim.truth(stream), key=lambda r: r["date_updated"])[:3]
        for otype, stream in (("lead", "leads"), ("opportunity", "opportunities"))
    }
    fields = {"lead": {"description": "moved mid-sync"}, "opportunity": {"confidence": 12}}
    made: List[float] = []
    problems: List[BaseException] = []

    def change_while_reading(done: threading.Event):
        try:
            deadline = time.monotonic() + 60
            while not done.is_set() and not sim.stats()["paths"].get("lead/", {}).get("recent"):
                if time.monotonic() > deadline:
                    return
                time.sleep(0.02)
            for otype, records in oldest.items():  # on the first pages already read
                for record in records:
                    sim.mutate({"action": "update", "object_type": otype, "id": record["id"], "fields": fields[otype]})
                    made.append(time.time())
            i = 0
            while not done.wait(0.1):
                sim.mutate(MIDSYNC_CHANGES[i % len(MIDSYNC_CHANGES)])
                made.append(time.time())
                i += 1
        except BaseException as error:  # surfaced in the test's thread
            problems.append(error)

    with alongside(change_while_reading, "mid-sync-changes"):
        first = read(config, catalog, MIDSYNC_STREAMS)
        finished = time.time()
    assert not problems, problems
    assert len([t for t in made if t <= finished]) >= 10, f"only {len(made)} changes were made during the read"
    lead_pages = sim.stats()["paths"]["lead/"]["recent"]
    assert len(lead_pages) >= 3, "the leads window was not paged: the test proves nothing"
    assert made[0] < lead_pages[-1]["t"], "the leads moved only after their window was read: the test proves nothing"

    second = read(config, catalog, MIDSYNC_STREAMS, state=first.final_state)
    assert_ground_truth(sim, MIDSYNC_STREAMS, first, second)
