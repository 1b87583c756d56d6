"""Batch fetches (``id__in``, ``lead_id``), lead merges and what every change shows, checked over HTTP.

Every assertion reads what a client reads: records from the list and single-object endpoints, and the event log
filtered by object type and action (a combination Close supports), never the simulator's internals.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from close_simulator.generator import parse_instant
from close_simulator.models import ACTIVITY_EVENT_TYPES, ACTIVITY_KINDS, STREAM_SPECS, TASK_TYPES

NO_LIMIT = {"rps": None, "org_rps": None}
ACTIVITY_STREAMS = {sel: stream for stream, (source, sel, _) in STREAM_SPECS.items() if source == "activity"}
CHILD_TYPES = {"contacts": "contact", "opportunities": "opportunity", "custom_objects": "custom_object"}
LOGGED_KINDS = [k for k in ACTIVITY_KINDS if ACTIVITY_EVENT_TYPES[k] is not None]
EDITABLE_KINDS = [k for k in LOGGED_KINDS if k != "task_completed"]
SILENT_EDIT_KINDS = ["created", "lead_merge", "task_completed"]  # Close logs no update of these


def get(sim, path, **params):
    response = requests.get(sim.url + path, params=params, auth=sim.auth, timeout=30)
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


def status(sim, path, **params) -> int:
    return requests.get(sim.url + path, params=params, auth=sim.auth, timeout=30).status_code


def walk(sim, path, limit=100, **params) -> list[dict]:
    out, skip = [], 0
    while True:
        page = get(sim, path, _skip=skip, _limit=limit, **params)
        out += page["data"]
        if not page["has_more"]:
            return out
        assert len(page["data"]) == limit
        skip += limit


def events(sim, **filters) -> list[dict]:
    """Every event the log serves for ``filters``, following ``cursor_next``."""
    out, cursor = [], None
    while True:
        page = get(sim, "event/", **filters, **({"_cursor": cursor} if cursor else {}))
        out += page["data"]
        cursor = page["cursor_next"]
        if not cursor:
            return out


def control_mutate(sim, change: dict) -> requests.Response:
    return requests.post(sim.base_url + "/_simulator/mutate", json=change, timeout=60)


def path_of(kind: str) -> str:
    return f"activity/{kind}/"


@pytest.fixture
def sim(make_simulator):
    return make_simulator(**NO_LIMIT)


# ------------------------------------------------------------------------------------------- id__in


@pytest.mark.parametrize("kind", ACTIVITY_KINDS)
def test_id_in_on_every_typed_activity_list(sim, kind):
    listed = get(sim, path_of(kind), _limit=6)["data"]
    assert len(listed) == 6
    wanted = [r["id"] for r in listed[:5]]
    gone = listed[5]["id"]
    if kind in LOGGED_KINDS:
        sim.mutate({"action": "delete", "object_type": "activity", "id": gone})
    else:  # a kind Close logs no deletion of: an id that never existed stands in for a deleted one
        gone = "acti_" + "0" * 43
    asked = ",".join([*wanted, gone, "acti_nothere", wanted[0]])
    served = walk(sim, path_of(kind), limit=100, id__in=asked)
    assert served == listed[:5]  # the named records that exist, in the list's own order (newest first)
    first = get(sim, path_of(kind), id__in=asked, _limit=2)
    assert len(first["data"]) == 2 and first["has_more"] is True
    rest = get(sim, path_of(kind), id__in=asked, _limit=2, _skip=4)
    assert len(rest["data"]) == 1 and rest["has_more"] is False
    assert [r["id"] for r in first["data"] + get(sim, path_of(kind), id__in=asked, _limit=2, _skip=2)["data"]
            + rest["data"]] == [r["id"] for r in served]
    # ANDed with the other filters
    lead = served[0]["lead_id"]
    assert {r["id"] for r in get(sim, path_of(kind), id__in=asked, lead_id=lead)["data"]} == \
        {r["id"] for r in served if r["lead_id"] == lead}
    middle = parse_instant(served[2]["date_created"])
    after = get(sim, path_of(kind), id__in=asked, date_created__gte=served[2]["date_created"])["data"]
    assert after == [r for r in served if parse_instant(r["date_created"]) >= middle] and len(after) >= 3
    assert get(sim, path_of(kind), id__in="acti_nothere")["data"] == []
    # Close's cap on these lists stands
    assert status(sim, path_of(kind), id__in=asked, _limit=101) == 400


def test_id_in_on_tasks_keeps_the_type_filter(sim):
    lead_tasks = get(sim, "task/", _type="lead", _limit=4)["data"]
    voicemails = get(sim, "task/", _type="voicemail", _limit=3)["data"]
    removed = lead_tasks[3]["id"]
    sim.mutate({"action": "delete", "object_type": "task", "id": removed})
    ids = [t["id"] for t in lead_tasks[:3] + voicemails]
    asked = ",".join(ids + [removed, "task_nothere"])
    assert {t["id"] for t in walk(sim, "task/", id__in=asked)} == {t["id"] for t in lead_tasks[:3]}  # lead by default
    assert {t["id"] for t in walk(sim, "task/", id__in=asked, _type="voicemail")} == {t["id"] for t in voicemails}
    every = walk(sim, "task/", limit=2, id__in=asked, _type="all")
    assert sorted(t["id"] for t in every) == sorted(ids)
    page = get(sim, "task/", id__in=asked, _type="all", _limit=5)
    assert len(page["data"]) == 5 and page["has_more"] is True
    assert get(sim, "task/", id__in=asked, _type="all", _limit=5, _skip=5)["has_more"] is False
    lead = voicemails[0]["lead_id"]
    assert {t["id"] for t in walk(sim, "task/", id__in=asked, _type="all", lead_id=lead)} == \
        {t["id"] for t in lead_tasks[:3] + voicemails if t["lead_id"] == lead}
    assert status(sim, "task/", id__in=asked, _limit=1001) == 400


@pytest.mark.parametrize("kind", ACTIVITY_KINDS)
def test_lead_id_filters_every_typed_activity_list(simulator, kind):
    truth = simulator.truth(ACTIVITY_STREAMS[kind])
    lead, n = Counter(r["lead_id"] for r in truth).most_common(1)[0]
    served = walk(simulator, path_of(kind), limit=2, lead_id=lead) if n > 2 else get(simulator, path_of(kind), lead_id=lead)["data"]
    assert sorted(r["id"] for r in served) == sorted(r["id"] for r in truth if r["lead_id"] == lead)
    assert all(r["lead_id"] == lead for r in served)


# -------------------------------------------------------------------------------------------- merge


def rich_lead(sim, exclude=()) -> str:
    """The lead with the most kinds of children: contacts, opportunities, tasks, custom objects, activities."""
    kinds: dict[str, set[str]] = {}
    for stream, (source, sel, _) in STREAM_SPECS.items():
        if source in ("activity", "tasks") or stream in CHILD_TYPES:
            for r in sim.truth(stream):
                kinds.setdefault(r["lead_id"], set()).add(stream)
    needed = {"contacts", "opportunities", "custom_objects", "lead_tasks"}
    return max((lid for lid in kinds if lid not in exclude),
               key=lambda lid: (needed <= kinds[lid], len(kinds[lid]), lid))


def children_of(sim, lead_id: str) -> dict[str, list[dict]]:
    """Everything on a lead, per stream, from the ground truth."""
    out = {}
    for stream, (source, _, _) in STREAM_SPECS.items():
        if source in ("activity", "tasks") or stream in CHILD_TYPES:
            rows = [r for r in sim.truth(stream) if r["lead_id"] == lead_id]
            if rows:
                out[stream] = rows
    return out


def test_lead_merge_moves_everything_and_logs_what_close_logs(sim):
    source = rich_lead(sim)
    destination = rich_lead(sim, exclude={source})
    moved = children_of(sim, source)
    assert {"contacts", "opportunities", "custom_objects", "lead_tasks"} <= set(moved)
    assert sum(1 for s in moved if STREAM_SPECS[s][0] == "activity") >= 5
    dest_contacts = [c["id"] for c in get(sim, f"lead/{destination}/")["contacts"]]
    source_contacts = [c["id"] for c in get(sim, f"lead/{source}/")["contacts"]]

    response = control_mutate(sim, {"action": "merge", "object_type": "lead", "source": source,
                                    "destination": destination})
    assert response.status_code == 200, response.text
    result = response.json()
    stamp = result["records"][0]["date_updated"]
    now = parse_instant(stamp)
    meta = {"merge_source_lead_id": source, "merge_destination_lead_id": destination}

    # the source is gone, with one deleted event; none for its children, which live on
    assert status(sim, f"lead/{source}/") == 404
    assert source not in {r["id"] for r in sim.truth("leads")}
    deleted = [e for e in events(sim, object_type="lead", action="deleted") if e["object_id"] == source]
    assert len(deleted) == 1
    assert deleted[0]["meta"].items() >= meta.items() and deleted[0]["data"] is None
    assert deleted[0]["previous_data"]["id"] == source
    moved_ids = {r["id"] for rows in moved.values() for r in rows}
    since = {"date_updated__gte": stamp[:26]}
    for otype in ("contact", "opportunity", "custom_object", *(f"task.{t}" for t in TASK_TYPES),
                  *(ACTIVITY_EVENT_TYPES[k] for k in LOGGED_KINDS)):
        assert not [e for e in events(sim, object_type=otype, action="deleted", **since) if e["object_id"] in moved_ids]

    # the destination: the source's contacts, a new date_updated, one merged event
    lead = get(sim, f"lead/{destination}/")
    assert [c["id"] for c in lead["contacts"]] == dest_contacts + source_contacts
    assert lead["date_updated"] == stamp
    assert {o["id"] for o in moved["opportunities"]} <= {o["id"] for o in lead["opportunities"]}
    merged = events(sim, object_type="lead", action="merged")
    assert [e["object_id"] for e in merged] == [destination]
    assert merged[0]["meta"].items() >= meta.items() and merged[0]["data"] == lead
    assert "contacts" in merged[0]["changed_fields"] and "date_updated" in merged[0]["changed_fields"]
    assert [c["id"] for c in merged[0]["previous_data"]["contacts"]] == dest_contacts
    fresh = [r for r in walk(sim, "lead/", limit=200, query=f'date_updated >= "{stamp[:16]}" sort:date_updated')]
    assert destination in {r["id"] for r in fresh}

    # contacts, opportunities, tasks and custom objects: lead_id, date_updated, one updated event each
    served = {"contacts": walk(sim, "contact/", lead_id=destination),
              "opportunities": walk(sim, "opportunity/", lead_id=destination),
              "custom_objects": get(sim, "custom_object/", lead_id=destination)["data"]}
    for stream, task_type in ((s, STREAM_SPECS[s][1]) for s in moved if STREAM_SPECS[s][0] == "tasks"):
        served[stream] = walk(sim, "task/", _type=task_type, lead_id=destination)
    for stream, rows in moved.items():
        if STREAM_SPECS[stream][0] == "activity":
            continue
        otype = CHILD_TYPES.get(stream) or f"task.{STREAM_SPECS[stream][1]}"
        now_served = {r["id"]: r for r in served[stream]}
        logged = {e["object_id"]: e for e in events(sim, object_type=otype, action="updated", **since)}
        for old in rows:
            new = now_served[old["id"]]
            assert new["lead_id"] == destination and new["date_updated"] == stamp, stream
            assert {k: v for k, v in new.items() if k not in ("lead_id", "date_updated")} == \
                {k: v for k, v in old.items() if k not in ("lead_id", "date_updated")}, stream
            event = logged[old["id"]]
            assert sorted(event["changed_fields"]) == ["date_updated", "lead_id"], stream
            assert event["previous_data"] == {"lead_id": source, "date_updated": old["date_updated"]}, stream
            assert event["data"] == new and event["lead_id"] == destination, stream
            assert event["meta"].items() >= meta.items(), stream
        assert not [r for r in sim.truth(stream) if r["lead_id"] == source], stream
    assert not walk(sim, "contact/", lead_id=source)

    # activities of every type: lead_id and date_updated, no event
    for kind, stream in ACTIVITY_STREAMS.items():
        under_dest = {r["id"]: r for r in walk(sim, path_of(kind), lead_id=destination)}
        assert not get(sim, path_of(kind), lead_id=source)["data"], kind
        truth = {r["id"]: r for r in sim.truth(stream)}
        for old in moved.get(stream, ()):
            new = under_dest[old["id"]]
            assert new["lead_id"] == destination and new["date_updated"] == stamp, kind
            assert {k: v for k, v in new.items() if k not in ("lead_id", "date_updated")} == \
                {k: v for k, v in old.items() if k not in ("lead_id", "date_updated")}, kind
            assert get(sim, f"{path_of(kind)}{old['id']}/") == new == truth[old["id"]]
    logged_since = events(sim, lead_id=destination, **since)
    assert not [e for e in logged_since if e["object_type"].startswith("activity.")]
    assert Counter(e["action"] for e in logged_since)["merged"] == 1

    # one lead-merge activity on the destination, with no event
    merges = [r for r in walk(sim, "activity/lead_merge/", lead_id=destination) if r["source_lead_id"] == source]
    assert len(merges) == 1 and parse_instant(merges[0]["date_created"]) == now
    assert merges[0]["destination_lead_id"] == destination and merges[0]["merge_status"] == "completed"
    assert merges[0] == result["records"][-1]

    # what mutate returned is what is served
    returned = {r["id"] for r in result["records"]}
    assert moved_ids <= returned and result["records"][0] == lead
    assert Counter(e["action"] for e in result["events"]) == Counter(
        {"updated": sum(len(rows) for s, rows in moved.items() if STREAM_SPECS[s][0] != "activity"),
         "merged": 1, "deleted": 1})


def test_a_merged_lead_deleted_later_takes_what_it_received(sim):
    source = rich_lead(sim)
    destination = rich_lead(sim, exclude={source})
    moved = children_of(sim, source)
    sim.mutate({"action": "merge", "object_type": "lead", "source": source, "destination": destination})
    result = sim.mutate({"action": "delete", "object_type": "lead", "id": destination})
    gone = {e["object_id"] for e in result["events"]}
    for stream, rows in moved.items():
        source_kind, sel, _ = STREAM_SPECS[stream]
        if source_kind != "activity" or ACTIVITY_EVENT_TYPES[sel]:  # Close logs nothing for some activities
            assert {r["id"] for r in rows} <= gone, stream
        assert not [r for r in sim.truth(stream) if r["lead_id"] in (source, destination)], stream


def test_merge_picks_two_distinct_leads_when_none_are_named(sim):
    before = {r["id"] for r in sim.truth("leads")}
    result = sim.mutate({"action": "merge", "object_type": "lead"})
    after = {r["id"] for r in sim.truth("leads")}
    (source,) = before - after
    destination = result["records"][0]["id"]
    assert destination != source and destination in after
    only_source = sim.mutate({"action": "merge", "object_type": "lead", "destination": destination})
    assert only_source["records"][0]["id"] == destination
    assert len({r["id"] for r in sim.truth("leads")}) == len(after) - 1


def test_merges_close_refuses(sim):
    lead = sim.truth("leads")[0]["id"]
    for change in ({"source": lead, "destination": lead}, {"source": "lead_nothere"},
                   {"destination": "lead_nothere"}):
        with pytest.raises(ValueError):
            sim.mutate({"action": "merge", "object_type": "lead", **change})
        assert control_mutate(sim, {"action": "merge", "object_type": "lead", **change}).status_code == 400
    with pytest.raises(ValueError):
        sim.mutate({"action": "merge", "object_type": "contact"})
    assert status(sim, f"lead/{lead}/") == 200


# ------------------------------------------------------------------------------ every change shows


@pytest.mark.parametrize("kind", EDITABLE_KINDS)
def test_an_activity_update_moves_date_updated_and_is_logged(sim, kind):
    old = get(sim, path_of(kind), _limit=1, _skip=3)["data"][0]
    field = "note" if "note" in old else "status" if "status" in old else "text" if "text" in old else "user_name"
    value = f"edited {kind}"
    result = sim.mutate({"action": "update", "object_type": "activity", "id": old["id"], "fields": {field: value}})
    new = get(sim, f"{path_of(kind)}{old['id']}/")
    assert new == result["records"][0] and new[field] == value
    assert parse_instant(new["date_updated"]) > parse_instant(old["date_updated"])
    logged = [e for e in events(sim, object_type=ACTIVITY_EVENT_TYPES[kind], action="updated",
                                date_updated__gte=new["date_updated"][:26]) if e["object_id"] == old["id"]]
    assert len(logged) == 1
    event = logged[0]
    assert set(event["changed_fields"]) == {field, "date_updated"}
    assert event["previous_data"] == {field: old.get(field), "date_updated": old["date_updated"]}
    assert event["data"] == new and event["lead_id"] == new["lead_id"]


@pytest.mark.parametrize("kind", SILENT_EDIT_KINDS)
def test_an_activity_update_the_log_cannot_show_is_refused(sim, kind):
    old = get(sim, path_of(kind), _limit=1)["data"][0]
    with pytest.raises(ValueError):
        sim.mutate({"action": "update", "object_type": "activity", "id": old["id"], "fields": {"note": "x"}})
    with pytest.raises(ValueError):
        sim.mutate({"action": "update", "object_type": "activity", "subtype": kind, "count": 2})
    response = control_mutate(sim, {"action": "update", "object_type": "activity", "id": old["id"]})
    assert response.status_code == 400
    assert get(sim, f"{path_of(kind)}{old['id']}/") == old


@pytest.mark.parametrize("kind", ["created", "lead_merge"])
def test_deleting_an_activity_the_log_cannot_show_is_refused(sim, kind):
    old = get(sim, path_of(kind), _limit=1)["data"][0]
    with pytest.raises(ValueError):
        sim.mutate({"action": "delete", "object_type": "activity", "id": old["id"]})
    assert get(sim, f"{path_of(kind)}{old['id']}/") == old


def deleted_event(sim, otype: str, object_id: str) -> dict:
    found = [e for e in events(sim, object_type=otype, action="deleted") if e["object_id"] == object_id]
    assert len(found) == 1, (otype, object_id, found)
    return found[0]


def test_every_deletion_is_logged_with_the_whole_object(sim):
    cases = [(path_of(kind), "activity", ACTIVITY_EVENT_TYPES[kind]) for kind in LOGGED_KINDS]
    cases += [("contact/", "contact", "contact"), ("opportunity/", "opportunity", "opportunity"),
              ("custom_field/lead/", "custom_field", "custom_field.lead")]
    for path, otype, event_type in cases:
        old = get(sim, path, _limit=1)["data"][0]
        sim.mutate({"action": "delete", "object_type": otype, "id": old["id"]})
        event = deleted_event(sim, event_type, old["id"])
        assert event["data"] is None and event["previous_data"] == old, path
    for task_type in TASK_TYPES:
        old = get(sim, "task/", _type=task_type, _limit=1)["data"][0]
        sim.mutate({"action": "delete", "object_type": "task", "id": old["id"]})
        event = deleted_event(sim, f"task.{task_type}", old["id"])
        assert event["data"] is None and event["previous_data"] == old
    obj = sim.truth("custom_objects")[0]
    old = next(r for r in get(sim, "custom_object/", lead_id=obj["lead_id"])["data"] if r["id"] == obj["id"])
    sim.mutate({"action": "delete", "object_type": "custom_object", "id": obj["id"]})
    event = deleted_event(sim, "custom_object", obj["id"])
    assert event["data"] is None and event["previous_data"] == old


def test_a_lead_deletion_logs_a_deletion_of_each_of_its_children(sim):
    lid = rich_lead(sim)
    lead = get(sim, f"lead/{lid}/")
    children = children_of(sim, lid)
    sim.mutate({"action": "delete", "object_type": "lead", "id": lid})
    event = deleted_event(sim, "lead", lid)
    assert event["data"] is None and event["previous_data"] == lead
    for stream, rows in children.items():
        source, sel, _ = STREAM_SPECS[stream]
        if source == "activity":
            otype = ACTIVITY_EVENT_TYPES[sel]
            if otype is None:  # Created and lead-merge activities: Close logs nothing
                continue
        else:
            otype = f"task.{sel}" if source == "tasks" else CHILD_TYPES[stream]
        logged = {e["object_id"]: e for e in events(sim, object_type=otype, action="deleted")}
        for row in rows:
            assert logged[row["id"]]["previous_data"] == row and logged[row["id"]]["data"] is None, stream
        assert not [r for r in sim.truth(stream) if r["lead_id"] == lid], stream
