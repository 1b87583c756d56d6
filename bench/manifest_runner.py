"""Run the connector on another copy of its manifest (and components), for benchmark experiments.

    .venv/bin/python -m bench.manifest_runner MANIFEST.yaml [--components COMPONENTS.py] read --config ... --catalog ...

Same entry point as ``source-close-com`` (``source_close_com.run``), but the manifest, and optionally the
custom components module registered as ``source_declarative_manifest.components``, come from the given
files. Schemas still load from the installed ``source_close_com`` package. The benchmarks take
``--manifest`` / ``--components`` and run this instead of the console script.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, List, Mapping, Optional

from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource


def _load_components(path: str) -> None:
    spec = importlib.util.spec_from_file_location("source_declarative_manifest.components", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["source_declarative_manifest.components"] = module
    spec.loader.exec_module(module)


def main(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    manifest = str(Path(args.pop(0)).resolve())
    if args[:1] == ["--components"]:
        args.pop(0)
        _load_components(args.pop(0))
    else:
        from source_close_com import components

        sys.modules.setdefault("source_declarative_manifest.components", components)

    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    config_path = AirbyteEntrypoint.extract_config(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    catalog = YamlDeclarativeSource.read_catalog(catalog_path) if catalog_path else None
    config: Optional[Mapping[str, Any]] = YamlDeclarativeSource.read_config(config_path) if config_path else None
    state = YamlDeclarativeSource.read_state(state_path) if state_path else None
    source = YamlDeclarativeSource(path_to_yaml=manifest, catalog=catalog, config=config, state=state)
    launch(source, args)


if __name__ == "__main__":
    main()
