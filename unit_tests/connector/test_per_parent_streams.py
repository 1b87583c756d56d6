"""Streams Close serves per parent record (comments per thread, sequence subscriptions per sequence, each group,
the organisation's memberships) and the custom objects' typed columns."""

from __future__ import annotations

from collections import Counter

import pytest

from unit_tests.harness import run_discover, sync_streams

PER_PARENT = ("comments", "sequence_subscriptions", "groups", "memberships")


@pytest.fixture(scope="module")
def per_parent_read(simulator):
    simulator.reset_stats()
    result = sync_streams(simulator.config(), PER_PARENT)
    return result, simulator.stats()["paths"]


def test_each_parent_list_is_read_once_and_each_parent_once(per_parent_read, simulator):
    result, paths = per_parent_read
    threads = simulator.truth("comment_threads")
    sequences = simulator.truth("email_sequences")
    groups = simulator.truth("groups")
    assert len(threads) < 100 and len(sequences) < 1000, "one page of parents each: the counts below assume it"
    assert paths["comment_thread/"]["requests"] == 1
    assert paths["sequence/"]["requests"] == 1
    assert paths["group/"]["requests"] == 1
    assert paths["me/"]["requests"] == 1
    assert paths["comment/"]["requests"] == len(threads)
    assert paths["sequence_subscription/"]["requests"] == len(sequences)
    assert all(paths[f"group/{g['id']}/"]["requests"] == 1 for g in groups)
    asked = Counter(entry["params"]["thread_id"][0] for entry in paths["comment/"]["recent"])
    assert set(asked) <= {t["id"] for t in threads} and set(asked.values()) == {1}
    assert {entry["params"]["sequence_id"][0] for entry in paths["sequence_subscription/"]["recent"]} == {
        s["id"] for s in sequences
    }
    for stream in PER_PARENT:
        assert sorted(result.ids(stream)) == sorted(r["id"] for r in simulator.truth(stream)), stream


def test_groups_come_with_their_members(per_parent_read, simulator):
    result, _ = per_parent_read
    truth = {g["id"]: g for g in simulator.truth("groups")}
    assert any(g["members"] for g in truth.values())
    for group in result.records["groups"]:
        assert group == truth[group["id"]]


def test_custom_objects_carry_their_custom_fields_as_typed_columns(simulator):
    catalog = {s.name: s for s in run_discover(simulator.config()).catalog.catalog.streams}
    properties = catalog["custom_objects"].json_schema["properties"]
    definitions = simulator.truth("custom_object_custom_fields")
    assert definitions
    for d in definitions:
        column = properties[f"custom.{d['id']}"]
        assert column["title"] == d["name"]
        expected = {"number": "number", "date": "string", "datetime": "string"}.get(d["type"], "string")
        assert ("array" in column["type"]) == d["accepts_multiple_values"], d
        if not d["accepts_multiple_values"]:
            assert column["type"] == ["null", expected], d
