"""No record is lost at a window edge or at the saved state, and states stay honest.

* records whose cursor equals the saved state, spelled in every timestamp format Close uses, arrive in the
  next sync; records at a window's first instant arrive in that window;
* records written while a sync runs arrive in that sync or the next;
* windows deeper than Close's ``max_skip``, with hundreds of rows sharing the window's first instant, are read
  whole, and a cluster too large for any page walk fails the sync instead of being cut short;
* re-reads stay within the documented overlap (the activity lookback, the events' 10 minutes, the minute of
  the lead query, records equal to the state), and states never pass the sync's start or a record not emitted;
* a state from the future is clamped with a warning, so later changes still arrive.

The simulator dates every change with its clock and ``mutate`` takes no date, so changes at an exact instant
are made by freezing the organisation's clock for the duration of one ``mutate`` call (see ``mutate_at``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Dict, List
from urllib.parse import parse_qs, urlsplit

import requests.adapters

from airbyte_cdk.models import AirbyteStateMessageSerializer

from source_close_com.components import SETTLING_TIME
from unit_tests.harness import MANIFEST, NO_LIMIT, alongside, id_diff, sync
from unit_tests.helpers.catalogs import only
from unit_tests.helpers.times import config_lookback_days, edited_lately, parse, reread_floor

# The stream that reads Close's event log once per object type, whose state is its newest entry. (The events
# stream settles like the object streams: its position is the sync's upper bound less the settling time.)
LOG_STREAMS = {"deleted_records"}
# Close logs no edits of these activities, so the simulator refuses to make one.
UNEDITABLE = {"created_activities", "task_completed_activities", "lead_merge_activities"}

ACTIVITY_KINDS = {
    "created_activities": "created", "note_activities": "note", "email_thread_activities": "emailthread",
    "email_activities": "email", "sms_activities": "sms", "call_activities": "call",
    "meeting_activities": "meeting", "lead_status_change_activities": "status_change/lead",
    "opportunity_status_change_activities": "status_change/opportunity",
    "task_completed_activities": "task_completed", "custom_activity_instances": "custom",
    "whatsapp_message_activities": "whatsapp_message", "form_submission_activities": "form_submission",
    "lead_merge_activities": "lead_merge",
}
TASK_TYPES = {
    "lead_tasks": "lead", "incoming_email_tasks": "incoming_email", "email_followup_tasks": "email_followup",
    "missed_call_tasks": "missed_call", "answered_detached_call_tasks": "answered_detached_call",
    "voicemail_tasks": "voicemail", "opportunity_due_tasks": "opportunity_due", "incoming_sms_tasks": "incoming_sms",
}
# How Close spells one instant, by the manifest format that reads it.
SPELLINGS = {
    "%Y-%m-%dT%H:%M:%S.%f%z": "%Y-%m-%dT%H:%M:%S.%f+00:00",
    "%Y-%m-%dT%H:%M:%S%z": "%Y-%m-%dT%H:%M:%S+00:00",
    "%Y-%m-%dT%H:%M:%S.%f": "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S": "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d": "%Y-%m-%d",
}


def yesterday_midnight() -> datetime:
    """An anchor a whole day back, so changes dated anchor + a few hours are never in the future."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


def mutate_at(sim, moment: datetime, change: dict) -> dict:
    """`sim.mutate(change)` dated exactly `moment` (the clock is frozen for this one call, on the server loop)."""
    frozen = moment.timestamp()

    def apply():
        org = sim.org
        saved = org.clock
        org.clock = lambda: frozen
        try:
            return org.mutate(change)
        finally:
            org.clock = saved

    result = sim.call(apply)
    if change["action"] != "delete":  # a deletion returns the record as it was
        for record in result["records"]:
            stamp = record.get("date_updated") or record.get("date_created")
            assert parse(stamp) == moment, f"the simulator dated a change {stamp}, not {moment}"
    return result


def spellings(moment: datetime) -> Dict[str, str]:
    """`moment` in each cursor format of the manifest that can spell it exactly, as Close writes it (`+00:00`, not
    `+0000`): all five for a midnight, the two with a fraction for any instant."""
    formats = MANIFEST["definitions"]["close_datetime_formats"]
    assert set(formats) == set(SPELLINGS), f"the manifest's cursor formats changed: {formats}"
    out = {}
    for fmt in formats:
        text = moment.strftime(SPELLINGS[fmt])
        parsed = datetime.strptime(text, fmt)
        if (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)) == moment:
            out[fmt] = text
    assert len(out) >= 2, (moment, out)
    return out


