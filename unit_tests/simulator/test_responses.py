"""Close API semantics of ``CloseAPI.handle``: paging, caps, filters, event log, search, mutations."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from close_simulator.generator import MINUTE, fmt_tz_ms, parse_instant
from close_simulator.models import Organization
from close_simulator.responses import CloseAPI

ANCHOR = datetime(2025, 6, 15, tzinfo=timezone.utc)
NOW = ANCHOR.timestamp() + 5 * 3600


class Clock:
    def __init__(self, t: float = NOW):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def org() -> Organization:
    return Organization(seed=11, scale="small", anchor=ANCHOR, clock=lambda: NOW)


@pytest.fixture()
def api(org) -> CloseAPI:
    return CloseAPI(org, clock=Clock())


def get(api: CloseAPI, path: str, **params):
    return api.handle("GET", path, {k: [str(v)] for k, v in params.items()}, None)


def ok(api: CloseAPI, path: str, **params):
    status, body = get(api, path, **params)
    assert status == 200, body
    return body


def walk_offset(api, path, limit, **params):
    out, skip = [], 0
    while True:
        body = ok(api, path, _skip=skip, _limit=limit, **params)
        out += body["data"]
        if not body["has_more"]:
            return out
        assert len(body["data"]) == limit
        skip += limit


def search(api, body):
    return api.handle("POST", "data/search/", {}, orjson.dumps(body) if not isinstance(body, bytes) else body)


# ----------------------------------------------------------------------------------------- paging


def test_has_more_is_exact_at_page_boundaries(api, org):
    total = len(org.truth("contacts"))
    assert not ok(api, "contact/", _skip=total - 100, _limit=100)["has_more"]
    assert ok(api, "contact/", _skip=total - 101, _limit=100)["has_more"]
    assert ok(api, "contact/", _skip=total, _limit=100) == {"data": [], "has_more": False}
    walked = walk_offset(api, "contact/", 100)
    assert [c["id"] for c in walked] == [c["id"] for c in org.truth("contacts")]


def test_limit_caps_per_resource(api):
    for path, cap in (("lead/", 200), ("opportunity/", 250), ("task/", 1000), ("user/", 1000),
                      ("custom_field/lead/", 1000), ("sequence/", 1000), ("activity/email/", 100), ("contact/", 100)):
        assert get(api, path, _limit=cap)[0] == 200
        status, body = get(api, path, _limit=cap + 1)
        assert status == 400 and body == {
            "error": f"The limit you set is larger than the maximum limit for this resource (max_limit = {cap})."}


def test_skip_cap_default_override_and_runtime_change(org):
    api = CloseAPI(org, clock=Clock())
    msg = "The skip you set is larger than the maximum skip for this resource (max_skip = {}).\nPlease refine your search query."
    assert get(api, "activity/email/", _skip=250_000)[0] == 200
    assert get(api, "activity/email/", _skip=250_001) == (400, {"error": msg.format(250000)})
    small = CloseAPI(org, max_skip=300, clock=Clock())
    assert get(small, "lead/", _skip=300)[0] == 200
    assert get(small, "lead/", _skip=301) == (400, {"error": msg.format(300)})
    small.max_skip = 50
    assert get(small, "contact/", _skip=51) == (400, {"error": msg.format(50)})


def test_bad_skip_and_limit_messages(api):
    assert get(api, "lead/", _limit="x") == (400, {"error": '_limit must be an integer (got "x" instead).'})
    assert get(api, "lead/", _skip="1.5") == (400, {"error": '_skip must be an integer (got "1.5" instead).'})
    assert get(api, "lead/", _skip="-3") == (400, {"error": '_skip must be a non-negative integer (got "-3" instead).'})


def test_totals_and_aggregates(api, org):
    body = ok(api, "lead/", _limit=0)
    assert body["total_results"] == len(org.truth("leads")) and body["data"] == []
    opp = ok(api, "opportunity/", _limit=1)
    assert opp["total_results"] == len(org.truth("opportunities"))
    assert opp["total_value_annualized"] == sum(o["annualized_value"] or 0 for o in org.truth("opportunities"))


def test_settings_envelopes_and_unknown_paths(api, org):
    for path in ("status/lead/", "status/opportunity/", "pipeline/", "custom_activity/", "integration_link/", "send_as/"):
        body = ok(api, path)
        assert body["has_more"] is False and body["data"]
    role = ok(api, "role/")
    assert "cursor_next" in role and role["cursor_next"] is None and len(role["data"]) == len(org.truth("roles"))
    me = ok(api, "me/")
    assert me["id"] == org.me["id"] and me["organizations"][0]["id"] == org.organization_id
    assert get(api, "nothing_here/") == (404, {"error": "Not found"})
    assert get(api, "lead/lead_missing/")[0] == 404


def test_endpoint_groups(api):
    assert api.endpoint_group("POST", "data/search/") == "search"
    assert api.endpoint_group("GET", "me/") == "me"
    assert api.endpoint_group("GET", "activity/email/") == "activity"
    assert api.endpoint_group("GET", "status/lead/") == "status"


# ---------------------------------------------------------------------------------------- filters


def test_activity_date_windows_partition_and_ignore_date_updated(api, org):
    truth = org.truth("call_activities")
    mid = "2023-06-01T00:00:00Z"
    before = walk_offset(api, "activity/call/", 100, date_created__lt=mid)
    after = walk_offset(api, "activity/call/", 100, date_created__gte=mid)
    assert {r["id"] for r in before} | {r["id"] for r in after} == {r["id"] for r in truth}
    assert not {r["id"] for r in before} & {r["id"] for r in after}
    assert all(parse_instant(r["date_created"]) < parse_instant(mid) for r in before)
    stamps = [parse_instant(r["date_created"]) for r in after]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert len(walk_offset(api, "activity/call/", 100, date_updated__gte="2030-01-01")) == len(truth)
    naive = ok(api, "activity/call/", date_created__gte="2023-06-01T00:00:00", _limit=100)
    dated = ok(api, "activity/call/", date_created__gte="2023-06-01", _limit=100)
    assert naive == dated == ok(api, "activity/call/", date_created__gte=mid, _limit=100)


def test_burst_is_split_exactly_by_gt_and_gte(api, org):
    emails = org.truth("email_activities")
    burst = max({r["date_created"] for r in emails}, key=lambda s: sum(r["date_created"] == s for r in emails))
    gte = walk_offset(api, "activity/email/", 100, date_created__gte=burst)
    gt = walk_offset(api, "activity/email/", 100, date_created__gt=burst)
    lte = walk_offset(api, "activity/email/", 100, date_created__lte=burst)
    assert len(gte) - len(gt) >= 150
    assert len(lte) + len(gt) == len(emails)


def test_opportunity_and_task_date_updated_filters(api, org):
    lo, hi = "2024-01-01", "2024-07-01"
    for path, stream in (("opportunity/", "opportunities"), ("task/", "lead_tasks")):
        expected = [r for r in org.truth(stream) if parse_instant(lo) <= parse_instant(r["date_updated"]) < parse_instant(hi)]
        unordered = walk_offset(api, path, 100, date_updated__gte=lo, date_updated__lt=hi)
        assert {r["id"] for r in unordered} == {r["id"] for r in expected} and expected
    got = walk_offset(api, "opportunity/", 100, date_updated__gte=lo, date_updated__lt=hi, _order_by="date_updated")
    assert [r["id"] for r in got] == [r["id"] for r in org.truth("opportunities")
                                      if parse_instant(lo) <= parse_instant(r["date_updated"]) < parse_instant(hi)]


def test_sort_keys_close_does_not_document_are_refused(api):
    """Close sorts tasks by `date` or `date_created` only, activities by `date_created`; anything else is a 400."""
    for path, key in (("task/", "date_updated"), ("activity/email/", "date_updated"), ("opportunity/", "nonsense"),
                      ("task/", "-date_updated")):
        status, body = get(api, path, _order_by=key)
        assert status == 400 and "_order_by" in body["error"], (path, key, body)
    for path, key in (("task/", "date_created"), ("task/", "-date"), ("opportunity/", "-value"),
                      ("activity/call/", "date_created")):
        assert get(api, path, _order_by=key)[0] == 200, (path, key)


def test_event_log_refuses_filter_combinations_close_does_not_support(api):
    """Close documents which filter combinations GET event/ takes; `action` alone, `object_type` alone and `__in`
    forms are not among them. `_skip` is not a paging of the event log either."""
    for params in ({"action": "deleted"}, {"object_type": "lead"}, {"object_type__in": "lead,contact"},
                   {"action": "deleted", "lead_id": "lead_x"}, {"_skip": 50}):
        status, body = get(api, "event/", **params)
        assert status == 400 and body["error"], params
    for params in ({}, {"object_type": "lead", "action": "deleted"}, {"lead_id": "lead_x"},
                   {"object_type": "task.lead", "action": "deleted", "date_updated__gte": "2025-06-01"},
                   {"user_id": "user_x", "object_type": "contact", "action": "updated"}):
        assert get(api, "event/", **params)[0] == 200, params


def test_task_type_selection(api, org):
    default = walk_offset(api, "task/", 1000)
    assert {t["_type"] for t in default} == {"lead"}
    every = walk_offset(api, "task/", 1000, _type="all")
    streams = ("lead_tasks", "incoming_email_tasks", "email_followup_tasks", "missed_call_tasks",
               "answered_detached_call_tasks", "voicemail_tasks", "opportunity_due_tasks", "incoming_sms_tasks")
    assert len(every) == sum(len(org.truth(s)) for s in streams)
    two = walk_offset(api, "task/", 1000, _type__in="voicemail,missed_call")
    assert {t["_type"] for t in two} == {"voicemail", "missed_call"}
    assert len(two) == len(org.truth("voicemail_tasks")) + len(org.truth("missed_call_tasks"))
    only = walk_offset(api, "task/", 1000, _type="incoming_sms")
    assert all(t["id"].startswith("noti_") for t in only) and only


def test_connected_accounts_ignore_type(api):
    body = ok(api, "connected_account/", _type="google")
    assert {a["_type"] for a in body["data"]} == {"google", "custom_email", "zoom"}


def test_lead_id_and_fields(api, org):
    lead = org.truth("leads")[0]
    contacts = ok(api, "contact/", lead_id=lead["id"])["data"]
    assert [c["id"] for c in contacts] == [c["id"] for c in lead["contacts"]]
    slim = ok(api, "lead/", _fields="id,display_name", _limit=5)["data"]
    assert all(set(r) == {"id", "display_name"} for r in slim)
    custom = ok(api, "lead/", _fields="id,custom", _limit=50)["data"]
    assert any(k.startswith("custom.cf_") for r in custom for k in r)
    assert all(set(r) <= {"id", "custom"} | {k for k in r if k.startswith("custom.cf_")} for r in custom)


def test_lead_query_minute_precision(api, org):
    leads = org.truth("leads")
    lead = next(r for r in leads if parse_instant(r["date_updated"]) % MINUTE > 10_000_000)
    t = parse_instant(lead["date_updated"])
    later_same_minute = fmt_tz_ms(t - t % MINUTE + 59_000_000)
    ids = {r["id"] for r in walk_offset(api, "lead/", 200, query=f'date_updated >= "{later_same_minute}" sort:date_updated')}
    assert lead["id"] in ids  # a later bound in the same minute still matches
    ids = {r["id"] for r in walk_offset(api, "lead/", 200, query=f'date_updated < "{lead["date_updated"]}"')}
    assert lead["id"] not in ids  # strictly-less at minute precision excludes the whole minute
    floor = t - t % MINUTE
    expected = {r["id"] for r in leads if parse_instant(r["date_updated"]) - parse_instant(r["date_updated"]) % MINUTE > floor}
    body = ok(api, "lead/", query=f'date_updated > "{lead["date_updated"]}" sort:-date_updated', _limit=200)
    assert body["total_results"] == len(expected)
    stamps = [parse_instant(r["date_updated"]) for r in body["data"]]
    assert stamps == sorted(stamps, reverse=True)
    status, err = get(api, "lead/", query='name:"acme" OR nonsense(')
    assert status == 400 and 'nonsense(' in err["error"]


# ------------------------------------------------------------------------------------------ events


def test_event_cursor_paging_covers_the_window(org):
    api = CloseAPI(org, clock=Clock())
    seen, cursor, pages = [], None, 0
    while True:
        params = {"_limit": 50}
        if cursor:
            params["_cursor"] = cursor
        body = ok(api, "event/", **params)
        assert len(body["data"]) <= 50
        seen += body["data"]
        pages += 1
        cursor = body["cursor_next"]
        if not cursor:
            break
    truth = org.truth("events")
    assert {e["id"] for e in seen} == {e["id"] for e in truth} and len(seen) == len(truth) and pages > 2
    keys = [(parse_instant(e["date_updated"]), e["id"]) for e in seen]
    assert keys == sorted(keys, reverse=True)
    assert get(api, "event/", _limit=51) == (400, {"error": "The limit you set is larger than the maximum limit for this resource (max_limit = 50)."})
    some_type = next(e["object_type"] for e in truth if e["action"] == "deleted")
    deleted = ok(api, "event/", object_type=some_type, action="deleted")["data"]
    assert deleted and all(e["action"] == "deleted" and e["object_type"] == some_type for e in deleted)
    leads_only = ok(api, "event/", object_type="lead", action="updated", date_updated__gte="2025-06-01")["data"]
    assert leads_only and all(e["object_type"] == "lead" and e["date_updated"] >= "2025-06-01" for e in leads_only)


def test_events_older_than_30_days_are_not_served(org):
    early = ok(CloseAPI(org, clock=Clock()), "event/", _limit=50)
    late_api = CloseAPI(org, clock=Clock(NOW + 25 * 86400))
    total_late = 0
    cursor = None
    while True:
        body = ok(late_api, "event/", **({"_cursor": cursor} if cursor else {}))
        total_late += len(body["data"])
        assert all(parse_instant(e["date_updated"]) >= int((NOW - 5 * 86400) * 1e6) for e in body["data"])
        cursor = body["cursor_next"]
        if not cursor:
            break
    assert early["data"] and total_late < len(org.truth("events"))


# ------------------------------------------------------------------------------------------ search


def contact_query(lo: str | None = None):
    cond = {"type": "moment_range"}
    if lo:
        cond["on_or_after"] = {"type": "fixed_utc", "value": lo}
    return {"type": "and", "queries": [
        {"type": "object_type", "object_type": "contact"},
        {"type": "field_condition", "field": {"type": "regular_field", "object_type": "contact", "field_name": "date_updated"},
         "condition": cond}]}


SORT_UPDATED = [{"field": {"type": "regular_field", "object_type": "contact", "field_name": "date_updated"},
                 "direction": "asc"}]


def test_search_cursor_walk_matches_truth(org):
    clock = Clock()
    api = CloseAPI(org, clock=clock)
    lo = "2023-01-01T00:00:00Z"
    body = {"query": contact_query(lo), "_fields": {"contact": ["id", "date_updated", "lead_id"]},
            "sort": SORT_UPDATED, "_limit": 100}
    rows, cursor = [], None
    while True:
        status, page = search(api, {**body, "cursor": cursor})
        assert status == 200, page
        rows += page["data"]
        cursor = page["cursor"]
        clock.t += 5
        if not cursor:
            break
    expected = [c for c in org.truth("contacts") if parse_instant(c["date_updated"]) >= parse_instant(lo)]
    assert {r["id"] for r in rows} == {c["id"] for c in expected} and len(rows) == len(expected)
    assert all(set(r) == {"__object_type", "id", "date_updated", "lead_id"} and r["__object_type"] == "contact" for r in rows)
    keys = [(parse_instant(r["date_updated"]), r["id"]) for r in rows]
    assert keys == sorted(keys)
    status, only_ids = search(api, {"query": contact_query(lo), "_limit": 3})
    assert all(set(r) == {"__object_type", "id"} for r in only_ids["data"])


def test_search_cursor_expires_after_30_seconds(org):
    clock = Clock()
    api = CloseAPI(org, clock=clock)
    status, page = search(api, {"query": contact_query(), "_limit": 10})
    assert status == 200 and page["cursor"]
    clock.t += 29
    assert search(api, {"query": contact_query(), "_limit": 10, "cursor": page["cursor"]})[0] == 200
    clock.t += 31
    assert search(api, {"query": contact_query(), "_limit": 10, "cursor": page["cursor"]}) == (
        400, {"error": "Cursor has expired. Please restart your search."})


def test_search_errors(api):
    assert search(api, b"{not json") == (400, {"error": "The request contains invalid JSON."})
    assert search(api, b"[1, 2]") == (400, {"error": "JSON data must be a dict."})
    assert api.handle("POST", "data/search/", {}, None)[0] == 400
    status, body = search(api, {"query": {"type": "bogus_node"}})
    assert status == 400 and "bogus_node" in body["error"]
    status, body = search(api, {"query": contact_query(), "_limit": 201})
    assert status == 400 and "max_limit = 200" in body["error"]


def test_search_stops_after_10000_results():
    org = Organization(seed=5, scale="medium", anchor=ANCHOR, clock=lambda: NOW)
    clock = Clock()
    api = CloseAPI(org, clock=clock)
    query = {"type": "or", "queries": [{"type": "object_type", "object_type": "lead"},
                                       {"type": "object_type", "object_type": "contact"}]}
    assert len(org.leads.records) + len(org.contacts.records) > 10_000
    total, cursor, types = 0, None, set()
    while True:
        status, page = search(api, {"query": query, "_limit": 200, "cursor": cursor})
        assert status == 200
        total += len(page["data"])
        types |= {r["__object_type"] for r in page["data"]}
        cursor = page["cursor"]
        if not cursor:
            break
    assert total == 10_000 and types == {"lead", "contact"}


# --------------------------------------------------------------------------------------- mutations


def test_mutations_show_in_lists_and_events():
    clock = Clock()
    org = Organization(seed=12, scale="small", anchor=ANCHOR, clock=clock)
    api = CloseAPI(org, clock=clock)
    total = ok(api, "lead/", _limit=0)["total_results"]
    clock.t += 10
    created = org.mutate({"action": "create", "object_type": "lead", "count": 2})
    assert ok(api, "lead/", _limit=0)["total_results"] == total + 2
    bound = created["records"][0]["date_updated"]
    fresh = ok(api, "lead/", query=f'date_updated >= "{bound}" sort:date_updated', _limit=200)["data"]
    assert {r["id"] for r in created["records"]} <= {r["id"] for r in fresh}
    newest = ok(api, "activity/call/", _limit=1)["data"][0]
    clock.t += 10
    org.mutate({"action": "delete", "object_type": "activity", "id": newest["id"]})
    assert ok(api, "activity/call/", _limit=1)["data"][0]["id"] != newest["id"]
    events = ok(api, "event/", object_type="activity.call", object_id=newest["id"])["data"]
    assert events[0]["action"] == "deleted" and events[0]["previous_data"]["id"] == newest["id"]  # newest first
    task = ok(api, "task/", _type="voicemail", _limit=1)["data"][0]
    clock.t += 10
    org.mutate({"action": "update", "object_type": "task", "id": task["id"], "fields": {"is_complete": True}})
    recent = ok(api, "task/", _type="voicemail", date_updated__gte=fmt_tz_ms(int(clock.t * 1e6) - 1_000_000))["data"]
    assert [t["id"] for t in recent] == [task["id"]] and recent[0]["is_complete"] is True
