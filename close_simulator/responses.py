"""Close API v1 semantics on top of the organisation model: filters, paging, caps, error bodies.

``CloseAPI.handle`` maps one request (method, path under ``/api/v1/``, query params, raw body) to an HTTP status
and a JSON-serialisable body: ``routes.API_ROUTES`` says which handler answers a path, the handlers here (and in
``EventLog``, ``search.Search`` and ``workspace.WorkspaceAPI``) answer it. There is no HTTP code here; bad input is
answered with Close-style 400/404 bodies instead of exceptions. Paging reads the model's sorted indexes, so a page
costs O(page + log n) whatever its offset.
"""

from __future__ import annotations

import heapq
import re
import time
from typing import Any, Callable, Iterator, Mapping

from . import workspace
from .generator import MINUTE, parse_instant
from .models import ACTIVITY_KINDS, ACTIVITY_TYPE_NAMES, TASK_TYPES, ListWindow, MergedWindow, Organization, Table, Window
from .params import (
    ApiError, bad, date_bounds, decode_cursor, encode_cursor, eq_filters, id_list, integer, one, order, parse_fields,
    project, project_all,
)
from .routes import API_ROUTES, Router
from .search import SEARCH_CURSOR_TTL, Search

DEFAULT_MAX_SKIP = 250_000
DEFAULT_LIMIT = 100
MAX_LIMITS = {"lead": 200, "opportunity": 250, "task": 1000, "user": 1000, "custom_field": 1000,
              "custom_fields": 1000, "sequence": 1000, "event": 50, "search": 200}
EVENT_DEFAULT_LIMIT = 50
CURSOR_PAGE = 100  # role/ and saved_search/

NOT_FOUND = (404, {"error": "Not found"})
METHOD_NOT_ALLOWED = (405, {"error": "Method not allowed"})


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
            raise bad(f'Invalid query: "{query}"')
        pos = m.end()
        if m.group("sort"):
            name = m.group("sort")
            sort = ("date_updated" if "updated" in name else "date_created", bool(m.group("desc")))
            continue
        field = "date_updated" if "updated" in m.group("field") else "date_created"
        value = m.group("dq") if m.group("dq") is not None else (m.group("sq") if m.group("sq") is not None else m.group("bare"))
        us = parse_instant(value)
        if us is None:
            raise bad(f'Invalid query: "{query}"')
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



def _sort_key(key: tuple) -> tuple:
    stamp, rank, rid = key
    return (parse_instant(stamp) or 0, rank, rid)


