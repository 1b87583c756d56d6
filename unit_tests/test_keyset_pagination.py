"""The paging arithmetic of ``KeysetPagination`` and the rows ``PageRows`` drops, on pages made in memory.

No simulator, no network: ``unit_tests/helpers/pages.py`` builds Close's answers as ``requests.Response`` objects
and serves a date window the way Close pages it by the cursor's value. The overlap rule (how many rows of the last
instant the next page reads again) is ``keyset_overlap`` there.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from source_close_com.components import KeysetPagination, PageRows
from unit_tests.helpers.pages import KeysetList, close_page, keyset_overlap

FIELD = "date_created"
T0 = datetime(2024, 3, 1, 12, 30, 0, tzinfo=timezone.utc)


def stamp(moment: datetime) -> str:
    """How Close writes an activity's date_created."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def rows_at(*moments: datetime, prefix: str = "acti") -> list:
    return [{"id": f"{prefix}_{n:03d}", FIELD: stamp(moment)} for n, moment in enumerate(moments)]


def paginator(page_size: int, precision: str = "microsecond", stream: str = "email_activities") -> KeysetPagination:
    return KeysetPagination(
        parameters={"name": stream, "cursor_field": FIELD}, config={}, page_size=page_size,
        sort_field="{{ parameters.cursor_field }}", precision=precision,
    )


def next_token(strategy: KeysetPagination, rows, previous=None, has_more: bool = True):
    return strategy.next_page_token(close_page(rows, has_more), len(rows), rows[-1] if rows else None, previous)


def walk(listing: KeysetList, page_size: int, precision: str = "microsecond", stream: str = "email_activities") -> list:
    """Every id a window's walk emits, page after page, as the CDK drives the paginator and the extractor."""
    strategy, extractor = paginator(page_size, precision, stream), PageRows(config={}, parameters={"name": stream})
    emitted, token = [], None
    for _ in range(10 * len(listing.rows) + 10):
        response = listing.page(token, page_size)
        emitted += [row["id"] for row in extractor.extract_records(response)]
        token = strategy.next_page_token(response, 0, None, token)
        if token is None:
            return emitted
    raise AssertionError(f"the walk did not end: {listing.requests[-3:]}")


# ------------------------------------------------------------------------------------------------ one token


def test_the_last_page_asks_for_nothing_more():
    rows = rows_at(T0, T0 + timedelta(seconds=1))
    assert next_token(paginator(4), rows, has_more=False) is None
    assert next_token(paginator(4), [], has_more=True) is None


def test_distinct_values_anchor_on_the_last_one_and_read_it_again():
    rows = rows_at(*(T0 + timedelta(seconds=n) for n in range(4)))
    token = next_token(paginator(4), rows)
    assert keyset_overlap(1, 4) == 1
    assert token == {"after": stamp(T0 + timedelta(seconds=3)), "key": stamp(T0 + timedelta(seconds=3)), "skip": 0}


def test_ties_at_the_end_of_a_page_skip_all_but_half_a_page_of_them():
    last = T0 + timedelta(seconds=5)
    rows = rows_at(T0, T0 + timedelta(seconds=1), *[last] * 6)  # 6 rows share the last instant
    token = next_token(paginator(8), rows)
    overlap = keyset_overlap(6, 8)
    assert overlap == 4
    assert token == {"after": stamp(last), "key": stamp(last), "skip": 6 - overlap}


def test_fewer_ties_than_half_a_page_are_all_read_again():
    last = T0 + timedelta(seconds=5)
    rows = rows_at(*(T0 + timedelta(seconds=n) for n in range(7)), last, last)
    assert next_token(paginator(10), rows)["skip"] == 2 - keyset_overlap(2, 10) == 0


def test_a_run_longer_than_a_page_counts_on_from_the_previous_token():
    """A page of nothing but the instant the previous page ended on: the run goes on, from where that page began."""
    strategy = paginator(4)
    first = next_token(strategy, rows_at(T0 - timedelta(seconds=1), T0 - timedelta(seconds=1), T0, T0))
    assert first["skip"] == 2 - keyset_overlap(2, 4) == 0
    second = next_token(strategy, rows_at(T0, T0, T0, T0, prefix="acti_b"), previous=first)
    run = first["skip"] + 4
    assert second == {"after": stamp(T0), "key": stamp(T0), "skip": run - keyset_overlap(run, 4)} and second["skip"] == 2
    third = next_token(strategy, rows_at(T0, T0, T0, T0, prefix="acti_c"), previous=second)
    assert third["skip"] == second["skip"] + 4 - keyset_overlap(second["skip"] + 4, 4) == 4


