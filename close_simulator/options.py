"""The simulator's options, declared once.

``OPTIONS`` names each option with its Python keyword, type, default and meaning; from it come the ``serve`` and
``dump`` command-line arguments (``add_arguments``, ``from_cli``), the keyword arguments ``SimulatorServer``,
``Simulator`` and ``SimulatorProcess`` take (``server_options``, ``cli_arguments``), the runtime switches
``configure`` may change (``Switches``) and the options table of the README (``readme_table``).
``python -m close_simulator.options`` rewrites that table in close_simulator/README.md; a test checks it is current.

Groups: ``listen`` (where to serve), ``organisation`` (which data), ``api`` (Close's caps), ``faults``, ``switch``
(behaviour that ``configure`` changes while serving) and ``cli`` (command-line shorthands).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .ratelimit import HEADER_STYLES, Grouping

README = Path(__file__).resolve().parent / "README.md"
TABLE_START = "<!-- options table: made by `python -m close_simulator.options`, do not edit by hand -->"
TABLE_END = "<!-- end of options table -->"


@dataclass(frozen=True)
class Option:
    name: str                  # the Python keyword
    type: Callable[[str], Any] | None  # parses one command-line value; None: a switch without a value
    default: Any
    help: str                  # Markdown; the command line shows it without backticks
    group: str
    flag: str | None = ""      # "" = --<name with dashes>; None = no command-line form
    metavar: str | None = None
    repeat: bool = False       # one flag per item
    zero_is_off: bool = False  # on the command line 0 means None (off)
    choices: tuple | None = None
    cli_default: Any = ...     # where the command line's default differs from Python's
    check: Callable[[Any], None] | None = None  # raises ValueError for a bad value
    to_cli: Callable[[Any], list[str]] | None = None  # Python value -> command-line values (repeat: one each)
    from_cli: Callable[[Any], Any] | None = None      # command-line value(s) -> Python value

    @property
    def cli_flag(self) -> str | None:
        if self.flag is None:
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def runtime(self) -> bool:
        """``configure`` may change it while serving."""
        return self.group == "switch" or self.name in ("faults", "max_skip")

    def fresh_default(self) -> Any:
        return dict(self.default) if isinstance(self.default, dict) else self.default

    def command_line_default(self) -> Any:
        return self.default if self.cli_default is ... else self.cli_default


def _positive_or_none(name: str) -> Callable[[Any], None]:
    def check(value):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive or None, got {value}")
    return check


def _not_negative(name: str) -> Callable[[Any], None]:
    def check(value):
        if value < 0:
            raise ValueError(f"{name} must not be negative")
    return check


def _check_window_limit(value):
    if value is not None and value < 1:
        raise ValueError(f"window_limit must be at least 1, got {value}")


def _check_group_limits(value):
    if any(int(n) < 1 for n in value.values()):
        raise ValueError(f"every group limit must be at least 1, got {value}")


def _check_header_style(value):
    if value not in HEADER_STYLES:
        raise ValueError(f"header_style must be one of {HEADER_STYLES}, got {value!r}")


def _restricted_to_cli(value) -> list[str]:
    if value is True:
        raise ValueError("restricted_keys=True has no command-line form: name the key and its prefixes")
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [f"{key}:{','.join(prefixes)}" for key, prefixes in value.items()]
    return list(value)


def _json_or_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "127.0.0.1", "where to listen", "listen"),
    Option("port", int, 0, "where to listen; `0`: a free port", "listen", metavar="N", cli_default=8765),
    Option("seed", int, 7, "which organisation; the same seed gives the same data", "organisation", metavar="N"),
    Option("scale", str, "small", "its size: `small`, `medium` or `large`", "organisation", metavar="SCALE",
           choices=("small", "medium", "large")),
    Option("anchor", None, None, "the organisation's newest instant (a datetime; default: today's midnight UTC)",
           "organisation", flag=None),
    Option("rps", float, 20, "requests/s per (API key, endpoint group); off: `None` (`0` on the command line)",
           "switch", metavar="N", zero_is_off=True, check=_positive_or_none("rps")),
    Option("org_rps", float, 60, "requests/s per (organisation, endpoint group), across keys; off: `None` (`0`)",
           "switch", metavar="N", zero_is_off=True, check=_positive_or_none("org_rps")),
    Option("no_rate_limit", None, False, "both rate limits off (headers still sent, with a limit of 1,000,000)",
           "cli"),
    Option("latency_ms", float, 0.0, "every `/api/v1/` answer waits latency + uniform[0, jitter] ms", "switch",
           metavar="MS", check=_not_negative("latency_ms")),
    Option("jitter_ms", float, 0.0, "see `latency_ms`", "switch", metavar="MS", check=_not_negative("jitter_ms")),
    Option("fractional_reset", None, False, "`reset=0.25` instead of whole seconds rounded up", "switch"),
    Option("legacy_429_body", None, False,
           '429 body `{"error": {"rate_reset": S, "message": ..., "rate_limit": N, "rate_window": 15}}` instead of `{}`',
           "switch"),
    Option("header_style", str, "standard",
           "`standard`: `RateLimit: limit=N, remaining=M, reset=S`; `lower-semicolon`: "
           "`ratelimit: limit=N; remaining=M; reset=S`; `x-rate-limit`: the pre-2023 `X-Rate-Limit-Limit/-Remaining/"
           "-Reset` trio", "switch", metavar="STYLE", choices=HEADER_STYLES, check=_check_header_style),
    Option("restricted_keys", str, {},
           "an extra key that gets 403 on those path prefixes (repeatable); Python: `{key: [prefix, ...]}`, CLI-style "
           "strings, or `True` for one key `sim.restricted_key` forbidden on `send_as/`, `event/`, `custom_field/`",
           "switch", flag="--restricted-key", metavar="KEY:PREFIX,PREFIX", repeat=True, to_cli=_restricted_to_cli,
           from_cli=list),
    Option("extra_keys", str, (), "another valid full-access key (repeatable)", "switch", flag="--extra-key",
           metavar="KEY", repeat=True, to_cli=list, from_cli=tuple),
    Option("recent_limit", int, 50, "requests kept per path in the stats' `recent`", "switch", metavar="N"),
    Option("window_s", float, None,
           "Close's windows instead of per-second buckets: limits count per window of S seconds (8 on Close), "
           "`reset` counts down to the window's end", "switch", metavar="S", check=_positive_or_none("window_s")),
    Option("window_limit", int, None,
           "requests per window per (key, endpoint group), default `rps × window_s`; the organisation gets "
           "`org_rps / rps` (else 3) times as many", "switch", metavar="N", check=_check_window_limit),
    Option("group_limits", str, {}, "a group with a limit of its own (repeatable)", "switch", flag="--group-limit",
           metavar="GROUP=N", repeat=True, check=_check_group_limits,
           to_cli=lambda value: [f"{group}={limit}" for group, limit in value.items()],
           from_cli=lambda items: {g: int(n) for g, _, n in (item.partition("=") for item in items)}),
    Option("grouping", str, "close",
           "`close`: the first path segment (`data/search/` is `search`); `path`: every method and path its own "
           'group; a JSON object `{"activity/": "activity"}`: paths under a prefix form that group (longest prefix '
           "wins), others as `close`", "switch", metavar="G", check=Grouping,
           to_cli=lambda value: [_json_or_text(value)],
           from_cli=lambda text: json.loads(text) if text.startswith("{") else text),
    Option("max_skip", int, None, "the `_skip` cap that answers 400 (`max_skip = N`); default: Close's 250,000",
           "api", metavar="N"),
    Option("search_cursor_ttl_s", float, 30.0, "seconds a search cursor stays valid before `Cursor has expired` (Close: 30)",
           "api", metavar="S"),
    Option("max_limit", None, None, "`_limit` caps per resource in place of Close's (`{\"lead\": 500}`)", "api",
           flag=None),
    Option("faults", str, (), "inject failures (repeatable; the README's fault forms)", "faults", flag="--fault",
           metavar="SPEC", repeat=True, to_cli=lambda value: [_json_or_text(f) for f in value], from_cli=list),
    Option("fault_seed", int, None, "seed of the probabilistic faults and the jitter; default: the seed", "faults",
           metavar="N"),
)
BY_NAME = {o.name: o for o in OPTIONS}
# What SimulatorServer takes (everything but where to listen and the command-line shorthands).
SERVER_OPTIONS = tuple(o for o in OPTIONS if o.group not in ("listen", "cli"))
SWITCHES = tuple(o for o in OPTIONS if o.group == "switch")
RUNTIME = tuple(o.name for o in OPTIONS if o.runtime)


def _plain(text: str) -> str:
    return text.replace("`", "")


# --------------------------------------------------------------------------------------- Python side


def server_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Every option ``SimulatorServer`` takes, from keyword arguments; an unknown name raises ``TypeError``."""
    unknown = set(options) - {o.name for o in SERVER_OPTIONS}
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; known: {sorted(o.name for o in SERVER_OPTIONS)}")
    return {o.name: options.get(o.name, o.fresh_default()) for o in SERVER_OPTIONS}


