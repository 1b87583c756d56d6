"""Shared plumbing of the connector benchmarks.

The connector runs as Airbyte runs it: the packaged console script ``source-close-com read --config ...
--catalog ... [--state ...]`` in a child process, against a ``SimulatorProcess`` (a second child), so the
connector, the simulator and this harness each have a process (and a GIL) of their own. The harness reads
the connector's stdout line by line, keeps only what it needs (per-stream counts, ids, states, stream
statuses, errors) and drops every record payload at once. The child's CPU time comes from ``os.wait4``
(``ru_utime + ru_stime``). Its peak RSS is the kernel's high-water mark of the child's own address space
(``VmHWM`` in ``/proc/<pid>/status``), read by a sampler thread twice a second together with the RSS and
CPU curve: ``ru_maxrss`` is not used because Linux folds the *parent's* high-water mark into it when the
forked child execs, so a harness holding the ground truth would inflate it (a 150 MB connector showed as
708 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from close_simulator.testing import SimulatorProcess  # noqa: E402
from tools.catalog import configured_catalog  # noqa: E402,F401  (re-exported for the benchmarks)

CONNECTOR = str(Path(sys.executable).with_name("source-close-com"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# Streams whose truth depends on the clock: Close keeps the event log 30 days, so events age out while
# a sync runs. For them the check is truth(after) <= emitted <= truth(before) | truth(after).
CLOCK_STREAMS = ("events", "deleted_records")


# ----------------------------------------------------------------------------------------- machine


def machine_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"machine: {os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


def load_average() -> float:
    return os.getloadavg()[0]


# --------------------------------------------------------------------------------------- /proc reads


def proc_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a live process (Linux), None if it is gone."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float | None:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * PAGE_KB / 1024


def proc_hwm_mb(pid: int) -> float | None:
    """Peak resident set size of the process's own address space (``VmHWM``), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# ------------------------------------------------------------------------------------------ catalog


def connector_command(manifest: str | None = None, components: str | None = None) -> list[str]:
    """The connector's command line: the console script, or the experiment runner on another manifest."""
    if not manifest:
        return [CONNECTOR]
    command = [sys.executable, "-m", "bench.manifest_runner", str(Path(manifest).resolve())]
    if components:
        command += ["--components", str(Path(components).resolve())]
    return command


def add_connector_options(parser: Any) -> None:
    parser.add_argument("--manifest", help="run a copy of the manifest instead of the packaged one (experiments)")
    parser.add_argument("--components", help="with --manifest: the custom components module to load with it")


def discover(config: dict, workdir: Path, command: list[str] | None = None) -> dict:
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run([*(command or [CONNECTOR]), "discover", "--config", str(path)], capture_output=True,
                          text=True, cwd=ROOT)
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            message = json.loads(line)
            if message.get("type") == "CATALOG":
                return message["catalog"]
    raise SystemExit(f"discover failed (exit {done.returncode}): {done.stderr[-2000:]}")


# ------------------------------------------------------------------------------------ one connector run


@dataclass
class Sample:
    t: float  # seconds since the read started
    records: int
    rss_mb: float | None
    cpu_s: float | None
    hwm_mb: float | None = None


@dataclass
class RunResult:
    wall_s: float
    exit_code: int
    cpu_user_s: float
    cpu_sys_s: float
    peak_rss_mb: float
    counts: Counter
    ids: dict[str, list[str]]
    final_state: list[dict]
    errors: list[str]
    warnings: int
    stream_times: dict[str, tuple[float, float]]  # stream -> (started, complete) seconds since start
    samples: list[Sample] = field(default_factory=list)
    first_record_s: float | None = None

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s

    @property
    def records(self) -> int:
        return sum(self.counts.values())


