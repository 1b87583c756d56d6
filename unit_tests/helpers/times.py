"""Close's timestamps as aware datetimes, and the overlap rule: how far before its saved state a sync reads again.

The rule is the one docs/close-com.md states, encoded here once for every test that checks it:

* activities (cursor ``date_created``) re-read ``lookback_window_days`` (1 by default), for late edits;
* the event log (``events``, ``deleted_records``) re-reads 10 minutes, since Close consolidates events in place;
* leads re-read the minute of the state, since Close's lead query compares dates to the minute;
* every other stream asks ``__gte`` the state: only the records equal to it come again;
* and whatever the cursor, the object streams' replay of the event log fetches again the activities edited shortly
  before the saved position (``edited_lately``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from source_close_com.components import SETTLING_TIME

ACTIVITY_CURSOR = "date_created"
EVENT_LOG_STREAMS = frozenset({"events", "deleted_records"})
EVENT_LOG_REREAD = timedelta(minutes=10)
DEFAULT_LOOKBACK_DAYS = 1


def parse(value: str) -> datetime:
    """Any Close timestamp (tz-aware, naive = UTC, date-only, with or without fraction) as an aware datetime."""
    if len(value) == 10:
        value += "T00:00:00"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def reread_floor(stream: str, cursor: str, state: datetime, lookback_days: float = DEFAULT_LOOKBACK_DAYS) -> datetime:
    """The oldest cursor value a sync starting from ``state`` may read again."""
    if cursor == ACTIVITY_CURSOR:
        return state - timedelta(days=lookback_days)
    if stream in EVENT_LOG_STREAMS:
        return state - EVENT_LOG_REREAD
    if stream == "leads":
        return state.replace(second=0, microsecond=0)
    return state


# The newest window saves its end less the settling time, and the replay reads the event log from the saved position
# less the settling time again: an activity edited in the 20 minutes before a sync is fetched again by the next,
# whatever its `date_created` (the simulator's history has edits up to the last millisecond before midnight UTC).
REPLAY_REREAD = 2 * SETTLING_TIME


def edited_lately(record: Mapping[str, Any], margin: timedelta = timedelta(minutes=10)) -> bool:
    """Whether the replay may bring ``record`` again: edited within ``REPLAY_REREAD`` of now, plus ``margin`` for
    the test's own reads."""
    updated = record.get("date_updated")
    return bool(updated) and parse(updated) >= datetime.now(timezone.utc) - REPLAY_REREAD - margin


def config_lookback_days(config) -> float:
    """The lookback a config asks for (the connector's default where it names none)."""
    return config.get("lookback_window_days", DEFAULT_LOOKBACK_DAYS)
