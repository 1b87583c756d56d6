"""Checks of the stream JSON schemas in source_close_com/schemas/.

1. Every stream has a well-formed, open (additionalProperties) draft-07 schema with its primary key
   and, for incremental streams, its cursor field.
2. Every record the Close simulator serves validates against its stream's schema (types checked,
   formats left as annotations), for two seeds and after mutations.
3. Focused type checks: money is integer cents, date_won is a plain date, list-valued custom field
   values belong to fields that accept multiple values, and no declared type disagrees with the data.
"""
from __future__ import annotations

import copy
import json
import pathlib
import re
from collections import defaultdict

import jsonschema
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "source_close_com" / "schemas"
# The 45 streams of the original connector, whose names and cursors an existing connection keeps:
# stream -> cursor field (None for full refresh).
ORIGINAL_STREAMS: dict[str, str | None] = {
    "leads": "date_updated",
    "opportunities": "date_updated",
    "events": "date_updated",
    "created_activities": "date_created",
    "note_activities": "date_created",
    "email_thread_activities": "date_created",
    "email_activities": "date_created",
    "sms_activities": "date_created",
    "call_activities": "date_created",
    "meeting_activities": "date_created",
    "lead_status_change_activities": "date_created",
    "opportunity_status_change_activities": "date_created",
    "task_completed_activities": "date_created",
    "lead_tasks": "date_updated",
    "incoming_email_tasks": "date_updated",
    "email_followup_tasks": "date_updated",
    "missed_call_tasks": "date_updated",
    "answered_detached_call_tasks": "date_updated",
    "voicemail_tasks": "date_updated",
    "opportunity_due_tasks": "date_updated",
    "incoming_sms_tasks": "date_updated",
    "contacts": None,
    "users": None,
    "roles": None,
    "lead_statuses": None,
    "opportunity_statuses": None,
    "pipelines": None,
    "lead_custom_fields": None,
    "contact_custom_fields": None,
    "opportunity_custom_fields": None,
    "activity_custom_fields": None,
    "custom_activities": None,
    "email_templates": None,
    "email_sequences": None,
    "dialer": None,
    "smart_views": None,
    "send_as": None,
    "integration_links": None,
    "email_bulk_actions": None,
    "sequence_subscription_bulk_actions": None,
    "delete_bulk_actions": None,
    "edit_bulk_actions": None,
    "google_connected_accounts": None,
    "custom_email_connected_accounts": None,
    "zoom_connected_accounts": None,
}

# Streams beyond the original 45, with the field that must be declared besides `id`.
EXTRA_STREAMS: dict[str, str | None] = {
    "custom_activity_instances": "date_created",
    "deleted_records": "date_deleted",
    "whatsapp_message_activities": "date_created",
    "form_submission_activities": "date_created",
    "lead_merge_activities": "date_created",
    "custom_objects": "date_updated",
    **{stream: None for stream in (
        "forms", "custom_object_types", "custom_object_custom_fields", "shared_custom_fields", "comment_threads",
        "comments", "phone_numbers", "blocked_phone_numbers", "sms_templates", "outcomes", "unsubscribed_emails",
        "scheduling_links", "shared_scheduling_links", "groups", "webhooks", "sequence_subscriptions", "playbooks",
        "memberships")},
}

# Properties that may be declared non-null: fields the connector itself always fills.
NON_NULL_PROPERTIES = {
    ("deleted_records", "$.id"),
    ("deleted_records", "$.object_type"),
    ("deleted_records", "$.object_id"),
    ("deleted_records", "$.date_deleted"),
}

MONEY_KEYS = {
    "value",
    "expected_value",
    "annualized_value",
    "annualized_expected_value",
    "opportunity_value",
}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Stream -> object type of its custom fields (`<object>_custom_fields`).
CUSTOM_FIELD_OWNER = {
    "leads": "lead",
    "contacts": "contact",
    "opportunities": "opportunity",
    "custom_activity_instances": "activity",
    "custom_objects": "custom_object",
}
# Nested collections whose items carry their own custom field values.
NESTED_CUSTOM_OWNER = {"contacts": "contact", "opportunities": "opportunity"}


STREAMS = ORIGINAL_STREAMS
ALL_STREAMS: dict[str, str | None] = {**STREAMS, **EXTRA_STREAMS}


