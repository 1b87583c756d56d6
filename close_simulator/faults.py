"""Fault injection: which ``/api/v1/`` request gets which failure.

A connector has to survive what real networks and Close's front ends do: rate-limit bursts, 5xx
answers, responses that never come, connections cut mid-body, truncated or non-JSON bodies. Each
rule fires either by probability or on a schedule (the Nth request to an endpoint path), optionally
only under a path prefix. Faults never change data: a fault replaces or mangles one response, and
the retried request is served from the same unchanged organisation, so it gets the right page.

This module only decides; ``server.py`` renders the failure on the wire.

Rule syntax (CLI ``--fault`` and the ``faults`` option)::

    KIND[=ARG]:PROBABILITY[:PREFIX]     e.g. 429:0.05   503:0.02:activity/   slow=5:0.1
    KIND[=ARG]@N[,N...][:PATH]          e.g. 503@3,4:activity/email/   drop@2:lead/

``ARG`` is the burst length for ``429`` and the delay in seconds for ``slow``. The dict form takes
the keys of :class:`FaultRule` (``kind``, ``probability``, ``nth``, ``path``, ``prefix``, ``burst``,
``delay_s``, ``reset``); ``nth`` may be one number or a list.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

# 429: refused as if rate limited; 5xx: Close-style JSON error; slow: answer only after delay_s;
# drop: headers and half the body, then the connection closes; truncated: a complete 200 whose JSON
# is cut short; invalid: a 200 that is not JSON at all (a proxy's HTML page).
FAULT_KINDS = ("429", "500", "502", "503", "504", "slow", "drop", "truncated", "invalid")

ERROR_MESSAGES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable: the server is temporarily unable to handle the request.",
    504: "Gateway Timeout",
}


@dataclass
class FaultRule:
    """One fault rule. Exactly one trigger is used: ``nth`` if given, else ``probability``.

    ``path`` restricts the rule to one endpoint path, ``prefix`` to paths starting with it (paths
    are relative to ``/api/v1/``, e.g. ``activity/email/``). ``nth`` counts, per endpoint path and
    from the moment the rule is installed, the requests that match the rule (1-based).
    """

    kind: str
    probability: float = 0.0
    nth: frozenset[int] | None = None
    path: str | None = None
    prefix: str | None = None
    burst: int = 2  # 429 only: the next `burst` requests of the same key are refused too
    delay_s: float = 30.0  # slow only: longer than any sane client timeout
    reset: float = 1.0  # 429 only: seconds reported in RateLimit reset / Retry-After
    seen: dict[str, int] = field(default_factory=lambda: defaultdict(int), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be within [0, 1], got {self.probability}")
        if self.nth is None and self.probability == 0.0:
            raise ValueError(f"fault {self.kind!r} needs a probability or an nth schedule")
        for name in ("path", "prefix"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, _relative(value))

    def applies_to(self, path: str) -> bool:
        if self.path is not None and path != self.path:
            return False
        if self.prefix is not None and not path.startswith(self.prefix):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.nth is not None:
            out["nth"] = sorted(self.nth)
        else:
            out["probability"] = self.probability
        for name in ("path", "prefix"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.kind == "429":
            out["burst"] = self.burst
            out["reset"] = self.reset
        if self.kind == "slow":
            out["delay_s"] = self.delay_s
        return out


def _relative(path: str) -> str:
    """Accept ``/api/v1/lead/`` as well as ``lead/``: rules match the relative form."""
    path = path.lstrip("/")
    return path[len("api/v1/"):] if path.startswith("api/v1/") else path


def parse_fault(spec: str | dict | FaultRule) -> FaultRule:
    """Build a rule from its string or dict form (see the module docstring)."""
    if isinstance(spec, FaultRule):
        return spec
    if isinstance(spec, dict):
        data = dict(spec)
        if "p" in data:
            data["probability"] = data.pop("p")
        nth = data.get("nth")
        if nth is not None:
            data["nth"] = frozenset([nth] if isinstance(nth, int) else (int(n) for n in nth))
        data["kind"] = str(data["kind"])
        unknown = set(data) - set(FaultRule.__dataclass_fields__) - {"kind"}
        if unknown or "seen" in data:
            raise ValueError(f"unknown fault option(s): {sorted(unknown | ({'seen'} & set(data)))}")
        return FaultRule(**data)
    text = spec.strip()
    if text.startswith("{"):
        import json

        return parse_fault(json.loads(text))
    if "@" in text:
        head, _, rest = text.partition("@")
        numbers, _, where = rest.partition(":")
        nth = frozenset(int(n) for n in numbers.split(",") if n)
        rule = _with_arg(head, nth=nth, path=where or None)
    else:
        head, _, rest = text.partition(":")
        probability, _, where = rest.partition(":")
        if not probability:
            raise ValueError(f"fault {text!r}: expected KIND:PROBABILITY[:PREFIX] or KIND@N[,N]:PATH")
        rule = _with_arg(head, probability=float(probability), prefix=where or None)
    return rule


def _with_arg(head: str, **trigger: Any) -> FaultRule:
    kind, _, arg = head.partition("=")
    extra: dict[str, Any] = {}
    if arg:
        if kind == "429":
            extra["burst"] = int(arg)
        elif kind == "slow":
            extra["delay_s"] = float(arg)
        else:
            raise ValueError(f"fault {kind!r} takes no argument (got {arg!r})")
    return FaultRule(kind=kind, **trigger, **extra)


class FaultInjector:
    """Chooses the fault (if any) for each request; rules can be replaced at runtime."""

    def __init__(self, rules: Iterable[str | dict | FaultRule] = (), seed: int = 0):
        self._rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        self._bursts: dict[str, tuple[int, FaultRule]] = {}
        self.set_rules(rules)

    def set_rules(self, rules: Iterable[str | dict | FaultRule]) -> None:
        """Replace every rule; schedules start counting afresh and pending bursts are dropped."""
        self.rules = [parse_fault(rule) for rule in rules]
        for rule in self.rules:
            rule.seen.clear()
        self._bursts.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [rule.to_dict() for rule in self.rules]

    def pick(self, key: str, path: str) -> FaultRule | None:
        """The fault for this request of ``key`` to ``path``, or ``None`` for a clean answer.

        Every rule that applies counts the request (so schedules stay independent of each other);
        the first rule that fires wins.
        """
        if not self.rules and not self._bursts:
            return None
        pending = self._bursts.get(key)
        if pending is not None:
            left, rule = pending
            if left <= 1:
                del self._bursts[key]
            else:
                self._bursts[key] = (left - 1, rule)
            return rule
        chosen: FaultRule | None = None
        for rule in self.rules:
            if not rule.applies_to(path):
                continue
            rule.seen[path] += 1
            if chosen is not None:
                continue
            if rule.nth is not None:
                fires = rule.seen[path] in rule.nth
            else:
                fires = self._rng.random() < rule.probability
            if fires:
                chosen = rule
        if chosen is not None and chosen.kind == "429" and chosen.burst > 0:
            self._bursts[key] = (chosen.burst, chosen)
        return chosen
