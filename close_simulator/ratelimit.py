"""Close-style rate limiting: token buckets per (API key, endpoint group) and per organisation.

Close limits each *endpoint group* twice: once per API key and once for the whole organisation
(all keys together, three times the per-key rate in Close's own example: 20 RPS per key, 60 per
organisation). The simulator models both layers as token buckets:

* a bucket holds at most ``capacity`` tokens and refills continuously at ``rate`` tokens/second;
* the capacity is **one second's worth** of tokens (``capacity = rate``, at least 1), so an idle
  client may burst ``rate`` requests at once and then sustains ``rate`` per second. Over any window
  of T seconds at most ``rate * (T + 1)`` requests pass, so a single calendar second can see up to
  twice the rate right after an idle period, and never more than ``rate`` (+1 for rounding) once
  the client has been kept busy;
* a request takes one token from its key bucket *and* from its organisation bucket, or from
  neither: a refused request costs nothing.

The decision returns what the ``RateLimit`` response header reports: the limit, the tokens left
and the seconds until the next token (0 while tokens remain).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(slots=True)
class Decision:
    """Outcome of one admission check, ready to be rendered into headers."""

    allowed: bool
    limit: int
    remaining: int
    reset: float  # seconds until a token is available in the reported bucket


class TokenBucket:
    """A lazily refilled token bucket (no timers: refill is computed from the clock on each use)."""

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate: float, now: float):
        self.rate = float(rate)
        self.capacity = max(1.0, float(rate))
        self.tokens = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.stamp = now

    def wait(self) -> float:
        """Seconds until one whole token is available (0 if one is available now)."""
        missing = 1.0 - self.tokens
        return missing / self.rate if missing > 0 else 0.0


# Reported when limiting is switched off: large enough that no client ever paces on it.
UNLIMITED = 1_000_000


class RateLimiter:
    """Admission control for every authenticated ``/api/v1/`` request.

    ``rps`` is the per-(key, group) rate and ``org_rps`` the per-(organisation, group) rate; either
    may be ``None`` to switch that layer off. With both off every request is allowed and the headers
    report :data:`UNLIMITED`.
    """

    def __init__(
        self,
        rps: float | None = 20,
        org_rps: float | None = 60,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rps = rps
        self.org_rps = org_rps
        self.clock = clock
        self._key_buckets: dict[tuple[str, str], TokenBucket] = {}
        self._org_buckets: dict[str, TokenBucket] = {}

    def reset(self) -> None:
        """Forget all buckets (they start full again)."""
        self._key_buckets.clear()
        self._org_buckets.clear()

    def check(self, key: str, group: str) -> Decision:
        """Admit or refuse one request of ``key`` to endpoint ``group``; consume tokens if admitted."""
        if self.rps is None and self.org_rps is None:
            return Decision(True, UNLIMITED, UNLIMITED - 1, 0.0)
        now = self.clock()
        buckets: list[TokenBucket] = []
        if self.rps is not None:
            bucket = self._key_buckets.get((key, group))
            if bucket is None:
                bucket = self._key_buckets[(key, group)] = TokenBucket(self.rps, now)
            buckets.append(bucket)
        if self.org_rps is not None:
            bucket = self._org_buckets.get(group)
            if bucket is None:
                bucket = self._org_buckets[group] = TokenBucket(self.org_rps, now)
            buckets.append(bucket)
        for bucket in buckets:
            bucket.refill(now)
        refusing = [b for b in buckets if b.tokens < 1.0]
        if refusing:
            # Report the bucket that keeps the client waiting longest.
            worst = max(refusing, key=TokenBucket.wait)
            return Decision(False, _limit(worst), 0, worst.wait())
        for bucket in buckets:
            bucket.tokens -= 1.0
        # Report the tighter layer: the one with fewer whole tokens left.
        tight = min(buckets, key=lambda b: b.tokens)
        return Decision(True, _limit(tight), int(math.floor(tight.tokens)), tight.wait())


def _limit(bucket: TokenBucket) -> int:
    return int(round(bucket.capacity))


# --- header rendering -----------------------------------------------------------------------

HEADER_STYLES = ("standard", "lower-semicolon", "x-rate-limit")


def format_reset(seconds: float, fractional: bool) -> str:
    """``reset`` as Close sends it: whole seconds rounded up, or a short decimal (``0.25``)."""
    if not fractional:
        return str(int(math.ceil(seconds - 1e-9))) if seconds > 0 else "0"
    text = f"{max(seconds, 0.0):.3f}".rstrip("0").rstrip(".")
    return text or "0"


def reset_value(seconds: float, fractional: bool) -> float | int:
    """The same value as a JSON number (for the legacy 429 body)."""
    text = format_reset(seconds, fractional)
    return float(text) if "." in text else int(text)


def rate_limit_headers(decision: Decision, style: str, fractional: bool) -> dict[str, str]:
    """The rate-limit header(s) of one response in the chosen style.

    * ``standard``: ``RateLimit: limit=N, remaining=M, reset=S`` (Close since 2023-07);
    * ``lower-semicolon``: ``ratelimit: limit=N; remaining=M; reset=S`` (also seen in real traffic);
    * ``x-rate-limit``: the pre-2023 trio ``X-Rate-Limit-Limit/-Remaining/-Reset``.
    """
    reset = format_reset(decision.reset, fractional)
    if style == "standard":
        return {"RateLimit": f"limit={decision.limit}, remaining={decision.remaining}, reset={reset}"}
    if style == "lower-semicolon":
        return {"ratelimit": f"limit={decision.limit}; remaining={decision.remaining}; reset={reset}"}
    if style == "x-rate-limit":
        return {
            "X-Rate-Limit-Limit": str(decision.limit),
            "X-Rate-Limit-Remaining": str(decision.remaining),
            "X-Rate-Limit-Reset": reset,
        }
    raise ValueError(f"unknown header style {style!r}; expected one of {HEADER_STYLES}")


# --- Close's windows ------------------------------------------------------------------------


class Grouping:
    """Which endpoint group a request counts against: Close groups by path and method and publishes no map.

    * ``"close"`` (the default): the API's own grouping (``CloseAPI.endpoint_group``: ``search`` for
      ``data/search/``, else the first path segment);
    * ``"path"``: every method and path is a group of its own;
    * ``{"prefix": "group", ...}``: a path under a prefix counts against that group (the longest prefix wins,
      e.g. ``{"activity/": "activity"}``); any other path falls back to ``"close"``.
    """

    def __init__(self, spec: Any = "close", fallback: Callable[[str, str], str] | None = None):
        if spec in (None, ""):
            spec = "close"
        if not (spec in ("close", "path") or isinstance(spec, dict)):
            raise ValueError(f"grouping must be 'close', 'path' or a {{prefix: group}} mapping, got {spec!r}")
        if isinstance(spec, dict):
            spec = {str(prefix).lstrip("/"): str(group) for prefix, group in spec.items()}
        self.spec = spec
        self._fallback = fallback or (lambda method, path: path.strip("/").split("/", 1)[0] or "root")
        self._prefixes = sorted(spec, key=len, reverse=True) if isinstance(spec, dict) else []

    def __call__(self, method: str, path: str) -> str:
        if self.spec == "path":
            return f"{method.upper()} {path}"
        for prefix in self._prefixes:
            if path.startswith(prefix):
                return self.spec[prefix]
        return self._fallback(method, path)


class Window:
    """One fixed window: ``limit`` requests, from the first request after the previous window ended, for ``length``
    seconds (Close's ``reset`` counts down to the window's end)."""

    __slots__ = ("limit", "length", "start", "used")

    def __init__(self, limit: int, length: float):
        self.limit, self.length, self.start, self.used = limit, length, -math.inf, 0

    def left(self, now: float) -> int:
        if now >= self.start + self.length:
            return self.limit
        return self.limit - self.used

    def take(self, now: float) -> None:
        if now >= self.start + self.length:
            self.start, self.used = now, 0
        self.used += 1

    def reset(self, now: float) -> float:
        end = self.start + self.length
        return end - now if now < end else 0.0


class WindowLimiter:
    """Admission control as Close does it: per endpoint group, ``limit`` requests per ``window_s`` seconds per API
    key, and ``org_factor`` times as many for the whole organisation (Close's example: 20/s per key, 60/s per
    organisation). ``group_limits`` gives some groups a limit of their own (per key and window).

    Every answer reports the tighter of the two layers: ``limit``, ``remaining`` after this request and ``reset``,
    the seconds until that window ends. A refused request costs nothing. ``admitted`` keeps, per group, the most
    requests any one window of the key admitted, so a test can compare it with the limit.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        group_limits: dict[str, int] | None = None,
        org_factor: float | None = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if limit < 1 or window_s <= 0:
            raise ValueError(f"a window needs a limit of at least 1 and a positive length, got {limit} per {window_s} s")
        self.limit, self.window_s = int(limit), float(window_s)
        self.group_limits = {str(g): int(n) for g, n in (group_limits or {}).items()}
        self.org_factor = org_factor
        self.clock = clock
        self._key_windows: dict[tuple[str, str], Window] = {}
        self._org_windows: dict[str, Window] = {}

    def reset(self) -> None:
        self._key_windows.clear()
        self._org_windows.clear()

    def group_limit(self, group: str) -> int:
        return self.group_limits.get(group, self.limit)

    def check(self, key: str, group: str) -> Decision:
        now = self.clock()
        own = self._key_windows.get((key, group))
        if own is None:
            own = self._key_windows[(key, group)] = Window(self.group_limit(group), self.window_s)
        windows = [own]
        if self.org_factor:
            org = self._org_windows.get(group)
            if org is None:
                org = self._org_windows[group] = Window(max(1, round(self.group_limit(group) * self.org_factor)), self.window_s)
            windows.append(org)
        full = [w for w in windows if w.left(now) < 1]
        if full:
            worst = max(full, key=lambda w: w.reset(now))
            return Decision(False, worst.limit, 0, worst.reset(now))
        for window in windows:
            window.take(now)
        tight = min(windows, key=lambda w: w.left(now))
        return Decision(True, tight.limit, tight.left(now), tight.reset(now))

    def describe(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "window_s": self.window_s,
            "group_limits": dict(self.group_limits),
            "org_factor": self.org_factor,
        }
