"""The generated organisation: determinism, shapes, bursts, relationships, mutations, large scale."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone

import orjson
import pytest

from close_simulator.generator import parse_instant
from close_simulator.models import STREAM_SPECS, STREAMS, TASK_TYPES, Organization

ANCHOR = datetime(2025, 6, 15, tzinfo=timezone.utc)
NOW = ANCHOR.timestamp() + 5 * 3600  # a clock a few hours after the anchor, like a real run

TZ_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
TZ_S = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


def make_org(seed: int = 7, clock=lambda: NOW) -> Organization:
    return Organization(seed=seed, scale="small", anchor=ANCHOR, clock=clock)


@pytest.fixture(scope="module")
def org() -> Organization:
    return make_org()


def test_streams_list_is_the_contract():
    assert len(STREAMS) == 69
    assert {"custom_activity_instances", "deleted_records", "leads", "email_activities"} <= set(STREAMS)


def test_same_seed_same_bytes_for_every_stream(org):
    other = make_org()
    for stream in STREAMS:
        assert orjson.dumps(org.truth(stream)) == orjson.dumps(other.truth(stream)), stream
    assert org.api_key == other.api_key and org.api_key.startswith("api_") and len(org.api_key) == 26


def test_different_seed_changes_custom_fields(org):
    other = make_org(seed=8)
    for obj in ("lead", "contact", "opportunity"):
        a = {(d["id"], d["name"]) for d in org.custom_fields[obj]}
        b = {(d["id"], d["name"]) for d in other.custom_fields[obj]}
        assert not {i for i, _ in a} & {i for i, _ in b}
    names = lambda o: {d["name"] for obj in ("lead", "contact", "opportunity") for d in o.custom_fields[obj]}
    assert names(org) != names(other)


def test_every_stream_has_records_and_small_scale_size(org):
    sizes = {s: len(org.truth(s)) for s in STREAMS}
    assert all(sizes.values()), [s for s, n in sizes.items() if not n]
    assert 3000 <= sum(sizes.values()) <= 6000


def test_id_prefixes_and_lengths(org):
    def check(records, prefix, n):
        assert records
        for r in records:
            assert r["id"].startswith(prefix) and len(r["id"]) == len(prefix) + n, r["id"]

    check(org.truth("leads"), "lead_", 43)
    check(org.truth("contacts"), "cont_", 43)
    check(org.truth("opportunities"), "oppo_", 43)
    check(org.truth("users"), "user_", 43)
    check(org.truth("lead_statuses"), "stat_", 43)
    check(org.truth("pipelines"), "pipe_", 22)
    check(org.truth("lead_custom_fields"), "cf_", 43)
    check(org.truth("email_templates"), "tmpl_", 43)
    check(org.truth("email_sequences"), "seq_", 22)
    check(org.truth("dialer"), "dial_", 22)
    check(org.truth("smart_views"), "save_", 43)
    check(org.truth("integration_links"), "ilink_", 43)
    check(org.truth("custom_activities"), "actitype_", 22)
    check(org.truth("events"), "ev_", 22)
    check(org.truth("google_connected_accounts"), "emailacct_", 43)
    for stream, prefix in (("email_bulk_actions", "bulkemail_"), ("sequence_subscription_bulk_actions", "bulkseqsub_"),
                           ("delete_bulk_actions", "bulkdelete_"), ("edit_bulk_actions", "bulkedit_")):
        check(org.truth(stream), prefix, 43)
    for stream, (source, sel, _) in STREAM_SPECS.items():
        if source == "activity":
            check(org.truth(stream), "acti_", 43)
        if source == "tasks":
            check(org.truth(stream), "task_" if sel == "lead" else "noti_", 43)
    assert org.organization_id.startswith("orga_") and len(org.organization_id) == 48
    assert {r["id"] for r in org.truth("roles")} >= {"admin", "superuser", "restricteduser"}


def test_timestamp_formats_follow_close(org):
    assert all(TZ_MS.match(r["date_updated"]) for r in org.truth("leads"))
    emails = org.truth("email_activities")
    assert any(TZ_S.match(r["date_created"]) for r in emails) and any(TZ_MS.match(r["date_created"]) for r in emails)
    assert all(NAIVE.match(p["date_created"]) for p in org.truth("pipelines"))
    assert all(NAIVE.match(s["date_updated"]) for s in org.truth("email_sequences"))
    assert all(NAIVE.match(e["date_updated"]) for e in org.truth("events"))
    builtin = [r for r in org.truth("roles") if r["id"] == "admin"][0]
    assert builtin["date_created"] == "0001-01-01T00:00:00"
    won = [o["date_won"] for o in org.truth("opportunities") if o["date_won"]]
    assert won and all(DATE.match(d) for d in won)
    dates = [t["date"] for t in org.truth("lead_tasks")]
    assert any(DATE.match(d) for d in dates) and any(TZ_MS.match(d) for d in dates)


def test_import_bursts_share_one_midnight_instant(org):
    def biggest_burst(records, field):
        stamp, n = Counter(r[field] for r in records).most_common(1)[0]
        return parse_instant(stamp), n

    for stream, minimum in (("email_activities", 150), ("leads", 150)):
        t, n = biggest_burst(org.truth(stream), STREAM_SPECS[stream][2])
        assert n >= minimum, stream
    for stream, (source, _, cursor) in STREAM_SPECS.items():
        if source in ("activity", "tasks", "leads", "opportunities") and stream != "created_activities":
            t, n = biggest_burst(org.truth(stream), cursor)
            dt = datetime.fromtimestamp(t / 1e6, timezone.utc)
            assert n >= 20 and (dt.day, dt.hour, dt.minute, dt.second, dt.microsecond) == (1, 0, 0, 0, 0), stream
    burst_leads = [r for r in org.truth("leads") if r["date_created"] == r["date_updated"]
                   and r["date_created"].endswith("-01T00:00:00.000000+00:00")]
    assert len(burst_leads) >= 150


def test_relationships_are_consistent(org):
    leads = {r["id"]: r for r in org.truth("leads")}
    contacts = {r["id"]: r for r in org.truth("contacts")}
    users = {u["id"] for u in org.truth("users")}
    statuses = {s["id"] for s in org.truth("lead_statuses")}
    opp_statuses = {s["id"] for s in org.truth("opportunity_statuses")}
    pipelines = {p["id"] for p in org.truth("pipelines")}
    for lead in leads.values():
        assert lead["status_id"] in statuses
        for c in lead["contacts"]:
            assert contacts[c["id"]] == c
    assert sum(len(lead["contacts"]) for lead in leads.values()) == len(contacts)
    for o in org.truth("opportunities"):
        assert o["lead_id"] in leads and o["user_id"] in users
        assert o["status_id"] in opp_statuses and o["pipeline_id"] in pipelines
        assert o["contact_id"] is None or o["contact_id"] in contacts
    for stream, (source, sel, _) in STREAM_SPECS.items():
        if source == "activity":
            for a in org.truth(stream):
                assert a["lead_id"] in leads, stream
                # a form is submitted by a visitor, not a user
                assert a["user_id"] in users or (stream == "form_submission_activities" and a["user_id"] is None), stream
                assert a["contact_id"] is None or contacts[a["contact_id"]]["lead_id"] == a["lead_id"], stream
        if source == "tasks":
            for t in org.truth(stream):
                assert t["_type"] == sel and t["lead_id"] in leads and t["assigned_to"] in users
    types = {t["id"] for t in org.truth("custom_activities")}
    assert all(a["custom_activity_type_id"] in types for a in org.truth("custom_activity_instances"))


def test_custom_field_values_are_typed(org):
    leads = org.truth("leads")
    contacts = {c["id"] for c in org.truth("contacts")}
    users = {u["id"] for u in org.truth("users")}
    seen_multi = False
    for d in org.fields_for("lead"):
        key = "custom." + d["id"]
        values = [lead[key] for lead in leads if lead.get(key) is not None]
        assert values, d["name"]
        for v in values:
            items = v if d["accepts_multiple_values"] else [v]
            if d["accepts_multiple_values"]:
                assert isinstance(v, list)
                seen_multi = True
            for item in items:
                if d["type"] == "number":
                    assert isinstance(item, (int, float))
                elif d["type"] == "date":
                    assert DATE.match(item)
                elif d["type"] == "datetime":
                    assert TZ_MS.match(item)
                elif d["type"] == "choices":
                    assert item in d["choices"]
                elif d["type"] == "user":
                    assert item in users
                elif d["type"] == "contact":
                    assert item in contacts
    assert seen_multi or not any(d["accepts_multiple_values"] for d in org.fields_for("lead"))
    assert any(lead["custom"] for lead in leads)
    act_fields = org.truth("activity_custom_fields")
    assert act_fields and all(d["custom_activity_type_id"] for d in act_fields)
    assert any(k.startswith("custom.cf_") for a in org.truth("custom_activity_instances") for k in a)


def test_incremental_truth_respects_start_date(org):
    start = "2024-03-01"
    for stream in ("leads", "email_activities", "lead_tasks", "opportunities"):
        cursor = STREAM_SPECS[stream][2]
        got = org.truth(stream, start)
        everything = org.truth(stream)
        expected = [r for r in everything if parse_instant(r[cursor]) >= parse_instant(start)]
        assert 0 < len(got) < len(everything)
        assert {r["id"] for r in got} == {r["id"] for r in expected}


def test_events_and_deleted_records_in_the_30_day_window(org):
    events = org.truth("events")
    floor = parse_instant("2025-05-16T05:00:00")
    assert events and all(parse_instant(e["date_updated"]) >= floor for e in events)
    assert {"created", "updated", "deleted"} <= {e["action"] for e in events}
    rows = org.truth("deleted_records")
    assert {r["object_type"] for r in rows} >= {"lead", "contact"}
    listed = {r["id"] for r in org.truth("leads")}
    for r in rows:
        assert set(r) == {"id", "object_type", "object_id", "lead_id", "date_deleted", "user_id", "previous_data"}
        assert r["previous_data"]["id"] == r["object_id"]
        if r["object_type"] == "lead":
            assert r["object_id"] not in listed
    later_org = make_org(clock=lambda: NOW + 20 * 86400)
    assert len(later_org.truth("events")) < len(events)


def test_mutations_create_update_delete():
    clock_now = [NOW + 60]
    org = make_org(clock=lambda: clock_now[0])
    before = {s: len(org.truth(s)) for s in ("email_activities", "leads", "contacts", "events")}
    out = org.mutate({"action": "create", "object_type": "activity", "subtype": "email", "count": 3})
    assert len(out["records"]) == 3 and all(e["action"] == "created" for e in out["events"])
    emails = org.truth("email_activities")
    assert len(emails) == before["email_activities"] + 3
    assert {r["id"] for r in out["records"]} <= {r["id"] for r in emails}
    assert all(parse_instant(r["date_created"]) >= parse_instant(ANCHOR.isoformat()) for r in out["records"])

    contact = org.truth("contacts")[0]
    clock_now[0] += 5
    upd = org.mutate({"action": "update", "object_type": "contact", "id": contact["id"], "fields": {"title": "Chief"}})
    assert upd["records"][0]["title"] == "Chief"
    ev = upd["events"][0]
    assert ev["action"] == "updated" and "title" in ev["changed_fields"] and ev["previous_data"]["title"] == contact["title"]
    lead = [r for r in org.truth("leads") if r["id"] == contact["lead_id"]][0]
    assert lead["date_updated"] == upd["records"][0]["date_updated"]
    assert any(c["title"] == "Chief" for c in lead["contacts"])

    clock_now[0] += 5
    target = [r for r in org.truth("leads") if r["id"] != lead["id"]][0]
    # Close logs no events for Created activities: every other activity of the lead gets its deleted event.
    acts_before = sum(1 for s in STREAMS if STREAM_SPECS[s][0] == "activity" and s != "created_activities"
                      for a in org.truth(s) if a["lead_id"] == target["id"])
    dele = org.mutate({"action": "delete", "object_type": "lead", "id": target["id"]})
    assert target["id"] not in {r["id"] for r in org.truth("leads")}
    assert not [c for c in org.truth("contacts") if c["lead_id"] == target["id"]]
    assert not [a for s in STREAMS if STREAM_SPECS[s][0] == "activity" for a in org.truth(s) if a["lead_id"] == target["id"]]
    deleted_types = Counter(e["object_type"] for e in dele["events"])
    assert deleted_types["lead"] == 1 and deleted_types["contact"] == len(target["contacts"])
    assert sum(n for t, n in deleted_types.items() if t.startswith("activity.")) == acts_before
    rows = {r["object_id"]: r for r in org.truth("deleted_records")}
    assert rows[target["id"]]["previous_data"]["id"] == target["id"]

    cf = org.mutate({"action": "create", "object_type": "custom_field", "subtype": "lead",
                     "fields": {"name": "Added Later", "type": "number"}})
    assert "Added Later" in {d["name"] for d in org.truth("lead_custom_fields")}
    new_lead = org.mutate({"action": "create", "object_type": "lead", "fields": {"custom." + cf["records"][0]["id"]: 42}})
    assert new_lead["records"][0]["custom"]["Added Later"] == 42 or new_lead["records"][0]["custom." + cf["records"][0]["id"]] == 42
    assert len(org.truth("events")) > before["events"]
    with pytest.raises(ValueError):
        org.mutate({"action": "update", "object_type": "lead", "id": "lead_missing"})


def test_large_scale_pages_are_derived_on_demand():
    org = Organization(seed=3, scale="large", anchor=ANCHOR, clock=lambda: NOW)
    store = org.activity_stores["email"]
    assert store.n >= 1_000_000
    assert not store.updated and len(store.created.records) == 0
    before = store.materialised
    window = store.window(None, None)
    page = window.page(900_000, 100, True)
    assert len(page) == 100
    assert store.materialised - before <= 100
    stamps = [parse_instant(r["date_created"]) for r in page]
    assert stamps == sorted(stamps, reverse=True)
    # a date window is found by bisection, not by a scan
    lo, hi = parse_instant("2023-05-01"), parse_instant("2023-05-02")
    before = store.materialised
    day = store.window(lo, hi)
    first = day.page(0, 10, False)
    assert 0 < day.total() < 10_000 and store.materialised - before == len(first)
    assert all(lo <= parse_instant(r["date_created"]) < hi for r in first)
    # the same id always resolves to the same record
    rid = page[0]["id"]
    assert store.get(rid) == page[0]
    assert len(org.leads.records) >= 4_000
    assert all(k in TASK_TYPES for k in {t["_type"] for t in org.tasks.records.values()})


def test_a_change_rewrites_no_other_record_silently():
    """Close moves `date_updated` (or logs an event) for what it changes; no other record may change under a sync.

    Opportunities, contacts and tasks are edited and deleted; every activity that no event names keeps its bytes,
    including the old status-change and task-completed activities that copy their opportunity's or task's values."""
    org = make_org(seed=11)
    activity_streams = [s for s in STREAMS if s.endswith("_activities") or s == "custom_activity_instances"]
    before = {s: {r["id"]: orjson.dumps(r) for r in org.truth(s)} for s in activity_streams}
    touched: set[str] = set()
    for change in (
        {"action": "update", "object_type": "opportunity", "count": 25, "fields": {"confidence": 93}},
        {"action": "update", "object_type": "task", "count": 25, "fields": {"text": "Renamed"}},
        {"action": "delete", "object_type": "contact", "count": 25},
        {"action": "delete", "object_type": "opportunity", "count": 5},
    ):
        for event in org.mutate(change)["events"]:
            touched.add(event["object_id"])
    changed = [
        (s, rid)
        for s in activity_streams
        for rid, raw in ((r["id"], orjson.dumps(r)) for r in org.truth(s))
        if rid in before[s] and before[s][rid] != raw and rid not in touched
    ]
    assert touched and not changed, changed[:5]
