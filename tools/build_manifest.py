"""Build the self-contained manifest: ``source_close_com/manifest.bundled.yaml``.

Airbyte's manifest-only runtime (``source-declarative-manifest --manifest-path ... --components-path ...``) and
the Connector Builder see one YAML file and ``components.py``, nothing else: no package, no ``schemas/`` folder.
This tool writes that
file from ``source_close_com/manifest.yaml`` and the JSON schemas:

* every ``JsonFileSchemaLoader`` a stream uses, wherever the manifest puts it (the stream's own ``schema_loader``,
  a shared definition reached through ``$ref`` and resolved per stream through ``$parameters``, an item of a
  ``schema_loader`` list, or a field of a custom loader such as the static part of a custom-field loader),
  becomes, in that stream, an ``InlineSchemaLoader`` whose ``schema`` points at ``#/schemas/<stream>``: the
  top-level section the Connector Builder itself keeps stream schemas in. The schema is the one the CDK's own
  file loader reads at runtime. Only the loader is overridden in the stream (``$ref`` plus the changed key), so
  the custom loader around it stays a reference to its shared definition;
* a stream without any ``schema_loader`` (the CDK then reads ``<package>/schemas/<name>.json``) gets the same
  treatment when that file exists;
* everything else is kept as written: ``$ref``s, key order, other loaders. Definitions that only held file
  schema loaders are dropped once no stream needs them. YAML comments and anchors do not survive the round trip
  (anchored values are written out in full).

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


def _references_resolved(manifest: Mapping[str, Any], value: Any) -> Any:
    """``value`` with its ``$ref``s resolved against ``manifest`` (no ``$parameters`` propagation)."""
    resolver, _, _ = _cdk()
    return resolver()._evaluate_node(copy.deepcopy(value), manifest, set())


def _is_json_file_loader(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == JSON_FILE


def _json_file_loaders(node: Any, path: Tuple[Any, ...] = ()) -> Iterator[Tuple[Any, ...]]:
    """Paths of every ``JsonFileSchemaLoader`` mapping under ``node`` (not looking inside one)."""
    if _is_json_file_loader(node):
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _json_file_loaders(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _json_file_loaders(value, path + (index,))


def _at(node: Any, path: Tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _override(manifest: Mapping[str, Any], written: Any, path: Tuple[Any, ...], replacement: Any) -> Any:
    """A node meaning what ``written`` (a value as written in ``manifest``) means once its ``$ref``s are resolved,
    except that the value at ``path`` of the resolved form is ``replacement``. References are kept: a mapping
    reached through ``$ref`` becomes ``{$ref: ..., <key>: <overridden value>}``, as the CDK lets own keys win."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = _deref(manifest, written)
        if not isinstance(items, list):
            raise BundleError(f"cannot follow list index {head} through {json.dumps(written)[:200]}")
        new_items = list(items)
        new_items[head] = _override(manifest, items[head], rest, replacement)
        return new_items
    mapping = {"$ref": written} if _is_ref(written) else written
    if not isinstance(mapping, dict):
        raise BundleError(f"cannot follow key {head!r} through {json.dumps(written)[:200]}")
    child = _raw_field(manifest, mapping, head)
    if child is _MISSING:
        raise BundleError(f"key {head!r} does not come from the manifest text (a propagated parameter?)")
    overridden = dict(mapping)
    overridden[head] = _override(manifest, child, rest, replacement)
    return overridden


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
def bundle(
    manifest: Mapping[str, Any],
    schema_reader: SchemaReader = read_schema,
    schema_file_exists: Callable[[str], bool] = _schema_file_exists,
) -> Dict[str, Any]:
    """The manifest with every stream's file schema inlined (see the module docstring). ``manifest`` is not changed."""
    resolver, transformer, _ = _cdk()
    document = copy.deepcopy(dict(manifest))
    document.setdefault("type", "DeclarativeSource")
    referenced = resolver().preprocess_manifest(copy.deepcopy(document))  # $refs resolved, nothing else
    propagated = transformer().propagate_types_and_parameters("", copy.deepcopy(referenced), {})
    if "type" not in manifest:
        del document["type"]

    elsewhere = [
        ".".join(map(str, path)) for path in _json_file_loaders(referenced) if path[0] not in ("streams", "definitions")
    ]
    if elsewhere:
        raise BundleError(
            "only the loaders of `streams` can be inlined; a JsonFileSchemaLoader is used at " + ", ".join(elsewhere)
        )

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
    for raw_stream, plain, resolved_stream in zip(document.get("streams") or [], referenced["streams"], propagated["streams"]):
        name = resolved_stream.get("name") or (resolved_stream.get("$parameters") or {}).get("name")
        if not name:
            raise BundleError(f"a stream has no name: {json.dumps(raw_stream)[:200]}")
        stream: Any = raw_stream
        if "schema_loader" not in plain:
            # No loader at all: the CDK reads <package>/schemas/<name>.json if it is there, else uses {}.
            if schema_file_exists(name):
                parameters = {**(resolved_stream.get("$parameters") or {}), "name": name}
                stream = _override(document, stream, ("schema_loader",), inline(name, {"type": JSON_FILE, "$parameters": parameters}))
        for path in _json_file_loaders(plain):
            stream = _override(document, stream, path, inline(name, _at(resolved_stream, path)))
        if stream is not raw_stream and "schema_loader" in stream and list(stream)[-1] == "schema_loader":
            stream = _move_before(stream, "schema_loader", "$parameters")
        new_streams.append(stream)

    document["streams"] = new_streams
    if schemas:
        document[SCHEMAS_KEY] = schemas
    _prune(document)
    _verify(document, [s.get("name") for s in propagated["streams"]])
    return document


