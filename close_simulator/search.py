"""Advanced Filtering: ``POST data/search/`` over leads, contacts, opportunities and custom objects.

Close's query tree (``and``/``or``, ``object_type``, ``match_all`` and ``moment_range`` conditions on
``date_created``/``date_updated``), its sorts on those two fields, cursors that expire after 30 seconds and the
10,000-result walk cap. Results hold ``__object_type`` and ``id`` plus what ``_fields`` names.
"""

from __future__ import annotations

import heapq
from typing import Callable, Iterator

import orjson

from . import workspace
from .generator import parse_instant
from .params import ApiError, bad, decode_cursor, encode_cursor, parse_fields, project

SEARCH_CURSOR_TTL = 30.0
SEARCH_WALK_CAP = 10_000
SEARCH_TYPES = ("lead", "contact", "opportunity", "custom_object")


class Search:
    """``data/search/`` for one ``CloseAPI`` (its organisation, clock and limit caps)."""

    def __init__(self, api):
        self.api = api
        self.org = api.org

    def run(self, q, body: bytes | None) -> dict:
        """``POST data/search/`` for leads, contacts, opportunities and custom objects."""
        if not body:
            raise bad("Please send valid JSON with a 'Content-Type: application/json' header.")
        try:
            req = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise bad("The request contains invalid JSON.") from None
        if not isinstance(req, dict):
            raise bad("JSON data must be a dict.")
        if "query" not in req or not isinstance(req["query"], dict):
            raise ApiError(400, {"errors": [], "field-errors": {"query": "This field is required."}})
        limit = req.get("_limit", 100)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ApiError(400, {"errors": [], "field-errors": {"_limit": "Must be a non-negative integer."}})
        self.api.check_limit(limit, "search")
        results_limit = req.get("results_limit")
        cap = SEARCH_WALK_CAP if not isinstance(results_limit, int) else max(0, min(results_limit, SEARCH_WALK_CAP))
        fields_spec = req.get("_fields") or {}
        if not isinstance(fields_spec, dict):
            raise ApiError(400, {"errors": [], "field-errors": {"_fields": "Must be a mapping of object type to fields."}})
        types, pred = self._compile(req["query"])
        types = sorted(types if types is not None else {"lead"}, key=SEARCH_TYPES.index)
        sort_field, desc = self._sort(req.get("sort"))
        now = self.api.clock()
        cursor = req.get("cursor")
        done, after = 0, None
        if cursor:
            if not isinstance(cursor, str):
                raise bad(f"Invalid cursor: {cursor}")
            state = decode_cursor(cursor)
            try:
                issued, done, after = float(state["t"]), int(state["n"]), state["k"]
            except Exception:
                raise bad(f"Invalid cursor: {cursor}") from None
            if now - issued > self.api.search_cursor_ttl_s or now < issued - 1:
                raise bad("Cursor has expired. Please restart your search.")
        bounds = {t: _search_bounds(req["query"], t, sort_field) for t in types}
        walks = [self._walk(t, SEARCH_TYPES.index(t), sort_field, bounds[t], after, desc, pred)
                 for t in types]
        merged = heapq.merge(*walks, reverse=desc)
        budget = min(limit, max(0, cap - done))
        out, last, more = [], None, False
        for key, otype, rec in merged:
            if len(out) >= budget:
                more = True
                break
            out.append(self._row(otype, rec, fields_spec))
            last = key
        done += len(out)
        next_cursor = None
        if more and done < cap and last is not None:
            next_cursor = encode_cursor({"t": now, "n": done, "k": list(last)})
        return {"data": out, "cursor": next_cursor}

    def _row(self, otype: str, rec: dict, fields_spec: dict) -> dict:
        row = {"__object_type": otype, "id": rec["id"]}
        fields = parse_fields(fields_spec.get(otype))
        if fields:
            if otype == "lead":
                rec = self.org.leads.view(rec)
            for k, v in project(rec, fields).items():
                if k != "id":
                    row[k] = v
        return row

    def _sort(self, sort) -> tuple[str, bool]:
        if not sort:
            return "date_created", False
        if not isinstance(sort, list) or not isinstance(sort[0], dict):
            raise bad(f"Unsupported sort: {orjson.dumps(sort).decode()}")
        first = sort[0]
        field = (first.get("field") or {}).get("field_name")
        direction = first.get("direction", "asc")
        if field not in ("date_created", "date_updated") or direction not in ("asc", "desc"):
            raise bad(f"Unsupported sort: {orjson.dumps(sort).decode()}")
        return field, direction == "desc"

    def _walk(self, otype: str, rank: int, field: str, bounds: tuple, after, desc: bool,
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
            raise bad(f"Unsupported query: {orjson.dumps(node).decode()}")
        typ = node.get("type")
        keys = {"lead": self.org.leads.keys, "contact": self.org.contacts.keys,
                "opportunity": self.org.opportunities.keys,
                **{ot: table.keys for ot, table in workspace.searchable(self.org).items()}}
        if typ in ("and", "or"):
            subs = node.get("queries")
            if not isinstance(subs, list):
                raise bad(f"Unsupported query: {orjson.dumps(node).decode()}")
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
                raise bad(f"Unsupported query: {orjson.dumps(node).decode()}")
            return {ot_want}, lambda ot, rec: ot == ot_want
        if typ == "field_condition":
            field = node.get("field") or {}
            cond = node.get("condition") or {}
            ot_want, name = field.get("object_type"), field.get("field_name")
            if (field.get("type") != "regular_field" or ot_want not in SEARCH_TYPES
                    or name not in ("date_created", "date_updated") or cond.get("type") != "moment_range"):
                raise bad(f"Unsupported query: {orjson.dumps(node).decode()}")
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
        raise bad(f"Unsupported query: {orjson.dumps(node).decode()}")


def _moment(spec, node) -> int | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") not in ("fixed_utc", "fixed_local_date"):
        raise bad(f"Unsupported query: {orjson.dumps(node).decode()}")
    us = parse_instant(spec.get("value"))
    if us is None:
        raise bad(f"Unsupported query: {orjson.dumps(node).decode()}")
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