def run_read(
    config: dict,
    catalog: dict,
    state: list[dict] | None = None,
    *,
    keep_ids: bool = True,
    sample_every: float = 0.5,
    workdir: Path | None = None,
    on_sample: Callable[[Sample], None] | None = None,
    command: list[str] | None = None,
) -> RunResult:
    """``source-close-com read`` in a child process; returns what it emitted (ids, not payloads) and its cost."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="close-bench-"))
    args = [*(command or [CONNECTOR]), "read"]
    for name, content in (("config", config), ("catalog", catalog), ("state", state)):
        if content is None:
            continue
        path = workdir / f"{name}.json"
        path.write_text(json.dumps(content))
        args += [f"--{name}", str(path)]
    stderr_path = workdir / "stderr.log"
    counts: Counter = Counter()
    ids: dict[str, list[str]] = defaultdict(list)
    states: dict[str, dict] = {}
    errors: list[str] = []
    warnings = 0
    started_at: dict[str, float] = {}
    complete_at: dict[str, float] = {}
    samples: list[Sample] = []
    first_record: list[float] = []
    total = [0]

    with open(stderr_path, "wb") as stderr:
        start = time.monotonic()
        start_epoch_ms = time.time() * 1000
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, bufsize=1 << 20, cwd=ROOT)
        stop = threading.Event()

        def sampler() -> None:
            while not stop.wait(sample_every):
                sample = Sample(time.monotonic() - start, total[0], proc_rss_mb(proc.pid), proc_cpu_seconds(proc.pid),
                                proc_hwm_mb(proc.pid))
                samples.append(sample)
                if on_sample is not None:
                    on_sample(sample)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        for line in proc.stdout:
            if line.startswith(b'{"type":"RECORD"'):
                record = orjson.loads(line)["record"]
                stream = record["stream"]
                counts[stream] += 1
                total[0] += 1
                if not first_record:
                    first_record.append(time.monotonic() - start)
                if keep_ids:
                    ids[stream].append(record["data"].get("id"))
                continue
            if not line.startswith(b"{"):
                continue
            message = orjson.loads(line)
            kind = message.get("type")
            if kind == "STATE":
                state_message = message["state"]
                if state_message.get("type") == "STREAM":
                    name = state_message["stream"]["stream_descriptor"]["name"]
                    states[name] = {"type": "STREAM", "stream": state_message["stream"]}
            elif kind == "TRACE":
                trace = message["trace"]
                if trace.get("type") == "ERROR":
                    error = trace["error"]
                    errors.append(f"{error.get('message')} / {str(error.get('internal_message'))[:300]}")
                elif trace.get("type") == "STREAM_STATUS":
                    status = trace["stream_status"]
                    name = status["stream_descriptor"]["name"]
                    at = (trace.get("emitted_at", start_epoch_ms) - start_epoch_ms) / 1000
                    if status["status"] == "STARTED":
                        started_at.setdefault(name, at)
                    elif status["status"] in ("COMPLETE", "INCOMPLETE"):
                        complete_at[name] = at
            elif kind == "LOG" and message["log"].get("level") in ("WARN", "ERROR", "FATAL"):
                warnings += 1
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        stop.set()
        thread.join()
        proc.stdout.close()
    if proc.returncode != 0 and not errors:
        errors.append(f"exit code {proc.returncode}: {stderr_path.read_text()[-1500:]}")
    return RunResult(
        wall_s=wall,
        exit_code=proc.returncode,
        cpu_user_s=usage.ru_utime,
        cpu_sys_s=usage.ru_stime,
        peak_rss_mb=max([s.hwm_mb or 0.0 for s in samples] + [s.rss_mb or 0.0 for s in samples] + [0.0]),
        counts=counts,
        ids=dict(ids),
        final_state=list(states.values()),
        errors=errors,
        warnings=warnings,
        stream_times={s: (started_at[s], complete_at.get(s, wall)) for s in started_at},
        samples=samples,
        first_record_s=first_record[0] if first_record else None,
    )


# ------------------------------------------------------------------------------------------ truth


def truth_ids(sim: SimulatorProcess, streams: Iterable[str], start_date: str | None) -> dict[str, list[str]]:
    return {s: [r["id"] for r in sim.truth(s, start_date=start_date)] for s in streams}


@dataclass
class Check:
    stream: str
    emitted: int
    expected: int
    missing: list[str]
    extra: list[str]
    duplicates: int

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


def compare(emitted: dict[str, list[str]], before: dict[str, list[str]], after: dict[str, list[str]] | None = None,
            duplicates_allowed: bool = False) -> list[Check]:
    """Per stream: emitted ids against the truth. ``after`` (truth read after the sync) tolerates records of the
    clock-bound streams that aged out of Close's 30-day event log while the sync ran."""
    checks = []
    for stream in sorted(before):
        got = emitted.get(stream, [])
        got_set = set(got)
        want_before = set(before[stream])
        want_after = set((after or before).get(stream, before[stream]))
        if stream in CLOCK_STREAMS:
            missing = sorted(want_after - got_set)
            extra = sorted(got_set - (want_before | want_after))
        else:
            missing = sorted(want_before - got_set)
            extra = sorted(got_set - want_before)
        dups = 0 if duplicates_allowed else len(got) - len(got_set)
        checks.append(Check(stream, len(got), len(want_after if stream in CLOCK_STREAMS else want_before),
                            missing, extra, dups))
    return checks