def _move_before(mapping: Dict[str, Any], key: str, before: str) -> Dict[str, Any]:
    """``mapping`` with ``key`` placed just before ``before`` (when both are there), for a readable stream entry."""
    if key not in mapping or before not in mapping:
        return mapping
    result: Dict[str, Any] = {}
    for existing, value in mapping.items():
        if existing == before:
            result[key] = mapping[key]
        if existing != key:
            result[existing] = value
    return result


def _reference_paths(node: Any) -> List[Tuple[str, ...]]:
    """Every path a ``$ref`` or ``"#/..."`` string points at."""
    found: List[Tuple[str, ...]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)
        elif _is_ref(value):
            found.append(tuple(value[2:].split("/")))

    walk(node)
    return found


def _prune(document: MutableMapping[str, Any]) -> None:
    """Drop, under ``definitions``, what holds a file schema loader no stream needs any more: loader definitions,
    and the fields of shared shapes whose value is (or lists) such a loader, once nothing refers into them.

    Every stream now overrides each file loader it used, so a reference to a *parent* of such a field (a stream's
    ``$ref`` to its shape) no longer reaches the loader: only references into the field itself keep it."""
    definitions = document.get("definitions")
    if not isinstance(definitions, dict):
        return

    def holds_loader(value: Any) -> bool:
        resolved = _references_resolved(document, value)
        items = resolved if isinstance(resolved, list) else [resolved]
        return any(_is_json_file_loader(item) for item in items)

    def candidates(node: Any, path: Tuple[str, ...]) -> Iterator[Tuple[Tuple[str, ...], Any, Any]]:
        entries = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        for key, value in entries:
            if isinstance(node, dict) and holds_loader(value):
                yield path + (str(key),), node, key
            else:
                yield from candidates(value, path + (str(key),))

    changed = True
    while changed:
        changed = False
        references = _reference_paths(document)
        for path, parent, key in list(candidates(definitions, ("definitions",))):
            if not any(ref[: len(path)] == path for ref in references if len(ref) >= len(path)):
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