def test_a_page_all_at_a_new_instant_starts_a_new_run():
    strategy = paginator(4)
    first = next_token(strategy, rows_at(T0, T0, T0, T0))
    later = T0 + timedelta(seconds=1)
    second = next_token(strategy, rows_at(later, later, later, later), previous=first)
    assert second["key"] == stamp(later) and second["skip"] == 4 - keyset_overlap(4, 4)


def test_leads_count_every_row_of_the_last_minute_as_a_tie():
    """Close compares the lead query's dates to the minute: rows of the same minute, seconds apart, are one run."""
    rows = rows_at(T0 - timedelta(minutes=1), T0 + timedelta(seconds=5), T0 + timedelta(seconds=20), T0 + timedelta(seconds=41))
    token = next_token(paginator(4, precision="minute", stream="leads"), rows)
    assert token["key"] == stamp(T0)  # the minute
    assert token["after"] == stamp(T0 + timedelta(seconds=41))  # the last value itself, for the query
    assert token["skip"] == 3 - keyset_overlap(3, 4)
    # The same rows paged to the microsecond: only the last one is at the last instant.
    assert next_token(paginator(4), rows)["skip"] == 0


def test_values_in_any_close_format_anchor_in_utc():
    rows = [{"id": "lead_1", FIELD: "2024-03-01T13:30:00+01:00"}, {"id": "lead_2", FIELD: "2024-03-01T12:30:00.500000"}]
    token = next_token(paginator(2), rows)
    assert token["after"] == "2024-03-01T12:30:00.500000+00:00"


@pytest.mark.parametrize("value", [None, "", "soon", 1709296200])
def test_a_last_row_without_a_usable_value_goes_on_by_offset_from_the_previous_anchor(value):
    strategy = paginator(4)
    rows = rows_at(T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)) + [{"id": "acti_x", FIELD: value}]
    assert next_token(strategy, rows) == {"skip": 4}
    previous = {"after": stamp(T0), "key": stamp(T0), "skip": 1}
    assert next_token(strategy, rows, previous=previous) == {**previous, "skip": 1 + 4}


# ------------------------------------------------------------------------------------------ the rows dropped


def test_the_next_page_drops_exactly_the_rows_read_again():
    strategy, extractor = paginator(4), PageRows(config={}, parameters={"name": "email_activities"})
    rows = rows_at(T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), T0 + timedelta(seconds=2))
    token = next_token(strategy, rows)
    assert token["skip"] == 0 and keyset_overlap(2, 4) == 2
    again = rows[2:] + rows_at(T0 + timedelta(seconds=3), prefix="acti_new")
    answer = close_page(again, False, {"_skip": token["skip"], f"{FIELD}__gte": token["after"]})
    assert [r["id"] for r in extractor.extract_records(answer)] == ["acti_new_000"]


def test_an_answer_to_another_request_is_not_filtered():
    """A page is filtered only if it answers the very request the token asked for (same _skip, same anchor)."""
    strategy, extractor = paginator(4), PageRows(config={}, parameters={"name": "email_activities"})
    rows = rows_at(T0, T0, T0, T0)
    token = next_token(strategy, rows)
    other = close_page(rows, False, {"_skip": token["skip"] + 1, f"{FIELD}__gte": token["after"]})
    assert [r["id"] for r in extractor.extract_records(other)] == [r["id"] for r in rows]


# ------------------------------------------------------------------------------------------------ whole walks


@pytest.mark.parametrize("page_size", [2, 3, 4, 10])
def test_a_walk_through_runs_longer_than_a_page_emits_every_row_once(page_size):
    moments = [T0 + timedelta(seconds=n) for n in range(5)] + [T0 + timedelta(seconds=9)] * 11
    moments += [T0 + timedelta(seconds=10 + n // 3) for n in range(9)] + [T0 + timedelta(seconds=30)] * 7
    listing = KeysetList(rows_at(*moments), FIELD)
    emitted = walk(listing, page_size)
    assert Counter(emitted) == Counter(r["id"] for r in listing.rows)
    # Each page past the first makes progress of at least a page less the overlap.
    progress = page_size - keyset_overlap(page_size, page_size)
    assert len(listing.requests) <= 1 + -(-(len(listing.rows) - page_size) // progress) + 1, listing.requests


@pytest.mark.parametrize("page_size", [2, 4, 7])
def test_a_lead_walk_at_minute_precision_emits_every_row_once(page_size):
    moments = [T0 + timedelta(seconds=7 * n) for n in range(20)] + [T0 + timedelta(minutes=5, seconds=s) for s in range(0, 60, 4)]
    listing = KeysetList(rows_at(*moments, prefix="lead"), FIELD, precision="minute")
    emitted = walk(listing, page_size, precision="minute", stream="leads")
    assert Counter(emitted) == Counter(r["id"] for r in listing.rows)
    assert all(int(request["_skip"] or 0) < len(listing.rows) for request in listing.requests)