class CloseAPI:
    """Close's REST semantics for one organisation (see the module docstring)."""

    def __init__(self, org: Organization, max_skip: int | None = None,
                 max_limit: dict[str, int] | None = None, clock: Callable[[], float] = time.time,
                 search_cursor_ttl_s: float = SEARCH_CURSOR_TTL):
        self.org = org
        self.max_skip = max_skip
        self.search_cursor_ttl_s = search_cursor_ttl_s
        self.max_limit = dict(max_limit or {})
        self.clock = clock
        self._agg_cache: dict[Any, dict] = {}
        self.events = EventLog(self)
        self.search = Search(self)
        self.workspace = workspace.WorkspaceAPI(self)
        self.router = Router(API_ROUTES, self)

    # -- dispatch ----------------------------------------------------------------------------------

    def endpoint_group(self, method: str, path: str) -> str:
        """Rate-limit bucket of a request: ``search``, ``me`` or the first path segment."""
        p = path.strip("/")
        if p.startswith("data/search"):
            return "search"
        first = p.split("/", 1)[0]
        return first or "root"

    def handle(self, method: str, path: str, params: Mapping[str, list[str]], body: bytes | None,
               ) -> tuple[int, Any]:
        parts = [x for x in path.split("/") if x]
        if not parts:
            return NOT_FOUND
        status, route, handler, kwargs = self.router.resolve(method.upper(), "/".join(parts) + "/")
        if handler is None:
            return NOT_FOUND if status == 404 else METHOD_NOT_ALLOWED
        if route.body:
            kwargs["body"] = body
        try:
            return 200, handler(params, **kwargs)
        except ApiError as e:
            return e.status, e.body

    # -- caps and envelopes ------------------------------------------------------------------------

    def _limit_cap(self, resource: str) -> int:
        return self.max_limit.get(resource, MAX_LIMITS.get(resource, DEFAULT_LIMIT))

    def _skip_cap(self, resource: str) -> int:
        return DEFAULT_MAX_SKIP if self.max_skip is None else int(self.max_skip)

    def check_limit(self, limit: int, resource: str) -> None:
        cap = self._limit_cap(resource)
        if limit > cap:
            raise bad(f"The limit you set is larger than the maximum limit for this resource (max_limit = {cap}).")

    def _skip_limit(self, q, resource: str, default_limit: int = DEFAULT_LIMIT) -> tuple[int, int]:
        skip = integer(q, "_skip", 0)
        limit = integer(q, "_limit", default_limit)
        self.check_limit(limit, resource)
        cap = self._skip_cap(resource)
        if skip > cap:
            raise bad(f"The skip you set is larger than the maximum skip for this resource (max_skip = {cap}).\n"
                       "Please refine your search query.")
        return skip, limit

    def page(self, q, resource: str, window: Window, desc: bool, extra: dict | None = None,
             default_limit: int = DEFAULT_LIMIT) -> dict:
        skip, limit = self._skip_limit(q, resource, default_limit)
        total = window.total()
        recs = window.page(skip, limit, desc) if limit and skip < total else []
        out = {"data": project_all(recs, parse_fields(one(q, "_fields"))), "has_more": total > skip + limit}
        if extra:
            out.update(extra)
        return out

    def offset_list(self, q, resource: str, records: list[dict]) -> dict:
        return self.page(q, resource, ListWindow(records), False)

    def unpaged(self, q, records: list[dict]) -> dict:
        return {"data": project_all(list(records), parse_fields(one(q, "_fields"))), "has_more": False}

    def cursor_list(self, q, records: list[dict]) -> dict:
        """role/ and saved_search/: 100 per page behind an opaque ``_cursor`` (``_skip``/``_limit`` also work)."""
        raw = one(q, "_cursor")
        if raw:
            state = decode_cursor(raw)
            if not isinstance(state, dict) or not isinstance(state.get("o"), int):
                raise bad(f"Invalid cursor: {raw}")
            start = state["o"]
        else:
            start = integer(q, "_skip", 0)
        limit = integer(q, "_limit", CURSOR_PAGE)
        self.check_limit(limit, "saved_search")
        page = records[start:start + limit]
        nxt = start + limit if start + limit < len(records) else None
        return {"data": project_all(page, parse_fields(one(q, "_fields"))),
                "cursor_next": encode_cursor({"o": nxt}) if nxt is not None else None}

    def single(self, q, rec: dict | None, model: str) -> dict:
        """A single-object endpoint: the record (``_fields`` applies) or Close's 404."""
        if rec is None:
            raise ApiError(404, {"error": f"Empty query: {model} matching query does not exist."})
        return project(rec, parse_fields(one(q, "_fields")))

    # -- settings ----------------------------------------------------------------------------------

    def unpaged_setting(self, q, records: str) -> dict:
        return self.unpaged(q, getattr(self.org, records))

    def cursor_setting(self, q, records: str) -> dict:
        return self.cursor_list(q, getattr(self.org, records))

    def settings_list(self, q, head: str) -> dict:
        return self.offset_list(q, head, self._settings_records(head, q))

    def _settings_records(self, head: str, q) -> list[dict]:
        data = getattr(self.org, {"email_template": "email_templates", "sequence": "sequences",
                                  "dialer": "dialer_sessions"}[head])
        if head == "email_template":
            for flag in ("is_archived", "is_shared"):
                raw = one(q, flag)
                if raw is not None:
                    want = raw.lower() in ("true", "1", "yes")
                    data = [r for r in data if r.get(flag) == want]
        if head == "dialer":
            for key in ("status", "user_id", "source_type", "source_value"):
                raw = one(q, key)
                if raw is not None:
                    data = [r for r in data if r.get(key) == raw]
        return data

    def users(self, q) -> dict:
        return self.offset_list(q, "user", self.org.users)

    def user(self, q, id: str) -> dict:
        return self.single(q, self.org.user_by_id.get(id), "User")

    def me(self, q) -> dict:
        org = self.org
        me = dict(org.me)
        me["organizations"] = [{"id": org.organization_id, "name": org.organization_name,
                                "date_created": org.users[0]["date_created"]}]
        me["memberships"] = [{"id": "memb_" + org.me["id"][5:], "organization_id": org.organization_id,
                              "user_id": me["id"], "role_id": "admin"}]
        me["email_accounts"] = []
        me["phone_numbers"] = []
        return me

    def organization(self, q, id: str) -> dict:
        return self.single(q, self._organization() if id == self.org.organization_id else None, "Organization")

    def _organization(self) -> dict:
        org = self.org
        return {"id": org.organization_id, "name": org.organization_name,
                "memberships": org.workspace.memberships,
                "inactive_memberships": [], "lead_statuses": org.lead_statuses, "pipelines": org.pipelines,
                "date_created": org.users[0]["date_created"], "date_updated": org.users[0]["date_updated"]}

    def custom_fields(self, q, obj: str) -> dict:
        return self.offset_list(q, "custom_field", self.org.custom_field_list(obj))

    def custom_field(self, q, obj: str, id: str) -> dict:
        return self.single(q, next((d for d in self.org.custom_field_list(obj) if d["id"] == id), None), "CustomField")

    def custom_field_schema(self, q, obj: str) -> dict:
        return {"fields": self.org.custom_field_list(obj)}

    def connected_accounts(self, q) -> dict:
        data = self.org.connected_accounts  # ``_type`` is ignored, as by Close
        user_id = one(q, "user_id")
        if user_id:
            data = [a for a in data if a["user_id"] == user_id]
        return self.offset_list(q, "connected_account", data)

    def bulk_actions(self, q, kind: str) -> dict:
        return self.offset_list(q, "bulk_action", self.org.bulk_actions[kind])

    # -- leads, contacts, opportunities, tasks -----------------------------------------------------

    def leads(self, q) -> dict:
        org = self.org
        bounds = {"date_updated": [None, None], "date_created": [None, None]}
        sort = None
        query = one(q, "query")
        if query:
            bounds, sort = _parse_lead_query(query)
        if sort is None:
            field, desc = order(q, ("date_created", "date_updated"), ("date_created", False))
        else:
            field, desc = sort
        if bounds["date_updated"] != [None, None] and sort is None and one(q, "_order_by") is None:
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
        return self.page(q, "lead", window, desc, {"total_results": window.total()})

    def lead(self, q, id: str) -> dict:
        return self.single(q, self.org.find("lead", id), "Lead")

    def contacts(self, q) -> dict:
        org = self.org
        lead_id = one(q, "lead_id")
        field, desc = order(q, ("date_created", "date_updated"), ("date_created", False))
        if lead_id:
            ids = org.children.get(lead_id, {}).get("contacts", [])
            recs = [org.contacts.records[c] for c in ids if c in org.contacts.records]
            recs.sort(key=lambda r: (org.contacts.keys[r["id"]][0 if field == "date_created" else 1], r["id"]))
            return self.page(q, "contact", ListWindow(recs), desc)
        return self.page(q, "contact", org.contacts.window(field), desc)

    def contact(self, q, id: str) -> dict:
        return self.single(q, self.org.contacts.get(id), "Contact")

    def _table_query(self, q, table: Table, groups: list, filters: dict[str, Callable[[dict], bool]],
                     default: tuple[str, bool], lead_ids: list[str] | None = None,
                     sort_keys: tuple[tuple[str, ...], tuple[str, ...]] = (("date_created", "date_updated"), ()),
                     ) -> tuple[Window, bool]:
        """Window over a classic table: date filters on both fields, ``_order_by`` (``sort_keys``: the indexed and
        the other documented keys), simple equality filters."""
        field, desc = order(q, sort_keys[0], default, sort_keys[1])
        b = {f: date_bounds(q, f) for f in ("date_created", "date_updated")}
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

    def opportunities(self, q) -> dict:
        org = self.org
        lead_id = one(q, "lead_id")
        filters = eq_filters(q, ("user_id", "status_id", "status_type", "status_label", "value_period",
                                       "pipeline_id"))
        lead_ids = org.children.get(lead_id, {}).get("opportunities", []) if lead_id else None
        window, desc = self._table_query(q, org.opportunities, [None], filters, ("date_created", False), lead_ids,
                                         (("date_created", "date_updated"), OPPORTUNITY_SORT_KEYS))
        return self.page(q, "opportunity", window, desc, self._opportunity_aggregates(q, window))

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

    def opportunity(self, q, id: str) -> dict:
        return self.single(q, self.org.opportunities.get(id), "Opportunity")

    def tasks(self, q) -> dict:
        org = self.org
        typ = one(q, "_type")
        typ_in = one(q, "_type__in")
        if typ_in:
            groups = [t for t in typ_in.split(",") if t in TASK_TYPES]
        elif typ == "all":
            groups = [None]
        elif typ:
            groups = [typ] if typ in TASK_TYPES else []
        else:
            groups = ["lead"]
        filters = eq_filters(q, ("assigned_to", "contact_id", "id"))
        raw = one(q, "is_complete")
        if raw is not None:
            want = raw.lower() in ("true", "1", "yes")
            filters["is_complete"] = lambda r: r.get("is_complete") == want
        view = one(q, "view")
        if view in ("inbox", "future", "archive"):
            filters["view"] = lambda r: r.get("view") == view
        lead_id = one(q, "lead_id")
        lead_ids = org.children.get(lead_id, {}).get("tasks", []) if lead_id else None
        ids = id_list(q)
        if ids is not None:  # only the named tasks are candidates (the id__in filter above still applies)
            ids = list(dict.fromkeys(ids))
            lead_ids = ids if lead_ids is None else [i for i in ids if i in set(lead_ids)]
        if not groups:
            return self.page(q, "task", ListWindow([]), False)
        window, desc = self._table_query(q, org.tasks, groups, filters, ("date_created", False), lead_ids,
                                         (("date_created",), ("date",)))
        return self.page(q, "task", window, desc)

    def task(self, q, id: str) -> dict:
        return self.single(q, self.org.tasks.get(id), "Task")

    # -- activities --------------------------------------------------------------------------------

    def _activity_window(self, q, kind: str, lo: int | None, hi: int | None) -> Window:
        """One type's activities under ``lead_id``, ``id__in`` and (with ``lead_id``) ``user_id``/``contact_id``."""
        store = self.org.activity_stores[kind]
        lead_id = one(q, "lead_id")
        ids = id_list(q)
        if ids is not None:
            window: Window = store.ids_window(ids, lo, hi, lead_id or None)
        elif lead_id:
            window = store.lead_window(lead_id, lo, hi)
        else:
            return store.window(lo, hi)
        if lead_id:
            filters = eq_filters(q, ("user_id", "contact_id"))
            if filters:
                window = ListWindow([r for r in window.page(0, 1 << 62, False) if all(f(r) for f in filters.values())])
        return window

    def activities(self, q, kind: str) -> dict:
        lo, hi = date_bounds(q, "date_created")
        field, desc = order(q, ("date_created",), ("date_created", True))
        return self.page(q, "activity", self._activity_window(q, kind, lo, hi), desc)

    def activity_of_kind(self, q, kind: str, id: str) -> dict:
        return self.single(q, self.org.activity_stores[kind].get(id), "Activity")

    def activity(self, q, id: str) -> dict:
        return self.single(q, self.org.find("activity", id), "Activity")

    def all_activities(self, q) -> dict:
        """``activity/``: every type merged newest first; costs O(skip + limit), unlike the typed lists."""
        lo, hi = date_bounds(q, "date_created")
        skip, limit = self._skip_limit(q, "activity")
        lead_id = one(q, "lead_id")
        types = one(q, "_type__in") or one(q, "_type")
        names = {v.lower(): k for k, v in ACTIVITY_TYPE_NAMES.items()}
        kinds = list(ACTIVITY_KINDS)
        if types:
            kinds = [names[t.lower()] for t in types.split(",") if t.lower() in names]
        ids = id_list(q)
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
        return {"data": project_all(out, parse_fields(one(q, "_fields"))), "has_more": total > skip + limit}