def final_values(result, cursors) -> Dict[str, datetime]:
    return {
        stream: parse(states[-1][cursors[stream]])
        for stream, states in result.states.items()
        if stream in cursors and states and cursors[stream] in states[-1]
    }


def assert_monotone(result, cursors, since: Dict[str, datetime] = None) -> None:
    for stream, states in result.states.items():
        values = [parse(s[cursors[stream]]) for s in states if cursors[stream] in s]
        assert values == sorted(values), f"{stream}: a state went backwards within the sync"
        if since and stream in since and values:
            assert values[0] >= since[stream], f"{stream}: started from {since[stream]}, emitted {values[0]}"


def truth_ids(sim, stream: str, start_date: str, cursor: str) -> List[str]:
    """The ground truth from `start_date` on (the simulator ignores the start date for contacts: filter here)."""
    floor = parse(start_date)
    return [r["id"] for r in sim.truth(stream, start_date=start_date) if parse(r[cursor]) >= floor]


class WarningLog(logging.Handler):
    """Every warning logged while it is installed (state migrations may run before the read's own capture)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> "WarningLog":
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeHandler(self)


# ---------------------------------------------------------------------------------------------------- tests


def test_records_at_the_saved_state_in_every_format_arrive_in_the_next_sync(make_simulator, incremental):
    """Records at a window's first instant and at the saved state, spelled every way Close spells time."""
    anchor = yesterday_midnight()  # a window edge: one-day windows from a start date start at midnight
    sim = make_simulator(seed=7, scale="small", anchor=anchor, recent_limit=5000, **NO_LIMIT)
    start_date = (anchor - timedelta(days=2)).strftime("%Y-%m-%d")
    config = sim.config(start_date=start_date, window_days=1)
    catalog, cursors = incremental
    assert len(spellings(anchor)) == len(SPELLINGS)

    def write_every_format(tag: str, at: Dict[str, datetime]) -> Dict[str, set]:
        """One record per stream and format, its cursor spelled that way, all at the stream's instant `at`."""
        made = defaultdict(set)
        creates = {
            "opportunities": ("opportunity", None, "date_updated", "note"), "leads": ("lead", None, "date_updated", "description"),
            "contacts": ("contact", None, "date_updated", "title"), "custom_objects": ("custom_object", None, "date_updated", "name"),
            **{stream: ("task", task_type, "date_updated", "text") for stream, task_type in TASK_TYPES.items()},
            **{stream: ("activity", kind, "date_created", "note") for stream, kind in ACTIVITY_KINDS.items()},
        }
        for stream, (object_type, subtype, field, text_field) in creates.items():
            for text in spellings(at[stream]).values():
                change = {"action": "create", "object_type": object_type, "fields": {field: text, text_field: tag}}
                if subtype:
                    change["subtype"] = subtype
                made[stream].add(mutate_at(sim, at[stream], change)["records"][0]["id"])
        return made

    before = write_every_format("before the first sync", defaultdict(lambda: anchor))
    deleted_before = mutate_at(sim, anchor, {"action": "delete", "object_type": "opportunity", "id": sorted(before["opportunities"])[0]})
    before["opportunities"].discard(deleted_before["records"][0]["id"])
    sync_start = datetime.now(timezone.utc)
    first = sync(config, catalog=catalog)
    for stream in cursors:
        expected = truth_ids(sim, stream, start_date, cursors[stream])
        assert set(first.ids(stream)) == set(expected), f"{stream}: " + id_diff(first.ids(stream), expected)
        assert not before[stream] - set(first.ids(stream)), f"{stream}: a record at a window's first instant was lost"
    saved = final_values(first, cursors)
    assert set(saved) == set(cursors), f"streams without a state: {sorted(set(cursors) - set(saved))}"
    ends = requested_ends(sim, cursors)
    for stream, value in saved.items():
        # The newest record of every stream is at the anchor, long before the sync. The state of an object stream
        # is the sync's upper bound (fixed when its read began), less the time Close may take to show a change; a
        # history read in one walk asks up to the moment it starts, a little later. The event log's streams keep
        # their newest record.
        if stream in LOG_STREAMS:
            assert value == anchor, f"{stream}: state {value}, expected the newest cursor {anchor}"
            continue
        assert sync_start - SETTLING_TIME <= value <= ends[stream] - SETTLING_TIME, (
            f"{stream}: state {value}, the sync began at {sync_start} and its reads ended at {ends[stream]}")
        assert anchor < value <= datetime.now(timezone.utc)
    assert_monotone(first, cursors)
    assert deleted_before["records"][0]["id"] in {r["object_id"] for r in first.records["deleted_records"]}

    # Now write again at the saved state (a change Close shows late, within the settling time): new records in
    # every spelling that can name that instant, edits, deletions. The simulator's clock counts whole milliseconds
    # and never goes back, so every change is dated at the latest state, rounded up to its millisecond.
    latest = max(value for stream, value in saved.items() if stream not in LOG_STREAMS)
    at_state = latest + timedelta(microseconds=-latest.microsecond % 1000)
    saved_instants = {stream: at_state for stream in saved}
    after = write_every_format("at the saved state", saved_instants)
    versions: Dict[str, Dict[str, str]] = defaultdict(dict)  # stream -> id -> the value the edit wrote
    for object_type, stream, field in [("opportunity", "opportunities", "note"), ("lead", "leads", "description"), ("contact", "contacts", "title"), ("custom_object", "custom_objects", "name")]:
        for record in mutate_at(sim, at_state, {"action": "update", "object_type": object_type, "count": 2, "fields": {field: "edited at the state"}})["records"]:
            versions[stream][record["id"]] = field
    for stream, task_type in TASK_TYPES.items():
        for record in mutate_at(sim, at_state, {"action": "update", "object_type": "task", "subtype": task_type, "count": 1, "fields": {"text": "edited at the state"}})["records"]:
            versions[stream][record["id"]] = "text"
    for stream in ACTIVITY_KINDS:  # an edit of an activity created at a window's first instant
        if stream in UNEDITABLE:
            continue
        rid = sorted(before[stream])[0]
        mutate_at(sim, at_state, {"action": "update", "object_type": "activity", "id": rid, "fields": {"note": "edited at the state"}})
        versions[stream][rid] = "note"
    gone = [
        mutate_at(sim, at_state, {"action": "delete", "object_type": "task", "id": sorted(after["lead_tasks"])[0]})["records"][0]["id"],
        mutate_at(sim, at_state, {"action": "delete", "object_type": "activity", "id": sorted(before["call_activities"])[-1]})["records"][0]["id"],
    ]

    second_start = datetime.now(timezone.utc)
    second = sync(config, catalog=catalog, state=first.final_state)
    for stream in cursors:
        emitted = {r["id"]: r for r in second.records[stream]}
        lost = after[stream] - set(emitted) - set(gone)
        assert not lost, f"{stream}: {len(lost)} records written at the saved state were lost: {sorted(lost)[:3]}"
        for rid, field in versions[stream].items():
            assert rid in emitted, f"{stream}: the edit of {rid} at the saved state was lost"
            assert emitted[rid][field] == "edited at the state", f"{stream}: {rid} arrived without its edit"
        # Re-reads stay within the documented overlap of the state.
        changed = after[stream] | set(versions[stream])
        floor = reread_floor(stream, cursors[stream], saved[stream], config_lookback_days(config))
        older = [
            rid for rid, r in emitted.items()
            if rid not in changed and parse(r[cursors[stream]]) < floor and not edited_lately(r)
        ]
        assert not older, f"{stream}: re-read {len(older)} records older than {floor}: {older[:3]}"
    assert set(gone) <= {r["object_id"] for r in second.records["deleted_records"]}, "deletions at the state were lost"
    assert gone[0] in {r["id"] for r in second.records["lead_tasks"] if r.get("_ab_cdc_deleted_at")}
    assert gone[1] in {r["id"] for r in second.records["call_activities"] if r.get("_ab_cdc_deleted_at")}
    second_ends = requested_ends(sim, cursors)
    for stream, value in final_values(second, cursors).items():
        newest_entry = max([saved[stream]] + [parse(r[cursors[stream]]) for r in second.records[stream]])
        expected = newest_entry if stream in LOG_STREAMS else second_ends[stream] - SETTLING_TIME
        assert value == expected, f"{stream}: state {value} after a sync that found nothing newer"
    assert_monotone(second, cursors, since=saved)


