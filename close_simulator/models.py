"""State and rules of one simulated Close organisation.

An ``Organization`` is generated from (seed, scale, anchor) and then changed only through ``mutate``.
Classic objects (leads, contacts, opportunities, tasks, events, settings) are kept as dicts with sorted
``(microseconds, id)`` indexes, so every window or page is found by bisection. Activities are never
stored: record ``i`` of an activity type is derived on demand from (seed, type, i) and its
``date_created`` is a monotone array, so a page at any offset or date window costs O(page). Changes to
activities live in an overlay (updated / deleted / created).

Copy-on-write: a stored record dict is never modified in place, so events and earlier pages may keep
references to it as snapshots.
"""

from __future__ import annotations

import random
import time
from array import array
from bisect import bisect_left, bisect_right, insort
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

import orjson

from .generator import (
    ACTIVITY_TYPE_POOL, ALNUM, CONTACT_FIELD_POOL, DAY, EMAIL_BODIES, EMAIL_SUBJECTS, FIRST_NAMES,
    HOUR, INDUSTRIES, LAST_NAMES, LEAD_FIELD_POOL, MEETING_TITLES, MINUTE, NOTES, OPPORTUNITY_FIELD_POOL,
    PLACES, ROLE_PERMISSIONS, SECOND, SHARED_FIELD_POOL, SMS_TEXTS, STREETS, TASK_TEXTS, TITLES, URLSAFE,
    FastRng, b62, company_name, mix2, fmt_date, fmt_naive, fmt_rfc2822, fmt_tz_auto, fmt_tz_ms, later, make_times, mix64,
    money_formatted, months_between, parse_instant, pick_between, rand_chars, rand_id, slug, unb62,
    us_from_datetime,
)
from . import workspace

SCALES = ("small", "medium", "large")

ACTIVITY_KINDS = ("created", "note", "emailthread", "email", "sms", "call", "meeting",
                  "status_change/lead", "status_change/opportunity", "task_completed", "custom",
                  *workspace.ACTIVITY_KINDS)
ACTIVITY_TYPE_NAMES = {
    "created": "Created", "note": "Note", "emailthread": "EmailThread", "email": "Email", "sms": "SMS",
    "call": "Call", "meeting": "Meeting", "status_change/lead": "LeadStatusChange",
    "status_change/opportunity": "OpportunityStatusChange", "task_completed": "TaskCompleted",
    "custom": "CustomActivity",
    **{kind: names[0] for kind, names in workspace.ACTIVITY_KINDS.items()},
}
# The event log's object type of each activity kind; Close logs no events for Created activities.
ACTIVITY_EVENT_TYPES = {
    "created": None, "note": "activity.note", "emailthread": "activity.email_thread",
    "email": "activity.email", "sms": "activity.sms", "call": "activity.call", "meeting": "activity.meeting",
    "status_change/lead": "activity.lead_status_change",
    "status_change/opportunity": "activity.opportunity_status_change",
    "task_completed": "activity.task_completed", "custom": "activity.custom_activity",
    **{kind: names[1] for kind, names in workspace.ACTIVITY_KINDS.items()},
}
# The changes of each activity kind the event log shows (Close's list of event types): task-completed activities are
# created and deleted only; Created and lead-merge activities have no events at all. A change the log cannot show is
# refused by ``Organization.mutate`` (creations stay visible by their ``date_created``).
ACTIVITY_EVENT_ACTIONS = {
    kind: () if otype is None else ("created", "deleted") if kind == "task_completed" else ("created", "updated", "deleted")
    for kind, otype in ACTIVITY_EVENT_TYPES.items()
}
# The objects whose deletions the deleted_records stream reports (custom fields and other settings are not).
DELETION_OBJECT_FAMILIES = ("lead", "contact", "opportunity", "task", "activity", "custom_object")
# Zones of incoming mail's senders, in minutes east of UTC (an email's Date header keeps the sender's zone).
_SENDER_OFFSETS = (0, 660, -420, 60, 330, -300)
TASK_TYPES = ("lead", "incoming_email", "email_followup", "missed_call", "answered_detached_call",
              "voicemail", "opportunity_due", "incoming_sms")
CONNECTED_ACCOUNT_TYPES = ("google", "custom_email", "zoom")
BULK_KINDS = {"email": "bulkemail_", "sequence_subscription": "bulkseqsub_", "delete": "bulkdelete_",
              "edit": "bulkedit_"}
CUSTOM_FIELD_OBJECTS = ("lead", "contact", "opportunity", "activity", "shared")

# stream -> (source, selector, cursor field or None for full refresh)
STREAM_SPECS: dict[str, tuple[str, str | None, str | None]] = {
    "leads": ("leads", None, "date_updated"),
    "opportunities": ("opportunities", None, "date_updated"),
    "events": ("events", None, "date_updated"),
    "created_activities": ("activity", "created", "date_created"),
    "note_activities": ("activity", "note", "date_created"),
    "email_thread_activities": ("activity", "emailthread", "date_created"),
    "email_activities": ("activity", "email", "date_created"),
    "sms_activities": ("activity", "sms", "date_created"),
    "call_activities": ("activity", "call", "date_created"),
    "meeting_activities": ("activity", "meeting", "date_created"),
    "lead_status_change_activities": ("activity", "status_change/lead", "date_created"),
    "opportunity_status_change_activities": ("activity", "status_change/opportunity", "date_created"),
    "task_completed_activities": ("activity", "task_completed", "date_created"),
    "lead_tasks": ("tasks", "lead", "date_updated"),
    "incoming_email_tasks": ("tasks", "incoming_email", "date_updated"),
    "email_followup_tasks": ("tasks", "email_followup", "date_updated"),
    "missed_call_tasks": ("tasks", "missed_call", "date_updated"),
    "answered_detached_call_tasks": ("tasks", "answered_detached_call", "date_updated"),
    "voicemail_tasks": ("tasks", "voicemail", "date_updated"),
    "opportunity_due_tasks": ("tasks", "opportunity_due", "date_updated"),
    "incoming_sms_tasks": ("tasks", "incoming_sms", "date_updated"),
    "contacts": ("contacts", None, None),
    "users": ("list", "users", None),
    "roles": ("list", "roles", None),
    "lead_statuses": ("list", "lead_statuses", None),
    "opportunity_statuses": ("list", "opportunity_statuses", None),
    "pipelines": ("list", "pipelines", None),
    "lead_custom_fields": ("custom_fields", "lead", None),
    "contact_custom_fields": ("custom_fields", "contact", None),
    "opportunity_custom_fields": ("custom_fields", "opportunity", None),
    "activity_custom_fields": ("custom_fields", "activity", None),
    "custom_activities": ("list", "custom_activity_types", None),
    "email_templates": ("list", "email_templates", None),
    "email_sequences": ("list", "sequences", None),
    "dialer": ("list", "dialer_sessions", None),
    "smart_views": ("list", "saved_searches", None),
    "send_as": ("list", "send_as", None),
    "integration_links": ("list", "integration_links", None),
    "email_bulk_actions": ("bulk", "email", None),
    "sequence_subscription_bulk_actions": ("bulk", "sequence_subscription", None),
    "delete_bulk_actions": ("bulk", "delete", None),
    "edit_bulk_actions": ("bulk", "edit", None),
    "google_connected_accounts": ("connected", "google", None),
    "custom_email_connected_accounts": ("connected", "custom_email", None),
    "zoom_connected_accounts": ("connected", "zoom", None),
    "custom_activity_instances": ("activity", "custom", "date_created"),
    "deleted_records": ("deleted", None, "date_deleted"),
    "whatsapp_message_activities": ("activity", "whatsapp_message", "date_created"),
    "form_submission_activities": ("activity", "form_submission", "date_created"),
    "lead_merge_activities": ("activity", "lead_merge", "date_created"),
    **{stream: ("workspace", stream, "date_updated" if stream == "custom_objects" else None)
       for stream in workspace.STREAMS},
}
STREAMS: tuple[str, ...] = tuple(STREAM_SPECS)

START_US = us_from_datetime(datetime(2021, 1, 1))
EVENT_RETENTION_US = 30 * DAY
_MAX_US = us_from_datetime(datetime(9999, 1, 1))

# Sizes per scale. "other" bursts apply to every incremental resource that has no own figure.
_SCALE_CONFIG = {
    "small": {
        "users": 8, "leads": 420, "deleted_leads": 4, "opportunities": 0.62, "lead_tasks": 120,
        "other_tasks": 44, "templates": 8, "sequences": 4, "dialers": 5, "saved_searches": 6,
        "bulk": 3, "deleted_activities": 3,
        "activities": {"note": 200, "emailthread": 300, "email": 1000, "sms": 120, "call": 250,
                       "meeting": 80, "status_change/lead": 150, "status_change/opportunity": 100,
                       "task_completed": 60, "custom": 100, "whatsapp_message": 80, "form_submission": 60,
                       "lead_merge": 50},
        "burst": {"leads": 150, "email": 150, "other": 20}, "recent_burst": {"leads": 24, "other": 20},
    },
    "medium": {
        "users": 25, "leads": 5000, "deleted_leads": 12, "opportunities": 0.6, "lead_tasks": 1500,
        "other_tasks": 300, "templates": 30, "sequences": 12, "dialers": 20, "saved_searches": 25,
        "bulk": 15, "deleted_activities": 15,
        "activities": {"note": 10000, "emailthread": 12000, "email": 40000, "sms": 6000, "call": 12000,
                       "meeting": 4000, "status_change/lead": 5000, "status_change/opportunity": 3000,
                       "task_completed": 2000, "custom": 3000, "whatsapp_message": 2000, "form_submission": 1500,
                       "lead_merge": 300},
        "burst": {"leads": 300, "email": 1000, "other": 50}, "recent_burst": {"leads": 40, "other": 30},
    },
}
_OUT_STATUSES = ("sent", "sent", "sent", "sent", "draft", "scheduled", "error")

_SCALE_CONFIG["large"] = {
    **_SCALE_CONFIG["medium"],
    "activities": {**_SCALE_CONFIG["medium"]["activities"], "email": 1_000_000},
    "burst": {"leads": 300, "email": 2000, "other": 50},
}


def _dumps_copy(obj: Any) -> Any:
    """A deep, JSON-exact copy (what a client would receive)."""
    return orjson.loads(orjson.dumps(obj))


# ------------------------------------------------------------------------------------------ windows


class Window:
    """An ordered selection of records: ``total()`` and ``page(skip, n, desc)`` in O(log n + n)."""

    def total(self) -> int:
        raise NotImplementedError

    def page(self, skip: int, n: int, desc: bool) -> list[dict]:
        raise NotImplementedError


class ListWindow(Window):
    """Records already materialised in ascending order (small settings lists, filtered subsets)."""

    def __init__(self, records: list[dict]):
        self.records = records

    def total(self) -> int:
        return len(self.records)

    def page(self, skip: int, n: int, desc: bool) -> list[dict]:
        if desc:
            end = len(self.records) - skip
            if end <= 0:
                return []
            return self.records[max(0, end - n):end][::-1]
        return self.records[skip:skip + n]


class Table:
    """Records keyed by id plus sorted ``(us, id)`` indexes per (group, field).

    ``groups(rec)`` names the extra groups a record belongs to (its task ``_type``, an event's action...);
    the group ``None`` holds every record."""

    def __init__(self, fields: tuple[str, ...] = ("date_created", "date_updated"),
                 groups: Callable[[dict], Iterable[Any]] | None = None,
                 view: Callable[[dict], dict] | None = None):
        self.fields = fields
        self.records: dict[str, dict] = {}
        self.keys: dict[str, tuple[int, ...]] = {}
        self.index: dict[tuple[Any, str], list[tuple[int, str]]] = {}
        self._groups = groups or (lambda rec: ())
        self.view = view or (lambda rec: rec)

    def _group_keys(self, rec: dict) -> list[Any]:
        return [None, *self._groups(rec)]

    def add(self, rec: dict, keys: tuple[int, ...]) -> None:
        rid = rec["id"]
        self.records[rid] = rec
        self.keys[rid] = keys
        for g in self._group_keys(rec):
            for f, k in zip(self.fields, keys):
                insort(self.index.setdefault((g, f), []), (k, rid))

    def bulk_load(self, items: list[tuple[dict, tuple[int, ...]]]) -> None:
        for rec, keys in items:
            rid = rec["id"]
            self.records[rid] = rec
            self.keys[rid] = keys
            for g in self._group_keys(rec):
                for f, k in zip(self.fields, keys):
                    self.index.setdefault((g, f), []).append((k, rid))
        for lst in self.index.values():
            lst.sort()

    def remove(self, rid: str) -> dict:
        rec = self.records.pop(rid)
        keys = self.keys.pop(rid)
        for g in self._group_keys(rec):
            for f, k in zip(self.fields, keys):
                lst = self.index[(g, f)]
                pos = bisect_left(lst, (k, rid))
                if pos < len(lst) and lst[pos] == (k, rid):
                    del lst[pos]
        return rec

    def replace(self, rec: dict, keys: tuple[int, ...]) -> None:
        self.remove(rec["id"])
        self.add(rec, keys)

    def get(self, rid: str) -> dict | None:
        return self.records.get(rid)

    def window(self, field: str, lo: int | None = None, hi: int | None = None, group: Any = None,
               ) -> "IndexWindow":
        """Records with ``lo <= field < hi`` (microseconds)."""
        lst = self.index.get((group, field), [])
        a = 0 if lo is None else bisect_left(lst, (lo,))
        b = len(lst) if hi is None else bisect_left(lst, (hi,))
        return IndexWindow(self, lst, a, max(a, b))

    def walk(self, field: str, group: Any, lo: int | None, hi: int | None,
             after: tuple[int, str] | None, desc: bool) -> Iterator[tuple[int, str, dict]]:
        """Keyset walk: records strictly after ``after`` in the walk direction, within [lo, hi)."""
        lst = self.index.get((group, field), [])
        a = 0 if lo is None else bisect_left(lst, (lo,))
        b = len(lst) if hi is None else bisect_left(lst, (hi,))
        if desc:
            pos = b - 1 if after is None else min(b, bisect_left(lst, tuple(after))) - 1
            while pos >= a:
                k, rid = lst[pos]
                yield k, rid, self.records[rid]
                pos -= 1
        else:
            pos = a if after is None else max(a, bisect_right(lst, tuple(after)))
            while pos < b:
                k, rid = lst[pos]
                yield k, rid, self.records[rid]
                pos += 1


