"""Records shaped like real Close records (unit_tests/real_shapes.py) fit each stream's discovered schema, and
reach the destination intact through the connector's read path: nested objects, objects inside arrays, naive and
whole-second timestamps (leaving with +00:00), RFC 2822 email dates, task dates that are date-times."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import jsonschema
import pytest

from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.models.airbyte_protocol_serializers import AirbyteCatalogSerializer

from source_close_com.components import DeletedRecordRow, UtcDateTimes
from tools.catalog import configured_catalog
from unit_tests.harness import run_discover, sync, with_utc
from unit_tests.real_shapes import real_records

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")

# A format checker as strict as a destination that types its columns: a date-time must carry its offset.
FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or bool(RFC3339.match(value)))
FORMATS.checks("date")(lambda value: not isinstance(value, str) or bool(DATE.match(value)))

# Streams whose records mutate() makes (the simulator then owns id, lead, type and dates); the rest are added as
# Close would list them.
MADE = {
    "leads": ("lead", None), "contacts": ("contact", None), "opportunities": ("opportunity", None),
    "created_activities": ("activity", "created"), "note_activities": ("activity", "note"),
    "email_activities": ("activity", "email"), "email_thread_activities": ("activity", "emailthread"),
    "sms_activities": ("activity", "sms"), "call_activities": ("activity", "call"),
    "meeting_activities": ("activity", "meeting"), "lead_status_change_activities": ("activity", "status_change/lead"),
    "opportunity_status_change_activities": ("activity", "status_change/opportunity"),
    "task_completed_activities": ("activity", "task_completed"), "custom_activity_instances": ("activity", "custom"),
    "whatsapp_message_activities": ("activity", "whatsapp_message"),
    "form_submission_activities": ("activity", "form_submission"), "lead_merge_activities": ("activity", "lead_merge"),
    "custom_objects": ("custom_object", None),
    **{f"{t}_tasks": ("task", t) for t in ("lead", "incoming_email", "email_followup", "missed_call",
                                            "answered_detached_call", "voicemail", "opportunity_due", "incoming_sms")},
}
OWNED_BY_THE_SIMULATOR = {"id", "_type", "lead_id", "date_created", "date_updated", "contacts", "opportunities", "tasks"}


def as_emitted(stream: str, record: dict, schema: dict) -> dict:
    """What the stream's own transformation and normalisation make of a record Close sends."""
    record = dict(record)
    if stream == "deleted_records":
        DeletedRecordRow().transform(record)
    UtcDateTimes(parameters={}, config={}).transform(record, schema)
    return record


def problems(schema: dict, records: list) -> list:
    """Schema violations (strict formats), and keys the schema does not declare: a destination gives those no
    typed column (or drops them)."""
    validator = jsonschema.Draft7Validator(schema, format_checker=FORMATS)
    found = [f"{r.get('id')}: {'/'.join(map(str, e.path))}: {e.message}" for r in records for e in validator.iter_errors(r)]
    return found + [f"{r.get('id')}: {path} is not declared" for r in records for path in undeclared(r, schema)]


def undeclared(node, schema: dict, path: str = ""):
    if isinstance(node, list):
        for item in node:
            yield from undeclared(item, schema.get("items") or {}, path + "[]")
    elif isinstance(node, dict) and "properties" in schema:
        for key, value in node.items():
            if key not in schema["properties"]:
                if not (path and key.startswith("custom.")):  # typed columns exist for top-level custom fields only
                    yield f"{path}/{key}"
            else:
                yield from undeclared(value, schema["properties"][key], f"{path}/{key}")


@pytest.fixture(scope="module")
def schemas(simulator):
    catalog = run_discover(simulator.config()).catalog.catalog
    return {stream.name: stream.json_schema for stream in catalog.streams}


def test_every_stream_has_real_shaped_records(schemas):
    assert set(real_records(datetime.now(timezone.utc))) == set(schemas)


@pytest.mark.parametrize("stream", sorted(real_records(datetime.now(timezone.utc))))
def test_real_shapes_fit_the_discovered_schema(schemas, stream):
    records = [as_emitted(stream, r, schemas[stream]) for r in real_records(datetime.now(timezone.utc))[stream]]
    assert records and not problems(schemas[stream], records), problems(schemas[stream], records)[:5]


def test_real_shapes_reach_the_destination_intact(make_simulator):
    """Served by the simulator and read by the connector, every real-shaped record arrives, fits the schema with
    strict formats, and carries the values Close sent (naive timestamps with +00:00 added)."""
    sim = make_simulator(rps=None, org_rps=None)
    fixtures = real_records(datetime.now(timezone.utc))
    expected = {}
    for stream, records in fixtures.items():
        for record in records:
            if stream in MADE:
                object_type, subtype = MADE[stream]
                fields = {k: v for k, v in record.items() if k not in OWNED_BY_THE_SIMULATOR}
                change = {"action": "create", "object_type": object_type, "subtype": subtype, "fields": fields}
                made = sim.mutate(change)["records"][0]
                expected[(stream, made["id"])] = fields
            else:
                sim.add_listed(stream, record)
                row = as_emitted(stream, record, {})
                expected[("deleted_records" if stream == "deleted_records" else stream, row["id"])] = row
    discovered = run_discover(sim.config()).catalog.catalog  # one discover, for the read and for the schemas
    catalog = ConfiguredAirbyteCatalogSerializer.load(
        configured_catalog(AirbyteCatalogSerializer.dump(discovered), "full_refresh")
    )
    result = sync(sim.config(), catalog=catalog)
    schemas = {s.name: s.json_schema for s in discovered.streams}
    emitted = {(stream, r["id"]): r for stream, rows in result.records.items() for r in rows}
    missing = [key for key in expected if key not in emitted]
    assert not missing, missing
    bad = []
    for (stream, rid), sent in expected.items():
        record = emitted[(stream, rid)]
        bad += problems(schemas[stream], [record])
        bad += [f"{stream} {rid}: {k} = {record.get(k)!r}, Close sent {v!r}"
                for k, v in with_utc(sent).items() if v is not None and record.get(k) != v]
    assert not bad, bad[:10]
