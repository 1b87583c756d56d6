"""A new user's first hour: the README's commands, and every mistake they may make answered in one sentence.

Commands run through `source-close-com`'s own entry (`source_close_com.run:run`, what its console script runs), in-process with what the
process prints captured at the file descriptors and its exit code kept (`unit_tests/helpers/console.py`), or as a
real process where the test is about the command line itself (the README's commands). Each bad input file must
give one config error naming the file or stream and what to do, no stack trace on standard output, and exit
code 1. Settings that break the spec, and keys Close rejects or restricts, have files of their own
(test_spec_errors, test_rejected_key, test_restricted_key).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import yaml

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    Status,
    TraceType,
    Type,
)

from source_close_com.run import CloseEntrypoint, ReadProgress, SourceCloseCom
from tools import catalog as catalog_tool
from tools import demo
from tools import state as state_tool
from unit_tests.harness import NO_LIMIT, catalog_for
from unit_tests.helpers.console import catalog_file, invoke, write

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "source_close_com" / "manifest.yaml").read_text())


def state_entry(stream: str, **state) -> dict:
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": state}}


# ------------------------------------------------------------------------------------- files on the command line


BAD_CONFIGS = {
    "empty": ("", "is empty"),
    "yaml": ("api_key: api_123\nstart_date: 2021-01-01\n", "is not JSON"),
    "truncated json": ('{"api_key": "api_123", ', "is not JSON"),
    "a list": ('["api_123"]', "holds a JSON list, not an object"),
}


@pytest.mark.parametrize("content, problem", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
@pytest.mark.parametrize("command", ["check", "discover"])
def test_a_config_file_that_is_not_a_json_object_is_named_with_the_fix(capfd, tmp_path, command, content, problem):
    path = write(tmp_path, "config.json", content)
    message = invoke(capfd, command, "--config", path).only_error()
    assert message.startswith(f"The config file {path} {problem}"), message
    assert '{"api_key": "api_..."}' in message, message


def test_a_missing_config_file_is_named(capfd, tmp_path):
    path = str(tmp_path / "nowhere.json")
    message = invoke(capfd, "check", "--config", path).only_error()
    assert message == f"The config file {path} does not exist: check the path after --config."


def test_discover_output_given_as_catalog_says_how_to_make_a_configured_one(simulator, capfd, tmp_path):
    config = write(tmp_path, "config.json", simulator.config())
    discovered = invoke(capfd, "discover", "--config", config)
    assert discovered.code == 0
    catalog = write(tmp_path, "catalog.json", discovered.out)
    message = invoke(capfd, "read", "--config", config, "--catalog", catalog).only_error()
    assert "holds the output of `discover`" in message and "python -m tools.catalog catalog.json" in message, message
    # the CATALOG message alone, and the catalog inside it, get the same advice
    (line,) = [line for line in discovered.out.splitlines() if '"CATALOG"' in line[:30]]
    for content in (line, json.dumps(json.loads(line)["catalog"])):
        catalog = write(tmp_path, "catalog.json", content)
        message = invoke(capfd, "read", "--config", config, "--catalog", catalog).only_error()
        assert "not a configured" in message and "python -m tools.catalog" in message, message


def test_a_misspelled_stream_in_the_catalog_fails_naming_it_before_any_request(make_simulator, capfd, tmp_path):
    sim = make_simulator(**NO_LIMIT)
    entries = ConfiguredAirbyteCatalogSerializer.dump(catalog_for(sim.config(), ["leads", "users"]))
    entries["streams"][0]["stream"]["name"] = "leadz"
    sim.reset_stats()
    run = invoke(capfd, "read", "--config", write(tmp_path, "c.json", sim.config()), "--catalog", write(tmp_path, "cat.json", entries))
    message = run.only_error()
    assert "'leadz' (did you mean 'leads'?)" in message and "does not have" in message, message
    assert not run.records("users"), "the other streams must not be read either: the catalog is wrong"
    assert sim.stats()["totals"]["requests"] == 0


@pytest.fixture
def leads_read(make_simulator, tmp_path):
    """A simulator, a config file and a catalog selecting `leads` (incremental) and `users`."""
    sim = make_simulator(**NO_LIMIT)
    config = sim.config(requests_per_second=500)
    return sim, write(tmp_path, "config.json", config), catalog_file(tmp_path, config, ["leads", "users"])


BAD_STATES = {
    "not json": ("date_updated: 2025-06-01", "is not JSON"),
    "empty": ("", "is empty"),
    "legacy format": (json.dumps({"leads": {"date_updated": "2025-06-01T00:00:00+00:00"}}), "legacy state format"),
    "a read's output": (
        "\n".join(json.dumps(state_entry(s, date_updated="2025-06-01T00:00:00+00:00")) for s in ("leads", "users")),
        "holds the output of a read",
    ),
    "a global state": (json.dumps([{"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": []}}]), "not a per-stream state"),
    "a cursor that is no date": (json.dumps([state_entry("leads", date_updated="banana")]), "gives stream 'leads' date_updated='banana', which is not a date"),
    "the wrong cursor": (json.dumps([state_entry("leads", updated_at="2025-06-01T00:00:00+00:00")]), "a state without its cursor 'date_updated'"),
}


@pytest.mark.parametrize("content, problem", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_a_state_file_the_connector_cannot_resume_from_is_named_with_the_fix(leads_read, capfd, tmp_path, content, problem):
    sim, config, catalog = leads_read
    path = write(tmp_path, "state.json", content)
    sim.reset_stats()
    message = invoke(capfd, "read", "--config", config, "--catalog", catalog, "--state", path).only_error()
    assert f"state file {path}" in message and problem in message, message
    assert "tools.state" in message or "remove the stream's entry" in message or "leave out --state" in message, message
    assert sim.stats()["totals"]["requests"] == 0


def test_states_of_streams_the_read_does_not_select_are_left_out(leads_read, capfd, tmp_path):
    """Neither checked nor used: a stale or odd state of another stream says nothing about this read."""
    sim, config, catalog = leads_read
    state = [state_entry("leads", date_updated="2025-06-01T00:00:00.000000+00:00"), state_entry("events", date_updated="banana")]
    run = invoke(capfd, "read", "--config", config, "--catalog", catalog, "--state", write(tmp_path, "s.json", state))
    assert run.code == 0 and not run.errors, [e.message for e in run.errors]
    expected = sorted(r["id"] for r in sim.truth("leads", start_date="2025-06-01T00:00:00+00:00"))
    assert sorted(r["id"] for r in run.records("leads")) == expected


def test_a_future_state_is_warned_about_only_for_the_streams_the_read_selects(leads_read, capfd):
    sim, config, catalog = leads_read
    run = invoke(capfd, "read", "--config", config, "--catalog", catalog, "--state", str(ROOT / "integration_tests" / "abnormal_state.json"))
    assert run.code == 0 and not run.errors, [e.message for e in run.errors]
    future = [w for w in run.warnings() + run.err.splitlines() if "is later than now" in w]
    assert len(future) == 1 and "Stream 'leads'" in future[0], future


# ------------------------------------------------------------------------------------------------- start date


def test_an_empty_start_date_means_the_full_history_everywhere(make_simulator, capfd, tmp_path):
    spec = MANIFEST["spec"]["connection_specification"]["properties"]["start_date"]
    assert "default" not in spec and re.fullmatch(spec["pattern"], "")
    fallback = MANIFEST["definitions"]["datetime_cursor"]["start_datetime"]["datetime"]
    assert "config.get('start_date') or '2013-01-01'" in fallback
    readme_row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `start_date`"))
    docs_row = next(line for line in (ROOT / "docs" / "close-com.md").read_text().splitlines() if "| `start_date` |" in line)
    for row in (readme_row, docs_row):
        assert "full history" in row and '`""`' in row and "2013-01-01" in row and "2021-01-01" not in row, row

    sim = make_simulator(**NO_LIMIT)
    config = write(tmp_path, "c.json", sim.config(start_date="", requests_per_second=500))
    assert invoke(capfd, "check", "--config", config).status.status == Status.SUCCEEDED
    run = invoke(capfd, "read", "--config", config, "--catalog", catalog_file(tmp_path, sim.config(), ["opportunities"]))
    assert run.code == 0 and not run.errors, [e.message for e in run.errors]
    assert sorted(r["id"] for r in run.records("opportunities")) == sorted(r["id"] for r in sim.truth("opportunities"))


# ------------------------------------------------------------------------------------------------- progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_reported_at_a_steady_rate_with_records_and_state():
    from airbyte_cdk.models import (
        AirbyteRecordMessage,
        AirbyteStateBlob,
        AirbyteStateMessage,
        AirbyteStateType,
        AirbyteStreamState,
        AirbyteStreamStatus,
        AirbyteStreamStatusTraceMessage,
        AirbyteTraceMessage,
        StreamDescriptor,
    )

    catalog = ConfiguredAirbyteCatalogSerializer.load(
        {"streams": [{"stream": {"name": n, "json_schema": {}, "supported_sync_modes": ["full_refresh"]}, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for n in ("emails", "users")]}
    )
    clock = Clock()
    progress = ReadProgress(catalog, 60.0, clock)

    def status(name, value):
        trace = AirbyteTraceMessage(type=TraceType.STREAM_STATUS, emitted_at=0, stream_status=AirbyteStreamStatusTraceMessage(stream_descriptor=StreamDescriptor(name=name), status=value))
        return AirbyteMessage(type=Type.TRACE, trace=trace)

    def record(name):
        return AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream=name, data={"id": 1}, emitted_at=0))

    state = AirbyteMessage(type=Type.STATE, state=AirbyteStateMessage(type=AirbyteStateType.STREAM, stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name="emails"), stream_state=AirbyteStateBlob(date_created="2024-03-01T00:00:00+00:00"))))
    lines = [progress.after(status("emails", AirbyteStreamStatus.RUNNING)), progress.after(status("users", AirbyteStreamStatus.RUNNING))]
    for second in range(1, 181):  # three minutes, 1,000 records a second
        clock.now += 1
        for _ in range(1000):
            lines.append(progress.after(record("emails")))
        if second == 30:
            lines.append(progress.after(state))
        if second == 100:
            lines.append(progress.after(status("users", AirbyteStreamStatus.COMPLETE)))
    shown = [line for line in lines if line]
    assert len(shown) == 3, shown  # one a minute, not one a record
    assert shown[0] == (
        "Still reading after 1 min: emails 59,001 records, state at date_created=2024-03-01T00:00:00+00:00; users 0 records."
    )
    assert "users" not in shown[2] and "emails 179,001 records" in shown[2], shown[2]


def test_a_read_logs_its_progress(simulator, capfd, tmp_path, monkeypatch):
    monkeypatch.setattr(CloseEntrypoint, "progress_interval_s", 0.0)
    config = simulator.config(requests_per_second=500)
    run = invoke(capfd, "read", "--config", write(tmp_path, "c.json", config), "--catalog", catalog_file(tmp_path, config, ["users", "leads"]))
    assert run.code == 0 and not run.errors
    progress = [line for line in run.logs() if line.startswith("Still reading after")]
    assert progress and any(re.search(r"leads [\d,]+ records", line) for line in progress), progress[-3:]


# -------------------------------------------------------------------------------------- catalog and state tools


def test_the_catalog_tool_turns_discover_output_into_a_configured_catalog(simulator, capfd, tmp_path):
    discovered = invoke(capfd, "discover", "--config", write(tmp_path, "c.json", simulator.config())).out
    configured = catalog_tool.configured_catalog(catalog_tool.discovered_catalog(discovered, "catalog.json"), "incremental")
    loaded = ConfiguredAirbyteCatalogSerializer.load(configured)
    modes = [entry.sync_mode.value for entry in loaded.streams]
    assert len(modes) == 69 and modes.count("incremental") == 28
    with pytest.raises(ValueError, match="already a configured catalog"):
        catalog_tool.discovered_catalog(json.dumps(configured), "configured_catalog.json")
    failed = json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "error": {"message": "Close rejected the API key"}}})
    with pytest.raises(ValueError, match="no CATALOG message; discover failed: Close rejected the API key"):
        catalog_tool.discovered_catalog(failed, "catalog.json")


def test_the_state_tool_keeps_the_last_state_of_each_incremental_stream():
    def message(name, **state):
        return json.dumps({"type": "STATE", "state": {**state_entry(name, **state), "sourceStats": {"recordCount": 1.0}}})

    first = "\n".join([
        json.dumps({"type": "RECORD", "record": {"stream": "leads", "data": {}, "emitted_at": 0}}),
        message("leads", date_updated="2025-01-01T00:00:00+00:00"),
        message("users", __ab_no_cursor_state_message=True),
        message("leads", date_updated="2025-02-01T00:00:00+00:00"),
        message("events", date_updated="2025-02-03T00:00:00+00:00"),
    ])
    state = state_tool.merged_state([(first, "output.jsonl")])
    assert state == [state_entry("leads", date_updated="2025-02-01T00:00:00+00:00"), state_entry("events", date_updated="2025-02-03T00:00:00+00:00")]
    [AirbyteStateMessageSerializer.load(entry) for entry in state]  # what `read --state` loads
    later = message("leads", date_updated="2025-03-01T00:00:00+00:00")
    merged = state_tool.merged_state([(json.dumps(state), "state.json"), (later, "output2.jsonl")])
    assert {m["stream"]["stream_descriptor"]["name"]: m["stream"]["stream_state"] for m in merged} == {
        "leads": {"date_updated": "2025-03-01T00:00:00+00:00"},
        "events": {"date_updated": "2025-02-03T00:00:00+00:00"},
    }
    legacy = state_tool.merged_state([(json.dumps({"leads": {"date_updated": "2025-01-01T00:00:00+00:00"}}), "old.json")])
    assert legacy == [state_entry("leads", date_updated="2025-01-01T00:00:00+00:00")]
    with pytest.raises(ValueError, match="holds no per-stream STATE message"):
        state_tool.merged_state([(json.dumps({"type": "LOG", "log": {}}), "log.jsonl")])


def readme_block(heading: str) -> List[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()


def test_the_readme_commands_for_a_real_account_run_verbatim(simulator, tmp_path):
    """The README's block, as written, against the simulator: only the config's content differs (and the install
    line, which `make` already did). Each command must succeed, the second read must be incremental."""
    lines = readme_block("Running it against a real Close account")
    assert lines[0].startswith("python3 -m venv .venv && .venv/bin/pip install")
    heredoc_end = lines.index("JSON")
    assert lines[1] == "cat > config.json <<'JSON'"
    assert set(json.loads(lines[2])) <= set(MANIFEST["spec"]["connection_specification"]["properties"])
    commands = lines[heredoc_end + 1:]
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "tools").symlink_to(ROOT / "tools")
    (tmp_path / "config.json").write_text(json.dumps(simulator.config(requests_per_second=500, window_days=3650)))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    for command in commands:
        done = subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    first = [json.loads(line) for line in (tmp_path / "output.jsonl").read_text().splitlines() if line.startswith("{")]
    second = [json.loads(line) for line in (tmp_path / "output2.jsonl").read_text().splitlines() if line.startswith("{")]
    count = lambda messages, stream: sum(1 for m in messages if m["type"] == "RECORD" and m["record"]["stream"] == stream)  # noqa: E731
    assert count(first, "leads") == len(simulator.truth("leads", start_date="2021-01-01"))
    assert count(second, "leads") < count(first, "leads") / 10, "the second read did not resume from the state"
    assert count(second, "users") == count(first, "users"), "full-refresh streams are read whole each time"


# --------------------------------------------------------------------------------------- demo, docs, packaging


def test_the_demo_table_shows_no_internal_state_and_says_what_the_total_is_made_of(capsys):
    catalog = {"streams": [
        {"stream": {"name": "leads"}, "sync_mode": "incremental"},
        {"stream": {"name": "users"}, "sync_mode": "full_refresh"},
    ]}
    messages = [
        {"type": "RECORD", "record": {"stream": "leads"}},
        {"type": "RECORD", "record": {"stream": "users"}},
        {"type": "RECORD", "record": {"stream": "users"}},
        {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}, "stream_state": {"__ab_no_cursor_state_message": True}}}},
        {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "leads"}, "stream_state": {"date_updated": "2025-01-01"}}}},
    ]
    states = demo.summarise("Read", messages, catalog)
    shown = capsys.readouterr().out
    assert "__ab_" not in shown
    assert "3 records: 1 from the 1 incremental streams, 2 from the 1 full-refresh streams" in shown, shown
    assert [s["stream"]["stream_descriptor"]["name"] for s in states] == ["leads"]


def test_the_demo_names_its_duckdb_file_with_a_command_that_opens_it(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    from tools import demo_local

    database = tmp_path / "close.duckdb"
    with duckdb.connect(str(database)) as db:
        db.sql("CREATE TABLE leads (id VARCHAR)")
    command = demo_local.query_command(database).replace(".venv/bin/python", sys.executable, 1)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "leads" in done.stdout, done.stderr


def test_install_docs_and_packaging_say_what_is_true():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    streams = SourceCloseCom(catalog=None, config={"api_key": "api_x"}, state=None).resolved_manifest["streams"]
    incremental = [s for s in streams if "incremental_sync" in s]
    assert f"{len(streams)} streams, {len(incremental)} of them incremental" in project["description"], project["description"]
    assert isinstance(project["license"], str), "an SPDX string: setuptools deprecates the license table"
    ignored = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert "/config.json" in ignored, "the README has users write their key into config.json at the root"
    docs = " ".join((ROOT / "docs" / "close-com.md").read_text().split())
    for needed in ("AIRBYTE_OFFLINE_MODE=1", "docker build -t", "Add a new Docker connector", "pip install .", "Airbyte Cloud runs neither"):
        assert needed in docs, needed
