"""``requests.Response`` objects shaped like Close's list pages, and a list that serves them the way Close pages a
date window by the cursor's value: for the paginators and the extractor, without a server.

``keyset_overlap`` is the overlap rule of ``KeysetPagination``, stated once for the tests: the next page starts
at the last instant read and reads again half a page of the rows of that instant (at least one, at most the rows
of that instant read so far), which ``PageRows`` drops by id.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence

import requests

URL = "https://api.close.com/api/v1/activity/email/"


def keyset_overlap(run: int, page_size: int) -> int:
    """Rows of the last instant that the next keyset page reads again, after ``run`` rows of that instant."""
    return min(run, max(1, page_size // 2))


def close_page(rows: Sequence[Mapping[str, Any]], has_more: bool, params: Optional[Mapping[str, Any]] = None,
               url: str = URL) -> requests.Response:
    """A 200 answer of a Close list, ``{"data": rows, "has_more": has_more}``, to a GET of ``url`` with ``params``."""
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps({"data": list(rows), "has_more": has_more}).encode()
    response.headers["Content-Type"] = "application/json"
    response.request = requests.Request("GET", url, params=dict(params or {})).prepare()
    response.url = response.request.url
    return response


def instant(value: str, precision: str = "microsecond") -> datetime:
    moment = datetime.fromisoformat(value)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.replace(second=0, microsecond=0) if precision == "minute" else moment


class KeysetList:
    """One date window of a Close list, sorted by ``field`` (then id), filtered with ``field >= after`` compared at
    ``precision`` (Close's lead query compares minutes), ``_skip`` rows passed, ``_limit`` rows served."""

    def __init__(self, rows: List[Dict[str, Any]], field: str, precision: str = "microsecond"):
        self.rows = sorted(rows, key=lambda r: (instant(r[field]), r["id"]))
        self.field = field
        self.precision = precision
        self.requests: List[Dict[str, Any]] = []

    def page(self, token: Optional[Mapping[str, Any]], limit: int) -> requests.Response:
        """The answer to the request a page token (None: the window's first page) makes."""
        params: Dict[str, Any] = {"_limit": limit, "_skip": "" if token is None else token["skip"]}
        rows = self.rows
        if token is not None:
            params[f"{self.field}__gte"] = token["after"]
            floor = instant(token["after"], self.precision)
            rows = [r for r in rows if instant(r[self.field], self.precision) >= floor]
        skip = int(params["_skip"] or 0)
        self.requests.append(params)
        return close_page(rows[skip:skip + limit], has_more=len(rows) > skip + limit, params=params)