def requested_ends(sim, cursors: Dict[str, str]) -> Dict[str, datetime]:
    """The latest window end each stream asked Close for (its `__lte`, the lead query's `<=`, the search's
    exclusive `before` less a microsecond): the moment the stream's read began, beyond which no state may go."""
    ends: Dict[str, datetime] = {}

    def note(stream, value, exclusive=False):
        if stream in cursors:
            moment = parse(value) - (timedelta(microseconds=1) if exclusive else timedelta(0))
            ends[stream] = max(ends.get(stream, moment), moment)

    by_path = {f"activity/{kind}/": stream for stream, kind in ACTIVITY_KINDS.items()}
    by_task = {task_type: stream for stream, task_type in TASK_TYPES.items()}
    for path, stats in sim.stats()["paths"].items():
        for request in stats["recent"]:
            params = request["params"]
            if path == "lead/":
                for query in params.get("query", []):
                    for value in re.findall(r'date_updated <= "([^"]+)"', query):
                        note("leads", value)
            elif path == "data/search/":
                body = json.dumps(request["body"])
                stream = "custom_objects" if '"object_type": "custom_object"' in body else "contacts"
                for value in re.findall(r'"before": \{[^}]*"value": "([^"]+)"', body):
                    note(stream, value, exclusive=True)
            elif path == "task/":
                for value in params.get("date_updated__lte", []):
                    note(by_task.get((params.get("_type") or ["lead"])[0]), value)
            elif path == "event/":
                stream = "deleted_records" if params.get("action") == ["deleted"] else "events"
                for value in params.get("date_updated__lte", []):
                    note(stream, value)
            elif path == "opportunity/":
                for value in params.get("date_updated__lte", []):
                    note("opportunities", value)
            elif path in by_path:
                for value in params.get("date_created__lte", []):
                    note(by_path[path], value)
    return ends


