"""The three ways the connector runs, as separate processes against one simulated organisation (see
``connector/test_three_runners.py`` for what they must agree on).

1. The package: ``source-close-com spec|check|discover|read`` (the console script in this virtualenv).
2. Airbyte's manifest-only runtime: ``source-declarative-manifest`` in the CDK-only virtualenv (``venvs.py``), from a
   directory holding only the bundled manifest, ``components.py`` and the config (``AIRBYTE_ENABLE_UNSAFE_CODE=true``).
3. The Connector Builder: the CDK's ``airbyte_cdk.connector_builder`` handler in that same virtualenv, given the
   manifest, ``components.py`` and its checksum inside the config, as the Builder sends them.

The runs only read: they are a set-up (``background.py``) that starts with the test run, at the lowest CPU priority,
against a simulator process of its own (small, seed 7, no rate limit, as the tests' shared ``simulator``): first
spec/check/discover and the Builder's resolve_manifest, then the full reads and the Builder's test_reads.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

from close_simulator.testing import SimulatorProcess
from tools import build_manifest
from unit_tests.helpers import background
from unit_tests.helpers.background import lowest_priority, setup
from unit_tests.helpers.venvs import clean_env

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "source_close_com"
SOURCE_MANIFEST = PACKAGE_DIR / "manifest.yaml"
BUNDLED_MANIFEST = PACKAGE_DIR / "manifest.bundled.yaml"
COMPONENTS = PACKAGE_DIR / "components.py"
SCHEMAS = PACKAGE_DIR / "schemas"
CONSOLE_SCRIPT = Path(sys.executable).with_name("source-close-com")


def stream_names_and_shapes() -> tuple:
    """The manifest's stream names, and one stream per shape: streams whose entries differ only in their name and
    ``$parameters`` (endpoint, type filter, ...) run the very same components."""
    raw = yaml.safe_load(SOURCE_MANIFEST.read_text())
    names = [stream["name"] for stream in build_manifest.resolve(raw)["streams"]]
    shapes: Dict[str, str] = {}
    for entry, name in zip(raw["streams"], names):
        shapes.setdefault(json.dumps(without(entry, "name", "$parameters"), sort_keys=True), name)
    return names, list(shapes.values())


def without(mapping: Mapping[str, Any], *keys: str) -> Dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


# Every stream is read in full by the package and the manifest runner. Each Builder test_read builds the whole
# source again (about 2 s of CPU with 69 streams), so the Builder test-reads one stream of each shape.
STREAMS, BUILDER_STREAMS = stream_names_and_shapes()

# What the Builder's test_read may fetch per stream: a couple of slices of a couple of pages, a few records
# (airbyte-cdk 7.39.1 stops on the page and slice limits; past max_records it only flags the read as limited).
BUILDER_LIMITS = {"max_records": 20, "max_pages_per_slice": 2, "max_slices": 2}
RESULT_MARK = "@@builder-answer@@"
NORMALIZED = "resolve_manifest normalized"




class Run:
    """One finished process: its Airbyte messages, with secrets masked in anything shown on failure."""

    def __init__(self, label: str, completed: subprocess.CompletedProcess, secret: str):
        self.label = label
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.secret = secret
        self.messages = []
        for line in completed.stdout.splitlines():
            if line.startswith("{"):
                try:
                    self.messages.append(json.loads(line))
                except json.JSONDecodeError:
                    pass

    def masked(self, text: str) -> str:
        return text.replace(self.secret, "<api_key>") if self.secret else text

    def of_type(self, kind: str) -> List[dict]:
        return [message for message in self.messages if message.get("type") == kind]

    def errors(self) -> List[str]:
        return [
            f"{m['trace']['error'].get('message')} / {m['trace']['error'].get('internal_message')}"
            for m in self.of_type("TRACE")
            if m["trace"].get("type") == "ERROR"
        ]

    def assert_ok(self) -> "Run":
        problems = self.errors()
        assert self.returncode == 0 and not problems, self.masked(
            f"{self.label} failed (exit {self.returncode}): {problems[:3]}\n{self.stderr[-2000:]}"
        )
        return self

    def records(self) -> Dict[str, List[dict]]:
        by_stream: Dict[str, List[dict]] = {}
        for message in self.of_type("RECORD"):
            by_stream.setdefault(message["record"]["stream"], []).append(message["record"]["data"])
        return by_stream


def run_all(commands: Mapping[str, Dict[str, Any]], secret: str) -> Dict[str, Run]:
    """Start every command at once (each a separate process) and wait for all of them."""

    def one(label: str, spec: Dict[str, Any]) -> Run:
        completed = subprocess.run(
            spec["argv"], cwd=spec["cwd"], env=spec["env"], input=spec.get("input"),
            capture_output=True, text=True, timeout=600, preexec_fn=lowest_priority,
        )
        return Run(label, completed, secret)

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        futures = {label: pool.submit(one, label, spec) for label, spec in commands.items()}
        return {label: future.result() for label, future in futures.items()}


def write_json(path: Path, content: Any) -> str:
    path.write_text(json.dumps(content))
    return str(path)


# The Builder's backend answers one request after another in one process: each stdin line is the argv of one
# request, handled by the same function as `python -m airbyte_cdk.connector_builder.main`.
BUILDER_DRIVER = f'''
import json, sys
import orjson
from airbyte_cdk.connector_builder.main import handle_request
from airbyte_cdk.models import AirbyteMessageSerializer
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

for line in sys.stdin:
    try:
        answer = handle_request(json.loads(line))
    except Exception as exc:
        error = AirbyteTracedException.from_exception(exc, message=f"Error handling request: {{exc}}")
        answer = orjson.dumps(AirbyteMessageSerializer.dump(error.as_airbyte_message())).decode()
    sys.stdout.write("\\n{RESULT_MARK}" + answer + "\\n")
    sys.stdout.flush()
'''


def builder_answers(run: Run) -> List[dict]:
    return [json.loads(line[len(RESULT_MARK):]) for line in run.stdout.splitlines() if line.startswith(RESULT_MARK)]


def builder_catalog(stream: str) -> Dict[str, Any]:
    """The one-stream catalog the Builder sends with a test_read."""
    return {
        "streams": [
            {
                "stream": {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                "sync_mode": "incremental",
                "destination_sync_mode": "overwrite",
            }
        ]
    }


def package_argv(*args: str) -> List[str]:
    assert CONSOLE_SCRIPT.exists(), f"no console script at {CONSOLE_SCRIPT}: install the package (make test)"
    return [str(CONSOLE_SCRIPT), *args]


def manifest_runner_argv(venv: Path, workdir: Path, *args: str) -> List[str]:
    return [
        str(venv / "bin" / "source-declarative-manifest"), *args,
        "--manifest-path", str(workdir / "manifest.yaml"), "--components-path", str(workdir / "components.py"),
    ]


def builder_config(config: Mapping[str, Any], command: str, **extra: Any) -> Dict[str, Any]:
    components = COMPONENTS.read_text()
    return {
        **config,
        "__command": command,
        "__injected_declarative_manifest": yaml.safe_load(BUNDLED_MANIFEST.read_text()),
        "__injected_components_py": components,
        "__injected_components_py_checksums": {"md5": hashlib.md5(components.encode()).hexdigest()},
        **extra,
    }


def first_round(cdk_venv: Path, config: Mapping[str, Any], dirs: Mapping[str, Path]) -> Dict[str, Run]:
    """spec/check/discover of the package, check/discover of the manifest runner, the Builder's resolve_manifest."""
    package, manifest_only, builder = dirs["package"], dirs["manifest_only"], dirs["builder"]
    package_config = write_json(package / "config.json", config)
    manifest_config = write_json(manifest_only / "config.json", config)
    resolve_config = write_json(builder / "resolve.json", builder_config(config, "resolve_manifest"))
    empty_catalog = write_json(builder / "empty_catalog.json", {"streams": []})
    unsafe = clean_env(unsafe_code=True)
    commands = {
        "package spec": {"argv": package_argv("spec"), "cwd": package, "env": clean_env()},
        "package check": {"argv": package_argv("check", "--config", package_config), "cwd": package, "env": clean_env()},
        "package discover": {
            "argv": package_argv("discover", "--config", package_config), "cwd": package, "env": clean_env(),
        },
        "manifest check": {
            "argv": manifest_runner_argv(cdk_venv, manifest_only, "check", "--config", manifest_config),
            "cwd": manifest_only, "env": unsafe,
        },
        "manifest discover": {
            "argv": manifest_runner_argv(cdk_venv, manifest_only, "discover", "--config", manifest_config),
            "cwd": manifest_only, "env": unsafe,
        },
        # The Builder's entry point itself, once.
        "builder resolve_manifest": {
            "argv": [str(cdk_venv / "bin" / "python"), "-m", "airbyte_cdk.connector_builder.main", "read",
                     "--config", resolve_config, "--catalog", empty_catalog],
            "cwd": builder, "env": unsafe,
        },
    }
    return run_all(commands, config["api_key"])