def _schema(stream: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{stream}.json").read_text())


# --------------------------------------------------------------------------- 1. shape


def test_the_original_streams_are_all_kept():
    assert len(STREAMS) == 45, sorted(STREAMS)
    incremental = {k for k, v in STREAMS.items() if v}
    assert len(incremental) == 21, sorted(incremental)


def test_no_unexpected_schema_files():
    files = {p.stem for p in SCHEMA_DIR.glob("*.json")}
    assert files == set(ALL_STREAMS), {
        "missing": sorted(set(ALL_STREAMS) - files),
        "unexpected": sorted(files - set(ALL_STREAMS)),
    }


def _walk_schema(node, path="$"):
    """Yield (path, subschema) for every schema node reachable through properties/items."""
    yield path, node
    if not isinstance(node, dict):
        return
    for key, sub in (node.get("properties") or {}).items():
        yield from _walk_schema(sub, f"{path}.{key}")
    items = node.get("items")
    if isinstance(items, dict):
        yield from _walk_schema(items, f"{path}[]")


def _types(node) -> set[str]:
    t = node.get("type")
    if t is None:
        return set()
    return {t} if isinstance(t, str) else set(t)


@pytest.mark.parametrize("stream", sorted(ALL_STREAMS))
def test_schema_is_valid_and_open(stream):
    path = SCHEMA_DIR / f"{stream}.json"
    assert path.exists(), f"missing schema file {path}"
    schema = _schema(stream)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema.get("$schema") == "http://json-schema.org/draft-07/schema#"
    assert schema.get("type") == "object"
    assert schema.get("additionalProperties") is True
    assert isinstance(schema.get("description"), str) and schema["description"].strip()
    props = schema.get("properties") or {}
    assert "id" in props, "primary key id not declared"
    cursor = ALL_STREAMS[stream]
    if cursor:
        assert cursor in props, f"cursor field {cursor} not declared"

    problems = []
    raw = path.read_text()
    if "$ref" in raw:
        problems.append("uses $ref")
    for p, node in _walk_schema(schema):
        if not isinstance(node, dict):
            problems.append(f"{p}: not an object schema")
            continue
        types = _types(node)
        if not types:
            problems.append(f"{p}: no type")
        if "object" in types and node.get("additionalProperties") is not True:
            problems.append(f"{p}: object without additionalProperties true")
        if "array" in types and not isinstance(node.get("items"), dict):
            problems.append(f"{p}: array without items")
        is_property = not p.endswith("[]") and p != "$"
        if is_property and "null" not in types and (stream, p) not in NON_NULL_PROPERTIES:
            problems.append(f"{p}: not nullable (Close may send null)")
        if p.rsplit(".", 1)[-1].startswith("custom.cf_"):
            problems.append(f"{p}: hard-coded custom field value")
        if "pattern" in node:
            problems.append(f"{p}: pattern (Close timestamps come in mixed formats)")
        fmt = node.get("format")
        if fmt in ("date", "date-time") and types != {"null", "string"} and p.count(".") == 1 \
                and stream != "deleted_records":
            problems.append(f"{p}: {fmt} field should be a nullable string")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- simulator data


def _models():
    return pytest.importorskip("close_simulator.models")


def _records_by_stream(org) -> tuple[dict[str, list], list[str]]:
    out, errors = {}, []
    for stream in sorted(ALL_STREAMS):
        try:
            out[stream] = list(org.truth(stream))
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            errors.append(f"{stream}: org.truth() raised {type(exc).__name__}: {exc}")
    return out, errors


def _mutate_all(org) -> list[str]:
    """Apply a mix of mutations; return the ones the simulator rejected."""
    errors = []

    def run(payload):
        try:
            org.mutate(payload)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"mutate({payload!r}) raised {type(exc).__name__}: {exc}")

    leads = list(org.truth("leads"))
    contacts = list(org.truth("contacts"))
    opportunities = list(org.truth("opportunities"))
    run({"action": "create", "object_type": "activity", "subtype": "email", "count": 3})
    run({"action": "create", "object_type": "activity", "subtype": "call", "count": 2})
    run({"action": "create", "object_type": "activity", "subtype": "custom", "count": 2})
    run({"action": "create", "object_type": "activity", "subtype": "status_change/opportunity"})
    run({"action": "create", "object_type": "task", "subtype": "incoming_email"})
    run({"action": "create", "object_type": "task", "subtype": "lead", "count": 2})
    run({"action": "create", "object_type": "custom_field", "subtype": "contact"})
    run({"action": "create", "object_type": "lead", "count": 2})
    run({"action": "create", "object_type": "contact", "count": 2})
    run({"action": "create", "object_type": "opportunity", "count": 2})
    if leads:
        run({"action": "update", "object_type": "lead", "id": leads[0]["id"]})
    if contacts:
        run({"action": "update", "object_type": "contact", "id": contacts[0]["id"]})
    if opportunities:
        run({"action": "update", "object_type": "opportunity", "id": opportunities[0]["id"]})
    run({"action": "update", "object_type": "activity", "subtype": "call", "count": 2})
    run({"action": "update", "object_type": "task", "subtype": "lead", "count": 2})
    if len(leads) > 1:
        run({"action": "delete", "object_type": "lead", "id": leads[-1]["id"]})
    if len(contacts) > 1:
        run({"action": "delete", "object_type": "contact", "id": contacts[1]["id"]})
    run({"action": "delete", "object_type": "activity", "subtype": "email", "count": 2})
    return errors