class IndexWindow(Window):
    def __init__(self, table: Table, lst: list[tuple[int, str]], a: int, b: int):
        self.table, self.lst, self.a, self.b = table, lst, a, b

    def total(self) -> int:
        return self.b - self.a

    def page(self, skip: int, n: int, desc: bool) -> list[dict]:
        recs, view = self.table.records, self.table.view
        if desc:
            hi = self.b - skip
            lo = max(self.a, hi - n)
            return [view(recs[rid]) for _, rid in reversed(self.lst[lo:hi])] if hi > self.a else []
        lo = self.a + skip
        hi = min(self.b, lo + n)
        return [view(recs[rid]) for _, rid in self.lst[lo:hi]] if lo < self.b else []


class MergedWindow(Window):
    """Several windows of one table merged by key (tasks of several ``_type`` values)."""

    def __init__(self, windows: list[IndexWindow]):
        keys: list[tuple[int, str]] = []
        for w in windows:
            keys.extend(w.lst[w.a:w.b])
        keys.sort()
        self.table = windows[0].table if windows else None
        self.keys = keys

    def total(self) -> int:
        return len(self.keys)

    def page(self, skip: int, n: int, desc: bool) -> list[dict]:
        if self.table is None:
            return []
        recs, view = self.table.records, self.table.view
        keys = self.keys[::-1] if desc else self.keys
        return [view(recs[rid]) for _, rid in keys[skip:skip + n]]


# ------------------------------------------------------------------------------ lazy activity store


class _LazyRef:
    """Stands in an event for a derived activity (``data``/``previous_data``), resolved when served."""

    __slots__ = ("store", "index")

    def __init__(self, store: "ActivityStore", index: int):
        self.store, self.index = store, index

    def resolve(self) -> dict:
        return self.store.derive(self.index)


class ActivityStore:
    """One activity type: base records derived from (seed, i), plus an overlay of changes.

    ``times[i]`` is the base record's ``date_created`` (non-decreasing); ids embed ``i`` in a fixed-width
    prefix so that the id tie-break within a burst follows ``i``."""

    def __init__(self, org: "Organization", kind: str, code: int, times: array,
                 parent_times: array | list[int], parent_ids: list[str], parent_leads: list[str] | None):
        self.org, self.kind, self.code = org, kind, code
        self.type_name = ACTIVITY_TYPE_NAMES[kind]
        self.times = times
        self.n = len(times)
        self.salt = mix64(org.seed, 7919, code)
        self.salt2 = mix64(org.seed, 104729, code)
        self.id_base = org.activity_id_base
        self.parent_times = parent_times
        self.parent_ids = parent_ids
        self.parent_leads = parent_leads  # lead of each parent (None: parents are leads)
        self.updated: dict[int, dict] = {}
        self.deleted: set[int] = set()
        self.deleted_sorted: list[int] = []
        self.created = Table(fields=("date_created",))
        self.materialised = 0
        self._lead_index: dict[str, list[int]] | None = None
        self._rng = FastRng(0)
        tail_rng = random.Random(self.salt)
        self._tails = [rand_chars(tail_rng, 34) for _ in range(4096)]
        self._burst_instants = set(org.burst_instants)

    # -- identity ----------------------------------------------------------------------------------

    def id_of(self, i: int) -> str:
        """The fixed-width prefix encodes ``i`` (unique, ordered); the tail only has to look random."""
        return "acti_" + b62(self.id_base + i * 16 + self.code, 9) + self._tails[mix2(self.salt, i) & 4095]

    def index_of(self, rid: str) -> int | None:
        if not rid.startswith("acti_") or len(rid) != 48:
            return None
        v = unb62(rid[5:14])
        if v is None:
            return None
        v -= self.id_base
        if v < 0 or v % 16 != self.code:
            return None
        i = v // 16
        if i >= self.n or self.id_of(i) != rid:
            return None
        return i

    def parent_of(self, i: int) -> int:
        if self.kind == "created":
            return i
        k = bisect_right(self.parent_times, self.times[i])
        return (mix2(self.salt, i) >> 24) % max(1, k)

    def lead_of(self, i: int) -> str:
        p = self.parent_of(i)
        return self.parent_leads[p] if self.parent_leads is not None else self.parent_ids[p]

    def user_of(self, i: int) -> dict:
        users = self.org.users
        return users[(mix2(self.salt, i) >> 12) % len(users)]

    def updated_us(self, i: int) -> int:
        t = self.times[i]
        if t in self._burst_instants:
            return t
        h = mix2(self.salt2, i)
        r = h % 1000
        if r < 700:
            delta = (h >> 12) % 120_000
        elif r < 950:
            delta = (h >> 12) % 86_400_000
        else:
            delta = (h >> 12) % (20 * 86_400_000)
        return max(t, min(t + delta * 1000, self.org.anchor_us - 1000))

    # -- records -----------------------------------------------------------------------------------

    def derive(self, i: int) -> dict:
        """The base record ``i`` exactly as generated."""
        self.materialised += 1
        rng = self._rng
        rng.seed(self.salt2 ^ i)
        p = self.parent_of(i)
        lead = self.parent_leads[p] if self.parent_leads is not None else self.parent_ids[p]
        return self.org.build_activity(
            self.kind, rng, self.id_of(i), self.times[i], self.updated_us(i), lead, self.user_of(i),
            parent_index=p, as_generated=True)

    def record(self, i: int) -> dict:
        rec = self.updated.get(i)
        return rec if rec is not None else self.derive(i)

    def get(self, rid: str) -> dict | None:
        rec = self.created.get(rid)
        if rec is not None:
            return rec
        i = self.index_of(rid)
        if i is None or i in self.deleted:
            return None
        return self.record(i)

    def mark_deleted(self, i: int) -> None:
        if i not in self.deleted:
            self.deleted.add(i)
            insort(self.deleted_sorted, i)

    def lead_index(self) -> dict[str, list[int]]:
        """lead id -> base indexes, by the lead each record is on now (a changed record may have moved); built on
        first use (O(n) once), then kept in step by ``put``."""
        if self._lead_index is None:
            idx: dict[str, list[int]] = {}
            for i in range(self.n):
                rec = self.updated.get(i)
                idx.setdefault(self.lead_of(i) if rec is None else rec["lead_id"], []).append(i)
            self._lead_index = idx
        return self._lead_index

    def put(self, i: int, new: dict) -> None:
        """Store the changed base record ``i`` (its lead may change)."""
        old_lead = self.record(i)["lead_id"] if self._lead_index is not None else None
        self.updated[i] = new
        if self._lead_index is not None and new["lead_id"] != old_lead:
            self._lead_index[old_lead].remove(i)
            insort(self._lead_index.setdefault(new["lead_id"], []), i)

    def ids_window(self, ids: Iterable[str], lo: int | None, hi: int | None, lead_id: str | None) -> ListWindow:
        """The records named by ``ids`` (``id__in``) that exist, in the window's order: base records by index,
        then created ones by their key. Unknown and deleted ids are left out."""
        items: dict[str, tuple[tuple, dict]] = {}
        for rid in ids:
            if rid in items:
                continue
            rec = self.created.get(rid)
            if rec is not None:
                k = self.created.keys[rid][0]
                key: tuple = (1, k, rid)
            else:
                i = self.index_of(rid)
                if i is None or i in self.deleted:
                    continue
                k, key, rec = self.times[i], (0, i), self.record(i)
            if (lo is not None and k < lo) or (hi is not None and k >= hi):
                continue
            if lead_id is not None and rec["lead_id"] != lead_id:
                continue
            items[rid] = (key, rec)
        return ListWindow([rec for _, rec in sorted(items.values(), key=lambda x: x[0])])

    def _del_count(self, x: int, y: int) -> int:
        """Deleted base indexes in [x, y]."""
        if y < x or not self.deleted_sorted:
            return 0
        return bisect_right(self.deleted_sorted, y) - bisect_left(self.deleted_sorted, x)

    def window(self, lo: int | None, hi: int | None) -> "LazyWindow":
        a = 0 if lo is None else bisect_left(self.times, lo)
        b = self.n if hi is None else bisect_left(self.times, hi)
        return LazyWindow(self, a, max(a, b), self.created.window("date_created", lo, hi))

    def lead_window(self, lead_id: str, lo: int | None, hi: int | None) -> ListWindow:
        items = []
        for i in self.lead_index().get(lead_id, ()):
            t = self.times[i]
            if i in self.deleted or (lo is not None and t < lo) or (hi is not None and t >= hi):
                continue
            items.append((t, i))
        items.sort()
        recs = [self.record(i) for _, i in items]
        extra = [r for r in self.created.window("date_created", lo, hi).page(0, 1 << 60, False)
                 if r["lead_id"] == lead_id]
        return ListWindow(recs + extra)


class LazyWindow(Window):
    """Base indexes [a, b) minus deletions, then overlay-created records (always newer)."""

    def __init__(self, store: ActivityStore, a: int, b: int, created: IndexWindow):
        self.store, self.a, self.b, self.created = store, a, b, created

    def base_total(self) -> int:
        return (self.b - self.a) - self.store._del_count(self.a, self.b - 1)

    def total(self) -> int:
        return self.base_total() + self.created.total()

    def _nth_asc(self, p: int) -> int | None:
        s, a = self.store, self.a
        j = a + p
        while True:
            j2 = a + p + s._del_count(a, j)
            if j2 == j:
                break
            j = j2
        return j if j < self.b else None

    def _nth_desc(self, p: int) -> int | None:
        s, top = self.store, self.b - 1
        j = top - p
        while True:
            j2 = top - p - s._del_count(j, top)
            if j2 == j:
                break
            j = j2
        return j if j >= self.a else None

    def _base_page(self, skip: int, n: int, desc: bool) -> list[dict]:
        s = self.store
        out: list[dict] = []
        if n <= 0:
            return out
        j = self._nth_desc(skip) if desc else self._nth_asc(skip)
        if j is None:
            return out
        step = -1 if desc else 1
        deleted = s.deleted
        while len(out) < n and self.a <= j < self.b:
            if j not in deleted:
                out.append(s.record(j))
            j += step
        return out

    def page(self, skip: int, n: int, desc: bool) -> list[dict]:
        created_total = self.created.total()
        if desc:
            out = self.created.page(skip, n, True) if skip < created_total else []
            rest = n - len(out)
            if rest > 0:
                out += self._base_page(max(0, skip - created_total), rest, True)
            return out
        base_total = self.base_total()
        out = self._base_page(skip, n, False) if skip < base_total else []
        rest = n - len(out)
        if rest > 0:
            out += self.created.page(max(0, skip - base_total), rest, False)
        return out


# ------------------------------------------------------------------------------------- organization


