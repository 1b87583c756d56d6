"""Close API v1 semantics on top of the organisation model: routing, filters, paging, error bodies.

``CloseAPI.handle`` maps one request (method, path under ``/api/v1/``, query params, raw body) to an
HTTP status and a JSON-serialisable body. It contains no HTTP code; bad input is answered with
Close-style 400/404 bodies instead of exceptions. Paging reads the model's sorted indexes, so a page
costs O(page + log n) whatever its offset. The facts behind it are listed, per endpoint, in docs/close-com.md.
"""

from __future__ import annotations

import base64
import heapq
import re
import time
from typing import Any, Callable, Iterator, Mapping

import orjson

from . import workspace
from .generator import MINUTE, parse_instant
from .models import (
    ACTIVITY_KINDS, ACTIVITY_TYPE_NAMES, BULK_KINDS, CUSTOM_FIELD_OBJECTS, TASK_TYPES, IndexWindow, ListWindow, MergedWindow,
    Organization, Table, Window,
)

DEFAULT_MAX_SKIP = 250_000
DEFAULT_LIMIT = 100
MAX_LIMITS = {"lead": 200, "opportunity": 250, "task": 1000, "user": 1000, "custom_field": 1000,
              "custom_fields": 1000, "sequence": 1000, "event": 50, "search": 200}
EVENT_DEFAULT_LIMIT = 50
SEARCH_CURSOR_TTL = 30.0
SEARCH_WALK_CAP = 10_000
CURSOR_PAGE = 100  # role/ and saved_search/
SEARCH_TYPES = ("lead", "contact", "opportunity", "custom_object")

NOT_FOUND = (404, {"error": "Not found"})

# Documented `_order_by` keys of opportunity/ (the simulator sorts on the two date fields).
OPPORTUNITY_SORT_KEYS = ("date_won", "date_updated", "date_created", "confidence", "user_name", "value",
                         "annualized_value", "annualized_expected_value")
# GET event/ accepts only these combinations of its filters (a date_updated range may join any of them).
EVENT_FILTERS = ("object_id", "lead_id", "object_type", "action", "user_id", "request_id")
EVENT_FILTER_COMBINATIONS = frozenset(frozenset(c) for c in (
    (), ("object_type", "object_id"), ("object_type", "action"), ("object_id", "action"), ("lead_id", "object_type"),
    ("lead_id", "object_type", "action"), ("lead_id", "user_id", "object_type"),
    ("lead_id", "user_id", "object_type", "action"), ("lead_id", "user_id"), ("user_id", "object_id"),
    ("user_id", "object_id", "action"), ("user_id", "object_type"), ("user_id", "object_type", "action"),
    ("lead_id",), ("user_id",), ("request_id",),
))


class ApiError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body


def _bad(message: str) -> ApiError:
    return ApiError(400, {"error": message})


def _encode_cursor(obj: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).decode().rstrip("=")