_CACHE: dict[str, tuple] = {}


def _scenario(name: str):
    if name not in _CACHE:
        models = _models()
        if name == "seed7":
            org = models.Organization(seed=7, scale="small")
            setup_errors = []
        elif name == "seed11":
            org = models.Organization(seed=11, scale="small")
            setup_errors = []
        else:
            org = models.Organization(seed=7, scale="small")
            setup_errors = _mutate_all(org)
        records, errors = _records_by_stream(org)
        _CACHE[name] = (org, records, setup_errors + errors)
    return _CACHE[name]


SCENARIOS = ["seed7", "seed11", "seed7_mutated"]


def _fmt_path(parts) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


# --------------------------------------------------------------------------- 2. records validate


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_simulator_records_validate(scenario):
    _org, records, errors = _scenario(scenario)
    failures = list(errors)
    empty = []
    for stream, rows in sorted(records.items()):
        validator = jsonschema.Draft7Validator(_schema(stream))
        if not rows:
            empty.append(stream)
        seen = set()
        for row in rows:
            for err in validator.iter_errors(row):
                key = (stream, _fmt_path(err.absolute_path), err.validator)
                if key in seen:
                    continue
                seen.add(key)
                failures.append(
                    f"{stream} {_fmt_path(err.absolute_path)}: {err.message[:200]} "
                    f"(record id {row.get('id') if isinstance(row, dict) else '?'})")
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures)
    # Every stream should have data to check; say which did not.
    assert not empty or scenario != "seed7", f"streams with no records: {empty}"


# --------------------------------------------------------------------------- 3. focused checks


def _type_ok(value, types: set[str]) -> bool:
    if value is None:
        return "null" in types
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, int):
        return bool(types & {"integer", "number"})
    if isinstance(value, float):
        return "number" in types or ("integer" in types and value.is_integer())
    if isinstance(value, str):
        return "string" in types
    if isinstance(value, list):
        return "array" in types
    if isinstance(value, dict):
        return "object" in types
    return False


def _values_at(schema_node, value, path, sink):
    """Walk value alongside schema_node; record (path, types, value) for declared nodes."""
    types = _types(schema_node)
    sink.append((path, types, value))
    if isinstance(value, dict):
        for key, sub in (schema_node.get("properties") or {}).items():
            if key in value:
                _values_at(sub, value[key], f"{path}.{key}", sink)
    elif isinstance(value, list) and isinstance(schema_node.get("items"), dict):
        for item in value:
            _values_at(schema_node["items"], item, f"{path}[]", sink)