class Organization:
    """A whole Close organisation generated from (seed, scale, anchor); see the module docstring.

    ``clock`` (seconds since the epoch) dates mutations and bounds the 30-day event log."""

    def __init__(self, seed: int = 7, scale: str = "small", anchor: datetime | None = None,
                 clock: Callable[[], float] = time.time):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        if anchor is None:
            now = datetime.now(timezone.utc)
            anchor = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
        elif anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=timezone.utc)
        self.seed = int(seed)
        self.scale = scale
        self.anchor = anchor
        self.anchor_us = us_from_datetime(anchor)
        if self.anchor_us <= START_US + 120 * DAY:
            raise ValueError("anchor must be at least 120 days after 2021-01-01")
        self.clock = clock
        self.start_date = "2021-01-01"
        self.version = 0  # bumped on every mutation (response caches key on it)
        self._mutations = 0
        self._last_now = 0
        self.cfg = _SCALE_CONFIG[scale]
        rng = self._rng("org")
        self.organization_id = rand_id(rng, "orga_")
        self.api_key = "api_" + rand_chars(rng, 22, URLSAFE)
        self.organization_name = company_name(rng)
        self.activity_id_base = 62 ** 8 * (5 + rng.randrange(40))
        self._slug_cache: dict[str, str] = {}
        self._body_cache: dict[tuple, tuple] = {}
        self._who_cache: dict[str, str] = {}
        pool_rng = self._rng("id-pool")
        self._id_pool = [rand_chars(pool_rng, 43) for _ in range(4096)]
        self._plan_bursts()
        self._generate()

    def _rng(self, part: str) -> random.Random:
        return random.Random(f"close-sim:{self.seed}:{part}")

    # ----------------------------------------------------------------------------------- timeline

    def _plan_bursts(self) -> None:
        """Import bursts: many records sharing one instant, at midnight UTC on the 1st of a month."""
        rng = self._rng("bursts")
        months = months_between(START_US + 60 * DAY, self.anchor_us - 60 * DAY)
        self.main_burst = rng.choice(months) if months else START_US + 31 * DAY
        recent = months_between(self.anchor_us - 28 * DAY - 1, self.anchor_us)
        self.recent_burst = recent[-1] if recent and recent[-1] < self.anchor_us - HOUR else None
        self.burst_instants = [self.main_burst] + ([self.recent_burst] if self.recent_burst else [])

    def _bursts_for(self, what: str) -> list[tuple[int, int]]:
        size = self.cfg["burst"].get(what, self.cfg["burst"]["other"])
        out = [(self.main_burst, size)]
        if self.recent_burst:
            out.append((self.recent_burst, self.cfg["recent_burst"].get(what, self.cfg["recent_burst"]["other"])))
        return out

    def now_us(self) -> int:
        """Current time for a mutation: the clock at ms precision, never before the anchor."""
        t = int(self.clock() * 1_000_000) // 1000 * 1000
        t = max(t, self.anchor_us, self._last_now)
        self._last_now = t
        return t

    # --------------------------------------------------------------------------------- generation

    def _generate(self) -> None:
        self._gen_settings()
        self._gen_custom_fields()
        self._gen_misc()
        self.events = Table(fields=("date_updated",), groups=_event_groups, view=_event_view)
        self._gen_leads()
        self._gen_activities()
        self.workspace = workspace.Workspace(self)
        self._gen_history_events()

    def _user_ref(self, rng: random.Random) -> dict:
        return rng.choice(self.users)

    def _gen_settings(self) -> None:
        rng = self._rng("settings")
        org = self.organization_id
        created = START_US + 3 * HOUR
        self.users = []
        names = set()
        while len(self.users) < self.cfg["users"]:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if (first, last) in names:
                continue
            names.add((first, last))
            uc = created if not self.users else pick_between(rng, created, START_US + 400 * DAY)
            uu = later(rng, uc, self.anchor_us, 0.8)
            uid = rand_id(rng, "user_")
            self.users.append({
                "id": uid, "email": f"{first.lower()}.{last.lower()}@{slug(self.organization_name)}.com",
                "first_name": first, "last_name": last,
                "image": f"https://secure.gravatar.com/avatar/{rand_chars(rng, 32, '0123456789abcdef')}",
                "google_profile_image_url": None if rng.random() < 0.5 else
                f"https://lh3.googleusercontent.com/a/{rand_chars(rng, 28)}",
                "organizations": [org], "date_created": fmt_tz_ms(uc), "date_updated": fmt_tz_ms(uu),
                "email_verified_at": fmt_tz_ms(uc + 5 * MINUTE),
                "last_used_timezone": rng.choice(["America/New_York", "Europe/Prague", "America/Los_Angeles",
                                                  "Europe/London", "UTC"]),
            })
        self.user_by_id = {u["id"]: u for u in self.users}
        self.me = self.users[0]
        # roles: three built-ins with string ids and year-1 dates, then custom roles
        self.roles = []
        for rid, name, perms in (("admin", "Admin", ROLE_PERMISSIONS), ("superuser", "Super User", ROLE_PERMISSIONS[:9]),
                                 ("restricteduser", "Restricted User", ("calling", "export"))):
            self.roles.append({"id": rid, "name": name, "editable": False, "permissions": list(perms),
                               "organization_id": org, "date_created": "0001-01-01T00:00:00",
                               "date_updated": "0001-01-01T00:00:00", "visibility_user_lcf_behavior": None,
                               "visibility_user_lcf_ids": []})
        for name in rng.sample(["Sales Rep", "Team Lead", "Support", "Intern", "Finance"], 2):
            rc = pick_between(rng, START_US + 10 * DAY, START_US + 500 * DAY)
            self.roles.append({"id": rand_id(rng, "role_", 22), "name": name, "editable": True,
                               "permissions": sorted(rng.sample(ROLE_PERMISSIONS, 5)), "organization_id": org,
                               "date_created": fmt_tz_ms(rc), "date_updated": fmt_tz_ms(later(rng, rc, self.anchor_us)),
                               "visibility_user_lcf_behavior": "require_assignment",
                               "visibility_user_lcf_ids": []})
        labels = ["Potential", "Bad Fit", "Qualified", "Customer", "Churned", "Nurture"]
        self.lead_statuses = [{"id": rand_id(rng, "stat_"), "label": lab, "organization_id": org}
                              for lab in labels[: 4 + rng.randrange(3)]]
        self.pipelines, self.opportunity_statuses = [], []
        for pname, stats in (("Sales", (("Active", "active"), ("Demo Scheduled", "active"), ("Proposal Sent", "active"),
                                        ("Won", "won"), ("Lost", "lost"))),
                             ("Renewals", (("Up for Renewal", "active"), ("Renewed", "won"), ("Churned", "lost")))):
            pc = START_US + rng.randrange(1, 200) * DAY + rng.randrange(0, DAY)
            pid = rand_id(rng, "pipe_", 22)
            ss = []
            for lab, typ in stats:
                st = {"id": rand_id(rng, "stat_"), "label": lab, "type": typ, "pipeline_id": pid,
                      "organization_id": org}
                self.opportunity_statuses.append(st)
                ss.append({"id": st["id"], "label": lab, "type": typ})
            creator = self.users[0]["id"]
            self.pipelines.append({"id": pid, "name": pname, "organization_id": org, "statuses": ss,
                                   "created_by": creator, "updated_by": creator, "date_created": fmt_naive(pc),
                                   "date_updated": fmt_naive(pc + rng.randrange(0, 90 * DAY))})
        self.pipeline_by_id = {p["id"]: p for p in self.pipelines}

    def _cf_def(self, rng: random.Random, name: str, typ: str, multi: bool, choices, desc,
                created_us: int, **extra) -> dict:
        creator = self._user_ref(rng)["id"]
        d = {"id": rand_id(rng, "cf_"), "name": name, "description": desc, "type": typ,
             "choices": list(choices) if choices else None, "accepts_multiple_values": multi,
             "is_shared": False, "editable_with_roles": [], "referenced_custom_type_id": None,
             "back_reference_is_visible": None, "organization_id": self.organization_id,
             "created_by": creator, "updated_by": creator, "date_created": fmt_tz_ms(created_us),
             "date_updated": fmt_tz_ms(later(rng, created_us, self.anchor_us, 0.3))}
        d.update(extra)
        return d

    def _gen_custom_fields(self) -> None:
        """Per-organisation definitions: which fields exist, their ids and names depend on the seed."""
        rng = self._rng("custom_fields")
        self.custom_fields: dict[str, list[dict]] = {k: [] for k in CUSTOM_FIELD_OBJECTS}
        lo, hi = START_US + DAY, START_US + 300 * DAY
        for obj, pool, k in (("lead", LEAD_FIELD_POOL, (6, 10)), ("contact", CONTACT_FIELD_POOL, (3, 6)),
                             ("opportunity", OPPORTUNITY_FIELD_POOL, (3, 6))):
            for name, typ, multi, choices, desc in rng.sample(pool, rng.randint(*k)):
                if rng.random() < 0.25:
                    name = f"{name} ({rng.choice(['EU', 'US', 'Legacy', 'New', '2022'])})"
                self.custom_fields[obj].append(self._cf_def(rng, name, typ, multi, choices, desc,
                                                            pick_between(rng, lo, hi)))
        # custom activity types and their fields
        self.custom_activity_types = []
        for tname, tdesc, fields in rng.sample(ACTIVITY_TYPE_POOL, rng.randint(2, 3)):
            tc = pick_between(rng, lo, hi)
            tid = rand_id(rng, "actitype_", 22)
            creator = self._user_ref(rng)["id"]
            field_refs = []
            for fname, ftyp, fmulti, fchoices in fields:
                d = self._cf_def(rng, fname, ftyp, fmulti, fchoices, None, tc + rng.randrange(0, HOUR),
                                 custom_activity_type_id=tid, required=rng.random() < 0.2)
                self.custom_fields["activity"].append(d)
                field_refs.append({"id": d["id"], "name": fname, "type": ftyp, "description": None,
                                   "required": d["required"], "accepts_multiple_values": fmulti,
                                   "editable_with_roles": [], "is_shared": False,
                                   "referenced_custom_type_id": None, "back_reference_is_visible": None,
                                   "converting_to_type": None})
            self.custom_activity_types.append({
                "id": tid, "name": tname, "description": tdesc, "api_create_only": rng.random() < 0.3,
                "editable_with_roles": [], "fields": field_refs, "organization_id": self.organization_id,
                "created_by": creator, "updated_by": creator, "date_created": fmt_naive(tc + rng.randrange(0, 1000)),
                "date_updated": fmt_naive(later(rng, tc, self.anchor_us, 0.3) + rng.randrange(0, 1000))})
        for name, typ, multi, choices in rng.sample(SHARED_FIELD_POOL, rng.randint(1, 3)):
            objs = rng.sample(["lead", "contact", "opportunity"], rng.randint(1, 3))
            d = self._cf_def(rng, name, typ, multi, choices, None, pick_between(rng, lo, hi))
            d["is_shared"] = True
            d["associations"] = [{"object_type": o, "required": False, "editable_with_roles": [],
                                  "custom_activity_type_id": None, "custom_object_type_id": None}
                                 for o in sorted(objs)]
            self.custom_fields["shared"].append(d)

    def fields_for(self, obj: str) -> list[dict]:
        """Definitions whose values appear on records of ``obj`` (own fields + associated shared ones)."""
        own = self.custom_fields.get(obj, [])
        shared = [d for d in self.custom_fields["shared"]
                  if any(a["object_type"] == obj for a in d.get("associations", ()))]
        return own + shared

    def custom_field_list(self, obj: str) -> list[dict]:
        """What ``custom_field/<obj>/`` lists; shared fields associated with ``obj`` are included."""
        if obj == "shared":
            return list(self.custom_fields["shared"])
        return self.fields_for(obj) if obj in ("lead", "contact", "opportunity") else list(self.custom_fields[obj])

    def _cf_value(self, rng: random.Random, d: dict, contact_ids: list[str], lo: int, hi: int):
        typ = d["type"]

        def one():
            if typ == "number":
                return round(rng.uniform(0, 100), 2) if "%" in d["name"] else rng.randrange(1, 50_000)
            if typ == "date":
                return fmt_date(pick_between(rng, lo, hi))
            if typ == "datetime":
                return fmt_tz_ms(pick_between(rng, lo, hi))
            if typ == "choices":
                return rng.choice(d["choices"])
            if typ == "user":
                return rng.choice(self.users)["id"]
            if typ == "contact":
                return rng.choice(contact_ids) if contact_ids else None
            if typ == "hidden":
                return f"LEG-{rng.randrange(10_000, 99_999)}"
            if typ == "textarea":
                return rng.choice(NOTES).format(first=rng.choice(FIRST_NAMES), q=rng.randint(1, 4), n=rng.randint(2, 40))
            return rng.choice(INDUSTRIES + ["north", "south", "alpha", "beta", "gamma"]) + f" {rng.randrange(100)}"

        if d["accepts_multiple_values"]:
            vals = []
            for _ in range(rng.randint(1, 3)):
                v = one()
                if v is not None and v not in vals:
                    vals.append(v)
            return vals
        return one()

    def custom_values(self, rng: random.Random, defs: list[dict], contact_ids: list[str], lo: int, hi: int,
                      fill: float = 0.7) -> dict:
        out = {}
        for d in defs:
            if rng.random() > fill:
                continue
            out["custom." + d["id"]] = None if rng.random() < 0.05 else self._cf_value(rng, d, contact_ids, lo, hi)
        return out

    def _gen_misc(self) -> None:
        rng = self._rng("misc")
        org, cfg = self.organization_id, self.cfg
        lo, hi = START_US + 5 * DAY, self.anchor_us - DAY

        def creator_pair():
            u = self._user_ref(rng)
            return u["id"], u["id"]

        self.email_templates = []
        for i in range(cfg["templates"]):
            tc = pick_between(rng, lo, hi)
            cb, ub = creator_pair()
            subj = rng.choice(EMAIL_SUBJECTS).format(company="{{ lead.display_name }}", first="{{ contact.first_name }}",
                                                     n=rng.randrange(1000, 9999))
            self.email_templates.append({
                "id": rand_id(rng, "tmpl_"), "name": f"{rng.choice(['Intro', 'Follow-up', 'Proposal', 'Renewal', 'Nurture'])} #{i + 1}",
                "subject": subj, "body": "<p>Hi {{ contact.first_name }},</p><p>" + rng.choice(NOTES).format(
                    first="{{ contact.first_name }}", q=2, n=5) + "</p>",
                "attachments": [], "is_shared": rng.random() < 0.6, "is_archived": rng.random() < 0.15,
                "organization_id": org, "created_by": cb, "updated_by": ub, "date_created": fmt_tz_ms(tc),
                "date_updated": fmt_tz_ms(later(rng, tc, self.anchor_us))})
        self.sequences = []
        for i in range(cfg["sequences"]):
            sc = pick_between(rng, lo, hi) + rng.randrange(0, 1000)
            cb, ub = creator_pair()
            steps = []
            for s in range(rng.randint(2, 5)):
                kind = rng.choice(["email", "email", "call", "sms"])
                steps.append({"id": rand_id(rng, "seqstep_", 22), "step_type": kind, "delay": s * 86400 * rng.randint(1, 3),
                              "step_allowed_delay": None,
                              "email_template_id": rng.choice(self.email_templates)["id"] if kind == "email" else None,
                              "sms_template_id": rand_id(rng, "smstmpl_", 22) if kind == "sms" else None,
                              "required": rng.random() < 0.3, "threading": "old_thread" if s else "new_thread",
                              "created_by_id": cb, "updated_by_id": ub, "date_created": fmt_naive(sc),
                              "date_updated": fmt_naive(sc)})
            self.sequences.append({
                "id": rand_id(rng, "seq_", 22), "name": f"{rng.choice(['Outbound', 'Trial', 'Webinar', 'Win-back'])} sequence {i + 1}",
                "status": rng.choice(["active", "active", "paused", "draft"]), "schedule_id": rand_id(rng, "sched_", 22),
                "timezone": rng.choice(["America/New_York", "Europe/Prague", "UTC"]),
                "allow_manual_enrollment": rng.random() < 0.7, "trigger_query": None, "steps": steps,
                "created_by_id": cb, "updated_by_id": ub, "organization_id": org, "date_created": fmt_naive(sc),
                "date_updated": fmt_naive(later(rng, sc, self.anchor_us) + rng.randrange(0, 1000))})
        self.saved_searches = []
        for i in range(cfg["saved_searches"]):
            vc = pick_between(rng, lo, hi)
            u = self._user_ref(rng)
            typ = rng.choice(["lead", "lead", "contact", "opportunity", "call", "email"])
            shared = rng.random() < 0.5
            self.saved_searches.append({
                "id": rand_id(rng, "save_"), "name": f"{rng.choice(['Hot', 'Stale', 'New', 'My', 'EMEA'])} {typ}s {i + 1}",
                "type": typ, "query": None if rng.random() < 0.6 else f'status:"{self.lead_statuses[0]["label"]}"',
                "s_query": {"query": {"type": "and", "queries": [{"type": "object_type", "object_type": typ}]},
                            "sort": [], "results_limit": None},
                "is_shared": shared, "is_user_dependent": False, "user_id": u["id"], "organization_id": org,
                "description": None, "selected_fields": [], "shared_with": [],
                "sharing_settings": None, "date_created": fmt_tz_ms(vc),
                "date_updated": fmt_tz_ms(later(rng, vc, self.anchor_us))})
        self.dialer_sessions = []
        for _ in range(cfg["dialers"]):
            dc = pick_between(rng, lo, hi) + rng.randrange(0, 1000)
            u = self._user_ref(rng)
            self.dialer_sessions.append({
                "id": rand_id(rng, "dial_", 22), "type": rng.choice(["power", "predictive"]), "status": "inactive",
                "source_type": "saved-search", "source_value": rng.choice(self.saved_searches)["id"],
                "target_type": "lead", "ring_mode": rng.choice(["single", "parallel"]), "music_preference": None,
                "caller_id": None, "is_user_dependent": False, "visibility_mode": "all",
                "user_id": u["id"], "users": [{"user_id": u["id"], "is_active": False, "state": "inactive"}],
                "organization_id": org, "date_created": fmt_naive(dc), "date_updated": fmt_naive(dc + rng.randrange(0, 4 * HOUR))})
        self.integration_links = []
        for name, url, typ in (("Google", "https://google.com/search?q={{ lead.display_name }}", "lead"),
                               ("LinkedIn", "https://www.linkedin.com/search/results/all/?keywords={{ contact.name }}", "contact"),
                               ("Billing", "https://billing.example.com/deals/{{ opportunity.id }}", "opportunity")):
            ic = pick_between(rng, lo, hi)
            cb, ub = creator_pair()
            self.integration_links.append({"id": rand_id(rng, "ilink_"), "name": name, "url": url, "type": typ,
                                           "organization_id": org, "created_by": cb, "updated_by": ub,
                                           "date_created": fmt_tz_ms(ic), "date_updated": fmt_tz_ms(later(rng, ic, self.anchor_us))})
        self.send_as = []
        for u in self.users[1:4]:
            self.send_as.append({"id": rand_id(rng, "sendas_", 22), "organization_id": org,
                                 "allowing_user_id": self.me["id"], "allowed_user_id": u["id"]})
        self.connected_accounts = []
        for i, u in enumerate(self.users[: max(3, min(len(self.users), 6))]):
            for typ in (CONNECTED_ACCOUNT_TYPES[i % 3],) if i >= 3 else (CONNECTED_ACCOUNT_TYPES[i],):
                self.connected_accounts.append(self._connected_account(rng, typ, u))
        self.connected_accounts.sort(key=lambda a: (a["date_created"], a["id"]))
        self._email_account_id = self.connected_accounts[0]["id"]
        self.bulk_actions = {}
        for kind, prefix in BULK_KINDS.items():
            out = []
            for _ in range(cfg["bulk"]):
                bc = pick_between(rng, lo, hi)
                cb, ub = creator_pair()
                n = rng.randint(1, 400)
                status = rng.choice(["done", "done", "done", "error", "paused"])
                rec = {"id": rand_id(rng, prefix), "status": status,
                       "query": rng.choice(["*", "", f'lead_status:"{self.lead_statuses[0]["label"]}"']),
                       "s_query": {"query": {"type": "and", "queries": [{"type": "object_type", "object_type": "lead"}]}},
                       "sort": [], "results_limit": None, "n_objects": n,
                       "n_objects_processed": n if status == "done" else rng.randint(0, n),
                       "n_leads": n, "n_leads_processed": n if status == "done" else 0,
                       "send_done_email": rng.random() < 0.5, "organization_id": org, "created_by": cb,
                       "updated_by": ub, "date_created": fmt_tz_ms(bc), "date_updated": fmt_tz_ms(bc + rng.randrange(0, HOUR) // 1000 * 1000)}
                if kind == "email":
                    rec.update({"template_id": rng.choice(self.email_templates)["id"], "contact_preference": "lead",
                                "email_account_id": self.connected_accounts[0]["id"],
                                "sender": f'"{self.me["first_name"]}" <{self.me["email"]}>'})
                elif kind == "sequence_subscription":
                    rec.update({"action_type": rng.choice(["subscribe", "pause", "resume"]),
                                "sequence_id": rng.choice(self.sequences)["id"], "sender_account_id": self.connected_accounts[0]["id"],
                                "sender_name": self.me["first_name"], "sender_email": self.me["email"],
                                "from_phone_number_id": None, "calls_assigned_to": [], "contact_preference": "contact"})
                elif kind == "delete":
                    rec["bulk_object_type"] = rng.choice(["lead", "contact", "call"])
                else:
                    rec.update({"type": rng.choice(["set_custom_field", "clear_custom_field", "set_lead_status"]),
                                "custom_field_name": rng.choice(self.custom_fields["lead"])["name"],
                                "custom_field_value": "x", "lead_status_id": self.lead_statuses[0]["id"]})
                out.append(rec)
            out.sort(key=lambda r: (r["date_created"], r["id"]))
            self.bulk_actions[kind] = out

    def _connected_account(self, rng: random.Random, typ: str, user: dict) -> dict:
        cc = pick_between(rng, START_US + 2 * DAY, self.anchor_us - 2 * DAY)
        email = user["email"]
        custom = typ == "custom_email"
        server = lambda kind: {"host": f"{kind}.mailhost.example.com", "port": 993 if kind == "imap" else 587,
                               "username": email, "use_ssl": True, "date_updated": fmt_tz_ms(cc)}
        features = {"google": ["calendar_syncing", "email_sending", "email_syncing"],
                    "custom_email": ["email_sending", "email_syncing"], "zoom": []}[typ]
        return {"id": rand_id(rng, "emailacct_"), "_type": typ, "user_id": user["id"],
                "organization_id": self.organization_id, "email": email,
                "identities": [{"name": f'{user["first_name"]} {user["last_name"]}', "email": email}],
                "default_identity": {"name": f'{user["first_name"]} {user["last_name"]}', "email": email},
                "smtp": server("smtp") if custom else None, "imap": server("imap") if custom else None,
                "available_features": features, "enabled_features": features[: rng.randint(0, len(features))],
                "available_calendars": [
                    {"id": email, "name": email, "status": "ok", "default": True, "synced": True},
                    {"id": f"{user['id'][5:17].lower()}@group.calendar.google.com", "name": "Team", "status": "ok",
                     "default": False, "synced": False},
                ] if typ == "google" else [],
                "synced_calendars": [email] if typ == "google" else [],
                "sync_all_calendars": typ == "google", "send_status": "ok" if typ != "zoom" else None,
                "receive_status": "ok" if typ != "zoom" else None,
                "email_receive_status": rng.choice(["ok", "ok", "error"]) if typ != "zoom" else None,
                "calendar_receive_status": "ok" if typ == "google" else None, "latest_send_error": None,
                "latest_receive_error": None, "receive_attempts_count": rng.randint(0, 5),
                "is_imap_archive_sync_enabled": custom, "lead_suggestions_updated_at": None,
                "zoom_account_plan": rng.choice(["basic", "pro"]) if typ == "zoom" else None,
                "has_meeting_creation_scopes": typ == "zoom", "calendly": None, "date_created": fmt_tz_ms(cc)}

    # ----------------------------------------------------------------------------- record builders

    def _slug(self, text: str) -> str:
        out = self._slug_cache.get(text)
        if out is None:
            out = self._slug_cache[text] = slug(text)
        return out

    def quick_id(self, rng, prefix: str, n: int = 43) -> str:
        """A random-looking id for nested references inside derived records (drawn from a pool)."""
        return prefix + self._id_pool[rng.randrange(4096)][:n]

    def _who(self, user: dict) -> str:
        out = self._who_cache.get(user["id"])
        if out is None:
            out = self._who_cache[user["id"]] = f'{user["first_name"]} {user["last_name"]}'
        return out

    def build_contact(self, rng: random.Random, lead_id: str, company: str, created: int, updated: int,
                      contact_ids_hint: list[str]) -> dict:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first} {last}" if rng.random() > 0.05 else None
        user = self._user_ref(rng)
        cid = rand_id(rng, "cont_")
        phone_n = f"+1{rng.randrange(2012000000, 9899999999)}"
        rec = {
            "id": cid, "lead_id": lead_id, "organization_id": self.organization_id, "name": name,
            "display_name": name or "", "title": rng.choice(TITLES),
            "emails": [{"type": rng.choice(["office", "home", "direct"]),
                        "email": f"{first.lower()}.{last.lower()}@{slug(company)}.com",
                        "is_unsubscribed": rng.random() < 0.05}] if rng.random() < 0.92 else [],
            "phones": [{"type": rng.choice(["office", "mobile", "direct"]), "phone": phone_n,
                        "phone_formatted": f"+1 {phone_n[2:5]}-{phone_n[5:8]}-{phone_n[8:]}", "country": "US",
                        "outbound_sms_blocked": False, "tz_ids": ["America/New_York"]}] if rng.random() < 0.7 else [],
            "urls": [], "integration_links": [], "created_by": user["id"], "updated_by": user["id"],
            "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated),
            "timezone": None, "timezone_source": None, "recent_calls": [], "subscriptions": [],
            "lead_suggestions_operation_id": None,
        }
        rec.update(self.custom_values(rng, self.fields_for("contact"), contact_ids_hint + [cid], created, self.anchor_us))
        return rec

    def build_lead(self, rng: random.Random, created: int, updated: int) -> dict:
        company = company_name(rng)
        status = rng.choice(self.lead_statuses)
        user = self._user_ref(rng)
        place = rng.choice(PLACES)
        lid = rand_id(rng, "lead_")
        return {
            "id": lid, "name": company, "display_name": company,
            "description": None if rng.random() < 0.5 else rng.choice(NOTES).format(first="the team", q=rng.randint(1, 4), n=rng.randint(2, 40)),
            "url": None if rng.random() < 0.3 else f"https://www.{slug(company)}.com",
            "html_url": f"https://app.close.com/lead/{lid}/", "status_id": status["id"], "status_label": status["label"],
            "organization_id": self.organization_id, "created_by": user["id"], "created_by_name": self._who(user),
            "updated_by": user["id"], "updated_by_name": self._who(user),
            "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated),
            "addresses": [] if rng.random() < 0.3 else [{
                "label": rng.choice(["business", "mailing", "other"]),
                "address_1": f"{rng.randint(1, 999)} {rng.choice(STREETS)}", "address_2": None,
                "city": place[0], "state": place[1], "zipcode": place[2], "country": place[3]}],
            "contacts": [], "opportunities": [], "tasks": [],
            "integration_links": [{"name": il["name"], "url": il["url"].replace("{{ lead.display_name }}", company.replace(" ", "+"))}
                                  for il in self.integration_links if il["type"] == "lead"],
            "custom": {},
        }

    def finish_lead_custom(self, rng: random.Random, lead: dict, contact_ids: list[str], created: int) -> None:
        values = self.custom_values(rng, self.fields_for("lead"), contact_ids, created, self.anchor_us)
        names = {d["id"]: d["name"] for d in self.fields_for("lead")}
        lead["custom"] = {names[k[7:]]: v for k, v in values.items() if v is not None}
        lead.update(values)

    def build_opportunity(self, rng: random.Random, lead: dict, contact: dict | None, created: int,
                          updated: int) -> dict:
        pipeline = rng.choice(self.pipelines)
        st = rng.choice([s for s in self.opportunity_statuses if s["pipeline_id"] == pipeline["id"]])
        user = self._user_ref(rng)
        value = rng.choice([None, 50_000, 120_000, 250_000, 300_000, 990_000, 1_500_000, rng.randrange(10, 2000) * 1000])
        period = rng.choice(["one_time", "one_time", "monthly", "annual"])
        conf = {"won": 100, "lost": 0}.get(st["type"], rng.choice([10, 25, 50, 75, 90]))
        annual = None if value is None else (value * 12 if period == "monthly" else value)
        rec = {
            "id": rand_id(rng, "oppo_"), "lead_id": lead["id"], "lead_name": lead["display_name"],
            "contact_id": contact["id"] if contact else None, "contact_name": contact["name"] if contact else None,
            "user_id": user["id"], "user_name": self._who(user), "organization_id": self.organization_id,
            "status_id": st["id"], "status_label": st["label"], "status_display_name": st["label"],
            "status_type": st["type"], "pipeline_id": pipeline["id"], "pipeline_name": pipeline["name"],
            "value": value, "value_currency": "USD", "value_formatted": money_formatted(value) if value is not None else "",
            "value_period": period, "expected_value": None if value is None else value * conf // 100,
            "annualized_value": annual, "annualized_expected_value": None if annual is None else annual * conf // 100,
            "confidence": conf, "note": "" if rng.random() < 0.5 else rng.choice(NOTES).format(first="them", q=2, n=7),
            "date_won": fmt_date(pick_between(rng, created, max(created + 1000, updated))) if st["type"] == "won" else None,
            "date_lost": fmt_tz_ms(updated) if st["type"] == "lost" else None,
            "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated),
            "created_by": user["id"], "created_by_name": self._who(user), "updated_by": user["id"],
            "updated_by_name": self._who(user), "integration_links": [], "attachments": [],
            "is_stalled": rng.random() < 0.1, "stall_status": None, "suggested_action": None, "comment_summary": None,
            "lead_primary_email": None, "lead_primary_phone": None,
        }
        rec.update(self.custom_values(rng, self.fields_for("opportunity"), self.children_contacts(lead["id"]),
                                      created, self.anchor_us))
        return rec

    def children_contacts(self, lead_id: str) -> list[str]:
        ch = self.children.get(lead_id)
        return list(ch["contacts"]) if ch else []

    def build_task(self, rng: random.Random, typ: str, lead: dict, contact: dict | None, created: int,
                   updated: int, opportunity: dict | None = None) -> dict:
        user = self._user_ref(rng)
        is_complete = rng.random() < (0.5 if typ == "lead" else 0.3)
        due = created + rng.randrange(0, 30) * DAY
        first = (contact or {}).get("name") or "them"
        date_val = fmt_date(due) if rng.random() < 0.6 else fmt_tz_ms(due // 1000 * 1000)
        rec = {
            "id": rand_id(rng, "task_" if typ == "lead" else "noti_"), "_type": typ, "lead_id": lead["id"],
            "lead_name": lead["display_name"], "contact_id": contact["id"] if contact else None,
            "contact_name": contact["name"] if contact else None, "assigned_to": user["id"],
            "assigned_to_name": self._who(user), "text": rng.choice(TASK_TEXTS).format(first=first.split(" ")[0]),
            "date": date_val, "due_date": date_val, "is_complete": is_complete,
            "is_dateless": False if typ == "lead" else None,
            "view": "archive" if is_complete else rng.choice(["inbox", "future"]),
            "object_type": None, "object_id": None, "organization_id": self.organization_id,
            "created_by": user["id"], "created_by_name": self._who(user), "updated_by": user["id"],
            "updated_by_name": self._who(user), "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated),
        }
        phone = f"+1{rng.randrange(2012000000, 9899999999)}"
        phone_fmt = f"+1 {phone[2:5]}-{phone[5:8]}-{phone[8:]}"
        if typ in ("incoming_email", "email_followup"):
            rec.update({"object_type": "emailthread", "object_id": rand_id(rng, "acti_"),
                        "subject": rng.choice(EMAIL_SUBJECTS).format(company=lead["display_name"], first="", n=rng.randrange(1000, 9999)),
                        "body_preview": "Thanks for the update..."})
            if typ == "incoming_email":
                rec.update({"emails": [rand_id(rng, "acti_")], "cleared_followups": []})
            else:
                rec.update({"email_id": rand_id(rng, "acti_"), "total_emails_count_in_thread": rng.randint(1, 6)})
        elif typ in ("missed_call", "answered_detached_call", "voicemail"):
            rec.update({"object_type": "call", "object_id": rand_id(rng, "acti_"), "phone": phone,
                        "phone_formatted": phone_fmt, "phone_number_description": None, "local_phone": "+14155550100"})
            if typ == "answered_detached_call":
                rec["recording_url"] = f"https://api.close.com/call-recording/{rand_chars(rng, 20)}/"
            if typ == "voicemail":
                rec.update({"voicemail_url": f"https://api.close.com/voicemail/{rand_chars(rng, 20)}/",
                            "voicemail_duration": rng.randint(5, 120)})
        elif typ == "opportunity_due":
            opp = opportunity or {}
            rec.update({"object_type": "opportunity", "object_id": opp.get("id"),
                        "opportunity_value": opp.get("value"), "opportunity_value_formatted": opp.get("value_formatted"),
                        "opportunity_value_period": opp.get("value_period"), "opportunity_note": opp.get("note"),
                        "is_primary_lead_notification": True})
        elif typ == "incoming_sms":
            rec.update({"object_type": "sms", "object_id": rand_id(rng, "acti_"), "text": rng.choice(SMS_TEXTS).format(first="hi"),
                        "remote_phone": phone, "remote_phone_formatted": phone_fmt, "remote_phone_description": None,
                        "local_phone": "+14155550100", "attachments": self._sms_media(rng, rec["object_id"])})
        elif is_complete:
            rec.update({"object_type": "taskcompleted", "object_id": rand_id(rng, "acti_")})
        return rec

    def build_activity(self, kind: str, rng: random.Random, aid: str, created: int, updated: int,
                       lead_id: str, user: dict, parent_index: int | None = None, as_generated: bool = False) -> dict:
        """One activity of ``kind``; used for derived base records and for created ones alike.

        A base record (``as_generated``) reads its lead's contacts, opportunity and task as they were generated,
        never as later changes left them: Close does not rewrite an old activity when its contact, opportunity
        or task changes, and a record that changed without a new ``date_updated`` would be invisible to any sync.
        A new activity refers to what exists now."""
        info = self.lead_info.get(lead_id)
        contacts = info[1] if info else ()
        contact = contacts[rng.randrange(len(contacts))] if contacts and rng.random() < 0.85 else None
        if contact is not None and not as_generated and contact[0] not in self.contacts.records:
            contact = None
        fmt = fmt_tz_auto if kind in ("email", "emailthread") else fmt_tz_ms
        c_str = fmt(created)
        who = self._who(user)
        rec = {"id": aid, "_type": ACTIVITY_TYPE_NAMES[kind], "lead_id": lead_id,
               "contact_id": contact[0] if contact else None, "user_id": user["id"], "user_name": who,
               "users": [user["id"]], "organization_id": self.organization_id, "created_by": user["id"],
               "created_by_name": who, "updated_by": user["id"], "updated_by_name": who,
               "date_created": c_str, "date_updated": c_str if updated == created else fmt(updated), "activity_at": c_str}
        first = contact[1].split(" ")[0] if contact and contact[1] else "there"
        company = info[0] if info else "your team"
        domain = self._slug(company)
        if kind == "created":
            rec.update({"source": rng.choice(["ui", "api", "import", "import", "clipper", "email"]), "import_id": None,
                        "contact_id": None})
            if created in self.burst_instants:
                rec["source"], rec["import_id"] = "import", f"import_{b62(created // 1000, 12)}"
        elif kind == "note":
            text = rng.choice(NOTES).format(first=first, q=rng.randint(1, 4), n=rng.randint(2, 40))
            rec.update({"note": text, "note_html": f"<body><p>{text}</p></body>", "title": None,
                        "pinned": rng.random() < 0.05, "attachments": []})
        elif kind in ("email", "emailthread"):
            incoming = created % SECOND == 0
            subject = rng.choice(EMAIL_SUBJECTS).format(company=company, first=first, n=rng.randrange(1000, 9999))
            email = contact[2] if contact and contact[2] else f"info@{domain}.com"
            ours = user["email"]
            sender, to = (email, ours) if incoming else (ours, email)
            if kind == "emailthread":
                n_emails = rng.randint(1, 8)
                rec.update({"n_emails": n_emails,
                            "participants": [{"name": who, "email": ours}, {"name": contact[1] if contact else "", "email": email}],
                            "latest_normalized_subject": subject.replace("Re: ", ""),
                            "latest_emails": [self._latest_email(rng, created, c_str, incoming, subject, sender, to, user)]})
            else:
                rec.update(self._email_fields(rng, created, updated, c_str, incoming, subject, sender, to, email,
                                              first, user, domain))
        elif kind in ("call", "sms"):
            inbound = rng.random() < 0.35
            remote = contact[3] if contact and contact[3] else f"+1{rng.randrange(2012000000, 9899999999)}"
            remote_fmt = f"+1 {remote[2:5]}-{remote[5:8]}-{remote[8:]}"
            common = {"direction": "inbound" if inbound else "outbound", "local_phone": "+14155550100",
                      "local_phone_formatted": "+1 415-555-0100", "remote_phone": remote,
                      "remote_phone_formatted": remote_fmt, "local_country_iso": "US", "remote_country_iso": "US",
                      "source": "Close.io", "cost": str(rng.randint(0, 30))}
            if kind == "call":
                status = rng.choice(["completed", "completed", "completed", "no-answer", "busy", "failed"])
                duration = rng.randint(15, 1800) if status == "completed" else 0
                voicemail = status == "completed" and rng.random() < 0.15
                rec.update(common)
                rec.update({"status": status, "disposition": "vm-left" if voicemail else ("answered" if duration else "no-answer"),
                            "duration": duration, "voicemail_duration": rng.randint(5, 90) if voicemail else 0,
                            "voicemail_url": f"https://api.close.com/voicemail/{rand_chars(rng, 20)}/" if voicemail else None,
                            "recording_url": f"https://api.close.com/call-recording/{rand_chars(rng, 20)}/" if duration and rng.random() < 0.4 else None,
                            "has_recording": False, "recording_expires_at": None, "phone": remote, "call_method": "regular",
                            "date_answered": c_str if duration else None, "dialer_id": None, "dialer_saved_search_id": None,
                            "note": "" if rng.random() < 0.6 else rng.choice(NOTES).format(first=first, q=1, n=3), "note_html": None,
                            "outcome_id": None, "sequence_id": None, "sequence_name": None, "sequence_subscription_id": None,
                            "is_forwarded": False, "forwarded_to": None, "is_to_group_number": False, "is_joinable": False,
                            "transferred_from": None, "transferred_to": None, "transferred_from_user_id": None,
                            "transferred_to_user_id": None, "coach_legs": [], "parent_meeting_id": None})
                rec["has_recording"] = rec["recording_url"] is not None
            else:
                rec.update(common)
                rec.update({"status": "inbox" if inbound else rng.choice(["sent", "sent", "delivered", "error"]),
                            "text": rng.choice(SMS_TEXTS).format(first=first), "date_sent": c_str,
                            "date_scheduled": None, "error_message": None, "template_id": None,
                            "attachments": self._sms_media(rng, rec["id"]),
                            "sequence_id": None, "sequence_name": None, "sequence_subscription_id": None})
        elif kind == "meeting":
            starts = created + rng.randrange(0, 14) * DAY
            duration = rng.choice([900, 1800, 3600])
            attendees = [{"name": who, "email": user["email"], "contact_id": None, "user_id": user["id"],
                          "status": "yes", "is_organizer": True}]
            if contact:
                attendees.append({"name": contact[1], "email": contact[2], "contact_id": contact[0], "user_id": None,
                                  "status": rng.choice(["yes", "maybe", "noreply"]), "is_organizer": False})
            rec.update({"title": rng.choice(MEETING_TITLES), "status": "completed" if starts < self.anchor_us else "upcoming",
                        "source": "calendar", "starts_at": fmt(starts), "ends_at": fmt(starts + duration * SECOND),
                        "duration": duration, "location": rng.choice([None, "Zoom", "Office"]), "note": None,
                        "attendees": attendees, "calendar_event_uids": [rand_chars(rng, 26).lower()],
                        "calendar_event_link": None, "connected_account_id": self.connected_accounts[0]["id"],
                        "is_recurring": False, "integrations": [], "conference_links": [], "user_note": None,
                        "user_note_html": None, "summary": None, "activity_at": fmt(starts)})
        elif kind == "status_change/lead":
            old, new = rng.sample(self.lead_statuses, 2)
            rec.update({"old_status_id": old["id"], "old_status_label": old["label"],
                        "new_status_id": new["id"], "new_status_label": new["label"], "contact_id": None})
        elif kind == "status_change/opportunity":
            store = self.activity_stores.get(kind)
            opp_id = store.parent_ids[parent_index] if store is not None and parent_index is not None else None
            live = None if as_generated else self.opportunities.records.get(opp_id)
            opp = live or self.base_opp_snapshot.get(opp_id) or {}
            pipeline = self.pipeline_by_id.get(opp.get("pipeline_id")) or self.pipelines[0]
            old, new = rng.sample(pipeline["statuses"], 2)
            rec.update({"opportunity_id": opp_id, "old_status_id": old["id"], "old_status_label": old["label"],
                        "old_status_type": old["type"], "new_status_id": new["id"], "new_status_label": new["label"],
                        "new_status_type": new["type"], "old_pipeline_id": pipeline["id"], "old_pipeline_name": pipeline["name"],
                        "new_pipeline_id": pipeline["id"], "new_pipeline_name": pipeline["name"],
                        "opportunity_value": opp.get("value"), "opportunity_value_formatted": opp.get("value_formatted"),
                        "opportunity_value_currency": "USD", "opportunity_value_period": opp.get("value_period"),
                        "opportunity_confidence": opp.get("confidence"),
                        "opportunity_date_won": (opp["date_won"] + "T00:00:00+00:00") if opp.get("date_won") else None,
                        "contact_id": opp.get("contact_id")})
        elif kind == "task_completed":
            store = self.activity_stores.get(kind)
            task_id = store.parent_ids[parent_index] if store is not None and parent_index is not None else None
            live = None if as_generated else self.tasks.records.get(task_id)
            task = live or self.base_task_snapshot.get(task_id) or {}
            rec.update({"task_id": task_id, "task_text": task.get("text"), "task_assigned_to": task.get("assigned_to"),
                        "task_assigned_to_name": task.get("assigned_to_name"), "contact_id": task.get("contact_id")})
        elif kind == "custom":
            ctype = self.custom_activity_types[rng.randrange(len(self.custom_activity_types))]
            defs = [d for d in self.custom_fields["activity"] if d.get("custom_activity_type_id") == ctype["id"]]
            published = rng.random() < 0.9
            pinned = rng.random() < 0.05
            rec.update({"custom_activity_type_id": ctype["id"], "status": "published" if published else "draft",
                        "pinned": pinned, "pinned_at": fmt_tz_ms(updated) if pinned else None,
                        "last_published_at": fmt_tz_ms(created) if published else None,
                        "mentions": [], "mentions_updated_at": None, "source": rng.choice(["ui", "api", "api"])})
            rec.update(self.custom_values(rng, defs, [c[0] for c in contacts], created, self.anchor_us, fill=0.8))
        elif kind in workspace.ACTIVITY_KINDS:
            rec.update(self.workspace.activity_fields(kind, rng, rec, created, contact, first, domain))
        return rec

    def _latest_email(self, rng, created: int, c_str: str, incoming: bool, subject: str, sender: str, to: str,
                      user: dict) -> dict:
        """The newest email of a thread as ``latest_emails`` shows it: a summary, not the whole email."""
        msg_id = f"<{rng.getrandbits(96):024x}@mail.close.com>"
        who = [{"name": "", "email": sender}]
        return {"id": self.quick_id(rng, "acti_"), "date_created": c_str, "date_updated": c_str, "date_sent": c_str,
                "user_id": user["id"], "direction": "incoming" if incoming else "outgoing", "status": "inbox" if incoming else "sent",
                "sender": sender, "to": [to], "cc": [], "bcc": [], "subject": subject,
                "body_preview": "Thanks for the update...", "has_attachments": False, "opens_summary": None, "send_as_id": None,
                "envelope": {"from": who, "sender": who, "to": [{"name": "", "email": to}], "cc": [], "bcc": [], "reply_to": [],
                             "subject": subject, "date": fmt_rfc2822(created, 0), "message_id": msg_id, "in_reply_to": None,
                             "is_autoreply": False}}

    def _sms_media(self, rng, activity_id: str) -> list:
        """Now and then a picture: Close lists an MMS's media on the message and on its incoming-SMS task."""
        if rng.random() >= 0.1:
            return []
        media = self.quick_id(rng, "media_", 22)
        url = f"https://app.close.com/go/sms/{activity_id}/media/{media}/"
        return [{"media_id": media, "url": url, "thumbnail_url": url + "thumbnail/", "content_type": "image/png",
                 "size": rng.randint(20_000, 400_000), "filename": "photo.png"}]

    def _email_bodies(self, idx: int, first: str, sender: str) -> tuple:
        """Body variants are few; rendering them once per (template, names) keeps derivation cheap."""
        key = (idx, first, sender)
        out = self._body_cache.get(key)
        if out is None:
            if len(self._body_cache) > 50_000:
                self._body_cache.clear()
            body = EMAIL_BODIES[idx].format(first=first, sender=sender)
            out = self._body_cache[key] = (body, "<div>" + body.replace("\n", "<br>") + "</div>",
                                           body[:100].replace("\n", " "))
        return out

    def _email_fields(self, rng, created: int, updated: int, c_str: str, incoming: bool, subject: str,
                      sender: str, to: str, email: str, first: str, user: dict, domain: str) -> dict:
        body, body_html, preview = self._email_bodies(rng.randrange(len(EMAIL_BODIES)), first, user["first_name"])
        status = "inbox" if incoming else _OUT_STATUSES[rng.randrange(7)]
        sent = c_str if status in ("inbox", "sent") else None
        msg_id = f"<{rng.getrandbits(96):024x}@mail.{domain if incoming else 'close.com'}>"
        opens = [] if incoming or rng.random() < 0.5 else [
            {"ip_address": f"203.0.113.{rng.randint(1, 254)}", "opened_at": fmt_tz_ms(min(updated, created + 3600_000_000)),
             "opened_by": email, "user_agent": "Mozilla/5.0"}]
        tmpl = self.email_templates[rng.randrange(len(self.email_templates))] if not incoming and rng.random() < 0.3 else None
        seq = self.sequences[rng.randrange(len(self.sequences))] if not incoming and rng.random() < 0.15 else None
        thread_store = self.activity_stores.get("emailthread")
        thread_id = None
        if thread_store is not None and thread_store.n:
            k = max(1, bisect_right(thread_store.times, created))
            thread_id = thread_store.id_of(mix2(thread_store.salt2, created) % k)
        sender_l, to_l = [{"name": "", "email": sender}], [{"name": "", "email": to}]
        offset = _SENDER_OFFSETS[rng.randrange(len(_SENDER_OFFSETS))] if incoming else 0
        header_date = fmt_rfc2822(created, offset) if sent else None
        attachments = [] if rng.random() < 0.9 else [
            {"url": f"https://app.close.com/go/email/{rand_chars(rng, 20)}/", "filename": "proposal.pdf",
             "size": rng.randint(20_000, 900_000), "content_type": "application/pdf", "thumbnail_url": None}]
        return {
            "direction": "incoming" if incoming else "outgoing", "status": status, "subject": subject,
            "sender": sender, "to": [to], "cc": [], "bcc": [], "body_text": body, "body_html": body_html,
            "body_preview": preview, "body_text_quoted": [{"text": body, "expand": True}],
            "body_html_quoted": [{"html": body_html, "expand": True}],
            "thread_id": thread_id, "message_ids": [msg_id], "references": [], "in_reply_to_id": None,
            "envelope": {"from": sender_l, "sender": sender_l, "to": to_l, "cc": [], "bcc": [], "reply_to": [],
                         "subject": subject, "date": header_date, "message_id": msg_id, "in_reply_to": None,
                         "is_autoreply": False},
            "attachments": attachments, "opens": opens, "opens_summary": f"Opened {len(opens)} time(s)" if opens else None,
            "has_reply": rng.random() < 0.3, "date_sent": sent,
            "date_scheduled": fmt_tz_auto(created + DAY) if status == "scheduled" else None,
            "email_account_id": self._email_account_id, "send_as_id": None,
            "template_id": tmpl["id"] if tmpl else None, "template_name": tmpl["name"] if tmpl else None,
            "sequence_id": seq["id"] if seq else None, "sequence_name": seq["name"] if seq else None,
            "sequence_subscription_id": self.quick_id(rng, "sub_", 22) if seq else None,
            "bulk_email_action_id": None, "followup_sequence_id": None, "followup_sequence_delay": None,
            "need_smtp_credentials": False, "send_attempts": [] if incoming else [{"error_class": None, "date": sent}]}

    # -------------------------------------------------------------------------- leads & children

    def _lead_view(self, core: dict) -> dict:
        ch = self.children.get(core["id"])
        if ch is None:
            return core
        view = dict(core)
        crec, orec, trec = self.contacts.records, self.opportunities.records, self.tasks.records
        view["contacts"] = [crec[c] for c in ch["contacts"] if c in crec]
        view["opportunities"] = [orec[o] for o in ch["opportunities"] if o in orec]
        view["tasks"] = [trec[t] for t in ch["tasks"] if t in trec and trec[t]["_type"] == "lead"]
        return view

    def _gen_leads(self) -> None:
        rng = self._rng("leads")
        cfg = self.cfg
        self.leads = Table(view=self._lead_view)
        self.contacts = Table()
        self.opportunities = Table()
        self.tasks = Table(groups=lambda r: (r["_type"],))
        self.children: dict[str, dict[str, list[str]]] = {}
        # lead id -> (display name, ((contact id, name, email, phone), ...)) as generated; activities
        # are derived from this snapshot so later edits do not rewrite history
        self.lead_info: dict[str, tuple[str, tuple]] = {}
        self.base_opp_snapshot: dict[str, dict] = {}
        self.base_task_snapshot: dict[str, dict] = {}
        anchor = self.anchor_us
        times = make_times(rng, cfg["leads"], START_US, anchor - HOUR, self._bursts_for("leads"))
        burst_set = set(self.burst_instants)
        lead_items, contact_items, opp_items, task_items = [], [], [], []
        contact_by_id: dict[str, dict] = {}
        opp_by_id: dict[str, dict] = {}
        for t in times:
            in_burst = t in burst_set
            lead_updated = t if in_burst else later(rng, t, anchor, 0.6)
            lead = self.build_lead(rng, t, lead_updated)
            lid = lead["id"]
            ch = self.children[lid] = {"contacts": [], "opportunities": [], "tasks": []}
            cinfo = []
            newest = lead_updated
            for k in range(1 if in_burst else rng.choice([1, 1, 2, 2, 3])):
                cc = t if (in_burst or k == 0) else min(anchor - 2000, t + rng.randrange(0, 60 * DAY // 1000) * 1000)
                cu = cc if in_burst else later(rng, cc, anchor, 0.4)
                c = self.build_contact(rng, lid, lead["display_name"], cc, cu, ch["contacts"])
                ch["contacts"].append(c["id"])
                contact_items.append((c, (cc, cu)))
                contact_by_id[c["id"]] = c
                emails = c["emails"]
                phones = c["phones"]
                cinfo.append((c["id"], c["name"] or "", emails[0]["email"] if emails else None,
                              phones[0]["phone"] if phones else None))
                newest = max(newest, cu)
            self.finish_lead_custom(rng, lead, ch["contacts"], t)
            self.lead_info[lid] = (lead["display_name"], tuple(cinfo))
            lead_items.append([lead, t, newest])
        # opportunities: burst leads get theirs inside the burst
        by_time = lead_items
        n_opps = int(len(by_time) * cfg["opportunities"])
        burst_leads = {b: [li for li in by_time if li[1] == b] for b in self.burst_instants}

        def owners_of(kind: str, count: int) -> list:
            """(lead item, burst instant or None) for ``count`` children: the burst's leads first, then random
            leads outside any burst."""
            owners = [(li, b) for b, size in self._bursts_for(kind) for li in burst_leads[b][:size]]
            while len(owners) < count:
                li = rng.choice(by_time)
                if li[1] not in burst_set:
                    owners.append((li, None))
            return owners

        for li, b in owners_of("opportunities", n_opps):
            lead, t = li[0], li[1]
            oc = b if b is not None else min(anchor - 2000, t + rng.randrange(0, 90 * DAY // 1000) * 1000)
            ou = oc if b is not None else later(rng, oc, anchor, 0.6)
            cids = self.children[lead["id"]]["contacts"]
            contact = contact_by_id[rng.choice(cids)] if cids else None
            o = self.build_opportunity(rng, lead, contact, oc, ou)
            self.children[lead["id"]]["opportunities"].append(o["id"])
            opp_items.append((o, (oc, ou)))
            opp_by_id[o["id"]] = o
            li[2] = max(li[2], ou)
        # tasks of every type, each with its own bursts
        for typ in TASK_TYPES:
            count = cfg["lead_tasks"] if typ == "lead" else cfg["other_tasks"]
            for li, b in owners_of("tasks", count):
                lead, t = li[0], li[1]
                tc = b if b is not None else min(anchor - 2000, t + rng.randrange(0, 120 * DAY // 1000) * 1000)
                tu = tc if b is not None else later(rng, tc, anchor, 0.5, 60)
                cids = self.children[lead["id"]]["contacts"]
                contact = contact_by_id[rng.choice(cids)] if cids else None
                opp = None
                if typ == "opportunity_due":
                    oids = self.children[lead["id"]]["opportunities"]
                    opp = opp_by_id[oids[0]] if oids else None
                task = self.build_task(rng, typ, lead, contact, tc, tu, opp)
                self.children[lead["id"]]["tasks"].append(task["id"])
                task_items.append((task, (tc, tu)))
                li[2] = max(li[2], tu)
        # a lead's date_updated follows its children
        final_leads = []
        for lead, t, newest in lead_items:
            if fmt_tz_ms(newest) != lead["date_updated"]:
                lead = {**lead, "date_updated": fmt_tz_ms(newest)}
            final_leads.append((lead, (t, newest)))
        self.leads.bulk_load(final_leads)
        self.contacts.bulk_load(contact_items)
        self.opportunities.bulk_load(opp_items)
        self.tasks.bulk_load(task_items)
        self.base_opp_snapshot = {o["id"]: o for o, _ in opp_items}
        self.base_task_snapshot = {t["id"]: t for t, _ in task_items}
        # parent pools for derived activities, in (date_created, id) order
        self.lead_pool = [(keys[0], lead["id"]) for lead, keys in final_leads]
        self.lead_pool.sort()
        self.opp_pool = sorted((keys[0], o["id"], o["lead_id"]) for o, keys in opp_items)
        self.task_pool = sorted((keys[0], tk["id"], tk["lead_id"]) for tk, keys in task_items if tk["_type"] == "lead")

    def _gen_activities(self) -> None:
        self.activity_stores: dict[str, ActivityStore] = {}
        lead_times = array("q", [t for t, _ in self.lead_pool])
        lead_ids = [lid for _, lid in self.lead_pool]
        for code, kind in enumerate(ACTIVITY_KINDS):
            rng = self._rng("activity-times:" + kind)
            if kind == "created":
                times = lead_times
                p_times, p_ids, p_leads = lead_times, lead_ids, None
            else:
                n = self.cfg["activities"][kind]
                times = array("q", make_times(rng, n, START_US + DAY, self.anchor_us - 30 * MINUTE,
                                              self._bursts_for(kind), 0.4 if kind in ("email", "emailthread") else 0.0))
                if kind == "status_change/opportunity":
                    p_times = array("q", [t for t, _, _ in self.opp_pool])
                    p_ids, p_leads = [o for _, o, _ in self.opp_pool], [l for _, _, l in self.opp_pool]
                elif kind == "task_completed":
                    p_times = array("q", [t for t, _, _ in self.task_pool])
                    p_ids, p_leads = [o for _, o, _ in self.task_pool], [l for _, _, l in self.task_pool]
                else:
                    p_times, p_ids, p_leads = lead_times, lead_ids, None
            self.activity_stores[kind] = ActivityStore(self, kind, code, times, p_times, p_ids, p_leads)

    # --------------------------------------------------------------------------------- events

    def _event(self, rng: random.Random, at_us: int, action: str, object_type: str, object_id: str,
               lead_id: str | None, user_id: str | None, data, previous_data=None,
               changed_fields: list[str] | None = None, meta: dict | None = None,
               updated_us: int | None = None) -> dict:
        updated_us = at_us if updated_us is None else updated_us
        ev = {"id": rand_id(rng, "ev_", 22), "date_created": fmt_naive(at_us), "date_updated": fmt_naive(updated_us),
              "organization_id": self.organization_id, "user_id": user_id,
              "request_id": rand_id(rng, "req_", 22), "api_key_id": None, "oauth_client_id": None,
              "oauth_scope": None, "object_type": object_type, "object_id": object_id, "lead_id": lead_id,
              "action": action, "changed_fields": changed_fields or [], "meta": meta or {},
              "data": data, "previous_data": previous_data if previous_data is not None else {}}
        return ev

    def _add_event(self, ev: dict, updated_us: int) -> None:
        self.events.add(ev, (updated_us,))

    def _gen_history_events(self) -> None:
        """The event log of the 30 days before the anchor: creations, updates, deletions."""
        rng = self._rng("events")
        w = self.anchor_us - EVENT_RETENTION_US
        items: list[tuple[dict, tuple[int]]] = []

        def emit(at, action, otype, oid, lead_id, user_id, data, prev=None, changed=None, meta=None):
            ev = self._event(rng, at, action, otype, oid, lead_id, user_id, data, prev, changed, meta)
            items.append((ev, (at,)))

        path_meta = lambda path, method: {"request_path": f"/api/v1/{path}", "request_method": method}
        for table, otype, path in ((self.leads, "lead", "lead/"), (self.contacts, "contact", "contact/"),
                                   (self.opportunities, "opportunity", "opportunity/"), (self.tasks, None, "task/")):
            for rid, (cu, uu) in table.keys.items():
                if uu < w:
                    continue
                rec = table.records[rid]
                ot = otype or f"task.{rec['_type']}"
                lead_id = rec["id"] if ot == "lead" else rec.get("lead_id")
                data = table.view(rec)
                if cu >= w:
                    emit(cu, "created", ot, rid, lead_id, rec.get("created_by"), data, None, None, path_meta(path, "POST"))
                if uu > cu:
                    field = {"lead": "description", "contact": "title", "opportunity": "confidence"}.get(ot, "is_complete")
                    prev = {"date_updated": rec["date_created"], field: None}
                    emit(uu, "updated", ot, rid, lead_id, rec.get("updated_by"), data, prev,
                         ["date_updated", field], path_meta(f"{path}{rid}/", "PUT"))
        for kind, store in self.activity_stores.items():
            otype = ACTIVITY_EVENT_TYPES[kind]
            if otype is None:
                continue
            a = bisect_left(store.times, w - 20 * DAY)
            for i in range(a, store.n):
                cu = store.times[i]
                uu = store.updated_us(i)
                if uu < w:
                    continue
                aid, lead_id, uid = store.id_of(i), store.lead_of(i), store.user_of(i)["id"]
                if cu >= w:
                    emit(cu, "created", otype, aid, lead_id, uid, _LazyRef(store, i), None, None,
                         path_meta(f"activity/{kind}/", "POST"))
                if uu > cu + DAY:
                    emit(uu, "updated", otype, aid, lead_id, uid, _LazyRef(store, i),
                         {"date_updated": fmt_tz_ms(cu)}, ["date_updated"], path_meta(f"activity/{kind}/{aid}/", "PUT"))
            # a few activities deleted inside the window: gone from their list, kept in the log
            b = bisect_left(store.times, w)
            span = store.n - b
            for _ in range(min(self.cfg["deleted_activities"], max(0, span // 4))):
                i = b + rng.randrange(span)
                if i in store.deleted or store.times[i] in self.burst_instants:
                    continue
                store.mark_deleted(i)
                at = max(store.updated_us(i), store.times[i]) + rng.randrange(1, 3 * HOUR // 1000) * 1000
                at = min(at, self.anchor_us - 1000)
                emit(at, "deleted", otype, store.id_of(i), store.lead_of(i), store.user_of(i)["id"], None,
                     _LazyRef(store, i), None, path_meta(f"activity/{kind}/{store.id_of(i)}/", "DELETE"))
        # leads created and deleted again: never listed, only visible as deleted events
        for _ in range(self.cfg["deleted_leads"]):
            lc = pick_between(rng, w - 60 * DAY, self.anchor_us - 2 * DAY)
            gone = pick_between(rng, max(lc + HOUR, w), self.anchor_us - HOUR)
            lead = self.build_lead(rng, lc, lc)
            contact = self.build_contact(rng, lead["id"], lead["display_name"], lc, lc, [])
            self.finish_lead_custom(rng, lead, [contact["id"]], lc)
            lead["contacts"] = [contact]
            user = self._user_ref(rng)["id"]
            meta = {"request_path": f"/api/v1/lead/{lead['id']}/", "request_method": "DELETE"}
            if lc >= w:
                emit(lc, "created", "lead", lead["id"], lead["id"], user, lead, None, None, path_meta("lead/", "POST"))
                emit(lc, "created", "contact", contact["id"], lead["id"], user, contact, None, None, path_meta("contact/", "POST"))
            emit(gone, "deleted", "contact", contact["id"], lead["id"], user, None, contact, None, meta)
            emit(gone, "deleted", "lead", lead["id"], lead["id"], user, None, lead, None, meta)
        self.events.bulk_load(items)

    # ------------------------------------------------------------------------------------ lookups

    def find(self, object_type: str, rid: str) -> dict | None:
        if object_type == "lead":
            rec = self.leads.get(rid)
            return self.leads.view(rec) if rec else None
        if object_type == "contact":
            return self.contacts.get(rid)
        if object_type == "opportunity":
            return self.opportunities.get(rid)
        if object_type == "task":
            return self.tasks.get(rid)
        if object_type == "activity":
            for store in self.activity_stores.values():
                rec = store.get(rid)
                if rec is not None:
                    return rec
        return None

    def event_window_start(self, now_s: float | None = None) -> int:
        now = self.clock() if now_s is None else now_s
        return int(now * 1_000_000) - EVENT_RETENTION_US

    # ---------------------------------------------------------------------------------- mutations

    def mutate(self, change: dict) -> dict:
        """Apply one change; return ``{"records": [...as now stored...], "events": [...written...]}``.

        Forms (``fields`` always optional; ids or ``count`` pick the targets):

        - ``{"action": "create", "object_type": "lead"|"contact"|"opportunity"|"activity"|"task"|"custom_field"
          |"custom_object", "subtype": <activity kind e.g. "email", "call", "status_change/lead", "custom"; task
          _type; custom field object "lead"|"contact"|"opportunity"|"activity"|"shared">, "count": N, "fields": {...}}``
          (contacts/opportunities/activities/tasks/custom objects go to ``fields["lead_id"]`` or a random lead)
        - ``{"action": "update", "object_type": ..., "id": "<id>" | "count": N, "subtype": ..., "fields": {...}}``
        - ``{"action": "delete", "object_type": ..., "id": "<id>" | "count": N, "subtype": ...}``
        - ``{"action": "merge", "object_type": "lead", "source": "<lead id>", "destination": "<lead id>"}``
          (``POST lead/merge/``; either id may be left out: a random lead, distinct from the other)

        Creates and updates are dated with the clock (after the anchor); every change writes
        created/updated/deleted events. Deleting a lead deletes its contacts, opportunities, tasks, custom
        objects and activities (one deleted event each, but none for the activities Close logs nothing for).
        Changing a contact, opportunity or task bumps its lead's ``date_updated``. An update or delete of an
        activity whose change Close's event log cannot show (``ACTIVITY_EVENT_ACTIONS``) is refused. A merge
        moves everything of the source lead to the destination (see ``_merge``). Raises ``ValueError`` for an
        unknown form or id and for a refused change.
        """
        action = change.get("action")
        otype = change.get("object_type")
        if action not in ("create", "update", "delete", "merge"):
            raise ValueError(f"unknown action {action!r}")
        if otype not in ("lead", "contact", "opportunity", "activity", "task", "custom_field", "custom_object"):
            raise ValueError(f"unknown object_type {otype!r}")
        if action == "merge" and otype != "lead":
            raise ValueError(f"only leads are merged, not {otype!r}")
        self._mutations += 1
        self.version += 1
        rng = random.Random(f"close-sim:{self.seed}:mutation:{self._mutations}")
        now = self.now_us()
        out = {"records": [], "events": []}
        fields = dict(change.get("fields") or {})
        count = int(change.get("count", 1) or 1)
        subtype = change.get("subtype")
        if action == "merge":
            out["records"] = self._merge(rng, change.get("source"), change.get("destination"), now, out["events"])
        elif action == "create":
            for _ in range(count):
                out["records"].append(self._create(rng, otype, subtype, fields, now, out["events"]))
        else:
            targets = [change["id"]] if change.get("id") else self._pick_targets(rng, otype, subtype, count)
            for rid in targets:
                if action == "update":
                    out["records"].append(self._update(rng, otype, rid, fields, now, out["events"]))
                else:
                    out["records"].append(self._delete(rng, otype, rid, now, out["events"]))
        return out

    def _pick_targets(self, rng, otype, subtype, count) -> list[str]:
        if otype == "activity":
            store = self.activity_stores.get(subtype or "email")
            if store is None:
                raise ValueError(f"unknown activity subtype {subtype!r}")
            ids = []
            tries = 0
            while len(ids) < count and tries < count * 50:
                tries += 1
                i = rng.randrange(store.n)
                if i not in store.deleted and store.id_of(i) not in ids:
                    ids.append(store.id_of(i))
            return ids
        if otype == "custom_object":
            return rng.sample(sorted(self.workspace.custom_objects.records), count)
        if otype == "custom_field":
            pool = self.custom_fields.get(subtype or "lead", [])
            return [d["id"] for d in rng.sample(pool, min(count, len(pool)))]
        table = self._table(otype)
        if otype == "task" and subtype:
            pool = [rid for _, rid in table.index.get((subtype, "date_created"), [])]
        else:
            pool = list(table.records)
        pool.sort()
        return rng.sample(pool, min(count, len(pool)))

    def _table(self, otype: str) -> Table:
        return {"lead": self.leads, "contact": self.contacts, "opportunity": self.opportunities,
                "task": self.tasks}[otype]

    def _emit(self, rng, events_out, at, action, otype, oid, lead_id, data, prev=None, changed=None, path="",
              meta: dict | None = None):
        """Log one change; ``meta`` adds to (or overrides) the request the change came from."""
        if otype is None:  # an object Close logs no events for
            return
        method = {"created": "POST", "updated": "PUT", "deleted": "DELETE", "merged": "POST"}[action]
        ev = self._event(rng, at, action, otype, oid, lead_id, self.me["id"], data, prev, changed,
                         {"request_path": f"/api/v1/{path}", "request_method": method, **(meta or {})})
        ev["api_key_id"] = "api_key_" + self.api_key[4:14]
        self._add_event(ev, at)
        events_out.append(ev)

    def _random_lead(self, rng) -> dict:
        if not self.leads.records:
            raise ValueError("no lead left to attach to")
        ids = sorted(self.leads.records)
        return self.leads.records[rng.choice(ids)]

    def _bump_lead(self, lead_id: str | None, now: int) -> None:
        rec = self.leads.get(lead_id) if lead_id else None
        if rec is None:
            return
        new = {**rec, "date_updated": fmt_tz_ms(now)}
        self.leads.replace(new, (self.leads.keys[lead_id][0], now))

    def _create(self, rng, otype, subtype, fields, now, events) -> dict:
        if otype == "custom_object":
            return self.workspace.change_custom_object(rng, "create", None, fields, now, events)
        if otype == "custom_field":
            obj = subtype or "lead"
            if obj not in CUSTOM_FIELD_OBJECTS:
                raise ValueError(f"unknown custom field object {obj!r}")
            typ = fields.get("type", "text")
            choices = fields.get("choices") or (["A", "B", "C"] if typ == "choices" else None)
            extra = {}
            if obj == "activity":
                extra = {"custom_activity_type_id": fields.get("custom_activity_type_id", self.custom_activity_types[0]["id"]),
                         "required": False}
            d = self._cf_def(rng, fields.get("name", f"New Field {self._mutations}"), typ,
                             bool(fields.get("accepts_multiple_values", False)), choices,
                             fields.get("description"), now, **extra)
            d["date_updated"] = d["date_created"]
            if obj == "shared":
                d["is_shared"] = True
                d["associations"] = [{"object_type": o, "required": False, "editable_with_roles": [],
                                      "custom_activity_type_id": None, "custom_object_type_id": None}
                                     for o in fields.get("associations", ["lead"])]
            for k, v in fields.items():
                if k in d and k not in ("id",):
                    d[k] = v
            self.custom_fields[obj].append(d)
            if obj == "activity":
                for t in self.custom_activity_types:
                    if t["id"] == d["custom_activity_type_id"]:
                        t["fields"] = t["fields"] + [{"id": d["id"], "name": d["name"], "type": d["type"],
                                                      "description": d["description"], "required": False,
                                                      "accepts_multiple_values": d["accepts_multiple_values"],
                                                      "editable_with_roles": [], "is_shared": False,
                                                      "referenced_custom_type_id": None,
                                                      "back_reference_is_visible": None, "converting_to_type": None}]
            self._emit(rng, events, now, "created", f"custom_field.{obj}", d["id"], None, d, path=f"custom_field/{obj}/")
            return d
        if otype == "lead":
            lead = self.build_lead(rng, now, now)
            lid = lead["id"]
            self.children[lid] = {"contacts": [], "opportunities": [], "tasks": []}
            contact = self.build_contact(rng, lid, lead["display_name"], now, now, [])
            self.contacts.add(contact, (now, now))
            self.children[lid]["contacts"].append(contact["id"])
            self.finish_lead_custom(rng, lead, [contact["id"]], now)
            lead.update({k: v for k, v in fields.items() if k not in ("id", "contacts", "opportunities", "tasks")})
            self.leads.add(lead, (now, now))
            self.lead_info[lid] = (lead["display_name"], ((contact["id"], contact["name"] or "",
                                                           contact["emails"][0]["email"] if contact["emails"] else None,
                                                           contact["phones"][0]["phone"] if contact["phones"] else None),))
            view = self.leads.view(lead)
            self._emit(rng, events, now, "created", "lead", lid, lid, view, path="lead/")
            self._emit(rng, events, now, "created", "contact", contact["id"], lid, contact, path="contact/")
            created_act = self._create_activity(rng, "created", {"lead_id": lid}, now, events)
            del created_act
            return view
        if otype == "activity":
            return self._create_activity(rng, subtype or "note", fields, now, events)
        lead = self.leads.get(fields["lead_id"]) if fields.get("lead_id") else self._random_lead(rng)
        if lead is None:
            raise ValueError(f"unknown lead {fields.get('lead_id')!r}")
        lid = lead["id"]
        ch = self.children[lid]
        if otype == "contact":
            rec = self.build_contact(rng, lid, lead["display_name"], now, now, ch["contacts"])
            rec.update({k: v for k, v in fields.items() if k != "id"})
            self.contacts.add(rec, (now, now))
            ch["contacts"].append(rec["id"])
            path = "contact/"
        elif otype == "opportunity":
            cid = ch["contacts"][0] if ch["contacts"] else None
            rec = self.build_opportunity(rng, lead, self.contacts.get(cid) if cid else None, now, now)
            rec.update({k: v for k, v in fields.items() if k != "id"})
            self.opportunities.add(rec, (now, now))
            ch["opportunities"].append(rec["id"])
            path = "opportunity/"
        else:
            typ = subtype or fields.get("_type") or "lead"
            if typ not in TASK_TYPES:
                raise ValueError(f"unknown task type {typ!r}")
            cid = ch["contacts"][0] if ch["contacts"] else None
            oid = ch["opportunities"][0] if ch["opportunities"] else None
            rec = self.build_task(rng, typ, lead, self.contacts.get(cid) if cid else None, now, now,
                                  self.opportunities.get(oid) if oid else None)
            rec.update({k: v for k, v in fields.items() if k not in ("id", "_type")})
            self.tasks.add(rec, (now, now))
            ch["tasks"].append(rec["id"])
            path = "task/"
        ot = otype if otype != "task" else f"task.{rec['_type']}"
        self._emit(rng, events, now, "created", ot, rec["id"], lid, rec, path=path)
        self._bump_lead(lid, now)
        return rec

    def _create_activity(self, rng, kind, fields, now, events) -> dict:
        store = self.activity_stores.get(kind)
        if store is None:
            raise ValueError(f"unknown activity subtype {kind!r}")
        lead = self.leads.get(fields["lead_id"]) if fields.get("lead_id") else self._random_lead(rng)
        if lead is None:
            raise ValueError(f"unknown lead {fields.get('lead_id')!r}")
        user = self.user_by_id.get(fields.get("user_id")) or self._user_ref(rng)
        parent = None
        if kind in ("status_change/opportunity", "task_completed"):
            parent = rng.randrange(len(store.parent_ids)) if store.parent_ids else None
        rec = self.build_activity(kind, rng, rand_id(rng, "acti_"), now, now, lead["id"], user, parent)
        rec.update({k: v for k, v in fields.items() if k not in ("id", "_type")})
        store.created.add(rec, (now,))
        self._emit(rng, events, now, "created", ACTIVITY_EVENT_TYPES[kind], rec["id"], lead["id"], rec,
                   path=f"activity/{kind}/")
        return rec

    def _locate_activity(self, rid: str) -> tuple[ActivityStore, int | None, dict]:
        for store in self.activity_stores.values():
            if rid in store.created.records:
                return store, None, store.created.records[rid]
            i = store.index_of(rid)
            if i is not None and i not in store.deleted:
                return store, i, store.record(i)
        raise ValueError(f"unknown activity {rid!r}")

    def _update(self, rng, otype, rid, fields, now, events, meta: dict | None = None) -> dict:
        if otype == "custom_object":
            return self.workspace.change_custom_object(rng, "update", rid, fields, now, events)
        if otype == "custom_field":
            for obj, defs in self.custom_fields.items():
                for n, d in enumerate(defs):
                    if d["id"] == rid:
                        new = {**d, **{k: v for k, v in fields.items() if k != "id"}, "date_updated": fmt_tz_ms(now)}
                        defs[n] = new
                        changed = sorted({*fields, "date_updated"} - {"id"})
                        self._emit(rng, events, now, "updated", f"custom_field.{obj}", rid, None, new,
                                   {k: d.get(k) for k in changed}, changed, f"custom_field/{obj}/{rid}/")
                        return new
            raise ValueError(f"unknown custom field {rid!r}")
        if otype == "activity":
            store, i, old = self._locate_activity(rid)
            self._check_logged(store.kind, "updated")
            if not fields:
                fields = {"note": "Edited after the fact"} if store.kind in ("note", "call") else {"status": old.get("status")}
            new = {**old, **{k: v for k, v in fields.items() if k not in ("id", "_type")}, "date_updated": fmt_tz_ms(now)}
            self._store_activity(store, i, new)
            changed = sorted({k for k in new if new.get(k) != old.get(k)} | {"date_updated"})
            self._emit(rng, events, now, "updated", ACTIVITY_EVENT_TYPES[store.kind], rid, new["lead_id"], new,
                       {k: old.get(k) for k in changed}, changed, f"activity/{store.kind}/{rid}/")
            return new
        table = self._table(otype)
        old = table.get(rid)
        if old is None:
            raise ValueError(f"unknown {otype} {rid!r}")
        if not fields:
            fields = {"lead": {"description": f"Updated {self._mutations}"}, "contact": {"title": f"Title {self._mutations}"},
                      "opportunity": {"confidence": (old.get("confidence", 0) + 5) % 100},
                      "task": {"is_complete": not old.get("is_complete")}}[otype]
        new = {**old, **{k: v for k, v in fields.items() if k not in ("id", "_type", "contacts", "opportunities", "tasks")},
               "date_updated": fmt_tz_ms(now)}
        self._derived_labels(otype, new, fields)
        if otype != "lead" and new.get("lead_id") not in self.children:
            raise ValueError(f"unknown lead {new.get('lead_id')!r}")
        if otype == "lead":
            names = {d["id"]: d["name"] for d in self.fields_for("lead")}
            custom = dict(new.get("custom") or {})
            for k, v in fields.items():
                if k.startswith("custom.") and k[7:] in names:
                    custom[names[k[7:]]] = v
            new["custom"] = custom
        table.replace(new, (table.keys[rid][0], now))
        changed = sorted({k for k in new if new.get(k) != old.get(k)} | {"date_updated"})
        lead_id = rid if otype == "lead" else new.get("lead_id")
        if otype != "lead" and lead_id != old.get("lead_id"):  # moved to another lead: both leads list it right
            self._move_child(otype, rid, old.get("lead_id"), lead_id, now)
        ot = otype if otype != "task" else f"task.{new['_type']}"
        data = table.view(new)
        self._emit(rng, events, now, "updated", ot, rid, lead_id, data, {k: old.get(k) for k in changed}, changed,
                   f"{otype}/{rid}/", meta)
        if otype != "lead":
            self._bump_lead(lead_id, now)
        return data

    _CHILD_LISTS = {"contact": "contacts", "opportunity": "opportunities", "task": "tasks"}

    def _move_child(self, otype: str, rid: str, old_lead: str | None, new_lead: str, now: int) -> None:
        key = self._CHILD_LISTS[otype]
        old = self.children.get(old_lead)
        if old is not None:
            old[key] = [x for x in old[key] if x != rid]
            self._bump_lead(old_lead, now)
        self.children[new_lead][key].append(rid)

    @staticmethod
    def _check_logged(kind: str, action: str) -> None:
        """Refuse a change of an activity that Close's event log would not show (``ACTIVITY_EVENT_ACTIONS``)."""
        if action not in ACTIVITY_EVENT_ACTIONS[kind]:
            shown = ", ".join(ACTIVITY_EVENT_ACTIONS[kind]) or "no change"
            raise ValueError(f"{ACTIVITY_TYPE_NAMES[kind]} activities cannot be {action}: Close's event log shows "
                             f"{shown} of them, so the change would be invisible")

    @staticmethod
    def _store_activity(store: ActivityStore, i: int | None, new: dict) -> None:
        """Keep the changed activity ``new`` (``i``: its base index, None for a created one)."""
        if i is None:
            store.created.replace(new, (store.created.keys[new["id"]][0],))
        else:
            store.put(i, new)

    def _derived_labels(self, otype: str, rec: dict, fields: dict) -> None:
        """Keep denormalised labels in step with the ids a change sets (as Close does)."""
        if "status_id" in fields:
            pool = self.lead_statuses if otype == "lead" else self.opportunity_statuses
            st = next((x for x in pool if x["id"] == fields["status_id"]), None)
            if st is not None:
                rec["status_label"] = st["label"]
                if otype == "opportunity":
                    rec.update({"status_display_name": st["label"], "status_type": st["type"],
                                "pipeline_id": st["pipeline_id"],
                                "pipeline_name": self.pipeline_by_id[st["pipeline_id"]]["name"]})
        if otype == "lead" and "name" in fields and "display_name" not in fields:
            rec["display_name"] = fields["name"] or ""
        if otype == "contact" and "name" in fields and "display_name" not in fields:
            rec["display_name"] = fields["name"] or ""

    def _delete(self, rng, otype, rid, now, events) -> dict:
        if otype == "custom_object":
            return self.workspace.change_custom_object(rng, "delete", rid, {}, now, events)
        if otype == "custom_field":
            for obj, defs in self.custom_fields.items():
                for n, d in enumerate(defs):
                    if d["id"] == rid:
                        del defs[n]
                        self._emit(rng, events, now, "deleted", f"custom_field.{obj}", rid, None, None, d, None,
                                   f"custom_field/{obj}/{rid}/")
                        return d
            raise ValueError(f"unknown custom field {rid!r}")
        if otype == "activity":
            store, i, old = self._locate_activity(rid)
            self._check_logged(store.kind, "deleted")
            if i is None:
                store.created.remove(rid)
            else:
                store.updated.pop(i, None)
                store.mark_deleted(i)
            self._emit(rng, events, now, "deleted", ACTIVITY_EVENT_TYPES[store.kind], rid, old["lead_id"], None, old,
                       None, f"activity/{store.kind}/{rid}/")
            return old
        table = self._table(otype)
        if rid not in table.records:
            raise ValueError(f"unknown {otype} {rid!r}")
        if otype == "lead":
            return self._delete_lead(rng, rid, now, events)
        old = table.view(table.records[rid])
        table.remove(rid)
        lead_id = old.get("lead_id")
        ch = self.children.get(lead_id)
        if ch:
            key = {"contact": "contacts", "opportunity": "opportunities", "task": "tasks"}[otype]
            ch[key] = [x for x in ch[key] if x != rid]
        ot = otype if otype != "task" else f"task.{old['_type']}"
        self._emit(rng, events, now, "deleted", ot, rid, lead_id, None, old, None, f"{otype}/{rid}/")
        self._bump_lead(lead_id, now)
        return old

    def _delete_lead(self, rng, lid, now, events) -> dict:
        """The lead and everything on it, one deleted event each (none for activities Close logs nothing for)."""
        old = self.leads.view(self.leads.records[lid])
        ch = self.children.pop(lid)
        path = f"lead/{lid}/"
        for cid in ch["contacts"]:
            if cid in self.contacts.records:
                self._emit(rng, events, now, "deleted", "contact", cid, lid, None, self.contacts.remove(cid), None, path)
        for oid in ch["opportunities"]:
            if oid in self.opportunities.records:
                self._emit(rng, events, now, "deleted", "opportunity", oid, lid, None, self.opportunities.remove(oid),
                           None, path)
        for tid in ch["tasks"]:
            if tid in self.tasks.records:
                t = self.tasks.remove(tid)
                self._emit(rng, events, now, "deleted", f"task.{t['_type']}", tid, lid, None, t, None, path)
        objects = self.workspace.custom_objects
        for rid in sorted(r for r, rec in objects.records.items() if rec["lead_id"] == lid):
            self._emit(rng, events, now, "deleted", "custom_object", rid, lid, None, objects.remove(rid), None, path)
        for kind, store in self.activity_stores.items():
            for i in store.lead_index().get(lid, ()):
                if i in store.deleted:
                    continue
                prev = store.record(i)
                store.updated.pop(i, None)
                store.mark_deleted(i)
                self._emit(rng, events, now, "deleted", ACTIVITY_EVENT_TYPES[kind], prev["id"], lid, None, prev, None,
                           path)
            for rid in [r for r, rec in store.created.records.items() if rec["lead_id"] == lid]:
                prev = store.created.remove(rid)
                self._emit(rng, events, now, "deleted", ACTIVITY_EVENT_TYPES[kind], rid, lid, None, prev, None, path)
        self.leads.remove(lid)
        self._emit(rng, events, now, "deleted", "lead", lid, lid, None, old, None, path)
        return old

    def _merge(self, rng, source: str | None, destination: str | None, now: int, events: list) -> list[dict]:
        """``POST lead/merge/``: the source lead's contacts, opportunities, tasks, custom objects and activities move
        to the destination, a lead-merge activity is made on it, and the source is removed.

        Events, all with ``merge_source_lead_id`` / ``merge_destination_lead_id`` in ``meta``: one ``updated`` per
        moved contact, opportunity, task and custom object (``lead_id``, ``date_updated``), one ``merged`` for the
        destination, one ``deleted`` for the source (none for its children, which live on). Moved activities get a
        new ``lead_id`` and ``date_updated`` but no event, and the lead-merge activity none either, as on Close.
        Returns the destination as now listed, then every moved record, then the lead-merge activity."""
        leads = self.leads.records
        for given in (source, destination):
            if given is not None and given not in leads:
                raise ValueError(f"unknown lead {given!r}")
        if source is not None and source == destination:
            raise ValueError("a lead cannot be merged into itself")
        pool = sorted(set(leads) - {source, destination})
        if (source is None) + (destination is None) > len(pool):
            raise ValueError("a merge needs two leads")
        if source is None:
            source = pool.pop(rng.randrange(len(pool)))
        if destination is None:
            destination = pool.pop(rng.randrange(len(pool)))
        meta = {"request_path": "/api/v1/lead/merge/", "request_method": "POST",
                "merge_source_lead_id": source, "merge_destination_lead_id": destination}
        gone = self.leads.view(leads[source])
        before = self.leads.view(leads[destination])
        moved: list[dict] = []
        ch = self.children[source]
        for otype, key in self._CHILD_LISTS.items():
            for rid in list(ch[key]):
                if rid in self._table(otype).records:
                    moved.append(self._update(rng, otype, rid, {"lead_id": destination}, now, events, meta))
        moved += self.workspace.move_custom_objects(rng, source, destination, now, events, meta)
        stamp = fmt_tz_ms(now)
        for store in self.activity_stores.values():
            for i in list(store.lead_index().get(source, ())):
                if i not in store.deleted:
                    new = {**store.record(i), "lead_id": destination, "date_updated": stamp}
                    store.put(i, new)
                    moved.append(new)
            for rid in sorted(r for r, rec in store.created.records.items() if rec["lead_id"] == source):
                new = {**store.created.records[rid], "lead_id": destination, "date_updated": stamp}
                self._store_activity(store, None, new)
                moved.append(new)
        merge_activity = self._create_activity(
            rng, "lead_merge", {"lead_id": destination, "source_lead_id": source, "destination_lead_id": destination,
                                "merge_status": "completed"}, now, events)
        del self.children[source]
        self.leads.remove(source)
        self._bump_lead(destination, now)
        after = self.leads.view(leads[destination])
        changed = sorted({k for k in after if after.get(k) != before.get(k)} | {"date_updated"})
        self._emit(rng, events, now, "merged", "lead", destination, destination, after,
                   {k: before.get(k) for k in changed}, changed, meta=meta)
        self._emit(rng, events, now, "deleted", "lead", source, source, None, gone, meta=meta)
        return [after, *moved, merge_activity]

    def add_listed(self, stream: str, record: dict) -> dict:
        """Adds ``record``, as Close would list it, to a stream that ``mutate`` does not reach: the settings an admin
        makes in Close's UI (full-refresh lists, where a new row is its own sign of change) and entries of the event
        log (dated by their own ``date_updated``). For tests of real record shapes; returns what was stored."""
        if stream not in STREAM_SPECS:
            raise ValueError(f"unknown stream {stream!r}")
        source, sel, _ = STREAM_SPECS[stream]
        record = dict(record)
        self.version += 1
        if source == "list":
            getattr(self, sel).append(record)
        elif source == "bulk":
            self.bulk_actions[sel].append(record)
        elif source == "connected":
            self.connected_accounts.append(record)
        elif source == "custom_fields":
            self.custom_fields[sel].append(record)
        elif source == "workspace" and stream != "custom_objects":
            lists = {"custom_object_custom_fields": self.workspace.custom_object_fields,
                     "shared_custom_fields": self.custom_fields["shared"]}
            target = lists[stream] if stream in lists else getattr(self.workspace, stream)
            target.append(record["email"] if stream == "unsubscribed_emails" else record)
        elif source in ("events", "deleted"):
            at = parse_instant(record["date_updated"])
            if at is None:
                raise ValueError(f"bad date_updated {record['date_updated']!r}")
            self._add_event(record, at)
        else:
            raise ValueError(f"{stream} records are made with mutate(), not added")
        return record

    # ------------------------------------------------------------------------------- ground truth

    def truth(self, stream: str, start_date: str | None = None) -> list[dict]:
        """What a complete sync of ``stream`` yields now, exactly as the list endpoints serve it.

        Incremental streams keep records whose cursor is >= ``start_date`` (date or ISO datetime) and come
        in ascending cursor order (ties by id); full-refresh streams come in their endpoint's order."""
        if stream not in STREAM_SPECS:
            raise ValueError(f"unknown stream {stream!r}")
        source, sel, cursor = STREAM_SPECS[stream]
        lo = None
        if start_date is not None and cursor is not None:
            lo = parse_instant(start_date)
            if lo is None:
                raise ValueError(f"bad start_date {start_date!r}")
        if source == "leads":
            recs = self.leads.window("date_updated", lo).page(0, 1 << 62, False)
        elif source == "opportunities":
            recs = self.opportunities.window("date_updated", lo).page(0, 1 << 62, False)
        elif source == "tasks":
            recs = self.tasks.window("date_updated", lo, group=sel).page(0, 1 << 62, False)
        elif source == "activity":
            recs = self.activity_stores[sel].window(lo, None).page(0, 1 << 62, False)
        elif source == "contacts":
            recs = self.contacts.window("date_created").page(0, 1 << 62, False)
        elif source == "events":
            start = self.event_window_start()
            recs = self.events.window("date_updated", max(start, lo or start)).page(0, 1 << 62, False)
        elif source == "deleted":
            recs = [r for r in self.deleted_rows() if lo is None or parse_instant(r["date_deleted"]) >= lo]
        elif source == "custom_fields":
            recs = self.custom_field_list(sel)
        elif source == "bulk":
            recs = self.bulk_actions[sel]
        elif source == "connected":
            recs = [a for a in self.connected_accounts if a["_type"] == sel]
        elif source == "workspace":
            recs = self.workspace.truth(sel, lo)
        else:
            recs = getattr(self, sel)
        return _dumps_copy(recs)

    def deleted_rows(self) -> list[dict]:
        """One row per ``deleted`` event of a lead, contact, opportunity, task or activity in the retained event
        log, oldest first."""
        start = self.event_window_start()
        rows = []
        for ev in self.events.window("date_updated", start, group=("action", "deleted")).page(0, 1 << 62, False):
            if ev["object_type"].split(".")[0] not in DELETION_OBJECT_FAMILIES:
                continue
            rows.append({"id": ev["id"], "object_type": ev["object_type"], "object_id": ev["object_id"],
                         "lead_id": ev["lead_id"], "date_deleted": ev["date_created"], "user_id": ev["user_id"],
                         "previous_data": ev["previous_data"]})
        rows.sort(key=lambda r: (parse_instant(r["date_deleted"]), r["id"]))
        return rows


def _event_groups(ev: dict) -> list:
    out = [("action", ev["action"]), ("object_type", ev["object_type"])]
    if ev.get("lead_id"):
        out.append(("lead_id", ev["lead_id"]))
    if ev.get("object_id"):
        out.append(("object_id", ev["object_id"]))
    return out


def _event_view(ev: dict) -> dict:
    data, prev = ev["data"], ev["previous_data"]
    if isinstance(data, _LazyRef) or isinstance(prev, _LazyRef):
        ev = dict(ev)
        if isinstance(data, _LazyRef):
            ev["data"] = data.resolve()
        if isinstance(prev, _LazyRef):
            ev["previous_data"] = prev.resolve()
    return ev
