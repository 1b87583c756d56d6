"""PyAirbyte runs the connector into a DuckDB cache, as ``tools/demo_local.py`` does (``make demo``).

A first sync writes exactly the simulator's ground truth into DuckDB, stream by stream; after changes in Close,
a second sync reads incrementally from the state PyAirbyte kept in DuckDB, and the new and changed rows are there.
PyAirbyte (``airbyte`` on PyPI, in the dev extra next to the pinned airbyte-cdk) runs offline: no registry lookup,
no usage tracking, no install (the connector is this virtualenv's ``source-close-com``).
"""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace
from typing import Dict, List

import pytest

from source_close_com.components import DELETED_AT
from unit_tests.helpers import background
from unit_tests.helpers.pyairbyte_syncs import RESULT
from tools.demo_local import (
    DEFAULT_STREAMS,
    duckdb_cache,
    row_counts,
    rows,
    table,
    table_ids,
)


@pytest.fixture(scope="module")
def synced():
    """Two PyAirbyte syncs into one DuckDB file, with changes to the organisation in between (run from the start
    of the test run by ``helpers/pyairbyte_syncs.py``); the DuckDB file opened again here."""
    directory = background.result("pyairbyte syncs")
    result = json.loads((directory / RESULT).read_text())
    cache = duckdb_cache(directory)
    yield {
        **result, "cache": cache,
        "first": SimpleNamespace(processed_records=result["first_processed"]),
        "second": SimpleNamespace(processed_records=result["second_processed"]),
    }
    cache.close()


def ids(records: List[dict]) -> List[str]:
    return [record["id"] for record in records]


def test_first_sync_writes_the_ground_truth_to_duckdb(synced) -> None:
    for stream in DEFAULT_STREAMS:
        expected = ids(synced["truth_first"][stream])
        in_duckdb = synced["after_first"][stream]
        assert expected, f"the simulator has no {stream}: the test proves nothing"
        assert len(in_duckdb) == len(expected), f"{stream}: {len(in_duckdb)} rows in DuckDB, {len(expected)} in Close"
        assert set(in_duckdb) == set(expected), f"{stream}: the rows in DuckDB are not Close's"
    assert synced["first"].processed_records == sum(len(synced["truth_first"][s]) for s in DEFAULT_STREAMS)


def test_incremental_sync_brings_the_changes(synced) -> None:
    cache, changes = synced["cache"], synced["changes"]
    assert synced["second"].processed_records < synced["first"].processed_records // 5, (
        f"the second sync read {synced['second'].processed_records} records, the first "
        f"{synced['first'].processed_records}: it was not incremental"
    )
    for kind in ("created", "updated"):
        for stream, changed in changes[kind].items():
            assert changed, f"the simulator {kind} no {stream}"
            found = {row["id"] for row in rows(cache, stream, changed, ("id",))}
            assert found == set(changed), f"{stream}: {kind} rows missing from DuckDB: {sorted(set(changed) - found)}"
    confidences = rows(cache, "opportunities", changes["updated"]["opportunities"], ("id", "confidence"))
    assert [row["confidence"] for row in confidences] == [77] * len(changes["updated"]["opportunities"])
    completed = rows(cache, "lead_tasks", changes["updated"]["lead_tasks"], ("id", "is_complete"))
    assert all(row["is_complete"] for row in completed) and completed
    deleted = set(changes["deleted_opportunities"])
    deletions = cache.run_sql_query(f"SELECT object_type, object_id FROM {table(cache, 'deleted_records')}")
    assert deleted and deleted <= {row["object_id"] for row in deletions if row["object_type"] == "opportunity"}


def test_duckdb_holds_each_record_once_after_both_syncs(synced) -> None:
    """PyAirbyte merges the incremental rows on the primary key: the tables equal Close now, except that a deleted
    opportunity's row is its deletion row (PyAirbyte does not apply `_ab_cdc_deleted_at`; see the next test)."""
    cache = synced["cache"]
    counts: Dict[str, int] = row_counts(cache, DEFAULT_STREAMS)
    kept_deleted = {"opportunities": set(synced["changes"]["deleted_opportunities"])}
    for stream in DEFAULT_STREAMS:
        in_duckdb = table_ids(cache, stream)
        duplicated = [i for i, n in Counter(in_duckdb).items() if n > 1]
        assert not duplicated, f"{stream}: rows held twice in DuckDB: {duplicated[:5]}"
        expected = set(ids(synced["truth_second"][stream])) | kept_deleted.get(stream, set())
        assert set(in_duckdb) == expected, (
            f"{stream}: DuckDB has {sorted(set(in_duckdb) - expected)[:5]} extra, "
            f"lacks {sorted(expected - set(in_duckdb))[:5]}"
        )
        assert counts[stream] == len(expected)



def test_a_deleted_record_is_its_deletion_row_in_duckdb(synced) -> None:
    """What a PyAirbyte user sees of a deletion: the row with the deleted id now holds the deletion time in
    `_ab_cdc_deleted_at` and nothing else, so `WHERE _ab_cdc_deleted_at IS NULL` gives Close's live records."""
    cache, deleted = synced["cache"], synced["changes"]["deleted_opportunities"]
    found = rows(cache, "opportunities", deleted, ("id", "confidence", "lead_id", DELETED_AT))
    assert [row["id"] for row in found] == sorted(deleted)
    assert all(row[DELETED_AT] is not None and row["confidence"] is None and row["lead_id"] is None for row in found), found
    live = cache.run_sql_query(f"SELECT id FROM {table(cache, 'opportunities')} WHERE {DELETED_AT} IS NULL")
    assert {row["id"] for row in live} == set(ids(synced["truth_second"]["opportunities"]))
