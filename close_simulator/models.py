"""State and rules of one simulated Close organisation: the tables and stores that hold it, and ``Organization``.

An ``Organization`` is generated from (seed, scale, anchor) (``generation.py``, with the record builders of
``builders.py``) and then changed only through ``mutate`` (``mutations.py``); ``truth`` (``truth.py``) says what a
complete sync of each stream yields. Classic objects (leads, contacts, opportunities, tasks, events, settings) are
kept as dicts with sorted ``(microseconds, id)`` indexes, so every window or page is found by bisection. Activities
are never stored: record ``i`` of an activity type is derived on demand from (seed, type, i) and its
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

from .generator import (
    DAY, URLSAFE, FastRng, b62, company_name, fmt_naive, mix2, mix64, rand_chars, rand_id, unb62, us_from_datetime,
)
from . import workspace
from .truth import STREAM_SPECS, STREAMS  # noqa: F401  (part of this module's public names)

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
TASK_TYPES = ("lead", "incoming_email", "email_followup", "missed_call", "answered_detached_call",
              "voicemail", "opportunity_due", "incoming_sms")
CONNECTED_ACCOUNT_TYPES = ("google", "custom_email", "zoom")
BULK_KINDS = {"email": "bulkemail_", "sequence_subscription": "bulkseqsub_", "delete": "bulkdelete_",
              "edit": "bulkedit_"}
CUSTOM_FIELD_OBJECTS = ("lead", "contact", "opportunity", "activity", "shared")


START_US = us_from_datetime(datetime(2021, 1, 1))
EVENT_RETENTION_US = 30 * DAY

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

_SCALE_CONFIG["large"] = {
    **_SCALE_CONFIG["medium"],
    "activities": {**_SCALE_CONFIG["medium"]["activities"], "email": 1_000_000},
    "burst": {"leads": 300, "email": 2000, "other": 50},
}


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
        self.builder = org.builder
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
        return self.builder.build_activity(
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

    ``clock`` (seconds since the epoch) dates mutations and bounds the 30-day event log. The state lives in
    attributes named after Close's resources (``leads``, ``contacts``, ``activity_stores``, ``events``, ``users``,
    ...); ``builder``, ``mutations`` and ``workspace`` are the collaborators that make and change it."""

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
        self.builder = builders.RecordBuilder(self)
        self.mutations = mutations.Mutations(self)
        generation.Generation(self).run()

    def _rng(self, part: str) -> random.Random:
        return random.Random(f"close-sim:{self.seed}:{part}")

    def now_us(self) -> int:
        """Current time for a mutation: the clock at ms precision, never before the anchor."""
        t = int(self.clock() * 1_000_000) // 1000 * 1000
        t = max(t, self.anchor_us, self._last_now)
        self._last_now = t
        return t

    # ------------------------------------------------------------------------------ changes and truth

    def mutate(self, change: dict) -> dict:
        """Apply one change (``Mutations.apply`` lists the forms); returns the records and events it wrote."""
        return self.mutations.apply(change)

    def add_listed(self, stream: str, record: dict) -> dict:
        """``Mutations.add_listed``: a settings record or an event-log entry, as Close would list it."""
        return self.mutations.add_listed(stream, record)

    def truth(self, stream: str, start_date: str | None = None) -> list[dict]:
        """What a complete sync of ``stream`` yields now (``truth.truth``)."""
        return truth.truth(self, stream, start_date)

    def deleted_rows(self) -> list[dict]:
        """The rows of the deleted_records stream (``truth.deleted_rows``)."""
        return truth.deleted_rows(self)

    # ------------------------------------------------------------------------------------ lookups

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

    def children_contacts(self, lead_id: str) -> list[str]:
        ch = self.children.get(lead_id)
        return list(ch["contacts"]) if ch else []

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

    def new_event(self, rng: random.Random, at_us: int, action: str, object_type: str, object_id: str,
                  lead_id: str | None, user_id: str | None, data, previous_data=None,
                  changed_fields: list[str] | None = None, meta: dict | None = None,
                  updated_us: int | None = None) -> dict:
        """One entry of the event log as Close serves it (``log_event`` adds it)."""
        updated_us = at_us if updated_us is None else updated_us
        ev = {"id": rand_id(rng, "ev_", 22), "date_created": fmt_naive(at_us), "date_updated": fmt_naive(updated_us),
              "organization_id": self.organization_id, "user_id": user_id,
              "request_id": rand_id(rng, "req_", 22), "api_key_id": None, "oauth_client_id": None,
              "oauth_scope": None, "object_type": object_type, "object_id": object_id, "lead_id": lead_id,
              "action": action, "changed_fields": changed_fields or [], "meta": meta or {},
              "data": data, "previous_data": previous_data if previous_data is not None else {}}
        return ev

    def log_event(self, ev: dict, updated_us: int) -> None:
        self.events.add(ev, (updated_us,))

    def find(self, object_type: str, rid: str) -> dict | None:
        """One lead, contact, opportunity, task or activity as its single-object endpoint serves it."""
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


from . import builders, generation, mutations, truth  # noqa: E402  (they build on the tables above)
