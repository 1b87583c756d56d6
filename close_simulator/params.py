"""Request parameters and answer shapes shared by every endpoint: Close's error bodies, query parameters
(``_fields``, dates, ``_order_by``, equality and ``__in`` filters), opaque cursors and ``_fields`` projection.
"""

from __future__ import annotations

import base64
from typing import Any, Callable, Mapping

import orjson

from .generator import parse_instant

Query = Mapping[str, list[str]]


class ApiError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body


def bad(message: str) -> ApiError:
    return ApiError(400, {"error": message})


def encode_cursor(obj: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).decode().rstrip("=")


def decode_cursor(text: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except Exception:
        raise bad(f"Invalid cursor: {text}") from None


def parse_fields(raw: str | list | None) -> list[str] | None:
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else str(raw).split(",")
    out = [f.strip() for f in items if isinstance(f, str) and f.strip()]
    return out or None


def project(rec: dict, fields: list[str] | None) -> dict:
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


def project_all(recs: list[dict], fields: list[str] | None) -> list[dict]:
    return recs if fields is None else [project(r, fields) for r in recs]


def one(q: Query, name: str) -> str | None:
    vals = q.get(name)
    if not vals:
        return None
    return vals[0] if isinstance(vals, (list, tuple)) else vals


def integer(q, name: str, default: int) -> int:
    raw = one(q, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise bad(f'{name} must be an integer (got "{raw}" instead).') from None
    if value < 0:
        raise bad(f'{name} must be a non-negative integer (got "{raw}" instead).')
    return value


def date_bounds(q, field: str) -> tuple[int | None, int | None]:
    lo = hi = None
    for op in ("gt", "gte", "lt", "lte"):
        raw = one(q, f"{field}__{op}")
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


def order(q, allowed: tuple[str, ...], default: tuple[str, bool],
          documented: tuple[str, ...] = ()) -> tuple[str, bool]:
    """``_order_by``: a key Close does not document for the endpoint is refused; of the documented ones the
    simulator sorts on its indexed date fields (``allowed``) and serves the others in the default order."""
    raw = one(q, "_order_by")
    if not raw:
        return default
    desc = raw.startswith("-")
    name = raw[1:] if desc else raw
    if name not in allowed:
        if name in documented:
            return default
        raise bad(f"Invalid _order_by value: {raw!r}. This resource can be sorted by "
                   f"{', '.join(sorted(set(allowed) | set(documented)))} (prefix - for descending).")
    return name, desc


def eq_filters(q, names: tuple[str, ...]) -> dict[str, Callable[[dict], bool]]:
    out = {}
    for name in names:
        raw = one(q, name)
        if raw is not None:
            out[name] = (lambda key, val: lambda r: str(r.get(key)) == val)(name, raw)
        raw_in = one(q, name + "__in")
        if raw_in is not None:
            allowed = set(raw_in.split(","))
            out[name + "__in"] = (lambda key, vals: lambda r: str(r.get(key)) in vals)(name, allowed)
    return out


def id_list(q) -> list[str] | None:
    """``id__in``: the comma-separated ids, or None when the filter is not given."""
    raw = one(q, "id__in")
    return None if raw is None else [x for x in raw.split(",") if x]
