"""Build the self-contained manifest: ``source_close_com/manifest.bundled.yaml``.

Airbyte's manifest-only runtime (``source-declarative-manifest --manifest-path ... --components-path ...``) and
the Connector Builder see one YAML file and ``components.py``, nothing else: no package, no ``schemas/`` folder.
This tool writes that file from ``source_close_com/manifest.yaml`` and the JSON schemas:

* every ``JsonFileSchemaLoader`` a stream uses (its own ``schema_loader``, a shared definition reached through
  ``$ref`` and resolved per stream through ``$parameters``, or an item of a ``schema_loader`` list) becomes an
  ``InlineSchemaLoader`` whose ``schema`` points at ``#/schemas/<stream>``, the top-level section the Connector
  Builder itself keeps stream schemas in; the schema is the one the CDK's own loader reads at runtime;
* a stream without any ``schema_loader`` (the CDK then looks for ``<package>/schemas/<name>.json``) gets the
  same treatment when that file exists;
* other schema loaders (inline, dynamic, custom) are kept as written, as is everything else (``$ref``s, key
  order); definitions that only held file schema loaders are dropped once no stream uses them. YAML comments
  and anchors do not survive the round trip (anchored values are written out in full).

    python -m tools.build_manifest           # (re)write the bundled manifest
    python -m tools.build_manifest --check   # exit 1 if the committed file is not what the sources give
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, MutableMapping, Optional, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "source_close_com"
SOURCE = ROOT / PACKAGE / "manifest.yaml"
TARGET = ROOT / PACKAGE / "manifest.bundled.yaml"
COMMAND = "python -m tools.build_manifest"

JSON_FILE = "JsonFileSchemaLoader"
INLINE = "InlineSchemaLoader"
SCHEMAS_KEY = "schemas"

HEADER = f"""\
# GENERATED FILE: do not edit. Edit {PACKAGE}/manifest.yaml or {PACKAGE}/schemas/*.json, then run
#   {COMMAND}            (or `make manifest`)
# `{COMMAND} --check` fails while this file is stale.
#
# The connector in one file, for Airbyte's manifest-only runtime and the Connector Builder: the same manifest as
# {PACKAGE}/manifest.yaml, with each stream's JSON schema inlined under `{SCHEMAS_KEY}:` (at the end) instead of
# read from the package. Custom components live in {PACKAGE}/components.py (pass it as --components-path).
"""


class BundleError(Exception):
    """The manifest holds a file schema loader this tool cannot inline, or the result does not resolve."""


# ----------------------------------------------------------------------------------------------------------------
# Reading the manifest the way the CDK does
# ----------------------------------------------------------------------------------------------------------------
def _cdk():
    """The CDK pieces that give the manifest its runtime meaning (imported lazily: `--help` needs none)."""
    from airbyte_cdk.sources.declarative.parsers.manifest_component_transformer import (
        ManifestComponentTransformer,
    )
    from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import (
        ManifestReferenceResolver,
    )
    from airbyte_cdk.sources.declarative.schema.json_file_schema_loader import JsonFileSchemaLoader

    return ManifestReferenceResolver, ManifestComponentTransformer, JsonFileSchemaLoader


def resolve(manifest: Mapping[str, Any]) -> Dict[str, Any]:
    """``$ref``s resolved, then types and ``$parameters`` propagated, exactly as the CDK prepares a manifest."""
    resolver, transformer, _ = _cdk()
    document = copy.deepcopy(dict(manifest))
    document.setdefault("type", "DeclarativeSource")
    resolved = resolver().preprocess_manifest(document)
    return transformer().propagate_types_and_parameters("", resolved, {})


def _lookup(manifest: Mapping[str, Any], reference: str) -> Any:
    resolver, _, _ = _cdk()
    return resolver()._lookup_ref_value(reference, manifest)


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("#/")


def _deref(manifest: Mapping[str, Any], value: Any) -> Any:
    """Follow a value that is only a reference (``"#/..."`` or ``{$ref: ...}`` alone) to what it names, raw."""
    while True:
        if _is_ref(value):
            value = _lookup(manifest, value)
        elif isinstance(value, dict) and set(value) == {"$ref"}:
            value = _lookup(manifest, value["$ref"])
        else:
            return value


_MISSING = object()


def _raw_field(manifest: Mapping[str, Any], node: Any, key: str) -> Any:
    """The value of ``key`` as written, on ``node`` or else on the first mapping of its ``$ref`` chain holding it."""
    node = _deref(manifest, node)
    while isinstance(node, dict):
        if key in node:
            return node[key]
        if "$ref" not in node:
            break
        node = _deref(manifest, node["$ref"])
    return _MISSING


def _resolved_type(manifest: Mapping[str, Any], value: Any) -> Optional[str]:
    resolver, _, _ = _cdk()
    evaluated = resolver()._evaluate_node(copy.deepcopy(value), manifest, set())
    return evaluated.get("type") if isinstance(evaluated, dict) else None


def _holds_json_file_loader(manifest: Mapping[str, Any], value: Any) -> bool:
    resolver, _, _ = _cdk()
    evaluated = resolver()._evaluate_node(copy.deepcopy(value), manifest, set())
    items = evaluated if isinstance(evaluated, list) else [evaluated]
    return any(isinstance(item, dict) and item.get("type") == JSON_FILE for item in items)


# ----------------------------------------------------------------------------------------------------------------
# Loading a stream's schema with the CDK's own file loader
# ----------------------------------------------------------------------------------------------------------------
SchemaReader = Callable[[Mapping[str, Any]], Dict[str, Any]]


def default_file_path(package: str = PACKAGE) -> str:
    """Where the CDK looks for a stream's schema when the loader names no file (the connector's package)."""
    return f"./{package}/schemas/{{{{ parameters['name'] }}}}.json"


def read_schema(loader: Mapping[str, Any], package: str = PACKAGE) -> Dict[str, Any]:
    """The schema a resolved ``JsonFileSchemaLoader`` definition gives at runtime (same code, same files)."""
    _, _, json_file_schema_loader = _cdk()
    if str(ROOT) not in sys.path[:1]:
        sys.path.insert(0, str(ROOT))  # the package next to this tool, not whatever copy is installed
    parameters = dict(loader.get("$parameters") or {})
    component = json_file_schema_loader(
        config={}, parameters=parameters, file_path=loader.get("file_path") or default_file_path(package)
    )
    try:
        return dict(component.get_json_schema())
    except (OSError, RuntimeError, ValueError) as error:  # pkgutil raises FileNotFoundError (an OSError)
        raise BundleError(f"cannot read the schema of stream {parameters.get('name')!r}: {error}") from error


def _schema_file_exists(name: str, package: str = PACKAGE) -> bool:
    return (ROOT / package / "schemas" / f"{name}.json").is_file()


def _check_inlinable(name: str, schema: Mapping[str, Any]) -> None:
    """An inlined schema goes through the manifest's reference resolver: it must hold no ``$ref`` nor ``#/`` string,
    and its root must read as a JSON schema (``type: object``) so no ``$parameters`` are propagated into it."""

    def walk(node: Any, path: str) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield f"{path}/$ref"
                yield from walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{path}/{index}")
        elif _is_ref(node):
            yield f"{path} = {node!r}"

    problems = list(walk(schema, ""))
    if problems:
        raise BundleError(
            f"the schema of stream {name!r} still holds references the manifest would try to resolve: "
            + ", ".join(problems[:5])
        )
    root_type = schema.get("type")
    if not (root_type == "object" or isinstance(root_type, list)):
        raise BundleError(f"the schema of stream {name!r} must have `type: object` at its root, not {root_type!r}")


# ----------------------------------------------------------------------------------------------------------------
# Bundling
# ----------------------------------------------------------------------------------------------------------------
def _with_key(mapping: Dict[str, Any], key: str, value: Any, before: str = "$parameters") -> Dict[str, Any]:
    """``mapping`` with ``key`` set in place if present, else inserted before ``before`` (else at the end)."""
    if key in mapping or before not in mapping:
        result = dict(mapping)
        result[key] = value
        return result
    result = {}
    for existing, existing_value in mapping.items():
        if existing == before:
            result[key] = value
        result[existing] = existing_value
    return result


def bundle(
    manifest: Mapping[str, Any],
    schema_reader: SchemaReader = read_schema,
    schema_file_exists: Callable[[str], bool] = _schema_file_exists,
) -> Dict[str, Any]:
    """The manifest with every stream's file schema inlined (see the module docstring). ``manifest`` is not changed."""
    document = copy.deepcopy(dict(manifest))
    resolved = resolve(document)
    elsewhere = [
        ".".join(map(str, path))
        for path in _json_file_loaders(resolved)
        if path[0] not in ("streams", "definitions")
    ]
    if elsewhere:
        raise BundleError(
            "only the loaders of `streams` can be inlined; a JsonFileSchemaLoader is used at " + ", ".join(elsewhere)
        )
    raw_streams = document.get("streams") or []
    resolved_streams = resolved.get("streams") or []
    schemas: Dict[str, Any] = dict(document.get(SCHEMAS_KEY) or {})

    def inline(name: str, loader: Mapping[str, Any]) -> Dict[str, Any]:
        schema = schema_reader(loader)
        _check_inlinable(name, schema)
        key, suffix = name, 1
        while key in schemas and schemas[key] != schema:
            suffix += 1
            key = f"{name}_{suffix}"
        schemas[key] = schema
        return {"type": INLINE, "schema": {"$ref": f"#/{SCHEMAS_KEY}/{key}"}}

    new_streams: List[Any] = []
    for raw_stream, resolved_stream in zip(raw_streams, resolved_streams):
        name = resolved_stream.get("name") or (resolved_stream.get("$parameters") or {}).get("name")
        if not name:
            raise BundleError(f"a stream has no name: {json.dumps(raw_stream)[:200]}")
        effective = resolved_stream.get("schema_loader")
        written = _raw_field(document, raw_stream, "schema_loader")
        replacement: Any = _MISSING

        if effective is None:
            # No loader at all: the CDK reads <package>/schemas/<name>.json if it is there, else uses {}.
            if schema_file_exists(name):
                parameters = {**(resolved_stream.get("$parameters") or {}), "name": name}
                replacement = inline(name, {"type": JSON_FILE, "$parameters": parameters})
        elif isinstance(effective, list):
            items = _deref(document, written)
            if not isinstance(items, list) or len(items) != len(effective):
                raise BundleError(f"stream {name!r}: cannot match its schema_loader list to the manifest text")
            if any(isinstance(item, dict) and item.get("type") == JSON_FILE for item in effective):
                replacement = [
                    inline(name, loader) if isinstance(loader, dict) and loader.get("type") == JSON_FILE else item
                    for item, loader in zip(items, effective)
                ]
        elif isinstance(effective, dict) and effective.get("type") == JSON_FILE:
            replacement = inline(name, effective)

        if replacement is not _MISSING:
            stream = _deref(document, raw_stream) if _is_ref(raw_stream) else raw_stream
            new_streams.append(_with_key(copy.deepcopy(stream), "schema_loader", replacement))
        else:
            new_streams.append(raw_stream)

    document["streams"] = new_streams
    if schemas:
        document[SCHEMAS_KEY] = schemas
    _prune(document)
    _verify(document, [s.get("name") for s in resolved_streams])
    return document