class Switches:
    """The runtime switches (group ``switch``) as attributes; ``replace`` and ``validate`` as a dataclass has them."""

    def __init__(self, **values: Any):
        unknown = set(values) - {o.name for o in SWITCHES}
        if unknown:
            raise TypeError(f"unknown switch(es) {sorted(unknown)}")
        for o in SWITCHES:
            setattr(self, o.name, values.get(o.name, o.fresh_default()))

    def replace(self, **changes: Any) -> "Switches":
        return Switches(**{**{o.name: getattr(self, o.name) for o in SWITCHES}, **changes})

    def as_json(self) -> dict[str, Any]:
        """Every switch, tuples as lists (``SimulatorServer.settings``)."""
        def plain(value):
            if isinstance(value, Mapping):
                return {k: plain(v) for k, v in value.items()}
            return list(value) if isinstance(value, tuple) else value
        return {o.name: plain(getattr(self, o.name)) for o in SWITCHES}

    def validate(self) -> None:
        for o in SWITCHES:
            if o.check is not None:
                o.check(getattr(self, o.name))


# ---------------------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser, groups: Iterable[str]) -> None:
    """The command-line arguments of the options in ``groups``."""
    groups = set(groups)
    for o in OPTIONS:
        if o.group not in groups or o.cli_flag is None:
            continue
        kwargs: dict[str, Any] = {"dest": o.name, "help": _plain(o.help)}
        if o.type is None:
            kwargs["action"] = "store_true"
        else:
            kwargs.update(type=o.type, metavar=o.metavar)
            if o.choices:
                kwargs["choices"] = o.choices
            if o.repeat:
                kwargs.update(action="append", default=[])
            else:
                kwargs["default"] = o.command_line_default()
        parser.add_argument(o.cli_flag, **kwargs)