def test_changes_written_during_a_sync_arrive_in_it_or_the_next(make_simulator, incremental):
    sim = make_simulator(seed=7, scale="small", recent_limit=5000, **NO_LIMIT)
    config = sim.config(start_date="2021-01-01", window_days=60)
    changes = [
        ("opportunities", {"action": "update", "object_type": "opportunity", "count": 2}),
        ("leads", {"action": "update", "object_type": "lead", "count": 2}),
        ("contacts", {"action": "update", "object_type": "contact", "count": 1}),
        ("contacts", {"action": "create", "object_type": "contact", "count": 1}),
        ("lead_tasks", {"action": "update", "object_type": "task", "subtype": "lead", "count": 1}),
        ("missed_call_tasks", {"action": "create", "object_type": "task", "subtype": "missed_call", "count": 1}),
        ("email_activities", {"action": "create", "object_type": "activity", "subtype": "email", "count": 2}),
        ("call_activities", {"action": "create", "object_type": "activity", "subtype": "call", "count": 1}),
        ("note_activities", {"action": "create", "object_type": "activity", "subtype": "note", "count": 1}),
        ("deleted_records", {"action": "delete", "object_type": "opportunity", "count": 1}),
    ]
    streams = {stream for stream, _ in changes} | {"events"}
    catalog, cursors = only(incremental[0], streams), {s: c for s, c in incremental[1].items() if s in streams}
    written: List[tuple] = []  # (stream, id, date_updated written)

    def writer(stop: threading.Event):
        n = 0
        while not stop.wait(0.15):
            stream, change = changes[n % len(changes)]
            n += 1
            result = sim.mutate(change)
            for record in result["records"]:
                stamp = record.get("date_updated") or record.get("date_created")
                written.append((stream, record["id"], parse(stamp)))
            for event in result["events"]:
                written.append(("events", event["id"], parse(event["date_updated"])))

    sync_start = datetime.now(timezone.utc)
    with alongside(writer, "writes-during-the-sync"):
        first = sync(config, catalog=catalog)
    sync_end = datetime.now(timezone.utc)
    asked = requested_ends(sim, cursors)
    assert len(written) >= 10, f"only {len(written)} changes were written during the sync: the test proves little"
    second = sync(config, catalog=catalog, state=first.final_state)

    lost = []
    for stream, rid, stamp in written:
        if stream == "deleted_records":
            rows = first.records[stream] + second.records[stream]
            if rid not in {r["object_id"] for r in rows}:
                lost.append((stream, rid, stamp))
            continue
        versions = [r for r in first.records[stream] + second.records[stream] if r["id"] == rid]
        if not any(parse(r.get("date_updated") or r[cursors[stream]]) >= stamp for r in versions):
            lost.append((stream, rid, stamp))
    assert not lost, f"{len(lost)} of {len(written)} changes written during the sync never arrived: {lost[:5]}"

    # Honest states: each stream's last state is the newest cursor it emitted, and no later than the end of the
    # windows it asked for, which is when that stream's read began (after the sync's start, before its end).
    for stream, value in final_values(first, cursors).items():
        emitted = [parse(r[cursors[stream]]) for r in first.records[stream]]
        end = asked[stream]
        newest = max(emitted, default=None)
        assert emitted and value >= newest, f"{stream}: state {value} is behind its newest record {newest}"
        if stream not in LOG_STREAMS and value != newest:
            # The upper bound less the settling time: fixed when the stream's read began, a history walk asking
            # up to the moment it starts (a little later).
            assert sync_start - SETTLING_TIME <= value <= end - SETTLING_TIME, f"{stream}: state {value}, windows ended {end}"
        else:
            assert value == newest, f"{stream}: state {value}, newest record {newest}"
        assert sync_start <= end <= sync_end, f"{stream}: its windows ended at {end}, outside the sync"
        if stream == "leads":  # Close's lead query returns the whole minute its `<=` falls in
            end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
        assert value <= end, f"{stream}: state {value} is past the end of the windows it read ({end})"
    assert_monotone(first, cursors)
    assert_monotone(second, cursors, since=final_values(first, cursors))