def _reference_paths(node: Any) -> List[Tuple[str, ...]]:
    """Every path a ``$ref`` or ``"#/..."`` string points at."""
    found: List[Tuple[str, ...]] = []

    def walk(value: Any, key: Optional[str] = None) -> None:
        if isinstance(value, dict):
            for child_key, child in value.items():
                walk(child, child_key)
        elif isinstance(value, list):
            for child in value:
                walk(child)
        elif _is_ref(value):
            found.append(tuple(value[2:].split("/")))

    walk(node)
    return found


def _prune(document: MutableMapping[str, Any]) -> None:
    """Drop, under ``definitions``, the file schema loaders no stream needs any more: ``schema_loader`` fields of
    shared stream shapes (every stream now says its own) and the loader definitions themselves, once nothing
    refers to them."""
    definitions = document.get("definitions")
    if not isinstance(definitions, dict):
        return

    def referenced(path: Tuple[str, ...], references: List[Tuple[str, ...]]) -> bool:
        return any(ref[: len(path)] == path or path[: len(ref)] == ref for ref in references)

    def candidates(node: Any, path: Tuple[str, ...]) -> Iterator[Tuple[Tuple[str, ...], MutableMapping[str, Any], str]]:
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if key == "schema_loader" and _holds_json_file_loader(document, value):
                    yield path + (key,), node, key
                elif isinstance(value, dict) and value.get("type") == JSON_FILE:
                    yield path + (key,), node, key
                else:
                    yield from candidates(value, path + (key,))

    changed = True
    while changed:
        changed = False
        for path, parent, key in list(candidates(definitions, ("definitions",))):
            # A reference to a parent mapping copies the whole of it, loader included: that is not a use of the
            # loader once every stream overrides `schema_loader`, so only references into the loader itself count.
            references = [ref for ref in _reference_paths(document) if len(ref) >= len(path)]
            if not referenced(path, references):
                del parent[key]
                changed = True
                break


