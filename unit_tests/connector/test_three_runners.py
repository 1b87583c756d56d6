"""The connector runs unchanged three ways, against the same simulated organisation, with the same results.

1. The package: ``source-close-com spec|check|discover|read`` (the console script in this virtualenv).
2. Airbyte's manifest-only runtime: ``source-declarative-manifest check|discover|read --manifest-path
   manifest.yaml --components-path components.py``, in a virtualenv holding airbyte-cdk alone, from a directory
   holding only the bundled manifest, ``components.py`` and the config (``AIRBYTE_ENABLE_UNSAFE_CODE=true``).
3. The Connector Builder: the CDK's ``airbyte_cdk.connector_builder`` handler in that same virtualenv, given the
   manifest, ``components.py`` and its checksum inside the config, as the Builder sends them
   (``resolve_manifest`` as written and normalized, then ``test_read``).

The package and the manifest runner read every stream in full; their catalogs and records must be identical and
equal the simulator's ground truth. The Builder's resolved streams must match that catalog, and its test_read
must return records, page by page within the Builder's limits, that the full read also emitted. A Builder
request rebuilds the whole source, so test_read covers one stream of each shape (streams whose manifest entries
differ only in ``$parameters`` run the same components with other endpoints).

All three are separate processes. The CDK-only virtualenv is built once per CDK version and kept (under
``.venv/``, or the system temp directory without one); the first run spends a minute or two installing it.
The bundled manifest is ``source_close_com/manifest.bundled.yaml``, written by ``python -m tools.build_manifest``;
the first tests check that it is current and that the generator inlines schemas wherever a manifest puts them.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import pytest
import yaml

from tools import build_manifest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "source_close_com"
SOURCE_MANIFEST = PACKAGE_DIR / "manifest.yaml"
BUNDLED_MANIFEST = PACKAGE_DIR / "manifest.bundled.yaml"
COMPONENTS = PACKAGE_DIR / "components.py"
SCHEMAS = PACKAGE_DIR / "schemas"
CONSOLE_SCRIPT = Path(sys.executable).with_name("source-close-com")
CDK_VERSION = importlib.metadata.version("airbyte-cdk")


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


# --------------------------------------------------------------------------------------------------------------
# The virtualenv holding airbyte-cdk alone (installed like test_shipping's clean virtualenv: venv + pip)
# --------------------------------------------------------------------------------------------------------------
def cdk_only_venv_path() -> Path:
    name = f"airbyte-cdk-{CDK_VERSION}"
    if (ROOT / ".venv").is_dir():
        return ROOT / ".venv" / "cdk-only" / name
    return Path(tempfile.gettempdir()) / "source-close-com-cdk-only" / name


def build_cdk_only_venv(venv: Path) -> Path:
    """Create (once, under a file lock so parallel sessions wait for each other) a virtualenv with airbyte-cdk."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    ready = venv / ".ready"
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists() and ready.read_text() == CDK_VERSION:
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        install = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-compile", f"airbyte-cdk=={CDK_VERSION}"],  # modules compile as they are imported
            capture_output=True, text=True, timeout=900,
        )
        assert install.returncode == 0, f"pip install airbyte-cdk=={CDK_VERSION} failed:\n{install.stderr[-3000:]}"
        ready.write_text(CDK_VERSION)
    return venv


@pytest.fixture(scope="session")
def cdk_venv(tmp_path_factory) -> Path:
    venv = build_cdk_only_venv(cdk_only_venv_path())
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.metadata as m, importlib.util as u; "
         "print(m.version('airbyte-cdk'), u.find_spec('source_close_com') is None, u.find_spec('close_simulator') is None)"],
        capture_output=True, text=True, cwd=tmp_path_factory.mktemp("probe"), env=clean_env(), timeout=120,
    )
    assert probe.stdout.split() == [CDK_VERSION, "True", "True"], (
        f"{venv} must hold airbyte-cdk {CDK_VERSION} and not this package: {probe.stdout} {probe.stderr[-2000:]}"
    )
    return venv


