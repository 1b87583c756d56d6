"""A sync stopped part way resumes from its last state and loses nothing, stream by stream.

Two ways to stop a sync:

* the packaged connector (``source-close-com read``) runs as a child process, is killed with SIGKILL after
  a number of record/state messages, and restarts from the last state message it printed per stream;
* Close cuts every connection of the incremental endpoints for good from some request on, the connector
  gives up (``max_retries`` low), and the next sync, with Close healthy again, starts from the states emitted.

Each time, the records of all runs together equal the simulator's ground truth for every incremental
stream; every state message covers only records already emitted, never moves backwards and never passes
the sync's start; and a restarted run re-reads only from its state (minus the documented overlap) on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Optional

from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, Type

from unit_tests.harness import id_diff, stream_position, sync
from unit_tests.helpers.times import config_lookback_days, edited_lately, parse, reread_floor

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = Path(sys.executable).with_name("source-close-com")
START_DATE = "2021-01-01"
WINDOW_DAYS = 60  # about 36 windows per stream between the start date and today
# Close keeps events 30 days; an event this close to the edge may expire between the truth and the request.
RETENTION = timedelta(days=30)
RETENTION_EDGE = timedelta(minutes=10)
RETENTION_STREAMS = {"events", "deleted_records"}
@dataclass
class Truth:
    """What the runs together must yield: `must` ids are required, ids outside `may` are errors."""

    rows: Dict[str, List[tuple]]  # stream -> sorted (cursor, id), as of the test's start
    must: Dict[str, set]
    may: Dict[str, set]

    @classmethod
    def of(cls, sim, cursors: Dict[str, str], start_date: str) -> "Truth":
        now = datetime.now(timezone.utc)
        rows, must, may = {}, {}, {}
        for stream, cursor in cursors.items():
            # The simulator ignores the start date for contacts: filter on the cursor here.
            records = [r for r in sim.truth(stream, start_date=start_date) if parse(r[cursor]) >= parse(start_date)]
            rows[stream] = sorted((parse(r[cursor]), r["id"]) for r in records)
            may[stream] = {r["id"] for r in records}
            floor = now - RETENTION + RETENTION_EDGE if stream in RETENTION_STREAMS else None
            must[stream] = {i for c, i in rows[stream] if floor is None or c >= floor}
            assert must[stream], f"the simulator has no {stream}: the test would prove nothing"
        return cls(rows, must, may)

    def add_later(self, sim, cursors: Dict[str, str], start_date: str) -> None:
        """Retention moves with the clock: ids present at the end are allowed too."""
        for stream in RETENTION_STREAMS & set(cursors):
            self.may[stream] |= {r["id"] for r in sim.truth(stream, start_date=start_date)
                                 if parse(r[cursors[stream]]) >= parse(start_date)}


class StateAudit:
    """Follows the messages of consecutive runs in order and notes every dishonest state.

    A state value S of a stream promises that every record with a cursor up to S has been emitted: each
    such record of the ground truth must already have been seen (in this run or an earlier one). States never
    go backwards and never pass the moment they arrive (a sync's upper bound is taken while it runs).
    """

    def __init__(self, truth: Truth, cursors: Dict[str, str]):
        self.truth = truth
        self.cursors = cursors
        self.emitted: Dict[str, set] = defaultdict(set)
        self.checked: Dict[str, int] = defaultdict(int)
        self.last: Dict[str, datetime] = {}
        self.problems: List[str] = []
        self.run_started = datetime.now(timezone.utc)

    def start_run(self) -> None:
        self.run_started = datetime.now(timezone.utc)

    def record(self, stream: str, data: dict) -> None:
        self.emitted[stream].add(data["id"])

    def state(self, stream: str, stream_state: dict) -> None:
        if stream not in self.cursors:
            return
        cursor = self.cursors[stream]
        stream_state = stream_position(stream_state)
        if cursor not in stream_state:
            # A partitioned state before any partition is done promises nothing; any other must name its position.
            if stream_state.get("states") or stream_state.get("state") or set(stream_state) - {"use_global_cursor", "lookback_window"}:
                self.problems.append(f"{stream}: state without its cursor {cursor}: {stream_state}")
            return
        value = parse(stream_state[cursor])
        previous = self.last.get(stream)
        if previous is not None and value < previous:
            self.problems.append(f"{stream}: state went backwards {previous} -> {value}")
        arrived = datetime.now(timezone.utc)
        if value > arrived:
            self.problems.append(f"{stream}: state {value} is past the moment it arrived {arrived}")
        self.last[stream] = value
        rows, i = self.truth.rows[stream], self.checked[stream]
        while i < len(rows) and rows[i][0] <= value:
            rid = rows[i][1]
            if rid in self.truth.must[stream] and rid not in self.emitted[stream]:
                self.problems.append(f"{stream}: state {value} passed {rid} ({rows[i][0]}) before it was emitted")
            i += 1
        self.checked[stream] = i


# ------------------------------------------------------------------------------- the connector as a process


@dataclass
class Run:
    records: Dict[str, List[dict]] = field(default_factory=lambda: defaultdict(list))
    last_state: Dict[str, dict] = field(default_factory=dict)  # stream -> the "stream" part of its last state
    messages: int = 0  # records and states
    errors: List[str] = field(default_factory=list)
    returncode: Optional[int] = None
    killed: bool = False

    def ids(self, stream: str) -> List[str]:
        return [r["id"] for r in self.records[stream]]


def read_process(workdir: Path, config: dict, catalog: dict, state: Optional[list], audit: StateAudit,
                 kill_after: Optional[int] = None, timeout: float = 300.0) -> Run:
    """`source-close-com read` as the platform runs it; SIGKILL once `kill_after` records/states were read."""
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "catalog.json").write_text(json.dumps(catalog))
    argv = [str(CONNECTOR), "read", "--config", str(workdir / "config.json"), "--catalog", str(workdir / "catalog.json")]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        argv += ["--state", str(workdir / "state.json")]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    audit.start_run()
    run = Run()
    # The connector's stderr carries its debug log, request headers included: never keep or show it.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            kind = message.get("type")
            if kind == "RECORD":
                record = message["record"]
                run.records[record["stream"]].append(record["data"])
                audit.record(record["stream"], record["data"])
                run.messages += 1
            elif kind == "STATE":
                stream_part = message["state"]["stream"]
                name = stream_part["stream_descriptor"]["name"]
                run.last_state[name] = stream_part
                audit.state(name, stream_part.get("stream_state") or {})
                run.messages += 1
            elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
                run.errors.append(message["trace"]["error"].get("message", ""))
            if kill_after is not None and run.messages >= kill_after:
                proc.send_signal(signal.SIGKILL)
                run.killed = True
                break
    finally:
        if proc.poll() is None and not run.killed:
            proc.wait(timeout)
        proc.wait(30)
        watchdog.cancel()
        proc.stdout.close()
    run.returncode = proc.returncode
    return run


def state_file(states: Dict[str, dict]) -> list:
    """The state a platform hands the next attempt: the last per-stream state message of each stream."""
    return [{"type": "STREAM", "stream": part} for part in states.values()]


# ---------------------------------------------------------------------------------------------------- tests


def test_killed_syncs_resume_from_their_last_state_and_lose_nothing(make_simulator, incremental, tmp_path):
    """SIGKILL the connector five times part way, restarting each time from the states it printed (three kills
    left as few as two streams cut part way on a busy machine; five cut five or six)."""
    sim = make_simulator(seed=7, scale="small", rps=None, org_rps=None)
    config = sim.config(start_date=START_DATE, window_days=WINDOW_DAYS, requests_per_second=500)
    catalog, cursors = ConfiguredAirbyteCatalogSerializer.dump(incremental[0]), incremental[1]
    truth = Truth.of(sim, cursors, START_DATE)
    audit = StateAudit(truth, cursors)

    states: Dict[str, dict] = {}
    runs: List[Run] = []
    inputs: List[Dict[str, datetime]] = []  # the state each run started from, per stream
    for kill_after in (700, 700, 700, 700, 700, None):
        inputs.append({s: parse(p["stream_state"][cursors[s]]) for s, p in states.items() if p.get("stream_state")})
        run = read_process(tmp_path, config, catalog, state_file(states) if states else None, audit, kill_after)
        runs.append(run)
        states.update(run.last_state)
        if kill_after is not None:
            assert run.killed, f"the sync ended after {run.messages} messages, before the kill: nothing was tested"
    final = runs[-1]
    assert final.returncode == 0 and not final.errors, f"the last run failed: {final.errors[:3]}"
    truth.add_later(sim, cursors, START_DATE)

    # Nothing lost, nothing foreign: the union of all runs is the ground truth, stream by stream.
    for stream in cursors:
        union = {i for run in runs for i in run.ids(stream)}
        missing, extra = truth.must[stream] - union, union - truth.may[stream]
        assert not missing and not extra, f"{stream}: " + id_diff(union, truth.must[stream])
    assert not audit.problems, "dishonest states:\n" + "\n".join(audit.problems[:15])

    # Every restarted run read from its state on (minus the documented overlap), not from the start.
    resumed = set()
    for number, (run, started_from) in enumerate(zip(runs[1:], inputs[1:]), start=2):
        for stream, state in started_from.items():
            floor = reread_floor(stream, cursors[stream], state, config_lookback_days(config))
            older = [r["id"] for r in run.records[stream] if parse(r[cursors[stream]]) < floor and not edited_lately(r)]
            assert not older, f"run {number} re-read {len(older)} {stream} records older than {floor}: {older[:3]}"
            skippable = sum(1 for c, _ in truth.rows[stream] if c < floor)
            if skippable:
                resumed.add(stream)
                assert len(run.records[stream]) < len(truth.rows[stream]), f"run {number} re-read all of {stream}"
    # The kills must have cut streams part way, or the test proves little.
    part_way = {
        stream
        for started_from in inputs[1:]
        for stream, state in started_from.items()
        if truth.rows[stream] and truth.rows[stream][0][0] < state < truth.rows[stream][-1][0]
    }
    print(f"runs: {[r.messages for r in runs]} messages; streams resumed part way: {len(part_way)} {sorted(part_way)}")
    assert len(part_way) >= 3, f"too few streams were interrupted part way: {sorted(part_way)}"
    assert resumed, "no run skipped anything: the states never moved"


def test_a_sync_that_gives_up_mid_stream_resumes_from_its_states(make_simulator, incremental):
    """Close drops the connections of every incremental endpoint for good; the next sync picks up the rest."""
    sim = make_simulator(seed=7, scale="small", rps=None, org_rps=None, fault_seed=11)
    config = sim.config(start_date=START_DATE, window_days=WINDOW_DAYS, max_retries=0)
    catalog, cursors = incremental
    truth = Truth.of(sim, cursors, START_DATE)
    audit = StateAudit(truth, cursors)

    # Each listed path answers normally for a while, then every request from the Nth on is cut mid-body, N
    # between a fifth and three quarters of the path's windows. Shared paths (task/ for eight streams, event/
    # for two) fail at random instead, so each of their streams stops somewhere of its own.
    windows = (datetime.now(timezone.utc) - parse(START_DATE)).days // WINDOW_DAYS + 1
    share = {
        "lead/": 0.3, "data/search/": 0.5, "opportunity/": 0.6, "activity/created/": 0.4, "activity/note/": 0.35,
        "activity/emailthread/": 0.55, "activity/email/": 0.45, "activity/sms/": 0.65, "activity/call/": 0.3,
        "activity/meeting/": 0.6, "activity/status_change/lead/": 0.5, "activity/status_change/opportunity/": 0.7,
        "activity/task_completed/": 0.45, "activity/custom/": 0.75,
    }
    faults = [
        {"kind": "drop", "path": path, "nth": list(range(max(3, int(windows * part)), 5000))}
        for path, part in share.items()
    ] + [
        {"kind": "drop", "prefix": "task/", "probability": 0.04},
        {"kind": "drop", "prefix": "event/", "probability": 0.08},
    ]
    sim.configure(faults=faults)
    audit.start_run()
    first = sync(config, catalog=catalog, expect_errors=True)
    assert first.output.errors, "the faults did not stop the sync: the test proves nothing"
    replay(audit, first)
    dropped = sim.stats()["totals"]["faults"].get("drop", 0)

    sim.configure(faults=[])
    # Where each stream stopped; a stream stopped before its first position (a partitioned state with no
    # partition done) starts over from the start date.
    positions = {s.stream.stream_descriptor.name: stream_position(s.stream.stream_state.__dict__) for s in first.final_state}
    started_from = {
        name: parse(position.get(cursors[name]) or START_DATE) for name, position in positions.items()
    }
    audit.start_run()
    second = sync(config, catalog=catalog, state=first.final_state)
    replay(audit, second)
    truth.add_later(sim, cursors, START_DATE)

    for stream in cursors:
        union = set(first.ids(stream)) | set(second.ids(stream))
        missing, extra = truth.must[stream] - union, union - truth.may[stream]
        assert not missing and not extra, f"{stream}: " + id_diff(union, truth.must[stream])
    assert not audit.problems, "dishonest states:\n" + "\n".join(audit.problems[:15])

    part_way = []
    for stream, state in started_from.items():
        floor = reread_floor(stream, cursors[stream], state, config_lookback_days(config))
        older = [r["id"] for r in second.records[stream] if parse(r[cursors[stream]]) < floor and not edited_lately(r)]
        assert not older, f"the second sync re-read {len(older)} {stream} records older than {floor}: {older[:3]}"
        rows = truth.rows[stream]
        if rows and rows[0][0] < state < rows[-1][0]:
            part_way.append(stream)
            assert len(second.records[stream]) < len(rows), f"the second sync re-read all of {stream}"
    print(f"{dropped} connections dropped; {len(part_way)} streams resumed part way: {sorted(part_way)}")
    # Streams with a faulted path of their own stop part way (windows are read a few at a time and not quite
    # in order, so a stream may rarely fail in its very first window: most, not all, must be part way).
    own_path = {
        "leads", "contacts", "opportunities", "created_activities", "note_activities", "email_thread_activities",
        "email_activities", "sms_activities", "call_activities", "meeting_activities",
        "lead_status_change_activities", "opportunity_status_change_activities", "task_completed_activities",
        "custom_activity_instances",
    }
    assert len(own_path & set(part_way)) >= 10, f"too few streams cut part way: {sorted(own_path & set(part_way))}"


def replay(audit: StateAudit, result) -> None:
    """Feed an in-process read to the audit in the order the platform would have seen it."""
    for message in result.output.get_message_iterator():
        if message.type == Type.RECORD:
            audit.record(message.record.stream, message.record.data)
        elif message.type == Type.STATE:
            part = message.state.stream
            audit.state(part.stream_descriptor.name, dict(part.stream_state.__dict__) if part.stream_state else {})