def from_cli(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options from parsed arguments (each option the parser has)."""
    out = {}
    for o in OPTIONS:
        if o.group == "cli" or o.cli_flag is None or not hasattr(args, o.name):
            continue
        value = getattr(args, o.name)
        if o.zero_is_off:
            value = value or None
        if o.from_cli is not None:
            value = o.from_cli(value)
        out[o.name] = value
    if getattr(args, "no_rate_limit", False):
        out["rps"] = out["org_rps"] = None
    return out


def cli_arguments(**options: Any) -> list[str]:
    """The ``serve`` arguments that reproduce these keyword options (values at the command line's default are
    left out)."""
    args: list[str] = []
    for name, value in options.items():
        o = BY_NAME.get(name)
        if o is None or o.group == "cli":
            raise TypeError(f"unknown option {name!r}")
        if o.cli_flag is None:
            if value != o.default:
                raise ValueError(f"{name} has no command-line form")
            continue
        if o.zero_is_off and value is None:
            value = 0
        if o.type is None:
            if value:
                args.append(o.cli_flag)
            continue
        if o.repeat:
            for item in (o.to_cli(value) if o.to_cli else value):
                args += [o.cli_flag, str(item)]
            continue
        default = o.command_line_default()
        if value is None or value == default:
            continue
        for item in (o.to_cli(value) if o.to_cli else [value]):
            args += [o.cli_flag, _number(item)]
    return args


def _number(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


# ------------------------------------------------------------------------------------------ README


def _default_text(o: Option) -> str:
    def show(value):
        if value in (None, (), {}) or value is False:
            return ""
        return f"`{_number(value)}`"
    cli = o.command_line_default()
    text = show(cli)
    if o.cli_flag is not None and cli != o.default:
        text += f" (Python: {show(o.default)})"
    return text


def readme_table() -> str:
    """The README's options table: one row per option."""
    rows = ["| command line | Python keyword | default | `configure` | meaning |", "|---|---|---|---|---|"]
    for o in OPTIONS:
        flag = "" if o.cli_flag is None else f"`{o.cli_flag}{' ' + o.metavar if o.metavar else ''}`"
        keyword = "" if o.group == "cli" else f"`{o.name}`"
        rows.append(f"| {flag} | {keyword} | {_default_text(o)} | {'yes' if o.runtime else ''} | {o.help} |")
    return "\n".join(rows)


def _table_span(text: str) -> tuple[int, int]:
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"no options table between {TABLE_START!r} and {TABLE_END!r}")
    return start + len(TABLE_START), end


def readme_section(text: str) -> str:
    """The table as it stands in a README's text."""
    start, end = _table_span(text)
    return text[start:end].strip("\n")


def write_readme(path: Path = README) -> bool:
    """Rewrite the table in the README; True if it changed."""
    text = path.read_text()
    start, end = _table_span(text)
    new = text[:start] + "\n" + readme_table() + "\n" + text[end:]
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    changed = write_readme()
    print(f"{README}: {'options table rewritten' if changed else 'options table already current'}", file=sys.stderr)
