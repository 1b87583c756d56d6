"""What a history sync asks of Close follows the data: the years before a stream's first record cost nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from close_simulator.testing import Simulator
from unit_tests.harness import sync

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


def test_a_history_sync_of_an_empty_stream_asks_twice_however_many_windows_it_has():
    """One request finds no oldest record; the newest window is read all the same (it ends the sync)."""
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
        assert asked <= 2, f"{asked} requests for an empty stream cut into {days} one-day windows"
