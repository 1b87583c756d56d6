"""The options are declared once (close_simulator/options.py): the command line, the Python keywords, the runtime
switches and the README's table all come from that declaration."""

from __future__ import annotations

import pytest

from close_simulator import options
from close_simulator.__main__ import build_parser
from close_simulator.faults import FaultInjector
from close_simulator.server import parse_restricted_keys

EVERYTHING = {
    "port": 0, "seed": 11, "scale": "medium", "rps": 5, "org_rps": None, "latency_ms": 1.5, "jitter_ms": 2,
    "fractional_reset": True, "legacy_429_body": True, "header_style": "lower-semicolon",
    "restricted_keys": {"api_ro": ["event/", "lead/"]}, "extra_keys": ["api_other"], "recent_limit": 7,
    "window_s": 8, "window_limit": 240, "group_limits": {"search": 16}, "grouping": {"activity/": "activity"},
    "max_skip": 100, "faults": ["503@1:lead/", {"kind": "503", "nth": [2], "path": "task/"}], "fault_seed": 3,
}


def parsed(argv: list[str]) -> dict:
    return options.from_cli(build_parser().parse_args(["serve", *argv]))


def test_the_readme_table_is_the_declared_one():
    assert options.readme_section(options.README.read_text()) == options.readme_table(), \
        "run `python -m close_simulator.options` to rewrite the README's options table"


def test_every_declared_flag_is_on_the_command_line_with_its_default():
    def expected(o):
        if o.repeat:
            return o.from_cli([])
        value = o.command_line_default()
        return o.from_cli(value) if o.from_cli else value

    defaults = parsed([])
    usage = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
    for o in options.OPTIONS:
        if o.cli_flag is None:
            assert o.name not in defaults and o.group != "cli"
            continue
        assert o.cli_flag in usage, o.name
        if o.group != "cli":
            assert defaults[o.name] == expected(o), o.name
    assert defaults["port"] == 8765 and defaults["rps"] == 20 and defaults["faults"] == []


def test_keyword_options_survive_the_command_line():
    got = parsed(options.cli_arguments(**EVERYTHING))
    for name, value in EVERYTHING.items():
        if name == "faults":
            assert FaultInjector(got[name]).describe() == FaultInjector(value).describe()
        elif name == "restricted_keys":
            assert parse_restricted_keys(got[name]) == parse_restricted_keys(value)
        elif name == "extra_keys":
            assert list(got[name]) == value
        else:
            assert got[name] == value, name
    off = parsed(options.cli_arguments(rps=None, org_rps=None))
    assert off["rps"] is None and off["org_rps"] is None
    assert parsed(["--no-rate-limit"])["rps"] is None and parsed(["--no-rate-limit"])["org_rps"] is None
    assert options.cli_arguments(seed=7, header_style="standard") == []  # the command line's defaults are left out


def test_unknown_and_python_only_options():
    with pytest.raises(TypeError):
        options.server_options({"colour": "red"})
    with pytest.raises(TypeError):
        options.cli_arguments(colour="red")
    with pytest.raises(ValueError):
        options.cli_arguments(max_limit={"lead": 500})
    with pytest.raises(ValueError):
        options.cli_arguments(restricted_keys=True)
    assert set(options.server_options({})) == {o.name for o in options.SERVER_OPTIONS}
    assert set(options.RUNTIME) == {o.name for o in options.SWITCHES} | {"faults", "max_skip"}


@pytest.mark.parametrize("change", [{"header_style": "fancy"}, {"rps": 0}, {"latency_ms": -1}, {"window_s": 0},
                                    {"window_limit": 0}, {"group_limits": {"search": 0}}, {"grouping": 42}])
def test_bad_switch_values_are_refused(change):
    with pytest.raises((ValueError, TypeError)):
        options.Switches(**change).validate()
