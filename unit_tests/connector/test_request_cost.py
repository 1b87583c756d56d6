"""What a history sync asks of Close follows the data: a short history costs its pages, a long one its pages and a
request per window from its first record on; the years before that record cost nothing."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone

from close_simulator.testing import Simulator
from source_close_com.components import CURSOR_FORMAT, SETTLING_TIME
from unit_tests.harness import stream_position, sync

# stream -> (path, the window's upper-bound parameter, cursor)
WINDOWED = {
    "note_activities": ("activity/note/", "date_created__lte", "date_created"),
    "whatsapp_message_activities": ("activity/whatsapp_message/", "date_created__lte", "date_created"),
    "opportunities": ("opportunity/", "date_updated__lte", "date_updated"),
}


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def test_a_history_sync_without_start_date_skips_the_windows_before_the_first_record():
    with Simulator(seed=7, scale="small", rps=None, org_rps=None, recent_limit=100_000) as sim:
        config = sim.config(start_date="", window_days=365)
        result = sync(config, list(WINDOWED), sync_mode="incremental")
        paths = sim.stats()["paths"]
        for stream, (path, upper, cursor) in WINDOWED.items():
            oldest = min(_parse(r[cursor]) for r in sim.truth(stream))
            assert oldest.year > 2014, f"{stream}: the simulator's data starts in 2013: the test proves nothing"
            assert len(result.records[stream]) == len(sim.truth(stream))
            ends = [_parse(r["params"][upper][0]) for r in paths[path]["recent"] if upper in r["params"]]
            before = [end for end in ends if end < oldest]
            assert not before, f"{stream}: asked for {len(before)} windows that end before its first record {oldest}"
            # One request for the oldest record, then the windows from there on (these streams fit a page each).
            windows = sum(1 for k in range(20) if datetime(2013, 1, 1, tzinfo=timezone.utc) + timedelta(days=365 * (k + 1)) > oldest
                          and datetime(2013, 1, 1, tzinfo=timezone.utc) + timedelta(days=365 * k) < datetime.now(timezone.utc))
            assert len(ends) <= 1 + windows + len(result.records[stream]) // 100, (stream, len(ends), windows)


def test_a_short_history_costs_its_pages_and_nothing_more():
    """Without a date window set, each stream whose history is short is read in one walk from the start date."""
    streams = {  # stream -> (path, page size, cursor)
        "note_activities": ("activity/note/", 100, "date_created"), "email_activities": ("activity/email/", 100, "date_created"),
        "whatsapp_message_activities": ("activity/whatsapp_message/", 100, "date_created"),
        "opportunities": ("opportunity/", 250, "date_updated"), "lead_tasks": ("task/", 1000, "date_updated"),
        "events": ("event/", 50, "date_updated"),
    }
    with Simulator(seed=7, scale="small", rps=None, org_rps=None, recent_limit=100_000) as sim:
        began = datetime.now(timezone.utc)
        result = sync(sim.config(start_date=""), list(streams), sync_mode="incremental")
        paths = sim.stats()["paths"]
        for stream, (path, page, cursor) in streams.items():
            ids = [r["id"] for r in result.records[stream]]
            assert len(ids) == len(set(ids)), f"{stream}: {len(ids) - len(set(ids))} records emitted twice"
            assert set(ids) == {r["id"] for r in sim.truth(stream)}, stream
            # Keyset pages re-read the last row of the page before, so each page brings at least page - 1 new rows;
            # within a run of rows sharing one instant they re-read up to half a page (the simulator has bursts).
            run = max(Counter(r[cursor] for r in sim.truth(stream)).values())
            pages = max(1, math.ceil((len(ids) - 1) / (page - 1))) + (math.ceil(run / (page // 2)) if run > 1 else 0)
            assert paths[path]["requests"] <= pages, f"{stream}: {paths[path]['requests']} requests for {len(ids)} records"
            # The stream's position is still the sync's upper bound less the settling time.
            position = _parse(stream_position(result.states[stream][-1])[cursor])
            assert began - SETTLING_TIME <= position <= datetime.now(timezone.utc) - SETTLING_TIME, (stream, position)
        assert paths["activity/email/"]["requests"] >= 10, "email is not several pages long: the test proves little"


def test_a_dense_history_is_read_in_windows_from_its_first_record():
    """A first page whose records lie minutes apart promises more than a walk should read: windows instead."""
    with Simulator(seed=7, scale="small", rps=None, org_rps=None, recent_limit=100_000) as sim:
        # The simulator's emails begin with a burst of 150 at one instant on the start date.
        start = "2024-02-01"
        burst = Counter(r["date_created"] for r in sim.truth("email_activities", start_date=start)).most_common(1)[0]
        assert burst[0].startswith(start) and burst[1] > 100, f"no dense first page: {burst}"
        result = sync(sim.config(start_date=start), ["email_activities"], sync_mode="incremental")
        ids = [r["id"] for r in result.records["email_activities"]]
        assert len(ids) == len(set(ids)) and set(ids) == {r["id"] for r in sim.truth("email_activities", start_date=start)}
        asked = [r["params"] for r in sim.stats()["paths"]["activity/email/"]["recent"]]
        whole = [p for p in asked if "_skip" not in p and p["date_created__gte"][0].startswith(start)
                 and _parse(p["date_created__lte"][0]) > datetime.now(timezone.utc) - timedelta(minutes=5)]
        assert len(whole) == 1, f"the whole range was asked {len(whole)} times"
        # Every window from the first record on is asked (walks sharing a dense window start at other instants).
        starts = [(_parse(start) + timedelta(days=365 * k)).strftime(CURSOR_FORMAT)
                  for k in range(math.ceil((datetime.now(timezone.utc) - _parse(start)).days / 365))]
        firsts = [p for p in asked if "_skip" not in p and p not in whole]
        assert {p["date_created__gte"][0] for p in firsts} >= set(starts), firsts


def test_an_event_log_longer_than_a_walk_is_finished_by_its_windows():
    """The event log serves newest first: a walk cut short after its pages leaves the older events to the windows,
    each event emitted once."""
    with Simulator(seed=7, scale="small", rps=None, org_rps=None, recent_limit=100_000) as sim:
        sim.mutate({"action": "update", "object_type": "opportunity", "count": 250, "fields": {"note": "a busy minute"}})
        sim.mutate({"action": "update", "object_type": "lead", "count": 400, "fields": {"description": "a busy minute"}})
        result = sync(sim.config(start_date=""), ["events"], sync_mode="incremental")
        since = (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%d")
        expected = {r["id"] for r in sim.truth("events") if r["date_updated"][:10] >= since}
        ids = Counter(r["id"] for r in result.records["events"])
        assert len(expected) > 500, "fewer events than a walk reads: the test proves nothing"
        assert not [i for i, n in ids.items() if n > 1], "events emitted twice"
        assert set(ids) == expected, f"{len(expected - set(ids))} events lost, {len(set(ids) - expected)} foreign"
        # The ten pages of the walk, then the windows' pages up to where the walk stopped (a partial page each).
        assert sim.stats()["paths"]["event/"]["requests"] <= 10 + 31 + math.ceil(len(expected) / 50)


def test_a_history_sync_of_an_empty_stream_asks_once_however_many_windows_it_has():
    """One read of the whole range finds nothing: no window is asked, the newest included."""
    # The organisation's data ends ten days ago, so a start date after it is still in the past.
    anchor = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=10)
    with Simulator(seed=7, scale="small", rps=None, org_rps=None, recent_limit=100_000, anchor=anchor) as sim:
        config = sim.config(start_date="", window_days=365)
        with_data = sync(config, ["whatsapp_message_activities"], sync_mode="incremental")
        assert with_data.records["whatsapp_message_activities"], "the simulator has none: the test proves nothing"
        sim.reset_stats()
        # A start date after the newest record: nothing there, yet the sync cuts windows up to now.
        newest = max(_parse(r["date_created"]) for r in sim.truth("whatsapp_message_activities"))
        later = (newest + timedelta(days=1)).strftime("%Y-%m-%d")
        empty = sync(sim.config(start_date=later, window_days=1), ["whatsapp_message_activities"], sync_mode="incremental")
        assert not empty.records["whatsapp_message_activities"]
        asked = sim.stats()["paths"].get("activity/whatsapp_message/", {}).get("requests", 0)
        days = (datetime.now(timezone.utc) - _parse(later + "T00:00:00")).days + 1
        assert days >= 5
        assert asked == 1, f"{asked} requests for an empty stream cut into {days} one-day windows"