def test_an_edit_between_two_pages_of_a_window_hides_no_other_record(make_simulator, incremental, monkeypatch):
    """Close pages a window by offset. When a record of a page already read leaves the window (edited, so its
    cursor moves past the window, or deleted) before the next page is asked for, every later row moves up one
    place: the first row of the next page slides into the page already read. Neither this sync nor the next
    (which starts after the window) may lose that row."""
    anchor = yesterday_midnight()
    sim = make_simulator(seed=7, scale="small", anchor=anchor, recent_limit=5000, **NO_LIMIT)
    config = sim.config(start_date="2021-01-01", window_days=3650)  # one window, several pages deep
    home = sorted(r["id"] for r in sim.truth("leads"))[0]
    for step in range(10):  # lead tasks come 1,000 to a page: make the window two pages deep
        mutate_at(sim, anchor + timedelta(minutes=step + 1), {"action": "create", "object_type": "task", "subtype": "lead", "count": 100, "fields": {"lead_id": home}})
    cases = {  # stream -> (path, change of the window's first record, once its first page has been served)
        "opportunities": ("opportunity/", {"action": "update", "object_type": "opportunity"}),
        "leads": ("lead/", {"action": "update", "object_type": "lead"}),
        "contacts": ("data/search/", {"action": "update", "object_type": "contact"}),
        "email_activities": ("activity/email/", {"action": "delete", "object_type": "activity"}),
        "lead_tasks": ("task/", {"action": "update", "object_type": "task"}),
    }
    catalog, cursors = only(incremental[0], cases), {s: incremental[1][s] for s in cases}
    first_ids = {}
    for stream in cases:
        rows = [r for r in sim.truth(stream) if parse(r[cursors[stream]]) >= parse("2021-01-01")]
        first_ids[stream] = min(rows, key=lambda r: (parse(r[cursors[stream]]), r["id"]))["id"]
    fired = {}
    lock = threading.Lock()
    send = requests.adapters.HTTPAdapter.send

    def send_then_edit(adapter, request, *args, **kwargs):
        response = send(adapter, request, *args, **kwargs)
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        for stream, (path, change) in cases.items():
            if not url.path.endswith("/api/v1/" + path) or stream in fired:
                continue
            if path == "task/" and query.get("_type") != ["lead"]:
                continue
            first_page = b'"cursor"' not in (request.body or b"") if path == "data/search/" else "_skip" not in query
            with lock:
                if first_page and stream not in fired:
                    fired[stream] = sim.mutate({**change, "id": first_ids[stream]})
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send_then_edit)
    first = sync(config, catalog=catalog)
    monkeypatch.undo()
    assert set(fired) == set(cases), f"no edit between pages for {sorted(set(cases) - set(fired))}"
    second = sync(config, catalog=catalog, state=first.final_state)
    hidden = {}
    for stream in cases:
        expected = set(truth_ids(sim, stream, "2021-01-01", cursors[stream]))
        missing = expected - set(first.ids(stream)) - set(second.ids(stream))
        if missing:
            hidden[stream] = sorted(missing)
    assert not hidden, f"records hidden for good by an edit between two pages: {hidden}"