def _verify(document: Mapping[str, Any], names: List[Any]) -> None:
    """The bundle resolves, names the same streams in the same order, and holds no file schema loader."""
    try:
        resolved = resolve(document)
    except Exception as error:  # the CDK raises its own reference errors
        raise BundleError(f"the bundled manifest does not resolve: {error}") from error
    bundled_names = [stream.get("name") for stream in resolved.get("streams") or []]
    if bundled_names != names:
        raise BundleError(f"bundling changed the streams: {names} -> {bundled_names}")
    left = [".".join(map(str, path)) for path in _json_file_loaders(document)]
    if left:
        raise BundleError(
            "these JsonFileSchemaLoader definitions are used by no stream this tool can inline (for example a "
            "dynamic stream template): " + ", ".join(left)
        )


def _json_file_loaders(node: Any, path: Tuple[Any, ...] = ()) -> Iterator[Tuple[Any, ...]]:
    if isinstance(node, dict):
        if node.get("type") == JSON_FILE:
            yield path
        for key, value in node.items():
            yield from _json_file_loaders(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _json_file_loaders(value, path + (index,))


# ----------------------------------------------------------------------------------------------------------------
# Writing YAML that stays readable
# ----------------------------------------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key, short scalar lists inline, multi-line text as blocks,
    anchored values written out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value.strip("\n") and not any(line != line.rstrip() for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: yaml.SafeDumper, value: List[Any]) -> yaml.Node:
    scalars = all(isinstance(item, (str, int, float, bool)) or item is None for item in value)
    short = scalars and len(json.dumps(value)) <= 80 and not any(isinstance(i, str) and "\n" in i for i in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=bool(value) and short)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)


