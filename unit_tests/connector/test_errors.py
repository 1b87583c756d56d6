"""Errors a person must act on: the exact Airbyte message, its failure type, and what it asks the reader to do.

Commands run through `source-close-com`'s own entry point (`source_close_com.run:run`, the console script of
pyproject.toml), in-process with the process's output captured, or as a real subprocess where the test is about
everything the process prints (secrets, with debug logging on). An exception that escapes the entry point is
turned into the trace message the CDK's uncaught-exception hook prints for the platform.

Covered elsewhere and not repeated: check wording for each spec rule (test_spec_check_discover), 429/5xx handling
and secrets of in-process syncs without debug logging (test_resilience).
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from airbyte_cdk.exception_handler import assemble_uncaught_exception
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    FailureType,
    Level,
    Status,
    TraceType,
    Type,
)

from source_close_com.run import run as console_script
from unit_tests.harness import as_emitted, configured_catalog, id_diff, without_nulls

START = "2021-01-01"
NO_LIMIT = {"rps": None, "org_rps": None}
ROOT = Path(__file__).resolve().parents[2]
KEY_ADVICE = ("Check the key", "create a new one")


# --------------------------------------------------------------------------------------------- helpers


@dataclass
class Run:
    """What one command printed: the Airbyte messages, and every line as text (for secret scans)."""

    messages: List[AirbyteMessage]
    text: str
    exit_code: Optional[int] = None

    def of(self, kind: Type) -> List[AirbyteMessage]:
        return [m for m in self.messages if m.type == kind]

    @property
    def errors(self):
        return [m.trace.error for m in self.of(Type.TRACE) if m.trace.type == TraceType.ERROR]

    @property
    def stream_errors(self) -> Dict[str, list]:
        out: Dict[str, list] = {}
        for error in self.errors:
            if error.stream_descriptor is not None:
                out.setdefault(error.stream_descriptor.name, []).append(error)
        return out

    @property
    def status(self):
        statuses = [m.connectionStatus for m in self.of(Type.CONNECTION_STATUS)]
        assert len(statuses) == 1, self.text[-3000:]
        return statuses[0]

    def warnings(self) -> List[str]:
        return [m.log.message for m in self.of(Type.LOG) if m.log.level == Level.WARN]

    def records(self, stream: str) -> List[dict]:
        return [m.record.data for m in self.of(Type.RECORD) if m.record.stream == stream]


def parse_output(text: str) -> List[AirbyteMessage]:
    messages = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            messages.append(AirbyteMessageSerializer.load(json.loads(line)))
        except Exception:  # debug lines and other non-protocol output
            continue
    return messages


def write(tmp_path: Path, name: str, content) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def arguments(tmp_path: Path, command: str, config=None, catalog: Optional[ConfiguredAirbyteCatalog] = None) -> List[str]:
    args = [command]
    if config is not None:
        args += ["--config", write(tmp_path, "config.json", config)]
    if catalog is not None:
        args += ["--catalog", write(tmp_path, "catalog.json", ConfiguredAirbyteCatalogSerializer.dump(catalog))]
    return args


def console(capfd, tmp_path: Path, command: str, config=None, catalog=None, debug: bool = False) -> Run:
    """`source-close-com <command>` in this process; everything it prints is captured at the file descriptors."""
    capfd.readouterr()
    escaped = None
    try:
        console_script(arguments(tmp_path, command, config, catalog) + (["--debug"] if debug else []))
    except SystemExit:
        pass
    except Exception as error:  # what the CDK's excepthook would print before the process exits non-zero
        escaped = error
    out, err = capfd.readouterr()
    if escaped is not None:
        trace = assemble_uncaught_exception(type(escaped), escaped).as_airbyte_message()
        out += json.dumps(AirbyteMessageSerializer.dump(trace)) + "\n"
    return Run(messages=parse_output(out), text=out + err)


def only(catalog: ConfiguredAirbyteCatalog, streams) -> ConfiguredAirbyteCatalog:
    wanted = set(streams)
    chosen = ConfiguredAirbyteCatalog(streams=[s for s in catalog.streams if s.stream.name in wanted])
    assert {s.stream.name for s in chosen.streams} == wanted
    return chosen


@contextmanager
def log_levels_restored():
    """`--debug` (and the CDK test wrapper's discover, which always passes it) turns debug logging on for the
    whole process; put the levels back for the tests that follow."""
    loggers = [logging.getLogger(name) for name in ["airbyte", *logging.root.manager.loggerDict] if name.startswith("airbyte")]
    levels = [(logger, logger.level) for logger in loggers if isinstance(logger, logging.Logger)]
    try:
        yield
    finally:
        for logger, level in levels:
            logger.setLevel(level)


@pytest.fixture(scope="module")
def catalog(simulator) -> ConfiguredAirbyteCatalog:
    """Every stream in full refresh (seed 7, small: every simulator here has the same account)."""
    with log_levels_restored():
        return configured_catalog(simulator.config(), None, "full_refresh")


# ------------------------------------------------------------------------------------------ rejected key

REVOKED = "api_REVOKED0000000000000000"


def test_a_rejected_key_fails_check_with_one_request_and_says_what_to_do(make_simulator, capfd, tmp_path):
    sim = make_simulator(**NO_LIMIT)
    run = console(capfd, tmp_path, "check", sim.config(api_key=REVOKED))
    assert run.status.status == Status.FAILED
    assert "401" in run.status.message and all(advice in run.status.message for advice in KEY_ADVICE), run.status.message
    assert [e.failure_type for e in run.errors] == [FailureType.config_error], run.errors
    assert all(advice in run.errors[0].message for advice in KEY_ADVICE), run.errors[0].message
    assert sim.stats()["totals"]["requests"] == 1, sim.stats()["totals"]  # no retry, no probe after a 401


def test_a_rejected_key_stops_a_read_after_the_first_answer(make_simulator, catalog, capfd, tmp_path):
    """A 401 is final: once Close has rejected the key, no further request is sent with it. Only the requests
    already in flight when the first 401 came back reach Close (at most one per worker); every stream fails
    with the config error that says what to do."""
    sim = make_simulator(**NO_LIMIT)
    streams = ["users", "email_activities", "lead_tasks", "events"]
    workers = 3
    run = console(capfd, tmp_path, "read", sim.config(api_key=REVOKED, num_workers=workers), only(catalog, streams))
    assert run.errors, "the read did not fail"
    assert all(e.failure_type == FailureType.config_error for e in run.errors), [e.failure_type for e in run.errors]
    assert set(run.stream_errors) == set(streams), run.stream_errors.keys()
    for stream, errors in run.stream_errors.items():
        assert all("401" in e.message and all(advice in e.message for advice in KEY_ADVICE) for e in errors), errors[0].message
    sent = sim.stats()["totals"]["requests"]
    # dozens of date windows, yet only what was in flight at the first 401 was sent
    assert 1 <= sent <= workers, f"with a rejected key, {sent} requests reached Close"


def test_a_rejected_key_stops_a_read_of_custom_field_streams_at_the_first_request(make_simulator, catalog, capfd, tmp_path):
    """Streams with custom field columns read the account's definitions first: the 401 comes from there."""
    sim = make_simulator(**NO_LIMIT)
    run = console(capfd, tmp_path, "read", sim.config(api_key=REVOKED), only(catalog, ["leads", "users"]))
    assert run.errors and all(e.failure_type == FailureType.config_error for e in run.errors), run.errors
    assert any(all(advice in e.message for advice in KEY_ADVICE) for e in run.errors), [e.message for e in run.errors]
    assert not run.of(Type.RECORD)
    assert sim.stats()["totals"]["requests"] <= 2, sim.stats()["paths"].keys()  # at most one per stream


# ---------------------------------------------------------------------------------------- restricted key

FORBIDDEN_STREAMS = {  # the simulator's restricted key may not read send_as/, event/ and custom_field/
    "send_as", "events", "deleted_records",
    "lead_custom_fields", "contact_custom_fields", "opportunity_custom_fields", "activity_custom_fields",
    "custom_object_custom_fields", "shared_custom_fields",
}


def test_a_restricted_key_skips_what_it_may_not_read_and_syncs_everything_else(make_simulator, catalog, capfd, tmp_path):
    sim = make_simulator(**NO_LIMIT, restricted_keys=True)
    config = sim.config(api_key=sim.restricted_key, window_days=365, requests_per_second=500)
    run = console(capfd, tmp_path, "read", config, catalog)
    assert not run.errors, [e.message for e in run.errors]

    problems = []
    for entry in catalog.streams:
        stream = entry.stream.name
        emitted = run.records(stream)
        if stream in FORBIDDEN_STREAMS:
            if emitted:
                problems.append(f"{stream}: {len(emitted)} records from an endpoint the key may not read")
            continue
        truth = {r["id"]: as_emitted(r) for r in sim.truth(stream, start_date=START)}
        got = {r["id"]: without_nulls(r) for r in emitted}
        if set(got) != set(truth):
            problems.append(f"{stream}: " + id_diff(got, truth))
        elif any(got[i] != truth[i] for i in truth):
            problems.append(f"{stream}: records differ from the server's")
    assert not problems, "\n".join(problems)

    warnings = [w for w in run.warnings() if "403" in w]
    for stream in sorted(FORBIDDEN_STREAMS):
        mine = [w for w in warnings if f"'{stream}'" in w]
        assert len(mine) == 1, f"{stream}: {len(mine)} warnings: {warnings}"
        assert "permission" in mine[0] and "Close admin" in mine[0], mine[0]
    assert len({w for w in warnings if any(f"'{s}'" in w for s in FORBIDDEN_STREAMS)}) == len(FORBIDDEN_STREAMS)


# ------------------------------------------------------------------------------- config that breaks the spec

BROKEN_CONFIGS = [
    ({"start_date": "2021/01/01"}, "start_date"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"api_url": "ftp://127.0.0.1/api/v1/"}, "api_url"),
    ({"api_url": "http://api.close.com/api/v1/"}, "api_url"),
    ({"num_workers": 0}, "num_workers"),
    ({"num_workers": 51}, "num_workers"),
]


