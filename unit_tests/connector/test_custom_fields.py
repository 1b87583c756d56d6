"""Each account's own custom fields become typed columns; custom activity records and deletions sync incrementally."""

from __future__ import annotations

from typing import Dict, List

import jsonschema
import pytest

from unit_tests.harness import id_diff, run_discover, sync_streams

# stream -> the custom field object whose definitions become its columns
CUSTOM_FIELD_STREAMS = {
    "leads": "lead",
    "contacts": "contact",
    "opportunities": "opportunity",
    "custom_activity_instances": "activity",
}
EXPECTED_TYPE = {
    "number": "number",
    "date": "string",
    "datetime": "string",
    "text": "string",
    "textarea": "string",
    "choices": "string",
    "user": "string",
    "contact": "string",
    "hidden": "string",
}
EXPECTED_FORMAT = {"date": "date", "datetime": "date-time"}


def definitions(sim, obj: str) -> List[dict]:
    """What the account defines for ``obj``: its own fields and the shared fields associated with it."""
    own = sim.truth(f"{obj}_custom_fields")
    shared = [
        d for d in sim.call(lambda: sim.org.custom_field_list("shared"))
        if any(a["object_type"] == obj for a in d.get("associations") or [])
    ]
    return list({d["id"]: d for d in own + shared}.values())


def custom_columns(schema: dict) -> Dict[str, dict]:
    return {k: v for k, v in schema["properties"].items() if k.startswith("custom.")}


def discovered(config) -> Dict[str, dict]:
    return {s.name: s.json_schema for s in run_discover(config).catalog.catalog.streams}


@pytest.fixture(scope="module")
def catalog(simulator):
    return discovered(simulator.config())


@pytest.mark.parametrize("stream, obj", sorted(CUSTOM_FIELD_STREAMS.items()))
def test_every_custom_field_is_a_typed_titled_column(catalog, simulator, stream, obj):
    defined = definitions(simulator, obj)
    assert defined, f"the simulated account defines no {obj} fields: the test would prove nothing"
    columns = custom_columns(catalog[stream])
    assert sorted(columns) == sorted(f"custom.{d['id']}" for d in defined)
    for d in defined:
        column = columns[f"custom.{d['id']}"]
        value_type = EXPECTED_TYPE[d["type"]]
        assert column["title"] == d["name"]
        if d["accepts_multiple_values"]:
            assert column["type"] == ["null", "array"] and column["items"]["type"] == value_type, d
            assert column["items"].get("format") == EXPECTED_FORMAT.get(d["type"]), d
        else:
            assert column["type"] == ["null", value_type], d
            assert column.get("format") == EXPECTED_FORMAT.get(d["type"]), d
        if d.get("description"):
            assert column["description"] == d["description"]


def test_the_static_fields_stay(catalog):
    for stream in CUSTOM_FIELD_STREAMS:
        assert {"id", "date_created", "date_updated"} <= set(catalog[stream]["properties"]), stream
        assert catalog[stream]["additionalProperties"] is True


def test_every_record_fits_the_discovered_schema(catalog, simulator):
    read = sync_streams(simulator.config(), list(CUSTOM_FIELD_STREAMS), sync_mode="full_refresh")
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    seen = {"array": 0, "date": 0, "date-time": 0, "number": 0}
    for stream in CUSTOM_FIELD_STREAMS:
        columns = custom_columns(catalog[stream])
        validator = jsonschema.Draft7Validator(catalog[stream], format_checker=checker)
        records = read.records[stream]
        assert len(records) == len(simulator.truth(stream))
        for record in records:
            errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(record)]
            assert not errors, f"{stream} {record['id']}: {errors[:3]}"
            for key, value in record.items():
                if key in columns and value is not None:
                    column = columns[key]
                    if isinstance(value, list):
                        seen["array"] += 1
                    elif column.get("format") in seen:
                        seen[column["format"]] += 1
                    elif "number" in column["type"]:
                        seen["number"] += 1
        # Close sends no custom key the account does not define
        undeclared = {k for r in records for k in r if k.startswith("custom.") and k not in columns}
        assert not undeclared, f"{stream}: values of undeclared fields {sorted(undeclared)[:3]}"
    assert all(seen.values()), f"some kinds of custom values never occurred, so were never checked: {seen}"


