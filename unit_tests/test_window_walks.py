"""A dense date window is read by several keyset walks at once (`WindowWalks`): every record of the window once,
under the window's slice, for little more than the pages its records fill, and a failure in any walk stops the read.

The list here is served from memory as Close serves a `<cursor>__gte/__lte` window: the records whose cursor lies
in the range asked, sorted by the cursor, in pages (each read stops where its consumer stops asking).
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from airbyte_cdk.sources.declarative.types import Record, StreamSlice
from source_close_com.components import CURSOR_FORMAT, WindowWalks

PAGE = 100
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
END = datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)


class SortedList:
    """Records sorted by `date_created`, read by windows in pages; it counts the pages asked and who asked them."""

    def __init__(self, moments, fail_after_pages=None, page_delay_s=0.002):
        self.rows = [{"id": f"acti_{n}", "date_created": m.strftime(CURSOR_FORMAT)} for n, m in enumerate(sorted(moments))]
        self.pages = 0
        self.ranges = set()
        self.threads = set()
        self.fail_after_pages = fail_after_pages
        self.page_delay_s = page_delay_s
        self._lock = threading.Lock()

    def read(self, part: StreamSlice):
        low, high = part["start_time"], part["end_time"]
        rows = [r for r in self.rows if low <= r["date_created"] <= high]
        with self._lock:
            self.ranges.add((low, high))
        for first in range(0, max(len(rows), 1), PAGE):
            with self._lock:
                self.pages += 1
                self.threads.add(threading.get_ident())
                if self.fail_after_pages is not None and self.pages > self.fail_after_pages:
                    raise RuntimeError("Close answered 500 five times")
            time.sleep(self.page_delay_s)
            for row in rows[first:first + PAGE]:
                yield Record(data=row, stream_name="email_activities", associated_slice=part)


def window() -> StreamSlice:
    return StreamSlice(partition={}, cursor_slice={"start_time": START.strftime(CURSOR_FORMAT), "end_time": END.strftime(CURSOR_FORMAT)})


def spread(count: int, start: datetime = START, days: int = 365):
    step = timedelta(days=days) / count
    return [start + step * n for n in range(count)]


def test_a_dense_window_is_read_by_several_walks_each_record_once_under_the_window_slice():
    served = SortedList(spread(6_000))
    the_window = window()
    records = list(WindowWalks(served.read, "email_activities", the_window, "date_created", PAGE, width=4))
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} records emitted twice"
    assert set(ids) == {r["id"] for r in served.rows}
    assert all(r.associated_slice is the_window for r in records), "a record left under a walk's slice"
    assert len(served.ranges) > 1 and len(served.threads) > 1, "the window was read by one walk"
    # Each split costs at most one partial page of the walk that gave its range away.
    minimum = math.ceil(len(served.rows) / PAGE)
    assert served.pages <= minimum + len(served.ranges), (served.pages, minimum, len(served.ranges))


def test_a_window_of_a_few_pages_is_one_walk():
    served = SortedList(spread(5 * PAGE))
    records = list(WindowWalks(served.read, "email_activities", window(), "date_created", PAGE, width=4))
    assert len(records) == 5 * PAGE
    assert len(served.ranges) == 1 and served.pages == 5


def test_pages_of_one_instant_are_not_split_on():
    """A page whose records share one instant tells nothing of what follows it."""
    burst = [START + timedelta(days=100)] * (12 * PAGE)
    served = SortedList(burst)
    records = list(WindowWalks(served.read, "email_activities", window(), "date_created", PAGE, width=4))
    assert len({r["id"] for r in records}) == len(burst)
    assert len(served.ranges) == 1, sorted(served.ranges)


def test_a_failed_walk_stops_the_window_read_with_its_error():
    served = SortedList(spread(6_000), fail_after_pages=8)
    with pytest.raises(RuntimeError, match="five times"):
        list(WindowWalks(served.read, "email_activities", window(), "date_created", PAGE, width=4))