def catalog_streams(run: Run) -> List[dict]:
    catalogs = run.assert_ok().of_type("CATALOG")
    assert len(catalogs) == 1, run.masked(f"{run.label}: expected one catalog, got {len(catalogs)}")
    return catalogs[0]["catalog"]["streams"]


def resolved_manifest(run: Run) -> Dict[str, Any]:
    records = run.of_type("RECORD")
    assert run.returncode == 0 and len(records) == 1, run.masked(f"{run.label} returned no manifest: {run.errors()[:2]}")
    return records[0]["record"]["data"]["manifest"]


def second_round(cdk_venv: Path, config: Mapping[str, Any], dirs: Mapping[str, Path], first_round: Mapping[str, Run]) -> Dict[str, Any]:
    """A full read of every stream by the package and by the manifest runner, and the Builder's test_read of each
    stream, all at once."""
    package, manifest_only, builder = dirs["package"], dirs["manifest_only"], dirs["builder"]
    streams = catalog_streams(first_round["package discover"])
    catalog = {
        "streams": [
            {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for stream in streams
        ]
    }
    # The Builder reads only the first slices; one date window holding the whole history makes sure the first
    # slice of an incremental stream has records (the window size changes no record, see the spec).
    test_read_config = write_json(
        builder / "test_read.json",
        builder_config(
            {**config, "window_days": 3650}, "test_read", __test_read_config=BUILDER_LIMITS,
        ),
    )
    # First, the manifest as the Builder resolves it on import (normalized and migrated), then each stream.
    normalized_config = write_json(
        builder / "resolve_normalized.json",
        builder_config(config, "resolve_manifest", __should_normalize=True, __should_migrate=True),
    )
    requests = {NORMALIZED: ["read", "--config", normalized_config, "--catalog", str(builder / "empty_catalog.json")]}
    for name in BUILDER_STREAMS:
        stream_catalog = write_json(builder / f"catalog_{name}.json", builder_catalog(name))
        requests[name] = ["read", "--config", test_read_config, "--catalog", stream_catalog]
    driver = builder / "builder_driver.py"
    driver.write_text(BUILDER_DRIVER)
    unsafe = clean_env(unsafe_code=True)
    commands = {
        "package read": {
            "argv": package_argv("read", "--config", str(package / "config.json"),
                                 "--catalog", write_json(package / "catalog.json", catalog)),
            "cwd": package, "env": clean_env(),
        },
        "manifest read": {
            "argv": manifest_runner_argv(cdk_venv, manifest_only, "read", "--config", str(manifest_only / "config.json"),
                                         "--catalog", write_json(manifest_only / "catalog.json", catalog)),
            "cwd": manifest_only, "env": unsafe,
        },
        "builder requests": {
            "argv": [str(cdk_venv / "bin" / "python"), str(driver)], "cwd": builder, "env": unsafe,
            "input": "".join(json.dumps(argv) + "\n" for argv in requests.values()),
        },
    }
    runs = run_all(commands, config["api_key"])
    answers = builder_answers(runs["builder requests"])
    assert len(answers) == len(requests), runs["builder requests"].masked(
        f"the Builder answered {len(answers)} of {len(requests)} requests:\n{runs['builder requests'].stderr[-2000:]}"
    )
    answers_by_request = dict(zip(requests, answers))
    return {
        "package": runs["package read"].assert_ok().records(),
        "manifest": runs["manifest read"].assert_ok().records(),
        "builder normalized": answers_by_request.pop(NORMALIZED),
        "builder": answers_by_request,
        "builder_run": runs["builder requests"],
    }


@dataclass
class ThreeRunners:
    """The simulator the runners read (running until the test run ends), their config, and both rounds' runs."""

    simulator: SimulatorProcess
    config: Dict[str, Any]
    first: Dict[str, Run]
    second: Optional[Dict[str, Any]] = None
    second_failed: Optional[BaseException] = None


def working_dirs() -> Dict[str, Path]:
    """A working directory per runner; the manifest-only one holds the bundled manifest and components.py only."""
    root = Path(tempfile.mkdtemp(prefix="source-close-com-three-runners-"))
    atexit.register(shutil.rmtree, root, True)
    dirs = {name: root / name for name in ("package", "manifest_only", "builder")}
    for folder in dirs.values():
        folder.mkdir()
    shutil.copy(BUNDLED_MANIFEST, dirs["manifest_only"] / "manifest.yaml")
    shutil.copy(COMPONENTS, dirs["manifest_only"] / "components.py")
    return dirs


@setup("three runners", needed_by="connector/test_three_runners.py")
def three_runners() -> ThreeRunners:
    cdk_venv = background.result("cdk-only")
    sim = SimulatorProcess(seed=7, scale="small", rps=None, org_rps=None, stderr=subprocess.DEVNULL).start()
    atexit.register(sim.stop)
    os.setpriority(os.PRIO_PROCESS, sim.pid, 19)
    # The simulator in tests has no rate limit: pace the connector no more than that.
    config = {**sim.config, "requests_per_second": 500}
    dirs = working_dirs()
    runners = ThreeRunners(sim, config, first_round(cdk_venv, config, dirs))
    try:
        runners.second = second_round(cdk_venv, config, dirs, runners.first)
    except Exception as error:  # the tests of the second round fail with it; the first round's still run
        runners.second_failed = error
    return runners