def render(document: Mapping[str, Any]) -> str:
    body = yaml.dump(
        dict(document), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000, default_flow_style=False
    )
    lines = body.splitlines()
    top_level = {"definitions": "Shared definitions", "streams": "The streams", SCHEMAS_KEY: "Stream schemas"}
    out: List[str] = []
    for line in lines:
        key = line.split(":", 1)[0]
        if key in top_level and line.startswith(f"{key}:"):
            out += ["", f"# {'-' * 110}", f"# {top_level[key]}", f"# {'-' * 110}"]
        out.append(line)
    return HEADER + "\n".join(out) + "\n"


def build(source: Path = SOURCE) -> str:
    """The text of the bundled manifest for the manifest at ``source``."""
    manifest = yaml.safe_load(source.read_text())
    if not isinstance(manifest, dict):
        raise BundleError(f"{source} does not hold a YAML mapping")
    return render(bundle(manifest))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the bundled manifest is current")
    parser.add_argument("--source", type=Path, default=SOURCE, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=TARGET, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    try:
        text = build(args.source)
    except BundleError as error:
        print(f"{COMMAND}: {error}", file=sys.stderr)
        return 2
    target = args.output
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target

    if args.check:
        current = target.read_text() if target.exists() else ""
        if current == text:
            print(f"{shown} is up to date.")
            return 0
        diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "expected", lineterm="", n=1))
        print(
            f"{shown} is stale: it differs from what {args.source.name} and the schemas give "
            f"({len(diff)} diff lines). Run `{COMMAND}` (or `make manifest`) and commit the result.",
            file=sys.stderr,
        )
        print("\n".join(diff[:40]), file=sys.stderr)
        return 1

    target.write_text(text)
    print(f"wrote {shown} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