def print_checks(checks: list[Check], label: str = "ground truth") -> bool:
    bad = [c for c in checks if not c.ok or c.duplicates]
    expected = sum(c.expected for c in checks)
    emitted = sum(c.emitted for c in checks)
    if not bad:
        print(f"  {label}: all {len(checks)} streams match by id ({emitted} records emitted, {expected} expected)")
        return True
    print(f"  {label}: {len(bad)} of {len(checks)} streams differ")
    for c in bad:
        print(f"    {c.stream:<40} emitted {c.emitted:>7} expected {c.expected:>7} missing {len(c.missing)} "
              f"extra {len(c.extra)} duplicates {c.duplicates}  e.g. {(c.missing or c.extra)[:2]}")
    return False


# ------------------------------------------------------------------------------------- simulator stats


def request_span(stats: dict) -> tuple[int, int, float]:
    """(requests, 429s, seconds between the first and the last busy second) from ``per_second``."""
    per_second = [s for s in stats.get("per_second", []) if s.get("requests")]
    totals = stats["totals"]
    if not per_second:
        return totals["requests"], totals.get("429", 0), 0.0
    first = min(s["second"] for s in per_second)
    last = max(s["second"] for s in per_second)
    return totals["requests"], totals.get("429", 0), float(last - first + 1)


def cpu_timeline(samples: list[Sample], wall_s: float, slices: int = 10) -> list[float]:
    """The child's CPU use (share of one core) in ``slices`` equal parts of its wall time."""
    points = [(0.0, 0.0)] + [(s.t, s.cpu_s) for s in samples if s.cpu_s is not None]
    out = []
    for k in range(slices):
        a, b = wall_s * k / slices, wall_s * (k + 1) / slices
        inside = [p for p in points if a <= p[0] <= b]
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            out.append((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]))
    return out


def stream_endpoints(manifest: Path | None = None) -> dict[str, tuple[str, dict[str, str | None]]]:
    """stream -> (endpoint path, query parameters that tell its requests apart from other streams' on that path;
    ``True``: the parameter is present).

    Read from the manifest's ``$parameters``: task streams share ``task/`` (told apart by ``_type``), events and
    deleted records share ``event/`` (``action=deleted``), the three connected-account streams share
    ``connected_account/`` (indistinguishable: their requests are split evenly)."""
    import yaml

    from source_close_com.components import stream_endpoint

    doc = yaml.safe_load((manifest or ROOT / "source_close_com" / "manifest.yaml").read_text())
    out = {}
    for stream in doc["streams"]:
        params = stream.get("$parameters", {})
        name = params["name"]
        if "task_type" in params:
            out[name] = ("task/", {"_type": params["task_type"]})
        elif name == "deleted_records":
            # Its windows name their end; the replay's walks of the same log (other streams') do not.
            out[name] = (params["endpoint"], {"action": "deleted", "date_updated__lte": True})
        elif name == "events":
            out[name] = (params["endpoint"], {"action": None})
        elif stream_endpoint(params):
            out[name] = (stream_endpoint(params), {})
    return out


def requests_per_stream(stats: dict, endpoints: dict[str, tuple[str, dict[str, str | None]]]) -> dict[str, float]:
    """Attribute the requests the simulator recorded (``recent`` must be long enough) to streams."""
    by_path: dict[str, list[str]] = defaultdict(list)
    for name, (path, _) in endpoints.items():
        by_path[path].append(name)
    counts: dict[str, float] = defaultdict(float)
    for path, scope in stats["paths"].items():
        candidates = by_path.get(path, [])
        recent = scope.get("recent", [])
        if len(recent) < scope["requests"]:
            raise RuntimeError(f"{path}: only {len(recent)} of {scope['requests']} requests recorded; raise recent_limit")
        for entry in recent:
            params = entry.get("params") or {}
            matching = [n for n in candidates
                        if all(bool(params.get(k)) if v is True else (params.get(k) or [None])[0] == v
                               for k, v in endpoints[n][1].items())]
            for name in matching or [f"(other) {path}"]:
                counts[name] += 1 / max(len(matching), 1)
    return dict(counts)


def end_of_run(row: dict, result: "RunResult", before: dict | None, after: dict | None) -> dict:
    """The last lines of a run's printout: its errors, then the ground-truth check when ``before`` is given (the
    verdict kept in ``row["truth_ok"]``)."""
    if result.errors:
        print(f"  ERRORS: {result.errors[:3]}")
    if before is not None:
        row["truth_ok"] = print_checks(compare(result.ids, before, after))
    return row


def add_run_options(parser: Any, latency_ms: float, jitter_ms: float) -> None:
    """The options every sync benchmark takes: the organisation (scale, seed), the simulated latency, the check."""
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=latency_ms)
    parser.add_argument("--jitter-ms", type=float, default=jitter_ms)
    parser.add_argument("--no-truth", action="store_true", help="skip the ground-truth comparison")
    add_connector_options(parser)


def fmt_table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