@pytest.mark.parametrize("override, setting", BROKEN_CONFIGS, ids=[f"{k}={v!r}" for o, _ in BROKEN_CONFIGS for k, v in o.items()])
def test_a_config_that_breaks_the_spec_fails_check_and_read_naming_the_setting(
    make_simulator, catalog, capfd, tmp_path, override, setting
):
    sim = make_simulator(**NO_LIMIT)
    config = {**sim.config(), **override}

    check = console(capfd, tmp_path, "check", config)
    assert check.status.status == Status.FAILED
    assert f"'{setting}'" in check.status.message, check.status.message

    read = console(capfd, tmp_path, "read", config, only(catalog, ["users"]))
    assert len(read.errors) == 1, [e.message for e in read.errors]
    error = read.errors[0]
    assert error.failure_type == FailureType.config_error
    assert f"'{setting}'" in error.message, error.message
    assert not read.of(Type.RECORD)
    assert sim.stats()["totals"]["requests"] == 0, "a config that breaks the spec must not reach Close"


# ------------------------------------------------------------------------------------ a 400 Close means

LIMIT_TOO_HIGH = "The limit you set is larger than the maximum limit for this resource (max_limit = 10)."


@pytest.mark.parametrize(
    "stream, resource, path",
    [
        ("users", "user", "user/"),  # offset pages, full refresh
        ("opportunities", "opportunity", "opportunity/"),  # windows restarted from the cursor on `maximum skip`
        ("lead_tasks", "task", "task/"),  # windows split in two on `maximum skip`
        ("contacts", "search", "data/search/"),  # search walks restarted on `Cursor has expired`
    ],
)
def test_a_400_close_cannot_serve_fails_the_stream_quoting_close(make_simulator, catalog, capfd, tmp_path, stream, resource, path):
    """Close refusing a request for good (here: a page size above the resource's limit) is neither retried nor
    taken for the `maximum skip` or expired-cursor 400s, which restart a walk: the filters for those match on
    the message, so they must not also match every 400 by status code."""
    sim = make_simulator(**NO_LIMIT, max_limit={resource: 10})
    run = console(capfd, tmp_path, "read", sim.config(window_days=3650), only(catalog, [stream]))
    errors = run.stream_errors.get(stream, [])
    assert errors, f"no error for {stream}: " + "; ".join(e.message for e in run.errors)
    assert all(e.failure_type == FailureType.system_error for e in errors), [e.failure_type for e in errors]
    assert all(LIMIT_TOO_HIGH in e.message and path in e.message for e in errors), [e.message for e in errors]
    assert sim.stats()["paths"][path]["status"] == {"400": 1}, "the 400 was retried, split or restarted"


