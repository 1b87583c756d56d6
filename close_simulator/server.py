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
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from .faults import ERROR_MESSAGES, FaultInjector
from .options import RUNTIME, SWITCHES, Switches, server_options
from .ratelimit import Decision, Grouping, RateLimiter, WindowLimiter, rate_limit_headers, reset_value
from .routes import CONTROL_ROUTES
from .stats import Stats

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


# --- the server ----------------------------------------------------------------------------


class SimulatorServer:
    """One simulated Close organisation behind an aiohttp application.

    ``organization_cls`` / ``api_cls`` default to the real ground truth (``models.Organization``)
    and API semantics (``responses.CloseAPI``); they are parameters so the HTTP layer can be
    exercised on its own.
    """

    def __init__(self, *, organization_cls: Callable[..., Any] | None = None, api_cls: Callable[..., Any] | None = None,
                 **options: Any):
        """``options``: the keywords of ``options.SERVER_OPTIONS`` (the README's options table)."""
        o = server_options(options)
        seed = o["seed"]
        if organization_cls is None:
            from .models import Organization as organization_cls  # noqa: N813
        if api_cls is None:
            from .responses import CloseAPI as api_cls  # noqa: N813
        self._organization_cls = organization_cls
        self._api_cls = api_cls
        self.seed = seed
        self.scale = o["scale"]
        self.anchor = o["anchor"]
        self._max_limit = o["max_limit"]
        self._max_skip = o["max_skip"]
        self._search_cursor_ttl_s = o["search_cursor_ttl_s"]
        switches = {opt.name: o[opt.name] for opt in SWITCHES}
        restricted = switches.pop("restricted_keys", None)
        switches["extra_keys"] = tuple(switches.get("extra_keys") or ())
        self.options = Switches(**switches)
        self.options.validate()
        self.limiter = self._limiter()
        self.grouping = Grouping(self.options.grouping, fallback=lambda method, path: self.api.endpoint_group(method, path))
        self.faults = FaultInjector(o["faults"], seed=seed if o["fault_seed"] is None else o["fault_seed"])
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
        self.api = self._api_cls(self.org, max_skip=self._max_skip, max_limit=self._max_limit,
                                 search_cursor_ttl_s=self._search_cursor_ttl_s)
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
        known = set(RUNTIME)
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
        updates = {k: v for k, v in changes.items() if k not in ("faults", "max_skip")}
        if "restricted_keys" in updates:
            updates["restricted_keys"] = self._restricted(updates["restricted_keys"])
        if "extra_keys" in updates:
            updates["extra_keys"] = tuple(updates["extra_keys"] or ())
        candidate = self.options.replace(**updates)
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
        """The effective options (what ``configure`` can change, and the organisation's), JSON-ready."""
        o = self.options
        return {
            "seed": self.seed,
            "scale": self.scale,
            **o.as_json(),
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