# --------------------------------------------------------------------------------------------------------------
# Running processes
# --------------------------------------------------------------------------------------------------------------
def clean_env(unsafe_code: bool = False) -> Dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "AIRBYTE_ENABLE_UNSAFE_CODE")}
    if unsafe_code:
        env["AIRBYTE_ENABLE_UNSAFE_CODE"] = "true"
    return env


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
            capture_output=True, text=True, timeout=600,
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


# --------------------------------------------------------------------------------------------------------------
# The three runners against one simulator
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def config(simulator) -> Dict[str, Any]:
    # The simulator in tests has no rate limit: pace the connector no more than that.
    return {**simulator.config(), "requests_per_second": 500}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> Dict[str, Path]:
    """A working directory per runner; the manifest-only one holds the bundled manifest and components.py only."""
    package = tmp_path_factory.mktemp("package")
    manifest_only = tmp_path_factory.mktemp("manifest_only")
    shutil.copy(BUNDLED_MANIFEST, manifest_only / "manifest.yaml")
    shutil.copy(COMPONENTS, manifest_only / "components.py")
    builder = tmp_path_factory.mktemp("builder")
    return {"package": package, "manifest_only": manifest_only, "builder": builder}


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


@pytest.fixture(scope="module")
def first_round(cdk_venv, config, dirs) -> Dict[str, Run]:
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


@pytest.fixture(scope="module")
def second_round(cdk_venv, config, dirs, first_round) -> Dict[str, Any]:
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


# --------------------------------------------------------------------------------------------------------------
# Comparing catalogs
# --------------------------------------------------------------------------------------------------------------
def primary_key_paths(primary_key: Any) -> List[List[str]]:
    if not primary_key:
        return []
    if isinstance(primary_key, str):
        return [[primary_key]]
    return [[part] if isinstance(part, str) else list(part) for part in primary_key]


def catalog_view(stream: Mapping[str, Any]) -> Dict[str, Any]:
    """What the three runners must agree on for a stream."""
    return {
        "json_schema": stream["json_schema"],
        "sync_modes": sorted(stream["supported_sync_modes"]),
        "cursor": list(stream.get("default_cursor_field") or []),
        "primary_key": primary_key_paths(stream.get("source_defined_primary_key")),
    }


def inline_schemas(node: Any) -> List[dict]:
    """Every InlineSchemaLoader's schema under ``node``."""
    if isinstance(node, dict):
        if node.get("type") == "InlineSchemaLoader":
            return [node["schema"]]
        return [schema for value in node.values() for schema in inline_schemas(value)]
    if isinstance(node, list):
        return [schema for value in node for schema in inline_schemas(value)]
    return []


def builder_stream_view(stream: Mapping[str, Any], config: Mapping[str, Any]) -> Dict[str, Any]:
    """The same view of a stream in the Builder's resolved manifest (cursor interpolated as the CDK does). A loader
    that adds columns at runtime (the account's custom fields) shows only its static part: ``static_schema``."""
    from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString

    loader = stream["schema_loader"]
    assert "JsonFileSchemaLoader" not in json.dumps(loader), f"{stream['name']}: a file schema loader"
    schemas = inline_schemas(loader)
    assert len(schemas) == 1, f"{stream['name']}: expected one inline schema, got {len(schemas)}"
    incremental = stream.get("incremental_sync")
    cursor: List[str] = []
    if incremental:
        field = InterpolatedString.create(incremental["cursor_field"], parameters=incremental.get("$parameters", {}))
        cursor = [field.eval(config)]
    static = isinstance(loader, dict) and loader.get("type") == "InlineSchemaLoader"
    return {
        ("json_schema" if static else "static_schema"): schemas[0],
        "sync_modes": sorted(["full_refresh"] + (["incremental"] if incremental else [])),
        "cursor": cursor,
        "primary_key": primary_key_paths(stream.get("primary_key")),
    }


