"""Traffic statistics of the HTTP front end: counts per endpoint group and path, the last requests of each path,
a histogram per second of arrival (``GET /_simulator/stats``, ``Simulator.stats()``; layout in the README)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs

import orjson


class Counter:
    """Request counters for one scope (everything, one endpoint group, or one endpoint path)."""

    __slots__ = ("requests", "status", "rate_limited", "faults", "in_flight", "peak_concurrency")

    def __init__(self) -> None:
        self.requests = 0
        self.status: dict[int, int] = {}
        self.rate_limited = 0
        self.faults: dict[str, int] = {}
        self.in_flight = 0
        self.peak_concurrency = 0

    def begin(self) -> None:
        self.requests += 1
        self.in_flight += 1
        if self.in_flight > self.peak_concurrency:
            self.peak_concurrency = self.in_flight

    def end(self, status: int, fault: str | None) -> None:
        self.in_flight -= 1
        self.status[status] = self.status.get(status, 0) + 1
        if status == 429:
            self.rate_limited += 1
        if fault is not None:
            self.faults[fault] = self.faults.get(fault, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "status": {str(code): n for code, n in sorted(self.status.items())},
            "429": self.rate_limited,
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "peak_concurrency": self.peak_concurrency,
        }


class PathStats(Counter):
    """Counters of one endpoint path plus the last requests made to it (what filters were sent)."""

    __slots__ = ("group", "recent")

    def __init__(self, group: str, recent_limit: int):
        super().__init__()
        self.group = group
        self.recent: deque = deque(maxlen=recent_limit)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["group"] = self.group
        out["recent"] = [_recent_entry(*entry) for entry in self.recent]
        return out


def _recent_entry(t: float, method: str, query: str, body: bytes | None, status: int, fault: str | None):
    """Decode a recorded request only when stats are read, keeping the hot path cheap."""
    decoded: Any = None
    if body:
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            decoded = body.decode("utf-8", "replace")
    return {
        "t": t,
        "method": method,
        "query": query,
        "params": parse_qs(query, keep_blank_values=True),
        "body": decoded,
        "status": status,
        "fault": fault,
    }


class Stats:
    """Everything a test may want to assert about the traffic it caused.

    ``per_second`` is a histogram keyed by the integer Unix second of each request's *arrival*:
    ``[requests, 429s]``, so a test can check that no one-second window saw more than N requests.
    """

    def __init__(self, recent_limit: int = 50):
        self.recent_limit = recent_limit
        self.reset()

    def reset(self) -> None:
        self.started = time.time()
        self.total = Counter()
        self.paths: dict[str, PathStats] = {}
        self.groups: dict[str, Counter] = {}
        self.per_second: dict[int, list[int]] = {}
        self.limits: dict[str, int] = {}  # group -> the limit its answers report (per window, or per second)

    def begin(self, path: str, group: str, now: float) -> tuple[PathStats, Counter, list[int]]:
        scope = self.paths.get(path)
        if scope is None:
            scope = self.paths[path] = PathStats(group, self.recent_limit)
        group_scope = self.groups.get(group)
        if group_scope is None:
            group_scope = self.groups[group] = Counter()
        second = self.per_second.get(int(now))
        if second is None:
            second = self.per_second[int(now)] = [0, 0]
        second[0] += 1
        self.total.begin()
        scope.begin()
        group_scope.begin()
        return scope, group_scope, second

    def snapshot(self) -> dict[str, Any]:
        total = self.total.to_dict()
        return {
            "started_at": self.started,
            "uptime_s": round(time.time() - self.started, 3),
            "totals": total,
            "groups": {name: c.to_dict() for name, c in sorted(self.groups.items())},
            "limits": dict(sorted(self.limits.items())),
            "paths": {name: p.to_dict() for name, p in sorted(self.paths.items())},
            "per_second": [
                {"second": second, "requests": counts[0], "429": counts[1]}
                for second, counts in sorted(self.per_second.items())
            ],
        }
