"""Entry point of the packaged connector: ``source-close-com spec|check|discover|read``.

The manifest names its custom components ``source_declarative_manifest.components.<Name>``, the module name
Airbyte's manifest runner and the Connector Builder give ``components.py``; registering the same alias here
lets the packaged connector run the very same manifest unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Mapping, Optional

from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.models import ConfiguredAirbyteCatalog
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.source import TState

from source_close_com import components

sys.modules.setdefault("source_declarative_manifest.components", components)

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")


class SourceCloseCom(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: TState = None,
    ) -> None:
        super().__init__(path_to_yaml=str(MANIFEST_PATH), catalog=catalog, config=config, state=state)


def _source(args: List[str]) -> SourceCloseCom:
    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    config_path = AirbyteEntrypoint.extract_config(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    catalog = YamlDeclarativeSource.read_catalog(catalog_path) if catalog_path else None
    config = YamlDeclarativeSource.read_config(config_path) if config_path else None
    state = YamlDeclarativeSource.read_state(state_path) if state_path else None
    return SourceCloseCom(catalog=catalog, config=config, state=state)


def run(args: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if args is None else args)
    launch(_source(args), args)


if __name__ == "__main__":
    run()