def _schema_walk(scenario, walker):
    """(stream, path, what the schema declares there, value) for every value ``walker`` collects from every
    record of the scenario, walking each record alongside its stream's schema."""
    _org, records, _errors = _scenario(scenario)
    for stream, rows in records.items():
        schema = _schema(stream)
        for row in rows:
            sink = []
            walker(schema, row, "$", sink)
            for path, declared, value in sink:
                yield stream, path, declared, value


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_declared_types_match_data(scenario):
    bad = defaultdict(set)
    for stream, path, types, value in _schema_walk(scenario, _values_at):
        if types and not _type_ok(value, types):
            bad[(stream, path, tuple(sorted(types)))].add(f"{type(value).__name__}: {str(value)[:60]!r}")
    lines = [f"{s} {p} declared {list(t)} but got {sorted(v)[:3]}"
             for (s, p, t), v in sorted(bad.items())]
    assert not lines, "\n".join(lines)


def _walk_values(value, path="$"):
    if isinstance(value, dict):
        for key, sub in value.items():
            yield f"{path}.{key}", key, sub
            yield from _walk_values(sub, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _walk_values(item, f"{path}[]")


def test_money_fields_are_integer_cents():
    problems = []
    for stream in sorted(ALL_STREAMS):
        for p, node in _walk_schema(_schema(stream)):
            if p.rsplit(".", 1)[-1] in MONEY_KEYS and _types(node) != {"null", "integer"}:
                problems.append(f"schema {stream} {p}: declared {sorted(_types(node))}")
    for scenario in SCENARIOS:
        _org, records, _errors = _scenario(scenario)
        for stream, rows in records.items():
            if stream in ("events", "deleted_records"):
                continue  # nested data there is other objects' snapshots; covered by their streams
            for row in rows:
                for path, key, value in _walk_values(row):
                    if key in MONEY_KEYS and ".custom" not in path and value is not None and (
                            isinstance(value, bool) or not isinstance(value, int)):
                        problems.append(f"{scenario} {stream} {path}: {value!r} is not integer cents")
    assert not problems, "\n".join(sorted(set(problems)))


def test_date_won_is_a_date():
    problems = []
    for stream in sorted(ALL_STREAMS):
        for p, node in _walk_schema(_schema(stream)):
            if p.endswith(".date_won") and node.get("format") != "date":
                problems.append(f"schema {stream} {p}: format {node.get('format')!r}, expected date")
    for scenario in SCENARIOS:
        _org, records, _errors = _scenario(scenario)
        for stream, rows in records.items():
            for row in rows:
                for path, key, value in _walk_values(row):
                    if key == "date_won" and value is not None and not (
                            isinstance(value, str) and DATE_RE.match(value)):
                        problems.append(f"{scenario} {stream} {path}: {value!r} is not YYYY-MM-DD")
    assert not problems, "\n".join(sorted(set(problems)))


def _multi_value_ids(org, obj_type: str) -> tuple[set[str], set[str]]:
    """(ids of all custom fields, ids that accept multiple values) for an object type."""
    rows = list(org.truth(f"{obj_type}_custom_fields"))
    all_ids = {r["id"] for r in rows}
    multi = {r["id"] for r in rows if r.get("accepts_multiple_values") is True}
    return all_ids, multi


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_list_custom_values_belong_to_multi_value_fields(scenario):
    org, records, _errors = _scenario(scenario)
    defs = {t: _multi_value_ids(org, t) for t in ("lead", "contact", "opportunity", "activity", "custom_object")}
    problems = []

    def check(stream, owner, obj, where):
        all_ids, multi = defs[owner]
        for key, value in obj.items():
            if not key.startswith("custom.cf_"):
                continue
            field_id = key[len("custom."):]
            if field_id not in all_ids:
                problems.append(f"{stream} {where}.{key}: no such {owner} custom field")
            elif isinstance(value, list) and field_id not in multi:
                problems.append(f"{stream} {where}.{key}: list value {value!r} but the field "
                                "does not accept multiple values")
            elif field_id in multi and value is not None and not isinstance(value, list):
                problems.append(f"{stream} {where}.{key}: multi-value field sent {value!r}")

    for stream, owner, holder, where in _custom_value_holders(records):
        check(stream, owner, holder, where)
    assert not problems, "\n".join(sorted(set(problems)))


def _custom_value_holders(records):
    """(stream, custom field owner, record or nested record, its path) for everything that carries custom values:
    the records of the custom-field streams and, in leads, their nested contacts and opportunities."""
    for stream, owner in CUSTOM_FIELD_OWNER.items():
        for row in records.get(stream, []):
            yield stream, owner, row, "$"
            if stream == "leads":
                for child_key, child_owner in NESTED_CUSTOM_OWNER.items():
                    for child in row.get(child_key) or []:
                        yield stream, child_owner, child, f"$.{child_key}[]"


def test_no_custom_field_value_is_declared():
    for stream in sorted(ALL_STREAMS):
        for p, _node in _walk_schema(_schema(stream)):
            assert "custom.cf_" not in p, f"{stream}: {p} hard-codes an account's custom field"
    lead_custom = _schema("leads")["properties"]["custom"]
    assert lead_custom == {**lead_custom, "type": ["null", "object"], "additionalProperties": True}
    assert "properties" not in lead_custom


def test_schemas_accept_mixed_close_timestamps():
    """Naive, tz-aware, fractional and 0001-01-01 timestamps all validate."""
    samples = ["2021-07-13T11:39:05.012000+00:00", "2021-09-17T21:29:12+00:00",
               "2022-11-08T12:07:06.184401", "0001-01-01T00:00:00", None]
    for stream in ("roles", "pipelines", "events", "email_activities"):
        validator = jsonschema.Draft7Validator(_schema(stream))  # format is an annotation
        for ts in samples:
            row = {"id": "x", "date_created": ts, "date_updated": ts}
            errs = [e.message for e in validator.iter_errors(copy.deepcopy(row))]
            assert not errs, (stream, ts, errs)


TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?$")


def _format_sink(node, value, path, sink):
    if not isinstance(node, dict):
        return
    if isinstance(value, str) and node.get("format") in ("date", "date-time"):
        sink.append((path, node["format"], value))
    if isinstance(value, dict):
        for key, sub in (node.get("properties") or {}).items():
            if key in value:
                _format_sink(sub, value[key], f"{path}.{key}", sink)
    elif isinstance(value, list):
        for item in value:
            _format_sink(node.get("items"), item, f"{path}[]", sink)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_declared_formats_match_data(scenario):
    """A `date` field only ever carries YYYY-MM-DD; a `date-time` field carries a timestamp
    (tz-aware or naive, with or without a fraction), never a bare date."""
    bad = defaultdict(set)
    for stream, path, fmt, value in _schema_walk(scenario, _format_sink):
        good = DATE_RE.match(value) if fmt == "date" else TIMESTAMP_RE.match(value)
        if not good:
            bad[(stream, path, fmt)].add(value)
    lines = [f"{s} {p} declared format {f} but got {sorted(v)[:3]}"
             for (s, p, f), v in sorted(bad.items())]
    assert not lines, "\n".join(lines)


def _custom_value_ok(field_type: str, value) -> bool:
    """How Close types one (non-list) custom field value, by the field's type."""
    if value is None:
        return True
    if field_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if not isinstance(value, str):
        return False
    if field_type == "date":
        return bool(DATE_RE.match(value))
    if field_type == "datetime":
        return bool(TIMESTAMP_RE.match(value))
    if field_type == "user":
        return value.startswith("user_")
    if field_type == "contact":
        return value.startswith("cont_")
    return True  # text, textarea, choices, hidden, custom_object: strings


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_custom_values_match_their_field_type(scenario):
    """The connector types custom.cf_* columns from the field definitions at discover time:
    every value sent must fit its definition's type."""
    org, records, _errors = _scenario(scenario)
    defs = {t: {d["id"]: d for d in org.truth(f"{t}_custom_fields")}
            for t in ("lead", "contact", "opportunity", "activity", "custom_object")}
    problems = set()

    def check(stream, owner, obj, where):
        for key, value in obj.items():
            if not key.startswith("custom.cf_"):
                continue
            field = defs[owner].get(key[len("custom."):])
            if field is None:
                continue  # reported by test_list_custom_values_belong_to_multi_value_fields
            for v in value if isinstance(value, list) else [value]:
                if not _custom_value_ok(field.get("type"), v):
                    problems.add(f"{stream} {where}.{key} ({field.get('type')} "
                                 f"{field.get('name')!r}): {v!r}")

    for stream, owner, holder, where in _custom_value_holders(records):
        check(stream, owner, holder, where)
    assert not problems, "\n".join(sorted(problems))
