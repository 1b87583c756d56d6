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

All three are separate processes, run by ``unit_tests/helpers/three_runners.py`` from the start of the test run, at the
lowest CPU priority, against a simulator process of their own; the tests here compare what they printed. The
CDK-only virtualenv is built once per CDK version and kept (under ``.venv/``, or the system temp directory without
one); the first run spends a minute or two installing it. The bundled manifest is ``source_close_com/manifest.bundled.yaml``, written by ``python -m tools.build_manifest``;
the first tests check that it is current and that the generator inlines schemas wherever a manifest puts them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import pytest
import yaml

from tools import build_manifest
from unit_tests.harness import without_nulls
from unit_tests.helpers import background
from unit_tests.helpers.three_runners import (
    BUILDER_LIMITS,
    BUILDER_STREAMS,
    BUNDLED_MANIFEST,
    COMPONENTS,
    ROOT,
    SCHEMAS,
    SOURCE_MANIFEST,
    STREAMS,
    catalog_streams,
    resolved_manifest,
    without,
)
from unit_tests.helpers.venvs import CDK_VERSION, clean_env

# --------------------------------------------------------------------------------------------------------------
# The virtualenv holding airbyte-cdk alone (helpers/venvs.py: built once, started with the test run)
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def cdk_venv(tmp_path_factory) -> Path:
    venv = background.result("cdk-only")
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


@pytest.fixture(scope="module")
def runners(cdk_venv):
    return background.result("three runners")


@pytest.fixture(scope="module")
def simulator(runners):
    """The organisation the runners read (a process of its own, small, seed 7, no rate limit)."""
    return runners.simulator


@pytest.fixture(scope="module")
def config(runners) -> Dict[str, Any]:
    return runners.config


@pytest.fixture(scope="module")
def first_round(runners):
    """spec/check/discover of the package, check/discover of the manifest runner, the Builder's resolve_manifest."""
    return runners.first


@pytest.fixture(scope="module")
def second_round(runners) -> Dict[str, Any]:
    """A full read of every stream by the package and by the manifest runner, and the Builder's test_read of each
    stream, all at once."""
    if runners.second_failed is not None:
        raise runners.second_failed
    return runners.second


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
        # The CDK limits each read of a slice; the first slice also shows the first page of the read of the stream's
        # whole range that plans a first sync.
        assert len(one_slice["pages"]) <= BUILDER_LIMITS["max_pages_per_slice"] + 1
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