# ------------------------------------------------------------------------------------------------ secrets


def test_the_key_never_appears_in_anything_the_connector_prints_even_with_debug_logs(make_simulator, catalog, capfd, tmp_path):
    """spec, check, discover and a read with retries run with `--debug` (request headers, response bodies), and a
    read that fails for good runs as its own process (uncaught exception, stack trace, exit code): neither the
    key nor its HTTP Basic encoding appears anywhere in what they print, stdout or stderr."""
    faults = ["503@1:user/", "drop@1:pipeline/", "429@1:status/lead/"]
    sim = make_simulator(**NO_LIMIT, faults=faults, legacy_429_body=True)
    key = sim.api_key
    forms = {"the key": key, "base64(key:)": base64.b64encode(f"{key}:".encode()).decode(), "base64(key)": base64.b64encode(key.encode()).decode()}
    good = sim.config(requests_per_second=500)
    texts = {}
    with log_levels_restored():
        for command, config, chosen in [
            ("spec", None, None),
            ("check", good, None),
            ("discover", good, None),
            ("read", good, only(catalog, ["users", "pipelines", "lead_statuses", "leads"])),
        ]:
            folder = tmp_path / command
            folder.mkdir()
            texts[command] = console(capfd, folder, command, config, chosen, debug=True).text
    assert "Making outbound API request" in texts["read"] and "Authorization" in texts["read"], (
        "debug logs no longer show request headers: the scan would prove less"
    )
    assert sim.stats()["totals"]["faults"], "no fault was served: no retry was logged"

    sim.configure(faults=[{"kind": "503", "path": "user/", "probability": 1.0}])
    folder = tmp_path / "outage"
    folder.mkdir()
    args = arguments(folder, "read", {**good, "max_retries": 0}, only(catalog, ["users"])) + ["--debug"]
    code = "import sys; from source_close_com.run import run; sys.exit(run())"
    process = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    texts["failing read (own process)"] = process.stdout + process.stderr
    assert process.returncode != 0 and "Traceback" in texts["failing read (own process)"]
    assert any(e.failure_type == FailureType.transient_error for e in Run(parse_output(process.stdout), "").errors)

    leaks = {name: [form for form, value in forms.items() if value in text] for name, text in texts.items()}
    assert not any(leaks.values()), f"the key was printed: {leaks}"
