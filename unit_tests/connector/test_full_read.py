"""A full read of every stream equals the simulator's ground truth, and every record fits its schema."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from unit_tests.harness import NAIVE_TIMESTAMP as NAIVE, as_emitted, id_diff, sync_streams, without_nulls

SCHEMAS = Path("source_close_com/schemas")


@pytest.fixture(scope="module")
def full_read(simulator):
    return sync_streams(simulator.config(), sync_mode="full_refresh")


def all_streams():
    return sorted(p.stem for p in SCHEMAS.glob("*.json"))


@pytest.mark.parametrize("stream", all_streams())
def test_every_stream_yields_exactly_the_ground_truth(full_read, simulator, stream):
    expected = [r["id"] for r in simulator.truth(stream, start_date=simulator.config()["start_date"])]
    emitted = full_read.ids(stream)
    assert expected, f"the simulator has no {stream}: the test would prove nothing"
    assert set(emitted) == set(expected), id_diff(emitted, expected)
    duplicated = [i for i, n in Counter(emitted).items() if n > 1]
    assert not duplicated, f"{stream} emitted duplicates: {duplicated[:5]}"


@pytest.mark.parametrize("stream", all_streams())
def test_every_record_validates_against_its_schema(full_read, stream):
    schema = json.loads((SCHEMAS / f"{stream}.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    for record in full_read.records[stream]:
        for error in validator.iter_errors(record):
            problems.append(f"{record.get('id')}: {'/'.join(map(str, error.path))}: {error.message}")
    assert not problems, "\n".join(problems[:10])


@pytest.mark.parametrize("stream", all_streams())
def test_records_are_the_servers_records(full_read, simulator, stream):
    """Content, not only ids: what the connector emits is what Close served (no field lost or altered), except
    that a naive timestamp (Close means UTC) leaves with an explicit +00:00.

    The Airbyte serializer leaves out top-level keys whose value is null; destinations read both alike.
    Contacts drop the search's `__object_type`."""
    truth = {r["id"]: as_emitted({k: v for k, v in r.items() if k != "__object_type"}) for r in simulator.truth(stream)}
    for record in full_read.records[stream]:
        assert without_nulls(record) == truth[record["id"]], f"{stream} {record['id']} differs from the server's"


@pytest.mark.parametrize("stream", all_streams())
def test_every_date_time_value_carries_a_utc_offset(full_read, stream):
    """Every value a stream's schema calls `date-time` parses as RFC 3339 with an offset; every naive timestamp
    Close sends sits in a column declared `date-time` (else it would leave without an offset)."""
    schema = json.loads((SCHEMAS / f"{stream}.json").read_text())
    problems = []
    for record in full_read.records[stream]:
        for path, value in date_time_values(record, schema):
            if not RFC3339.match(value):
                problems.append(f"{record.get('id')}: {path} = {value!r}")
        problems += [f"{record.get('id')}: naive {value!r} outside a date-time column" for value in naive_strings(record)]
    assert not problems, "\n".join(problems[:10])


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def naive_strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from naive_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from naive_strings(value)
    elif isinstance(node, str) and NAIVE.match(node):
        yield node


def date_time_values(node, schema, path=""):
    if isinstance(node, list):
        for n, item in enumerate(node):
            yield from date_time_values(item, schema.get("items") or {}, f"{path}[{n}]")
    elif isinstance(node, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if node.get(key) is not None:
                yield from date_time_values(node[key], sub, f"{path}/{key}")
    elif isinstance(node, str) and schema.get("format") == "date-time":
        yield path, node

