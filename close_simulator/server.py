"""The simulator's HTTP front end: routes, auth, rate limits, faults, latency, stats, control.

Everything that is about *HTTP* lives here; everything that is about *Close's data and API
semantics* lives in ``CloseAPI.handle`` (``responses.py``), which this module calls with the
method, the path relative to ``/api/v1/``, the parsed query and the raw body.

One request to ``/api/v1/<path>`` goes through these steps, in this order, because that is the
order in which the real service can fail a request:

1. stats: count the arrival (timestamp, concurrency);
2. auth: HTTP Basic, API key as user name → 401 ``{"error": "Unauthorized"}`` if absent or unknown;
3. rate limit: one token from the (key, endpoint group) bucket and the organisation's bucket
   → 429 if either is empty. Every response from here on carries the ``RateLimit`` header;
4. permissions: a restricted key gets 403 on its forbidden path prefixes;
5. faults: an injected failure may replace or mangle the answer (the data never changes);
6. latency: ``asyncio.sleep`` so a slow answer never holds up the others;
7. ``CloseAPI.handle`` → JSON via orjson.

Control endpoints live under ``/_simulator/`` (no auth, no rate limit, no faults, not counted).
All state is touched only on the event loop's thread, so handlers need no locks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import random
import socket
import time
from collections import deque
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from .faults import ERROR_MESSAGES, FaultInjector, FaultRule
from .ratelimit import HEADER_STYLES, Decision, Grouping, RateLimiter, WindowLimiter, rate_limit_headers, reset_value
from .routes import CONTROL_ROUTES

log = logging.getLogger("close_simulator")

API_PREFIX = "/api/v1/"
CONTROL_PREFIX = "/_simulator/"
JSON = "application/json"
UNAUTHORIZED = orjson.dumps({"error": "Unauthorized"})
INVALID_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)
DEFAULT_RESTRICTED_PREFIXES = ("send_as/", "event/", "custom_field/")


@dataclass
class Options:
    """Behaviour switches that can change at runtime (``configure``); see the README for each."""

    rps: float | None = 20
    org_rps: float | None = 60
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fractional_reset: bool = False
    legacy_429_body: bool = False
    header_style: str = "standard"
    restricted_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra_keys: tuple[str, ...] = ()
    recent_limit: int = 50
    # Close's windows (``window_s`` set): ``window_limit`` requests per window per key and group (default
    # ``rps * window_s``), three times as many per organisation (``org_rps / rps`` times when both are set);
    # ``group_limits`` {group: limit} for groups with limits of their own; ``grouping``: see ``Grouping``.
    window_s: float | None = None
    window_limit: int | None = None
    group_limits: dict[str, int] = field(default_factory=dict)
    grouping: Any = "close"

    def validate(self) -> None:
        if self.header_style not in HEADER_STYLES:
            raise ValueError(f"header_style must be one of {HEADER_STYLES}, got {self.header_style!r}")
        for name in ("rps", "org_rps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, got {value}")
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError("latency_ms and jitter_ms must not be negative")
        if self.window_s is not None and self.window_s <= 0:
            raise ValueError(f"window_s must be positive or None, got {self.window_s}")
        if self.window_limit is not None and self.window_limit < 1:
            raise ValueError(f"window_limit must be at least 1, got {self.window_limit}")
        if any(int(n) < 1 for n in self.group_limits.values()):
            raise ValueError(f"every group limit must be at least 1, got {self.group_limits}")
        Grouping(self.grouping)


def parse_restricted_keys(value: Any) -> dict[str, tuple[str, ...]]:
    """Normalise restricted keys: ``{key: [prefix, ...]}`` or ``["KEY:prefix,prefix", ...]``."""
    if not value:
        return {}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        items = value.items()
    else:
        items = []
        for spec in value:
            key, _, prefixes = spec.partition(":")
            items.append((key, prefixes.split(",") if prefixes else DEFAULT_RESTRICTED_PREFIXES))
    out = {}
    for key, prefixes in items:
        if isinstance(prefixes, str):
            prefixes = prefixes.split(",")
        out[str(key)] = tuple(p.strip().lstrip("/") for p in prefixes if p.strip())
    return out


# --- stats --------------------------------------------------------------------------------


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


# --- the server ----------------------------------------------------------------------------


class SimulatorServer:
    """One simulated Close organisation behind an aiohttp application.

    ``organization_cls`` / ``api_cls`` default to the real ground truth (``models.Organization``)
    and API semantics (``responses.CloseAPI``); they are parameters so the HTTP layer can be
    exercised on its own.
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        scale: str = "small",
        anchor: Any = None,
        max_skip: int | None = None,
        max_limit: dict[str, int] | None = None,
        faults: Iterable[str | dict | FaultRule] = (),
        fault_seed: int | None = None,
        organization_cls: Callable[..., Any] | None = None,
        api_cls: Callable[..., Any] | None = None,
        **options: Any,
    ):
        if organization_cls is None:
            from .models import Organization as organization_cls  # noqa: N813
        if api_cls is None:
            from .responses import CloseAPI as api_cls  # noqa: N813
        self._organization_cls = organization_cls
        self._api_cls = api_cls
        self.seed = seed
        self.scale = scale
        self.anchor = anchor
        self._max_limit = max_limit
        self._max_skip = max_skip
        restricted = options.pop("restricted_keys", None)
        options["extra_keys"] = tuple(options.get("extra_keys") or ())
        self.options = Options(**options)
        self.options.validate()
        self.limiter = self._limiter()
        self.grouping = Grouping(self.options.grouping, fallback=lambda method, path: self.api.endpoint_group(method, path))
        self.faults = FaultInjector(faults, seed=seed if fault_seed is None else fault_seed)
        self.stats = Stats(self.options.recent_limit)
        self._rng = random.Random(seed)
        self._groups: dict[tuple[str, str], str] = {}
        self._auth_cache: dict[str, str] = {}
        self.url = ""  # set once listening
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._build_org()
        self.options.restricted_keys = self._restricted(restricted)
        self._refresh_keys()

    def _limiter(self) -> RateLimiter | WindowLimiter:
        """Close's per-group windows when ``window_s`` is set, else per-second token buckets."""
        o = self.options
        if o.window_s is None:
            return RateLimiter(o.rps, o.org_rps)
        limit = o.window_limit or max(1, round((o.rps or 20) * o.window_s))
        factor = (o.org_rps / o.rps) if (o.rps and o.org_rps) else (None if o.org_rps is None else 3.0)
        return WindowLimiter(limit, o.window_s, o.group_limits, org_factor=factor)

    # -- organisation and keys --

    def _build_org(self) -> None:
        self.org = self._organization_cls(seed=self.seed, scale=self.scale, anchor=self.anchor)
        # Keep the anchor the organisation settled on, so a reset rebuilds the very same data.
        self.anchor = getattr(self.org, "anchor", self.anchor)
        self.api = self._api_cls(self.org, max_skip=self._max_skip, max_limit=self._max_limit)
        self._groups.clear()
        self._refresh_keys()

    def _restricted(self, value: Any) -> dict[str, tuple[str, ...]]:
        if value is True:  # one restricted key, forbidden on the usual paid-plan/admin endpoints
            return {f"{self.org.api_key}_restricted": DEFAULT_RESTRICTED_PREFIXES}
        return parse_restricted_keys(value)

    def _refresh_keys(self) -> None:
        self.keys = {self.org.api_key, *self.options.extra_keys, *self.options.restricted_keys}
        self._auth_cache.clear()

    @property
    def restricted_key(self) -> str | None:
        return next(iter(self.options.restricted_keys), None)

    def connector_config(self, **overrides: Any) -> dict[str, Any]:
        # A fixed worker count: left out, the connector's would follow the unpaced rates tests and demos set (50).
        config = {"api_key": self.org.api_key, "api_url": self.url, "start_date": self.org.start_date, "num_workers": 10}
        config.update(overrides)
        return config

    def reset(self) -> None:
        """Rebuild the organisation from its seed (undoing mutations) and forget all traffic."""
        self._build_org()
        self.limiter.reset()
        self.faults.set_rules(self.faults.rules)
        self.stats.reset()

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change behaviour at runtime; returns the effective settings. Unknown names raise."""
        known = {f.name for f in fields(Options)} | {"faults", "max_skip"}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
        updates = {k: v for k, v in changes.items() if k not in ("faults", "max_skip")}
        if "restricted_keys" in updates:
            updates["restricted_keys"] = self._restricted(updates["restricted_keys"])
        if "extra_keys" in updates:
            updates["extra_keys"] = tuple(updates["extra_keys"] or ())
        candidate = replace(self.options, **updates)
        candidate.validate()
        faults = changes.get("faults")
        if faults is not None:
            probe = FaultInjector(faults)  # validate every rule before touching live state
            self.faults.set_rules(probe.rules)
        self.options = candidate
        if {"rps", "org_rps", "window_s", "window_limit", "group_limits"} & set(changes):
            self.limiter = self._limiter()  # windows and buckets start afresh
        if "grouping" in changes:  # requests count against their new groups from the next one on
            self.grouping = Grouping(candidate.grouping, fallback=lambda method, path: self.api.endpoint_group(method, path))
            self._groups.clear()
            self.limiter.reset()
        if "max_skip" in changes:  # kept across reset(), like every other setting
            self._max_skip = self.api.max_skip = changes["max_skip"]
        if "recent_limit" in changes:
            self.stats.recent_limit = candidate.recent_limit
        self._refresh_keys()
        return self.settings()

    def settings(self) -> dict[str, Any]:
        o = self.options
        return {
            "seed": self.seed,
            "scale": self.scale,
            "rps": o.rps,
            "org_rps": o.org_rps,
            "latency_ms": o.latency_ms,
            "jitter_ms": o.jitter_ms,
            "fractional_reset": o.fractional_reset,
            "legacy_429_body": o.legacy_429_body,
            "header_style": o.header_style,
            "restricted_keys": {k: list(v) for k, v in o.restricted_keys.items()},
            "extra_keys": list(o.extra_keys),
            "recent_limit": o.recent_limit,
            "window_s": o.window_s,
            "window_limit": o.window_limit,
            "group_limits": dict(o.group_limits),
            "grouping": o.grouping,
            "max_skip": getattr(self.api, "max_skip", None),
            "faults": self.faults.describe(),
            "config": self.connector_config(),
        }

    # -- application --

    def build_app(self) -> web.Application:
        """Every ``/api/v1/`` path goes to ``handle_api`` (``CloseAPI`` routes it); ``routes.CONTROL_ROUTES`` the rest."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "{tail:.*}", self.handle_api)
        for route in CONTROL_ROUTES:
            handler = getattr(self, route.handler)
            if route.method == "GET":  # also HEAD
                app.router.add_get(CONTROL_PREFIX + route.pattern, handler)
            else:
                app.router.add_route(route.method, CONTROL_PREFIX + route.pattern, handler)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = a free port) and return the port actually bound."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
        bound = sock.getsockname()[1]
        # handler_cancellation: a client that gives up on a slow answer frees its handler at once.
        # A short shutdown_timeout: stopping never waits on a 30 s "slow" fault.
        self._runner = web.AppRunner(
            self.build_app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.25
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=512).start()
        self.base_url = f"http://{host}:{bound}"
        self.url = self.base_url + API_PREFIX
        return bound

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- the API path --

    def _group(self, method: str, path: str) -> str:
        key = (method, path)
        group = self._groups.get(key)
        if group is None:
            group = self.grouping(method, path)
            if len(self._groups) > 10_000:  # single-object paths carry ids: keep the cache bounded
                self._groups.clear()
            self._groups[key] = group
        return group

    def _authenticate(self, header: str | None) -> str | None:
        """The API key of a valid ``Authorization: Basic base64(key:)`` header, else ``None``."""
        if not header:
            return None
        key = self._auth_cache.get(header)
        if key is not None:
            return key
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, _password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep or user not in self.keys:
            return None
        self._auth_cache[header] = user
        return user

    async def handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        path = request.path[len(API_PREFIX):]
        if method == "POST":
            # Close's documented way to send long filter lists: POST + x-http-method-override: GET.
            method = request.headers.get("X-HTTP-Method-Override", method).upper()
        group = self._group(method, path)
        arrival = time.time()
        scope, group_scope, second = self.stats.begin(path, group, arrival)
        status, fault = 500, None
        query = request.rel_url.raw_query_string
        body = await request.read() if request.body_exists else None
        try:
            status, fault, response = await self._answer(request, method, path, group, query, body)
            return response
        except asyncio.CancelledError:
            status, fault = 499, fault or "client-gone"
            raise
        finally:
            self.stats.total.end(status, fault)
            group_scope.end(status, fault)
            scope.end(status, fault)
            if status == 429:
                second[1] += 1
            scope.recent.append((arrival, method, query, body, status, fault))

    async def _answer(self, request, method, path, group, query, body):
        o = self.options
        key = self._authenticate(request.headers.get("Authorization"))
        if key is None:
            await self._latency()
            headers = {"Content-Type": JSON, "WWW-Authenticate": 'Basic realm="Close"'}
            return 401, None, web.Response(status=401, body=UNAUTHORIZED, headers=headers)

        decision = self.limiter.check(key, group)
        self.stats.limits[group] = decision.limit
        headers = {"Content-Type": JSON, **rate_limit_headers(decision, o.header_style, o.fractional_reset)}
        if not decision.allowed:
            await self._latency()
            return 429, None, self._too_many(decision, headers)

        forbidden = o.restricted_keys.get(key)
        if forbidden and path.startswith(forbidden):
            await self._latency()
            message = f"Forbidden: this API key does not have permission to access {path}"
            return 403, None, web.Response(status=403, body=orjson.dumps({"error": message}), headers=headers)

        rule = self.faults.pick(key, path)
        await self._latency()
        if rule is not None:
            kind = rule.kind
            if kind == "429":
                injected = Decision(False, decision.limit, 0, rule.reset)
                headers.update(rate_limit_headers(injected, o.header_style, o.fractional_reset))
                return 429, kind, self._too_many(injected, headers)
            if kind in ("500", "502", "503", "504"):
                code = int(kind)
                payload = orjson.dumps({"error": ERROR_MESSAGES[code]})
                return code, kind, web.Response(status=code, body=payload, headers=headers)
            if kind == "invalid":
                headers["Content-Type"] = "text/html"
                return 200, kind, web.Response(status=200, body=INVALID_PAGE, headers=headers)
            if kind == "slow":
                await asyncio.sleep(rule.delay_s)

        status, payload = self._call_api(method, path, query, body)
        if rule is not None and rule.kind == "truncated":
            cut = payload[: max(1, len(payload) // 2)]
            return status, "truncated", web.Response(status=status, body=cut, headers=headers)
        if rule is not None and rule.kind == "drop":
            return status, "drop", await self._drop(request, status, payload, headers)
        return status, (rule.kind if rule is not None else None), web.Response(
            status=status, body=payload, headers=headers
        )

    def _call_api(self, method: str, path: str, query: str, body: bytes | None) -> tuple[int, bytes]:
        params = parse_qs(query, keep_blank_values=True) if query else {}
        try:
            status, obj = self.api.handle(method, path, params, body)
        except Exception:  # a bug in the semantics layer must show up as a 500, not a hung client
            log.exception("CloseAPI.handle failed for %s %s?%s", method, path, query)
            return 500, orjson.dumps({"error": ERROR_MESSAGES[500]})
        return status, orjson.dumps(obj)

    def _too_many(self, decision: Decision, headers: dict[str, str]) -> web.Response:
        headers["Retry-After"] = str(max(0, math.ceil(decision.reset - 1e-9)))
        if self.options.legacy_429_body:
            body = {
                "error": {
                    "rate_reset": reset_value(decision.reset, self.options.fractional_reset),
                    "message": "API call count exceeded for this 15 second window",
                    "rate_limit": decision.limit,
                    "rate_window": 15,
                }
            }
        else:
            body = {}
        return web.Response(status=429, body=orjson.dumps(body), headers=headers)

    async def _drop(self, request, status, payload, headers) -> web.StreamResponse:
        """Announce the full body, send half of it, then cut the connection."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
        transport = request.transport
        if transport is not None:
            transport.close()  # close (not abort) so the half body already queued still goes out
        return response

    async def _latency(self) -> None:
        o = self.options
        if o.latency_ms or o.jitter_ms:
            await asyncio.sleep((o.latency_ms + self._rng.uniform(0.0, o.jitter_ms)) / 1000.0)

    # -- control endpoints --

    async def control_stats(self, request: web.Request) -> web.Response:
        return _json(self.stats.snapshot())

    async def control_stats_reset(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return _json({"ok": True})

    async def control_mutate(self, request: web.Request) -> web.Response:
        change = await _json_body(request)
        try:
            return _json(self.org.mutate(change))
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"error": f"{type(exc).__name__}: {exc}"}, status=400)

    async def control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return _json({"ok": True, "config": self.connector_config()})

    async def control_truth(self, request: web.Request) -> web.Response:
        stream = request.match_info["stream"]
        try:
            records = self.org.truth(stream, request.query.get("start_date"))
        except (KeyError, ValueError) as exc:
            return _json({"error": f"unknown stream {stream!r}: {exc}"}, status=404)
        lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
        return web.Response(body=lines, content_type="application/x-ndjson")

    async def control_configure(self, request: web.Request) -> web.Response:
        changes = await _json_body(request)
        try:
            return _json(self.configure(**changes))
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, status=400)

    async def control_config(self, request: web.Request) -> web.Response:
        return _json(self.settings())


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), content_type=JSON)


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f'{{"error": "invalid JSON: {exc}"}}', content_type=JSON) from None