class EventLog:
    """``event/``: cursor paging, newest first by ``date_updated``, 30 days of history, Close's filter rules."""

    def __init__(self, api: CloseAPI):
        self.api = api
        self.org = api.org

    def list(self, q) -> dict:
        org = self.org
        limit = integer(q, "_limit", EVENT_DEFAULT_LIMIT)
        self.api.check_limit(limit, "event")
        lo, hi = date_bounds(q, "date_updated")
        floor = self._event_floor()
        lo = floor if lo is None else max(lo, floor)
        if one(q, "_skip") is not None:
            raise bad("The event log does not support _skip: page with _cursor (the cursor_next of the previous page).")
        conds = {k: one(q, k) for k in EVENT_FILTERS}
        conds = {k: v for k, v in conds.items() if v}
        unsupported = sorted(k for k in q if k.split("__")[0] in EVENT_FILTERS and "__" in k)
        if unsupported or frozenset(conds) not in EVENT_FILTER_COMBINATIONS:
            named = ", ".join(unsupported or sorted(conds))
            raise bad(f"Unsupported combination of event filters: {named}. Filter by one of the supported "
                       "combinations (see the event log's documentation), e.g. object_type with action.")
        group = None
        for key in ("object_id", "lead_id", "object_type", "action"):
            if key in conds:
                group = (key, conds[key])
                break
        rest = {k: v for k, v in conds.items() if group is None or k != group[0]}
        after = None
        backwards = False
        raw = one(q, "_cursor")
        if raw:
            state = decode_cursor(raw)
            try:
                backwards = state["d"] == "p"
                after = (int(state["k"][0]), str(state["k"][1]))
            except Exception:
                raise bad(f"Invalid cursor: {raw}") from None

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
                next_cursor = encode_cursor({"d": "n", "k": [last[0], last[1]]})
            if raw and (not backwards or more):
                prev_cursor = encode_cursor({"d": "p", "k": [first[0], first[1]]})
        return {"data": project_all(data, parse_fields(one(q, "_fields"))),
                "cursor_next": next_cursor, "cursor_previous": prev_cursor}

    def _event_by_id(self, rid: str) -> dict | None:
        ev = self.org.events.get(rid)
        if ev is None or self.org.events.keys[rid][0] < self._event_floor():
            return None
        return self.org.events.view(ev)

    def _event_floor(self) -> int:
        return self.org.event_window_start(self.api.clock())

    def one(self, q, id: str) -> dict:
        return self.api.single(q, self._event_by_id(id), "Event")