def test_deep_windows_with_hundreds_of_rows_at_their_first_instant_lose_nothing(make_simulator, incremental):
    """Windows hold more rows than Close lets a page walk reach (`max_skip`), hundreds of them at one instant
    that is also the window's start; every row arrives, and only records at a restart's instant come twice."""
    anchor = yesterday_midnight()
    later = anchor + timedelta(hours=1)
    sim = make_simulator(seed=7, scale="small", anchor=anchor, max_skip=450, recent_limit=2000, **NO_LIMIT)
    start_date = (anchor - timedelta(days=2)).strftime("%Y-%m-%d")
    config = sim.config(start_date=start_date, window_days=1)
    streams = ["email_activities", "created_activities", "leads", "contacts", "opportunities", "lead_tasks"]
    catalog, cursors = only(incremental[0], streams), {s: incremental[1][s] for s in streams}
    home = sorted(r["id"] for r in sim.truth("leads"))[0]  # children of one lead leave the leads' clusters alone

    mutate_at(sim, anchor, {"action": "create", "object_type": "activity", "subtype": "email", "count": 400})
    mutate_at(sim, anchor, {"action": "create", "object_type": "lead", "count": 300})
    mutate_at(sim, anchor, {"action": "create", "object_type": "opportunity", "count": 300, "fields": {"lead_id": home}})
    mutate_at(sim, later, {"action": "create", "object_type": "activity", "subtype": "email", "count": 200})
    mutate_at(sim, later, {"action": "create", "object_type": "lead", "count": 400})
    mutate_at(sim, later, {"action": "create", "object_type": "opportunity", "count": 300, "fields": {"lead_id": home}})
    for step in range(12):  # 1,200 tasks over four hours: deeper than a page walk, splittable in time
        mutate_at(sim, later + timedelta(minutes=20 * step), {"action": "create", "object_type": "task", "subtype": "lead", "count": 100, "fields": {"lead_id": home}})

    result = sync(config, catalog=catalog)
    for stream in cursors:
        expected = truth_ids(sim, stream, start_date, cursors[stream])
        assert set(result.ids(stream)) == set(expected), f"{stream}: " + id_diff(result.ids(stream), expected)
    paths = sim.stats()["paths"]
    for stream, path in [("email_activities", "activity/email/"), ("created_activities", "activity/created/"),
                         ("leads", "lead/"), ("opportunities", "opportunity/"), ("lead_tasks", "task/")]:
        # The window holds more rows than an offset walk may reach, yet no request needed a skip past max_skip:
        # pages are anchored on the cursor's value, so `_skip` only counts rows read at one instant.
        assert len(set(result.ids(stream))) > 450, f"{stream}: the window is not deeper than max_skip: the test proves nothing"
        skips = [int(v) for request in paths[path]["recent"] for v in request["params"].get("_skip", [])]
        assert skips and max(skips) <= 450, f"{stream}: skips {sorted(skips)[-3:]}"
        cluster = Counter(parse(r[cursors[stream]]) for r in result.records[stream] if parse(r[cursors[stream]]) >= anchor)
        wanted = 100 if stream == "lead_tasks" else 300  # tasks come 100 to an instant, spread over four hours
        assert max(cluster.values()) >= wanted, f"{stream}: no cluster of hundreds of rows at one instant"

    # Duplicates: only records whose cursor is the instant a window restarted from (its minute, for leads).
    for stream, path, field in [("email_activities", "activity/email/", "date_created__gte"),
                                ("created_activities", "activity/created/", "date_created__gte"),
                                ("opportunities", "opportunity/", "date_updated__gte"), ("leads", "lead/", None)]:
        starts = set()
        for request in paths[path]["recent"]:
            if field:
                starts.update(parse(v) for v in request["params"].get(field, []))
            else:
                for query in request["params"].get("query", []):
                    starts.update(parse(v).replace(second=0, microsecond=0) for v in re.findall(r'date_updated >= "([^"]+)"', query))
        counts = Counter(result.ids(stream))
        for record in result.records[stream]:
            if counts[record["id"]] > 1:
                moment = parse(record[cursors[stream]])
                key = moment.replace(second=0, microsecond=0) if stream == "leads" else moment
                assert key in starts, f"{stream}: {record['id']} ({moment}) came twice though no read restarted there"
    counts = Counter(result.ids("contacts"))
    assert max(counts.values()) == 1 or all(
        parse(r["date_updated"]) in {anchor, later} for r in result.records["contacts"] if counts[r["id"]] > 1
    ), "contacts came twice outside a cluster"

    # Tasks cannot be sorted by their cursor: a window too deep is split in two and read again from its start,
    # so the rows of the attempt that hit the cap come again. Bound it: at most one page per split.
    splits = sum(1 for q in paths["task/"]["recent"] if q["status"] == 400 and q["params"].get("_type") == ["lead"])
    counts = Counter(result.ids("lead_tasks"))
    twice = sum(n - 1 for n in counts.values() if n > 1)
    print(f"lead_tasks: {splits} window splits, {twice} records emitted again (page size 1000)")
    assert twice <= splits * 1000, f"lead_tasks: {twice} duplicates from {splits} splits"