def _decode_cursor(text: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except Exception:
        raise _bad(f"Invalid cursor: {text}") from None


# ----------------------------------------------------------------------------------- projection


def _parse_fields(raw: str | list | None) -> list[str] | None:
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else str(raw).split(",")
    out = [f.strip() for f in items if isinstance(f, str) and f.strip()]
    return out or None


def _project(rec: dict, fields: list[str] | None) -> dict:
    """``_fields``: only the named keys; ``custom`` means the ``custom`` dict and every ``custom.cf_*``."""
    if fields is None:
        return rec
    out = {}
    want_custom = "custom" in fields
    for f in fields:
        if f in rec and f not in out:
            out[f] = rec[f]
    if want_custom:
        for k, v in rec.items():
            if k.startswith("custom."):
                out[k] = v
    return out


def _project_all(recs: list[dict], fields: list[str] | None) -> list[dict]:
    return recs if fields is None else [_project(r, fields) for r in recs]


# --------------------------------------------------------------------------------------- lead query

_QUERY_TERM = re.compile(
    r"""\s*(?:
        (?P<field>date_updated|date_created|updated|created)\s*(?P<op>>=|<=|>|<|=|:)\s*
            (?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"']+))
      | sort:\s*(?P<desc>-?)(?P<sort>date_updated|date_created|updated|created)
    )\s*""",
    re.VERBOSE,
)


def _parse_lead_query(query: str) -> tuple[dict[str, list[int | None]], tuple[str, bool] | None]:
    """The deprecated search string, as far as connectors use it. Dates compare at minute precision."""
    bounds = {"date_updated": [None, None], "date_created": [None, None]}
    sort = None
    pos, text = 0, query.strip()
    while pos < len(text):
        m = _QUERY_TERM.match(text, pos)
        if not m or m.end() == pos:
            raise _bad(f'Invalid query: "{query}"')
        pos = m.end()
        if m.group("sort"):
            name = m.group("sort")
            sort = ("date_updated" if "updated" in name else "date_created", bool(m.group("desc")))
            continue
        field = "date_updated" if "updated" in m.group("field") else "date_created"
        value = m.group("dq") if m.group("dq") is not None else (m.group("sq") if m.group("sq") is not None else m.group("bare"))
        us = parse_instant(value)
        if us is None:
            raise _bad(f'Invalid query: "{query}"')
        b = us - us % MINUTE
        lo, hi = bounds[field]
        op = m.group("op")
        new_lo = {">=": b, ">": b + MINUTE, "=": b, ":": b}.get(op)
        new_hi = {"<": b, "<=": b + MINUTE, "=": b + MINUTE, ":": b + MINUTE}.get(op)
        if new_lo is not None:
            lo = new_lo if lo is None else max(lo, new_lo)
        if new_hi is not None:
            hi = new_hi if hi is None else min(hi, new_hi)
        bounds[field] = [lo, hi]
    return bounds, sort


# ---------------------------------------------------------------------------------------- the API


class CloseAPI:
    """Close's REST semantics for one organisation (see the module docstring)."""

    def __init__(self, org: Organization, max_skip: int | None = None,
                 max_limit: dict[str, int] | None = None, clock: Callable[[], float] = time.time):
        self.org = org
        self.max_skip = max_skip
        self.max_limit = dict(max_limit or {})
        self.clock = clock
        self._agg_cache: dict[Any, dict] = {}

    # -- routing -----------------------------------------------------------------------------------

    def endpoint_group(self, method: str, path: str) -> str:
        """Rate-limit bucket of a request: ``search``, ``me`` or the first path segment."""
        p = path.strip("/")
        if p.startswith("data/search"):
            return "search"
        first = p.split("/", 1)[0]
        return first or "root"

    def handle(self, method: str, path: str, params: Mapping[str, list[str]], body: bytes | None,
               ) -> tuple[int, Any]:
        method = method.upper()
        p = path.lstrip("/")
        if not p.endswith("/"):
            p += "/"
        parts = [x for x in p.split("/") if x]
        try:
            if not parts:
                return NOT_FOUND
            if parts[0] == "data" and parts[1:2] == ["search"] and len(parts) == 2:
                if method != "POST":
                    return 405, {"error": "Method not allowed"}
                return 200, self._search(body)
            if method not in ("GET", "HEAD"):
                if self._route(parts) is None:
                    return NOT_FOUND
                return 405, {"error": "Method not allowed"}
            handler = self._route(parts)
            if handler is None:
                return NOT_FOUND
            return 200, handler(params)
        except ApiError as e:
            return e.status, e.body

    def _route(self, parts: list[str]) -> Callable[[Mapping[str, list[str]]], Any] | None:
        head, rest = parts[0], parts[1:]
        org = self.org
        served = workspace.route(self, parts)
        if served is not None:
            return served
        if head == "me" and not rest:
            return lambda q: self._me()
        if head == "lead":
            return self._leads if not rest else self._single(lambda: org.find("lead", rest[0]), "Lead", rest)
        if head == "contact":
            return self._contacts if not rest else self._single(lambda: org.contacts.get(rest[0]), "Contact", rest)
        if head == "opportunity":
            return self._opportunities if not rest else self._single(lambda: org.opportunities.get(rest[0]), "Opportunity", rest)
        if head == "task":
            return self._tasks if not rest else self._single(lambda: org.tasks.get(rest[0]), "Task", rest)
        if head == "activity":
            return self._activity_route(rest)
        if head == "event":
            if not rest:
                return self._events
            return self._single(lambda: self._event_by_id(rest[0]), "Event", rest)
        if head == "user":
            if not rest:
                return lambda q: self._offset_list(q, "user", org.users)
            return self._single(lambda: org.user_by_id.get(rest[0]), "User", rest)
        if head == "organization" and len(rest) == 1:
            return self._single(lambda: self._organization() if rest[0] == org.organization_id else None,
                                "Organization", rest)
        if head in ("custom_field", "custom_fields") and len(rest) == 1:
            obj = rest[0]
            if obj in CUSTOM_FIELD_OBJECTS:
                return lambda q: self._offset_list(q, "custom_field", org.custom_field_list(obj))
            return None
        if head in ("custom_field", "custom_fields") and len(rest) == 2 and rest[0] in CUSTOM_FIELD_OBJECTS:
            return self._single(lambda: next((d for d in org.custom_field_list(rest[0]) if d["id"] == rest[1]), None),
                                "CustomField", rest[1:])
        if head == "custom_field_schema" and len(rest) == 1 and rest[0] in ("lead", "contact", "opportunity"):
            return lambda q: {"fields": org.custom_field_list(rest[0])}
        if head == "status" and len(rest) == 1 and rest[0] in ("lead", "opportunity"):
            data = org.lead_statuses if rest[0] == "lead" else org.opportunity_statuses
            return lambda q: self._all(q, data)
        simple_all = {"pipeline": "pipelines", "custom_activity": "custom_activity_types",
                      "integration_link": "integration_links", "send_as": "send_as"}
        if head in simple_all and not rest:
            return lambda q: self._all(q, getattr(org, simple_all[head]))
        if head in ("role", "saved_search") and not rest:
            data = org.roles if head == "role" else org.saved_searches
            return lambda q: self._cursor_list(q, data)
        simple_offset = {"email_template": "email_templates", "sequence": "sequences", "dialer": "dialer_sessions"}
        if head in simple_offset and not rest:
            return lambda q: self._offset_list(q, head, self._filtered_simple(head, q))
        if head == "connected_account" and not rest:
            return self._connected_accounts
        if head == "bulk_action" and len(rest) == 1 and rest[0] in BULK_KINDS:
            return lambda q: self._offset_list(q, "bulk_action", org.bulk_actions[rest[0]])
        return None

    def _single(self, getter: Callable[[], dict | None], model: str, rest: list[str]):
        if len(rest) != 1:
            return None

        def answer(q):
            rec = getter()
            if rec is None:
                raise ApiError(404, {"error": f"Empty query: {model} matching query does not exist."})
            return _project(rec, _parse_fields(self._one(q, "_fields")))
        return answer

    def _activity_route(self, rest: list[str]):
        if not rest:
            return self._all_activities
        kind = rest[0]
        tail = rest[1:]
        if kind == "status_change" and tail and tail[0] in ("lead", "opportunity"):
            kind, tail = f"status_change/{tail[0]}", tail[1:]
        if kind not in ACTIVITY_KINDS:
            # a bare activity id: activity/<id>/
            if len(rest) == 1 and kind.startswith("acti_"):
                return self._single(lambda: self.org.find("activity", kind), "Activity", rest)
            return None
        store = self.org.activity_stores[kind]
        if not tail:
            return lambda q: self._activities(q, kind)
        return self._single(lambda: store.get(tail[0]), "Activity", tail)

    # -- parameters --------------------------------------------------------------------------------

    @staticmethod
    def _one(q: Mapping[str, list[str]], name: str) -> str | None:
        vals = q.get(name)
        if not vals:
            return None
        return vals[0] if isinstance(vals, (list, tuple)) else vals

    def _limit_cap(self, resource: str) -> int:
        return self.max_limit.get(resource, MAX_LIMITS.get(resource, DEFAULT_LIMIT))

    def _skip_cap(self, resource: str) -> int:
        return DEFAULT_MAX_SKIP if self.max_skip is None else int(self.max_skip)

    def _int(self, q, name: str, default: int) -> int:
        raw = self._one(q, name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise _bad(f'{name} must be an integer (got "{raw}" instead).') from None
        if value < 0:
            raise _bad(f'{name} must be a non-negative integer (got "{raw}" instead).')
        return value

    def _check_limit(self, limit: int, resource: str) -> None:
        cap = self._limit_cap(resource)
        if limit > cap:
            raise _bad(f"The limit you set is larger than the maximum limit for this resource (max_limit = {cap}).")

    def _skip_limit(self, q, resource: str, default_limit: int = DEFAULT_LIMIT) -> tuple[int, int]:
        skip = self._int(q, "_skip", 0)
        limit = self._int(q, "_limit", default_limit)
        self._check_limit(limit, resource)
        cap = self._skip_cap(resource)
        if skip > cap:
            raise _bad(f"The skip you set is larger than the maximum skip for this resource (max_skip = {cap}).\n"
                       "Please refine your search query.")
        return skip, limit

    def _date_bounds(self, q, field: str) -> tuple[int | None, int | None]:
        lo = hi = None
        for op in ("gt", "gte", "lt", "lte"):
            raw = self._one(q, f"{field}__{op}")
            if raw is None:
                continue
            us = parse_instant(raw)
            if us is None:
                raise ApiError(400, {"errors": [], "field-errors": {f"{field}__{op}": f'Invalid date "{raw}".'}})
            if op in ("gt", "gte"):
                v = us + 1 if op == "gt" else us
                lo = v if lo is None else max(lo, v)
            else:
                v = us + 1 if op == "lte" else us
                hi = v if hi is None else min(hi, v)
        return lo, hi

    def _order(self, q, allowed: tuple[str, ...], default: tuple[str, bool],
               documented: tuple[str, ...] = ()) -> tuple[str, bool]:
        """``_order_by``: a key Close does not document for the endpoint is refused; of the documented ones the
        simulator sorts on its indexed date fields (``allowed``) and serves the others in the default order."""
        raw = self._one(q, "_order_by")
        if not raw:
            return default
        desc = raw.startswith("-")
        name = raw[1:] if desc else raw
        if name not in allowed:
            if name in documented:
                return default
            raise _bad(f"Invalid _order_by value: {raw!r}. This resource can be sorted by "
                       f"{', '.join(sorted(set(allowed) | set(documented)))} (prefix - for descending).")
        return name, desc

    # -- list envelopes ----------------------------------------------------------------------------

    def _page(self, q, resource: str, window: Window, desc: bool, extra: dict | None = None,
              default_limit: int = DEFAULT_LIMIT) -> dict:
        skip, limit = self._skip_limit(q, resource, default_limit)
        total = window.total()
        recs = window.page(skip, limit, desc) if limit and skip < total else []
        out = {"data": _project_all(recs, _parse_fields(self._one(q, "_fields"))), "has_more": total > skip + limit}
        if extra:
            out.update(extra)
        return out

    def _offset_list(self, q, resource: str, records: list[dict]) -> dict:
        return self._page(q, resource, ListWindow(records), False)

    def _all(self, q, records: list[dict]) -> dict:
        return {"data": _project_all(list(records), _parse_fields(self._one(q, "_fields"))), "has_more": False}

    def _cursor_list(self, q, records: list[dict]) -> dict:
        """role/ and saved_search/: 100 per page behind an opaque ``_cursor`` (``_skip``/``_limit`` also work)."""
        raw = self._one(q, "_cursor")
        if raw:
            state = _decode_cursor(raw)
            if not isinstance(state, dict) or not isinstance(state.get("o"), int):
                raise _bad(f"Invalid cursor: {raw}")
            start = state["o"]
        else:
            start = self._int(q, "_skip", 0)
        limit = self._int(q, "_limit", CURSOR_PAGE)
        self._check_limit(limit, "saved_search")
        page = records[start:start + limit]
        nxt = start + limit if start + limit < len(records) else None
        return {"data": _project_all(page, _parse_fields(self._one(q, "_fields"))),
                "cursor_next": _encode_cursor({"o": nxt}) if nxt is not None else None}

    def _filtered_simple(self, head: str, q) -> list[dict]:
        data = getattr(self.org, {"email_template": "email_templates", "sequence": "sequences",
                                  "dialer": "dialer_sessions"}[head])
        if head == "email_template":
            for flag in ("is_archived", "is_shared"):
                raw = self._one(q, flag)
                if raw is not None:
                    want = raw.lower() in ("true", "1", "yes")
                    data = [r for r in data if r.get(flag) == want]
        if head == "dialer":
            for key in ("status", "user_id", "source_type", "source_value"):
                raw = self._one(q, key)
                if raw is not None:
                    data = [r for r in data if r.get(key) == raw]
        return data

    # -- resources ---------------------------------------------------------------------------------

    def _me(self) -> dict:
        org = self.org
        me = dict(org.me)
        me["organizations"] = [{"id": org.organization_id, "name": org.organization_name,
                                "date_created": org.users[0]["date_created"]}]
        me["memberships"] = [{"id": "memb_" + org.me["id"][5:], "organization_id": org.organization_id,
                              "user_id": me["id"], "role_id": "admin"}]
        me["email_accounts"] = []
        me["phone_numbers"] = []
        return me

    def _organization(self) -> dict:
        org = self.org
        return {"id": org.organization_id, "name": org.organization_name,
                "memberships": org.workspace.memberships,
                "inactive_memberships": [], "lead_statuses": org.lead_statuses, "pipelines": org.pipelines,
                "date_created": org.users[0]["date_created"], "date_updated": org.users[0]["date_updated"]}

    def _leads(self, q) -> dict:
        org = self.org
        bounds = {"date_updated": [None, None], "date_created": [None, None]}
        sort = None
        query = self._one(q, "query")
        if query:
            bounds, sort = _parse_lead_query(query)
        if sort is None:
            field, desc = self._order(q, ("date_created", "date_updated"), ("date_created", False))
        else:
            field, desc = sort
        if bounds["date_updated"] != [None, None] and sort is None and self._one(q, "_order_by") is None:
            field = "date_updated"
        other = "date_created" if field == "date_updated" else "date_updated"
        window: Window = org.leads.window(field, *bounds[field])
        olo, ohi = bounds[other]
        if olo is not None or ohi is not None:
            keys = org.leads.keys
            pos = 0 if other == "date_created" else 1
            recs = [r for r in window.page(0, 1 << 62, False)
                    if (olo is None or keys[r["id"]][pos] >= olo) and (ohi is None or keys[r["id"]][pos] < ohi)]
            window = ListWindow(recs)
        return self._page(q, "lead", window, desc, {"total_results": window.total()})

    def _contacts(self, q) -> dict:
        org = self.org
        lead_id = self._one(q, "lead_id")
        field, desc = self._order(q, ("date_created", "date_updated"), ("date_created", False))
        if lead_id:
            ids = org.children.get(lead_id, {}).get("contacts", [])
            recs = [org.contacts.records[c] for c in ids if c in org.contacts.records]
            recs.sort(key=lambda r: (org.contacts.keys[r["id"]][0 if field == "date_created" else 1], r["id"]))
            return self._page(q, "contact", ListWindow(recs), desc)
        return self._page(q, "contact", org.contacts.window(field), desc)

    def _table_query(self, q, table: Table, groups: list, filters: dict[str, Callable[[dict], bool]],
                     default: tuple[str, bool], lead_ids: list[str] | None = None,
                     sort_keys: tuple[tuple[str, ...], tuple[str, ...]] = (("date_created", "date_updated"), ()),
                     ) -> tuple[Window, bool]:
        """Window over a classic table: date filters on both fields, ``_order_by`` (``sort_keys``: the indexed and
        the other documented keys), simple equality filters."""
        field, desc = self._order(q, sort_keys[0], default, sort_keys[1])
        b = {f: self._date_bounds(q, f) for f in ("date_created", "date_updated")}
        other = "date_created" if field == "date_updated" else "date_updated"
        needs_scan = b[other] != (None, None) or filters or lead_ids is not None
        if not needs_scan:
            if len(groups) == 1:
                return table.window(field, *b[field], group=groups[0]), desc
            return MergedWindow([table.window(field, *b[field], group=g) for g in groups]), desc
        pos = {"date_created": 0, "date_updated": 1}
        olo, ohi = b[other]
        flo, fhi = b[field]
        if lead_ids is not None:
            cands = [table.records[i] for i in lead_ids if i in table.records]
        else:
            cands = []
            for g in groups:
                w = table.window(field, flo, fhi, group=g)
                cands.extend(table.records[rid] for _, rid in w.lst[w.a:w.b])
        group_set = set(groups)
        out = []
        for r in cands:
            k = table.keys[r["id"]]
            kf, ko = k[pos[field]], k[pos[other]]
            if (flo is not None and kf < flo) or (fhi is not None and kf >= fhi):
                continue
            if (olo is not None and ko < olo) or (ohi is not None and ko >= ohi):
                continue
            if None not in group_set and r.get("_type") not in group_set:
                continue
            if all(f(r) for f in filters.values()):
                out.append((kf, r["id"], r))
        out.sort(key=lambda x: (x[0], x[1]))
        return ListWindow([table.view(r) for _, _, r in out]), desc

    def _eq_filters(self, q, names: tuple[str, ...]) -> dict[str, Callable[[dict], bool]]:
        out = {}
        for name in names:
            raw = self._one(q, name)
            if raw is not None:
                out[name] = (lambda key, val: lambda r: str(r.get(key)) == val)(name, raw)
            raw_in = self._one(q, name + "__in")
            if raw_in is not None:
                allowed = set(raw_in.split(","))
                out[name + "__in"] = (lambda key, vals: lambda r: str(r.get(key)) in vals)(name, allowed)
        return out

    def _opportunities(self, q) -> dict:
        org = self.org
        lead_id = self._one(q, "lead_id")
        filters = self._eq_filters(q, ("user_id", "status_id", "status_type", "status_label", "value_period",
                                       "pipeline_id"))
        lead_ids = org.children.get(lead_id, {}).get("opportunities", []) if lead_id else None
        window, desc = self._table_query(q, org.opportunities, [None], filters, ("date_created", False), lead_ids,
                                         (("date_created", "date_updated"), OPPORTUNITY_SORT_KEYS))
        return self._page(q, "opportunity", window, desc, self._opportunity_aggregates(q, window))

    def _opportunity_aggregates(self, q, window: Window) -> dict:
        key = (self.org.version, tuple(sorted((k, tuple(v)) for k, v in q.items()
                                               if k not in ("_skip", "_limit", "_fields"))))
        cached = self._agg_cache.get(key)
        if cached is not None:
            return cached
        recs = window.page(0, 1 << 62, False)
        agg = {"total_results": len(recs)}
        counts = {"one_time": 0, "monthly": 0, "annual": 0}
        totals = {"one_time": 0, "monthly": 0, "annual": 0}
        expected = {"one_time": 0, "monthly": 0, "annual": 0}
        annualized = exp_annualized = 0
        for r in recs:
            period = r.get("value_period") or "one_time"
            counts[period] = counts.get(period, 0) + 1
            totals[period] = totals.get(period, 0) + (r.get("value") or 0)
            expected[period] = expected.get(period, 0) + (r.get("expected_value") or 0)
            annualized += r.get("annualized_value") or 0
            exp_annualized += r.get("annualized_expected_value") or 0
        agg.update({"count_by_value_period": counts,
                    "total_value_one_time": totals["one_time"], "total_value_monthly": totals["monthly"],
                    "total_value_annual": totals["annual"], "total_value_annualized": annualized,
                    "expected_value_one_time": expected["one_time"], "expected_value_monthly": expected["monthly"],
                    "expected_value_annual": expected["annual"], "expected_value_annualized": exp_annualized})
        if len(self._agg_cache) > 256:
            self._agg_cache.clear()
        self._agg_cache[key] = agg
        return agg

    def _tasks(self, q) -> dict:
        org = self.org
        typ = self._one(q, "_type")
        typ_in = self._one(q, "_type__in")
        if typ_in:
            groups = [t for t in typ_in.split(",") if t in TASK_TYPES]
        elif typ == "all":
            groups = [None]
        elif typ:
            groups = [typ] if typ in TASK_TYPES else []
        else:
            groups = ["lead"]
        filters = self._eq_filters(q, ("assigned_to", "contact_id", "id"))
        raw = self._one(q, "is_complete")
        if raw is not None:
            want = raw.lower() in ("true", "1", "yes")
            filters["is_complete"] = lambda r: r.get("is_complete") == want
        view = self._one(q, "view")
        if view in ("inbox", "future", "archive"):
            filters["view"] = lambda r: r.get("view") == view
        lead_id = self._one(q, "lead_id")
        lead_ids = org.children.get(lead_id, {}).get("tasks", []) if lead_id else None
        ids = self._id_list(q)
        if ids is not None:  # only the named tasks are candidates (the id__in filter above still applies)
            ids = list(dict.fromkeys(ids))
            lead_ids = ids if lead_ids is None else [i for i in ids if i in set(lead_ids)]
        if not groups:
            return self._page(q, "task", ListWindow([]), False)
        window, desc = self._table_query(q, org.tasks, groups, filters, ("date_created", False), lead_ids,
                                         (("date_created",), ("date",)))
        return self._page(q, "task", window, desc)

    def _id_list(self, q) -> list[str] | None:
        """``id__in``: the comma-separated ids, or None when the filter is not given."""
        raw = self._one(q, "id__in")
        return None if raw is None else [x for x in raw.split(",") if x]

    def _activity_window(self, q, kind: str, lo: int | None, hi: int | None) -> Window:
        """One type's activities under ``lead_id``, ``id__in`` and (with ``lead_id``) ``user_id``/``contact_id``."""
        store = self.org.activity_stores[kind]
        lead_id = self._one(q, "lead_id")
        ids = self._id_list(q)
        if ids is not None:
            window: Window = store.ids_window(ids, lo, hi, lead_id or None)
        elif lead_id:
            window = store.lead_window(lead_id, lo, hi)
        else:
            return store.window(lo, hi)
        if lead_id:
            filters = self._eq_filters(q, ("user_id", "contact_id"))
            if filters:
                window = ListWindow([r for r in window.page(0, 1 << 62, False) if all(f(r) for f in filters.values())])
        return window

    def _activities(self, q, kind: str) -> dict:
        lo, hi = self._date_bounds(q, "date_created")
        field, desc = self._order(q, ("date_created",), ("date_created", True))
        return self._page(q, "activity", self._activity_window(q, kind, lo, hi), desc)

    def _all_activities(self, q) -> dict:
        """``activity/``: every type merged newest first; costs O(skip + limit), unlike the typed lists."""
        lo, hi = self._date_bounds(q, "date_created")
        skip, limit = self._skip_limit(q, "activity")
        lead_id = self._one(q, "lead_id")
        types = self._one(q, "_type__in") or self._one(q, "_type")
        names = {v.lower(): k for k, v in ACTIVITY_TYPE_NAMES.items()}
        kinds = list(ACTIVITY_KINDS)
        if types:
            kinds = [names[t.lower()] for t in types.split(",") if t.lower() in names]
        ids = self._id_list(q)
        windows = []
        for kind in kinds:
            store = self.org.activity_stores[kind]
            if ids is not None:
                windows.append(store.ids_window(ids, lo, hi, lead_id or None))
            else:
                windows.append(store.lead_window(lead_id, lo, hi) if lead_id else store.window(lo, hi))
        total = sum(w.total() for w in windows)

        def stream(w: Window, rank: int) -> Iterator[tuple]:
            pos, step = 0, 200
            while True:
                chunk = w.page(pos, step, True)
                for r in chunk:
                    yield (r["date_created"], rank, r["id"]), r
                if len(chunk) < step:
                    return
                pos += step

        # parse once per record would be costly; stored strings of one family sort like instants
        merged = heapq.merge(*(stream(w, n) for n, w in enumerate(windows)), key=lambda x: _sort_key(x[0]),
                             reverse=True)
        out = []
        for n, (_, rec) in enumerate(merged):
            if n >= skip + limit:
                break
            if n >= skip:
                out.append(rec)
        return {"data": _project_all(out, _parse_fields(self._one(q, "_fields"))), "has_more": total > skip + limit}

    def _connected_accounts(self, q) -> dict:
        data = self.org.connected_accounts  # ``_type`` is ignored, as by Close
        user_id = self._one(q, "user_id")
        if user_id:
            data = [a for a in data if a["user_id"] == user_id]
        return self._offset_list(q, "connected_account", data)

    # -- events ------------------------------------------------------------------------------------

    def _event_by_id(self, rid: str) -> dict | None:
        ev = self.org.events.get(rid)
        if ev is None or self.org.events.keys[rid][0] < self._event_floor():
            return None
        return self.org.events.view(ev)

    def _event_floor(self) -> int:
        return self.org.event_window_start(self.clock())

    def _events(self, q) -> dict:
        """Cursor paging, newest first by date_updated, 30 days of history."""
        org = self.org
        limit = self._int(q, "_limit", EVENT_DEFAULT_LIMIT)
        self._check_limit(limit, "event")
        lo, hi = self._date_bounds(q, "date_updated")
        floor = self._event_floor()
        lo = floor if lo is None else max(lo, floor)
        if self._one(q, "_skip") is not None:
            raise _bad("The event log does not support _skip: page with _cursor (the cursor_next of the previous page).")
        conds = {k: self._one(q, k) for k in EVENT_FILTERS}
        conds = {k: v for k, v in conds.items() if v}
        unsupported = sorted(k for k in q if k.split("__")[0] in EVENT_FILTERS and "__" in k)
        if unsupported or frozenset(conds) not in EVENT_FILTER_COMBINATIONS:
            named = ", ".join(unsupported or sorted(conds))
            raise _bad(f"Unsupported combination of event filters: {named}. Filter by one of the supported "
                       "combinations (see the event log's documentation), e.g. object_type with action.")
        group = None
        for key in ("object_id", "lead_id", "object_type", "action"):
            if key in conds:
                group = (key, conds[key])
                break
        rest = {k: v for k, v in conds.items() if group is None or k != group[0]}
        after = None
        backwards = False
        raw = self._one(q, "_cursor")
        if raw:
            state = _decode_cursor(raw)
            try:
                backwards = state["d"] == "p"
                after = (int(state["k"][0]), str(state["k"][1]))
            except Exception:
                raise _bad(f"Invalid cursor: {raw}") from None

        def matches(ev: dict) -> bool:
            return all(ev.get(k) == v for k, v in rest.items())

        found: list[tuple[int, str, dict]] = []
        more = False
        for k, rid, ev in org.events.walk("date_updated", group, lo, hi, after, desc=not backwards):
            if not matches(ev):
                continue
            if len(found) == limit:
                more = True
                break
            found.append((k, rid, ev))
        if backwards:
            found.reverse()
        data = [org.events.view(ev) for _, _, ev in found]
        if limit == 0:
            return {"data": [], "cursor_next": None, "cursor_previous": None}
        next_cursor = prev_cursor = None
        if found:
            last, first = found[-1], found[0]
            if (more and not backwards) or backwards:
                next_cursor = _encode_cursor({"d": "n", "k": [last[0], last[1]]})
            if raw and (not backwards or more):
                prev_cursor = _encode_cursor({"d": "p", "k": [first[0], first[1]]})
        return {"data": _project_all(data, _parse_fields(self._one(q, "_fields"))),
                "cursor_next": next_cursor, "cursor_previous": prev_cursor}

    # -- advanced filtering ------------------------------------------------------------------------

    def _search(self, body: bytes | None) -> dict:
        """``POST data/search/`` for leads, contacts, opportunities and custom objects."""
        if not body:
            raise _bad("Please send valid JSON with a 'Content-Type: application/json' header.")
        try:
            req = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _bad("The request contains invalid JSON.") from None
        if not isinstance(req, dict):
            raise _bad("JSON data must be a dict.")
        if "query" not in req or not isinstance(req["query"], dict):
            raise ApiError(400, {"errors": [], "field-errors": {"query": "This field is required."}})
        limit = req.get("_limit", 100)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ApiError(400, {"errors": [], "field-errors": {"_limit": "Must be a non-negative integer."}})
        self._check_limit(limit, "search")
        results_limit = req.get("results_limit")
        cap = SEARCH_WALK_CAP if not isinstance(results_limit, int) else max(0, min(results_limit, SEARCH_WALK_CAP))
        fields_spec = req.get("_fields") or {}
        if not isinstance(fields_spec, dict):
            raise ApiError(400, {"errors": [], "field-errors": {"_fields": "Must be a mapping of object type to fields."}})
        types, pred = self._compile(req["query"])
        types = sorted(types if types is not None else {"lead"}, key=SEARCH_TYPES.index)
        sort_field, desc = self._search_sort(req.get("sort"))
        now = self.clock()
        cursor = req.get("cursor")
        done, after = 0, None
        if cursor:
            if not isinstance(cursor, str):
                raise _bad(f"Invalid cursor: {cursor}")
            state = _decode_cursor(cursor)
            try:
                issued, done, after = float(state["t"]), int(state["n"]), state["k"]
            except Exception:
                raise _bad(f"Invalid cursor: {cursor}") from None
            if now - issued > SEARCH_CURSOR_TTL or now < issued - 1:
                raise _bad("Cursor has expired. Please restart your search.")
        bounds = {t: _search_bounds(req["query"], t, sort_field) for t in types}
        walks = [self._search_walk(t, SEARCH_TYPES.index(t), sort_field, bounds[t], after, desc, pred)
                 for t in types]
        merged = heapq.merge(*walks, reverse=desc)
        budget = min(limit, max(0, cap - done))
        out, last, more = [], None, False
        for key, otype, rec in merged:
            if len(out) >= budget:
                more = True
                break
            out.append(self._search_row(otype, rec, fields_spec))
            last = key
        done += len(out)
        next_cursor = None
        if more and done < cap and last is not None:
            next_cursor = _encode_cursor({"t": now, "n": done, "k": list(last)})
        return {"data": out, "cursor": next_cursor}

    def _search_row(self, otype: str, rec: dict, fields_spec: dict) -> dict:
        row = {"__object_type": otype, "id": rec["id"]}
        fields = _parse_fields(fields_spec.get(otype))
        if fields:
            if otype == "lead":
                rec = self.org.leads.view(rec)
            for k, v in _project(rec, fields).items():
                if k != "id":
                    row[k] = v
        return row

    def _search_sort(self, sort) -> tuple[str, bool]:
        if not sort:
            return "date_created", False
        if not isinstance(sort, list) or not isinstance(sort[0], dict):
            raise _bad(f"Unsupported sort: {orjson.dumps(sort).decode()}")
        first = sort[0]
        field = (first.get("field") or {}).get("field_name")
        direction = first.get("direction", "asc")
        if field not in ("date_created", "date_updated") or direction not in ("asc", "desc"):
            raise _bad(f"Unsupported sort: {orjson.dumps(sort).decode()}")
        return field, direction == "desc"

    def _search_walk(self, otype: str, rank: int, field: str, bounds: tuple, after, desc: bool,
                     pred: Callable[[str, dict], bool]) -> Iterator[tuple]:
        table = {"lead": self.org.leads, "contact": self.org.contacts, "opportunity": self.org.opportunities,
                 **workspace.searchable(self.org)}[otype]
        start = None
        if after is not None:
            us, cur_rank, rid = int(after[0]), int(after[1]), str(after[2])
            if cur_rank == rank:
                start = (us, rid)
            elif rank > cur_rank:
                start = (us, "")  # asc: same-instant records still ahead; desc: already served
            else:
                start = (us, "\U0010ffff")  # asc: already served; desc: still ahead
        for us, rid, rec in table.walk(field, None, bounds[0], bounds[1], start, desc):
            if pred(otype, rec):
                yield (us, rank, rid), otype, rec

    def _compile(self, node) -> tuple[set[str] | None, Callable[[str, dict], bool]]:
        """Query tree -> (object types it can match or None for any, predicate)."""
        if not isinstance(node, dict):
            raise _bad(f"Unsupported query: {orjson.dumps(node).decode()}")
        typ = node.get("type")
        keys = {"lead": self.org.leads.keys, "contact": self.org.contacts.keys,
                "opportunity": self.org.opportunities.keys,
                **{ot: table.keys for ot, table in workspace.searchable(self.org).items()}}
        if typ in ("and", "or"):
            subs = node.get("queries")
            if not isinstance(subs, list):
                raise _bad(f"Unsupported query: {orjson.dumps(node).decode()}")
            compiled = [self._compile(s) for s in subs]
            preds = [p for _, p in compiled]
            sets = [t for t, _ in compiled if t is not None]
            if typ == "and":
                types = set.intersection(*sets) if sets else None
                return types, lambda ot, rec: all(p(ot, rec) for p in preds)
            types = None if any(t is None for t, _ in compiled) or not compiled else set().union(*sets)
            return types, lambda ot, rec: any(p(ot, rec) for p in preds)
        if typ == "match_all":
            return None, lambda ot, rec: True
        if typ == "object_type":
            ot_want = node.get("object_type")
            if ot_want not in SEARCH_TYPES:
                raise _bad(f"Unsupported query: {orjson.dumps(node).decode()}")
            return {ot_want}, lambda ot, rec: ot == ot_want
        if typ == "field_condition":
            field = node.get("field") or {}
            cond = node.get("condition") or {}
            ot_want, name = field.get("object_type"), field.get("field_name")
            if (field.get("type") != "regular_field" or ot_want not in SEARCH_TYPES
                    or name not in ("date_created", "date_updated") or cond.get("type") != "moment_range"):
                raise _bad(f"Unsupported query: {orjson.dumps(node).decode()}")
            lo = _moment(cond.get("on_or_after"), node)
            hi = _moment(cond.get("before"), node)
            pos = 0 if name == "date_created" else 1
            table_keys = keys[ot_want]

            def pred(ot, rec):
                if ot != ot_want:
                    return False
                k = table_keys[rec["id"]][pos]
                return (lo is None or k >= lo) and (hi is None or k < hi)
            return {ot_want}, pred
        raise _bad(f"Unsupported query: {orjson.dumps(node).decode()}")


def _moment(spec, node) -> int | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") not in ("fixed_utc", "fixed_local_date"):
        raise _bad(f"Unsupported query: {orjson.dumps(node).decode()}")
    us = parse_instant(spec.get("value"))
    if us is None:
        raise _bad(f"Unsupported query: {orjson.dumps(node).decode()}")
    if spec["type"] == "fixed_local_date" and spec.get("which") == "end":
        us += 86_400_000_000
    return us


def _search_bounds(node, otype: str, field: str) -> tuple[int | None, int | None]:
    """Range of ``field`` implied for ``otype`` by the conjunctive top of the tree (a walk shortcut)."""
    if not isinstance(node, dict):
        return None, None
    if node.get("type") == "field_condition":
        f = node.get("field") or {}
        if f.get("object_type") == otype and f.get("field_name") == field:
            cond = node.get("condition") or {}
            return _moment(cond.get("on_or_after"), node), _moment(cond.get("before"), node)
        return None, None
    if node.get("type") == "and":
        lo = hi = None
        for sub in node.get("queries") or ():
            a, b = _search_bounds(sub, otype, field)
            if a is not None:
                lo = a if lo is None else max(lo, a)
            if b is not None:
                hi = b if hi is None else min(hi, b)
        return lo, hi
    return None, None


def _sort_key(key: tuple) -> tuple:
    stamp, rank, rid = key
    return (parse_instant(stamp) or 0, rank, rid)
