"""The workspace resources (close_simulator/workspace.py): records that hang together, and Close's refusals."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from close_simulator.models import Organization
from close_simulator.responses import CloseAPI

ANCHOR = datetime(2025, 6, 15, tzinfo=timezone.utc)
NOW = ANCHOR.timestamp() + 5 * 3600


@pytest.fixture(scope="module")
def org() -> Organization:
    return Organization(seed=11, scale="small", anchor=ANCHOR, clock=lambda: NOW)


@pytest.fixture()
def api(org) -> CloseAPI:
    return CloseAPI(org, clock=lambda: NOW)


def get(api: CloseAPI, path: str, **params):
    return api.handle("GET", path, {k: [str(v)] for k, v in params.items()}, None)


def test_ids_carry_closes_prefixes(org):
    prefixes = {"forms": "form_", "custom_objects": "custobj_", "custom_object_types": "cotype_",
                "custom_object_custom_fields": "cf_", "comment_threads": "cmtthr_", "comments": "comm_",
                "phone_numbers": "phon_", "sms_templates": "smstmpl_", "groups": "group_", "webhooks": "whsub_",
                "sequence_subscriptions": "sub_", "memberships": "memb_", "scheduling_links": "schedlink_"}
    for stream, prefix in prefixes.items():
        records = org.truth(stream)
        assert records, stream
        assert all(r["id"].startswith(prefix) for r in records), stream


def test_records_point_at_what_exists(org):
    leads = {r["id"] for r in org.truth("leads")}
    users = {u["id"] for u in org.truth("users")}
    contacts = {c["id"]: c for c in org.truth("contacts")}
    threads = {t["id"]: t for t in org.truth("comment_threads")}
    comments = org.truth("comments")
    assert {c["thread_id"] for c in comments} == set(threads)
    for t in threads.values():
        assert t["lead_id"] in leads and t["comment_count"] == sum(c["thread_id"] == t["id"] for c in comments)
    sequences = {s["id"] for s in org.truth("email_sequences")}
    for sub in org.truth("sequence_subscriptions"):
        assert sub["sequence_id"] in sequences and contacts[sub["contact_id"]]["lead_id"] == sub["lead_id"]
    types = {t["id"]: {f["id"] for f in t["fields"]} for t in org.truth("custom_object_types")}
    for obj in org.truth("custom_objects"):
        assert obj["lead_id"] in leads
        assert {k[7:] for k in obj if k.startswith("custom.")} <= types[obj["custom_object_type_id"]]
    fields = {f["id"] for f in org.truth("custom_object_custom_fields")}
    assert fields == set().union(*types.values())
    forms = {f["id"]: {x["id"] for x in f["fields"]} for f in org.truth("forms")}
    for sub in org.truth("form_submission_activities"):
        assert set(sub["values"]) == forms[sub["form_id"]]
    for merge in org.truth("lead_merge_activities"):
        assert merge["destination_lead_id"] == merge["lead_id"] and merge["source_lead_id"] not in leads
    assert {m["user_id"] for m in org.truth("memberships")} == users
    assert all(m["user_id"] in users for g in org.truth("groups") for m in g["members"])
    assert all(e["id"] == e["email"] for e in org.truth("unsubscribed_emails"))


@pytest.mark.parametrize("path, params", [
    ("comment/", {}),
    ("comment/", {"thread_id": "cmtthr_x", "object_id": "lead_x"}),
    ("sequence_subscription/", {}),
    ("custom_object/", {}),
])
def test_lists_that_need_a_filter_refuse_without_one(api, path, params):
    status, body = get(api, path, **params)
    assert status == 400, body
    assert body.get("error") or body.get("field-errors")


def test_filtered_lists_serve_their_parents_records(api, org):
    thread = org.truth("comment_threads")[0]
    status, body = get(api, "comment/", thread_id=thread["id"])
    assert status == 200 and [c["thread_id"] for c in body["data"]] == [thread["id"]] * thread["comment_count"]
    status, body = get(api, "comment/", object_id=thread["object_id"])
    assert status == 200 and {c["object_id"] for c in body["data"]} == {thread["object_id"]}
    sub = org.truth("sequence_subscriptions")[0]
    status, body = get(api, "sequence_subscription/", sequence_id=sub["sequence_id"], _limit=1)
    assert status == 200 and body["data"][0]["sequence_id"] == sub["sequence_id"]
    assert body["has_more"] == (sum(s["sequence_id"] == sub["sequence_id"] for s in org.truth("sequence_subscriptions")) > 1)
    obj = org.truth("custom_objects")[0]
    status, body = get(api, "custom_object/", lead_id=obj["lead_id"])
    assert status == 200 and obj["id"] in {o["id"] for o in body["data"]}
    assert {o["lead_id"] for o in body["data"]} == {obj["lead_id"]}


def test_groups_list_leaves_members_to_the_single_group(api, org):
    status, body = get(api, "group/")
    assert status == 200 and body["data"] and all("members" not in g for g in body["data"])
    group = org.truth("groups")[0]
    status, body = get(api, f"group/{group['id']}/")
    assert status == 200 and body == group


def test_organization_lists_the_memberships(api, org):
    status, body = get(api, f"organization/{org.organization_id}/")
    assert status == 200 and body["memberships"] == org.truth("memberships")


def test_search_reaches_custom_objects_by_date_updated(api, org):
    objects = org.truth("custom_objects")
    middle = objects[len(objects) // 2]["date_updated"]
    query = {"query": {"type": "and", "queries": [
        {"type": "object_type", "object_type": "custom_object"},
        {"type": "field_condition", "field": {"type": "regular_field", "object_type": "custom_object", "field_name": "date_updated"},
         "condition": {"type": "moment_range", "on_or_after": {"type": "fixed_utc", "value": middle}}}]},
        "sort": [{"field": {"type": "regular_field", "object_type": "custom_object", "field_name": "date_updated"}, "direction": "asc"}],
        "_fields": {"custom_object": ["id", "date_updated"]}, "_limit": 200}
    status, body = api.handle("POST", "data/search/", {}, orjson.dumps(query))
    assert status == 200
    assert [r["id"] for r in body["data"]] == [o["id"] for o in objects if o["date_updated"] >= middle]
    assert all(r["__object_type"] == "custom_object" for r in body["data"])


def test_custom_object_changes_move_date_updated_and_write_events():
    org = Organization(seed=11, scale="small", anchor=ANCHOR, clock=lambda: NOW)
    before = {o["id"]: o for o in org.truth("custom_objects")}
    created = org.mutate({"action": "create", "object_type": "custom_object", "fields": {"name": "New plan"}})
    new = created["records"][0]
    assert new["id"] not in before and new["name"] == "New plan"
    assert [e["action"] for e in created["events"]] == ["created"] and created["events"][0]["object_type"] == "custom_object"
    target = sorted(before)[0]
    updated = org.mutate({"action": "update", "object_type": "custom_object", "id": target})["records"][0]
    assert updated["date_updated"] > before[target]["date_updated"]
    org.mutate({"action": "delete", "object_type": "custom_object", "id": target})
    after = {o["id"]: o for o in org.truth("custom_objects")}
    assert target not in after and new["id"] in after
    assert target in {r["object_id"] for r in org.truth("deleted_records") if r["object_type"] == "custom_object"}