def assert_schema_extends(catalog_schema: Mapping[str, Any], static: Mapping[str, Any], stream: str) -> None:
    """The catalog's schema is the static schema plus ``custom.*`` columns of the account's custom fields."""
    assert without(catalog_schema, "properties") == without(static, "properties"), stream
    properties = catalog_schema["properties"]
    for name, definition in static["properties"].items():
        assert properties.get(name) == definition, f"{stream}.{name} differs from the static schema"
    extra = sorted(set(properties) - set(static["properties"]))
    assert all(name.startswith("custom.") for name in extra), f"{stream}: unexpected columns {extra[:5]}"


# --------------------------------------------------------------------------------------------------------------
# The bundled manifest and its generator
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def expected_bundle() -> str:
    return build_manifest.build()


def test_bundled_manifest_is_current(expected_bundle):
    assert BUNDLED_MANIFEST.exists(), "run `python -m tools.build_manifest` to write the bundled manifest"
    assert BUNDLED_MANIFEST.read_text() == expected_bundle, (
        f"{BUNDLED_MANIFEST.relative_to(ROOT)} is stale: run `python -m tools.build_manifest` and commit it"
    )


def test_check_flag_fails_on_a_stale_file_and_passes_on_a_current_one(expected_bundle, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(build_manifest, "build", lambda source=build_manifest.SOURCE: expected_bundle)
    target = tmp_path / "bundled.yaml"
    assert build_manifest.main(["--check", "--output", str(target)]) == 1, "a missing file is stale"
    target.write_text(expected_bundle.replace("InlineSchemaLoader", "JsonFileSchemaLoader", 1))
    assert build_manifest.main(["--check", "--output", str(target)]) == 1
    err = capsys.readouterr().err
    assert "is stale" in err and "python -m tools.build_manifest" in err
    assert build_manifest.main(["--output", str(target)]) == 0
    assert target.read_text() == expected_bundle
    assert build_manifest.main(["--check", "--output", str(target)]) == 0


def test_bundled_manifest_stands_alone():
    """No file schema loader anywhere; where the source manifest has one, the bundle has an inline loader holding
    schemas/<stream>.json; everything else is the source manifest's, as the CDK resolves both."""
    text = BUNDLED_MANIFEST.read_text()
    assert text.startswith("# GENERATED FILE") and "python -m tools.build_manifest" in text.splitlines()[1]
    assert "JsonFileSchemaLoader" not in text
    bundled = build_manifest.resolve(yaml.safe_load(text))
    source = build_manifest.resolve(yaml.safe_load(SOURCE_MANIFEST.read_text()))
    assert [s["name"] for s in bundled["streams"]] == STREAMS
    for bundled_stream, source_stream in zip(bundled["streams"], source["streams"]):
        name = bundled_stream["name"]
        paths = list(build_manifest._json_file_loaders(source_stream))
        assert paths, f"{name}: the source manifest reads no schema file for it"
        for path in paths:
            inline = build_manifest._at(bundled_stream, path)
            assert inline["type"] == "InlineSchemaLoader", f"{name}: {path}"
            assert inline["schema"] == json.loads((SCHEMAS / f"{name}.json").read_text()), f"{name}: {path}"
        assert blanked(bundled_stream, paths) == blanked(source_stream, paths), name
    for key in set(source) | set(bundled):
        if key not in ("streams", "definitions", "schemas"):
            assert bundled.get(key) == source.get(key), f"top-level {key!r} differs from the source manifest"


def blanked(node: Any, paths: List[tuple]) -> Any:
    node = copy.deepcopy(node)
    for path in paths:
        build_manifest._at(node, path[:-1])[path[-1]] = None
    return node


SYNTHETIC = """
version: 7.39.1
type: DeclarativeSource
definitions:
  file_loader:
    type: JsonFileSchemaLoader
    file_path: "./source_close_com/schemas/{{ parameters.name }}.json"
  extra_columns:
    type: CustomSchemaLoader
    class_name: source_declarative_manifest.components.SomeLoader
  static_plus_columns:
    type: CustomSchemaLoader
    class_name: source_declarative_manifest.components.OtherLoader
    static_schema:
      $ref: "#/definitions/file_loader"
  requester: {type: HttpRequester, url: "https://example.test/{{ parameters.name }}", http_method: GET}
  base:
    type: DeclarativeStream
    primary_key: id
    schema_loader:
      $ref: "#/definitions/file_loader"
    retriever:
      type: SimpleRetriever
      requester: {$ref: "#/definitions/requester"}
      record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: []}}
  with_columns:
    $ref: "#/definitions/base"
    schema_loader:
      - $ref: "#/definitions/file_loader"
      - $ref: "#/definitions/extra_columns"
streams:
  - $ref: "#/definitions/base"
    $parameters: {name: users}
  - {$ref: "#/definitions/with_columns", $parameters: {name: roles}}
  - $ref: "#/definitions/base"
    schema_loader: {type: JsonFileSchemaLoader, file_path: "./source_close_com/schemas/pipelines.json"}
    $parameters: {name: pipes}
  - $ref: "#/definitions/base"
    schema_loader: {type: InlineSchemaLoader, schema: {type: object, properties: {id: {type: string}}}}
    $parameters: {name: kept_inline}
  - $ref: "#/definitions/base"
    schema_loader: {$ref: "#/definitions/static_plus_columns"}
    $parameters: {name: lead_statuses}
check: {type: CheckStream, stream_names: [users]}
"""


def test_generator_inlines_file_loaders_wherever_they_are():
    """Shared definition resolved per stream, an item of a loader list (the other item kept as written), a
    stream's own loader with a fixed path, the static part of a custom loader; an inline loader is left alone
    and the emptied definitions go."""
    manifest = yaml.safe_load(SYNTHETIC)
    bundled = build_manifest.bundle(manifest)
    assert manifest == yaml.safe_load(SYNTHETIC), "bundle() must not change its argument"
    text = build_manifest.render(bundled)
    assert "JsonFileSchemaLoader" not in text
    again = yaml.safe_load(text)
    assert "file_loader" not in again["definitions"] and "schema_loader" not in again["definitions"]["base"]
    assert again["definitions"]["extra_columns"] == manifest["definitions"]["extra_columns"]
    assert "static_schema" not in again["definitions"]["static_plus_columns"]
    users, roles, pipes, kept, statuses = again["streams"]
    assert users["schema_loader"] == {"type": "InlineSchemaLoader", "schema": {"$ref": "#/schemas/users"}}
    assert roles["schema_loader"] == [
        {"type": "InlineSchemaLoader", "schema": {"$ref": "#/schemas/roles"}},
        {"$ref": "#/definitions/extra_columns"},
    ]
    assert pipes["schema_loader"] == {"type": "InlineSchemaLoader", "schema": {"$ref": "#/schemas/pipes"}}
    assert kept == manifest["streams"][3]
    assert statuses["schema_loader"] == {
        "$ref": "#/definitions/static_plus_columns",
        "static_schema": {"type": "InlineSchemaLoader", "schema": {"$ref": "#/schemas/lead_statuses"}},
    }
    for name, file in (("users", "users"), ("roles", "roles"), ("pipes", "pipelines"), ("lead_statuses", "lead_statuses")):
        assert again["schemas"][name] == json.loads((SCHEMAS / f"{file}.json").read_text())
    assert list(again) == list(manifest) + ["schemas"], "top-level key order is kept"
    resolved = build_manifest.resolve(again)
    assert resolved["streams"][0]["schema_loader"]["schema"] == again["schemas"]["users"]
    assert resolved["streams"][4]["schema_loader"]["class_name"].endswith("OtherLoader")
    assert resolved["streams"][4]["schema_loader"]["static_schema"]["schema"] == again["schemas"]["lead_statuses"]


def test_generator_refuses_a_file_loader_it_cannot_inline():
    manifest = yaml.safe_load(SYNTHETIC)
    manifest["dynamic_streams"] = [{"type": "DynamicDeclarativeStream", "stream_template": {"$ref": "#/definitions/base"}}]
    with pytest.raises(build_manifest.BundleError, match="JsonFileSchemaLoader"):
        build_manifest.bundle(manifest)


def test_components_load_the_way_the_builder_injects_them():
    """The Builder runs components.py from text (``exec`` into a fresh module) after checking its checksum."""
    from airbyte_cdk.sources.declarative.parsers import custom_code_compiler as compiler

    text = COMPONENTS.read_text()
    saved = {name: sys.modules.get(name) for name in (compiler.COMPONENTS_MODULE_NAME, compiler.SDM_COMPONENTS_MODULE_NAME)}
    try:
        with pytest.raises(compiler.AirbyteCodeTamperedError):
            compiler.register_components_module_from_string(text, {"md5": hashlib.md5(b"other").hexdigest()})
        try:
            module = compiler.register_components_module_from_string(text, {"md5": hashlib.md5(text.encode()).hexdigest()})
        except Exception as error:  # noqa: BLE001 - the message is the point
            hint = (
                " (the Builder runs the text in a module it registers in sys.modules only afterwards, so @dataclass "
                "cannot resolve the string annotations `from __future__ import annotations` makes)"
                if "from __future__ import annotations" in text
                else ""
            )
            pytest.fail(f"components.py does not load the way the Connector Builder loads it: {error!r}{hint}")
        referenced = set()
        for value in yaml.safe_load(SOURCE_MANIFEST.read_text()).values():
            referenced |= set(class_names(value))
        assert referenced, "the manifest names no custom component"
        missing = [name for name in referenced if not hasattr(module, name)]
        assert not missing, f"components.py lacks {missing}"
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def class_names(node: Any) -> List[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "class_name" and isinstance(value, str) and value.startswith("source_declarative_manifest.components."):
                found.append(value.rsplit(".", 1)[1])
            else:
                found += class_names(value)
    elif isinstance(node, list):
        for item in node:
            found += class_names(item)
    return found


# --------------------------------------------------------------------------------------------------------------
# The three runners agree
# --------------------------------------------------------------------------------------------------------------
def test_check_succeeds_in_the_package_and_the_manifest_runner(first_round):
    for label in ("package check", "manifest check"):
        statuses = first_round[label].assert_ok().of_type("CONNECTION_STATUS")
        assert [s["connectionStatus"]["status"] for s in statuses] == ["SUCCEEDED"], first_round[label].masked(
            f"{label}: {statuses}"
        )


def test_package_and_manifest_runner_discover_the_same_catalog(first_round):
    package = catalog_streams(first_round["package discover"])
    manifest = catalog_streams(first_round["manifest discover"])
    assert [s["name"] for s in package] == STREAMS
    assert [s["name"] for s in manifest] == STREAMS
    for ours, theirs in zip(package, manifest):
        assert ours == theirs, f"{ours['name']}: the two catalogs differ"


@pytest.mark.parametrize("normalized", [False, True], ids=["as written", "normalized and migrated"])
def test_builder_resolves_the_same_streams(first_round, second_round, config, normalized):
    """resolve_manifest, as the Builder asks it when it opens the manifest (and on import, normalized)."""
    package = {s["name"]: catalog_view(s) for s in catalog_streams(first_round["package discover"])}
    if normalized:
        answer = second_round["builder normalized"]
        assert answer.get("type") == "RECORD", second_round["builder_run"].masked(str(answer)[:1500])
        manifest = answer["record"]["data"]["manifest"]
    else:
        manifest = resolved_manifest(first_round["builder resolve_manifest"])
    assert [s["name"] for s in manifest["streams"]] == STREAMS
    for stream in manifest["streams"]:
        name = stream["name"]
        view, expected = builder_stream_view(stream, config), dict(package[name])
        if "static_schema" in view:
            assert_schema_extends(expected.pop("json_schema"), view.pop("static_schema"), name)
        assert view == expected, f"{name} differs"


def test_builder_shows_the_package_spec(first_round):
    specs = first_round["package spec"].assert_ok().of_type("SPEC")
    assert len(specs) == 1
    manifest = resolved_manifest(first_round["builder resolve_manifest"])
    assert manifest["spec"]["connection_specification"] == specs[0]["spec"]["connectionSpecification"]


def canonical(records: Sequence[dict]) -> List[str]:
    return sorted(json.dumps(record, sort_keys=True) for record in records)


@pytest.mark.parametrize("stream", STREAMS)
def test_package_and_manifest_runner_read_the_same_records(second_round, stream):
    package = second_round["package"].get(stream, [])
    manifest = second_round["manifest"].get(stream, [])
    assert package, f"the package read no {stream}: the comparison would prove nothing"
    assert [r["id"] for r in sorted(package, key=lambda r: r["id"])] == [r["id"] for r in sorted(manifest, key=lambda r: r["id"])]
    assert canonical(package) == canonical(manifest), f"{stream}: same ids, different content"


@pytest.mark.parametrize("stream", STREAMS)
def test_full_read_is_the_ground_truth(second_round, simulator, config, stream):
    expected = sorted(r["id"] for r in simulator.truth(stream, start_date=config["start_date"]))
    assert expected, f"the simulator has no {stream}"
    for runner in ("package", "manifest"):
        emitted = sorted(r["id"] for r in second_round[runner].get(stream, []))
        assert emitted == expected, f"{runner}: {stream} is not the ground truth ({len(emitted)} vs {len(expected)})"


def without_nulls(record: Mapping[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in record.items() if value is not None}


def test_builder_streams_cover_every_shape():
    assert len(BUILDER_STREAMS) >= 10 and set(BUILDER_STREAMS) <= set(STREAMS)
    assert {"leads", "contacts", "events", "deleted_records", "users"} <= set(BUILDER_STREAMS)


@pytest.mark.parametrize("stream", BUILDER_STREAMS)
def test_builder_test_read_returns_records_page_by_page(second_round, simulator, stream):
    answer = second_round["builder"][stream]
    assert answer.get("type") == "RECORD", second_round["builder_run"].masked(
        f"test_read of {stream} failed: {str(answer.get('trace', {}).get('error', {}).get('message'))[:1500]}"
    )
    read = answer["record"]["data"]
    errors = [log["message"][:300] for log in read["logs"] if log.get("level") in ("ERROR", "FATAL")]
    assert not errors, second_round["builder_run"].masked(f"{stream}: {errors[:3]}")
    slices = read["slices"]
    assert 1 <= len(slices) <= BUILDER_LIMITS["max_slices"]
    records = []
    for one_slice in slices:
        assert len(one_slice["pages"]) <= BUILDER_LIMITS["max_pages_per_slice"]
        for page in one_slice["pages"]:
            assert page["response"]["status"] == 200, f"{stream}: a page answered {page['response']['status']}"
            assert page["request"]["url"].startswith(simulator.url)
            records += page["records"]
    assert records, f"the Builder's test_read of {stream} returned no record"
    # The records are the connector's own: the ones a full read of the package emits, field for field.
    full = {r["id"]: without_nulls(r) for r in second_round["package"].get(stream, [])}
    truth = {r["id"] for r in simulator.truth(stream)}
    for record in records:
        assert record["id"] in truth, f"{stream}: {record['id']} is not in the simulator's organisation"
        assert without_nulls(record) == full.get(record["id"]), f"{stream}: {record['id']} differs from the full read"