def test_a_cluster_no_page_walk_can_cross_fails_the_sync_instead_of_truncating(make_simulator, incremental):
    """150 emails share one instant; with 100-row pages and `max_skip` 50, no page walk gets past them."""
    sim = make_simulator(seed=7, scale="small", max_skip=50, **NO_LIMIT)
    config = sim.config(start_date="2021-01-01", window_days=3650)
    clusters = Counter(r["date_created"] for r in sim.truth("email_activities"))
    instant, size = clusters.most_common(1)[0]
    assert size > 100, f"the largest cluster holds {size} emails, one page: the test proves nothing"
    result = sync(config, catalog=only(incremental[0], ["email_activities"]), expect_errors=True)
    errors = [m.trace.error for m in result.output.errors]
    assert errors, "the sync reported success without the emails past the cluster"
    assert any("maximum skip" in e.message and "more records share one timestamp than that offset" in e.message for e in errors), [e.message for e in errors]
    ids = result.ids("email_activities")
    assert len(ids) == len(set(ids)), "the window was read again from its start: records came twice"
    emitted = set(ids)
    truth = set(truth_ids(sim, "email_activities", "2021-01-01", "date_created"))
    assert emitted < truth, "the failed sync should not have everything"
    for state in result.states["email_activities"]:
        if "date_created" in state:
            assert parse(state["date_created"]) < parse(instant), f"a state passed the cluster it could not read: {state}"


def test_a_state_from_the_future_is_clamped_with_a_warning(make_simulator, incremental):
    """A hand-edited state in 2100 would silence every stream; it is clamped to now, with a warning."""
    sim = make_simulator(seed=7, scale="small", **NO_LIMIT)
    config = sim.config(start_date="2021-01-01", window_days=30)
    catalog, cursors = incremental
    future = [
        AirbyteStateMessageSerializer.load(
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": s}, "stream_state": {c: "2100-01-01T00:00:00.000000+00:00"}}}
        )
        for s, c in cursors.items()
    ]
    with WarningLog() as warnings:
        first = sync(config, catalog=catalog, state=future)
    logged = warnings.messages + [m.log.message for m in first.output.logs if m.log.level.value in ("WARN", "WARNING")]
    clamps = [m for m in logged if "clamp" in m.lower()]
    assert clamps, "no warning says the future state was clamped"
    unnamed = [s for s in cursors if not any(s in m for m in clamps)]
    assert not unnamed, f"no clamp warning names {unnamed}"
    after_first = datetime.now(timezone.utc)
    for stream, value in final_values(first, cursors).items():
        assert value <= after_first, f"{stream}: the state stayed in the future ({value})"

    changed = {
        "opportunities": sim.mutate({"action": "update", "object_type": "opportunity", "count": 2})["records"],
        "leads": sim.mutate({"action": "update", "object_type": "lead", "count": 2})["records"],
        "contacts": sim.mutate({"action": "create", "object_type": "contact", "count": 1})["records"],
        "lead_tasks": sim.mutate({"action": "update", "object_type": "task", "subtype": "lead", "count": 1})["records"],
        "email_activities": sim.mutate({"action": "create", "object_type": "activity", "subtype": "email", "count": 2})["records"],
    }
    second = sync(config, catalog=catalog, state=first.final_state)
    for stream, records in changed.items():
        missing = {r["id"] for r in records} - set(second.ids(stream))
        assert not missing, f"{stream}: changes after a clamped state never arrived: {sorted(missing)}"
    now = datetime.now(timezone.utc)
    for stream, value in final_values(second, cursors).items():
        assert value <= now, f"{stream}: state {value} in the future"