def test_two_accounts_two_catalogs(make_simulator, simulator, catalog):
    other = make_simulator(seed=11, scale="small", rps=None, org_rps=None)
    other_catalog = discovered(other.config())
    for stream, obj in CUSTOM_FIELD_STREAMS.items():
        mine, theirs = set(custom_columns(catalog[stream])), set(custom_columns(other_catalog[stream]))
        assert theirs == {f"custom.{d['id']}" for d in definitions(other, obj)}
        assert not mine & theirs, f"{stream}: one account's fields leaked into the other's catalog"


def test_a_field_added_between_discovers_appears(make_simulator):
    sim = make_simulator(seed=7, scale="small", rps=None, org_rps=None)
    before = custom_columns(discovered(sim.config())["opportunities"])
    created = sim.mutate({
        "action": "create", "object_type": "custom_field", "subtype": "opportunity",
        "fields": {"name": "Renewal Dates", "type": "date", "accepts_multiple_values": True},
    })["records"][0]
    after = custom_columns(discovered(sim.config())["opportunities"])
    key = f"custom.{created['id']}"
    assert key not in before and set(after) == set(before) | {key}
    assert after[key]["title"] == "Renewal Dates"
    assert after[key]["type"] == ["null", "array"] and after[key]["items"] == {"type": "string", "format": "date"}


def test_shared_fields_are_read_once_per_discover_though_four_streams_use_them(make_simulator):
    sim = make_simulator(seed=7, scale="small", rps=None, org_rps=None)
    schemas = discovered(sim.config())
    paths = sim.stats()["paths"]
    assert paths["custom_field/shared/"]["requests"] == 1
    for stream, obj in CUSTOM_FIELD_STREAMS.items():  # and each stream still has its own and its shared columns
        assert paths[f"custom_field/{obj}/"]["requests"] == 1
        assert set(custom_columns(schemas[stream])) == {f"custom.{d['id']}" for d in definitions(sim, obj)}


def test_custom_activity_instances_and_deleted_records_follow_the_truth(make_simulator):
    sim = make_simulator(seed=7, scale="small", rps=None, org_rps=None)
    streams = ["custom_activity_instances", "deleted_records"]
    first = sync_streams(sim.config(), streams, sync_mode="incremental")
    for stream in streams:
        assert first.ids(stream) and set(first.ids(stream)) == {r["id"] for r in sim.truth(stream)}, stream

    created = sim.mutate({"action": "create", "object_type": "activity", "subtype": "custom", "count": 3})["records"]
    doomed_lead = sim.truth("leads")[5]
    deleted = sim.mutate({"action": "delete", "object_type": "lead", "id": doomed_lead["id"]})
    deleted_calls = sim.mutate({"action": "delete", "object_type": "activity", "subtype": "call", "count": 2})

    second = sync_streams(sim.config(), streams, sync_mode="incremental", state=first.final_state)
    assert {r["id"] for r in created} <= set(second.ids("custom_activity_instances"))
    for stream in streams:
        union = set(first.ids(stream)) | set(second.ids(stream))
        truth = {r["id"] for r in sim.truth(stream)}
        # a deleted lead takes its custom activities with it: the union may hold rows Close no longer has
        assert truth <= union, f"{stream}: {id_diff(union, truth)}"

    rows = {(r["object_type"], r["object_id"]): r for r in second.records["deleted_records"]}
    lead_row = rows[("lead", doomed_lead["id"])]
    assert lead_row["lead_id"] == doomed_lead["id"] and lead_row["date_deleted"]
    assert lead_row["previous_data"]["id"] == doomed_lead["id"]
    for event in deleted["events"] + deleted_calls["events"]:
        assert (event["object_type"], event["object_id"]) in rows, event["object_type"]
    assert len(deleted_calls["events"]) == 2 and all(e["user_id"] for e in deleted_calls["events"])
    assert all(rows[(e["object_type"], e["object_id"])]["user_id"] == e["user_id"] for e in deleted_calls["events"])
