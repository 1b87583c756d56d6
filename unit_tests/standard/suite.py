"""The airbyte-cdk standard test suite, set up for this repository, and the helpers of its incremental tests.

``CloseComSuiteBase`` is the CDK's ``DeclarativeSourceTestSuite`` with:

* the connector root: the repository root, where ``metadata.yaml`` and ``acceptance-test-config.yml`` live;
* the manifest: ``source_close_com/manifest.bundled.yaml``, the manifest with its stream schemas inlined, which is
  what Airbyte's manifest-only runtime and the Connector Builder load (``manifest.yaml`` reads its schemas from the
  package); the suite runs it in a ``ConcurrentDeclarativeSource`` with ``source_close_com/components.py`` injected
  as code (``__injected_components_py``), not imported from the installed package;
* no Docker image tests: they build ``airbyte/source-close-com`` and run it with a Docker daemon, which this machine
  does not have; ``unit_tests/test_shipping.py`` lints the Dockerfile and replays its install steps instead.

The configs of ``acceptance-test-config.yml`` hold two placeholders (``SIMULATOR_PORT`` in ``api_url``,
``api_SIMULATOR_API_KEY`` in ``api_key``); ``with_simulator`` replaces them with a live simulator's address and key
(see ``conftest.py``, which hands every scenario its resolved config as ``config_dict``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml
from boltons.typeutils import classproperty

from airbyte_cdk.models import (
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    Level,
    Type,
)
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.standard_tests import DeclarativeSourceTestSuite

from unit_tests.harness import stream_position
from unit_tests.helpers.times import DEFAULT_LOOKBACK_DAYS, parse, reread_floor

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "source_close_com"

PLACEHOLDER_URL = "http://127.0.0.1:SIMULATOR_PORT/api/v1/"
PLACEHOLDER_KEY = "api_SIMULATOR_API_KEY"

# The command each parametrized test of the CDK suite runs (see conftest.pytest_generate_tests).
SUITE_TEST_COMMANDS = {
    "test_check": "check",
    "test_config_matches_spec": "spec",
    "test_discover": "discover",
    "test_basic_read": "read",
    "test_fail_read_with_bad_catalog": "read",
}

# The activities' lookback of sample_files/config.json (lookback_window_days, the connector's default of 1).
LOOKBACK = timedelta(days=DEFAULT_LOOKBACK_DAYS)
EVENT_RETENTION = timedelta(days=30)


def with_simulator(value: Any, simulator: Any) -> Any:
    """A copy of a config with the simulator placeholders replaced by a live simulator's address and key."""
    if isinstance(value, dict):
        return {key: with_simulator(item, simulator) for key, item in value.items()}
    if isinstance(value, list):
        return [with_simulator(item, simulator) for item in value]
    if isinstance(value, str):
        return value.replace(PLACEHOLDER_URL, simulator.url).replace(PLACEHOLDER_KEY, simulator.api_key)
    return value


class CloseComSuiteBase(DeclarativeSourceTestSuite):
    """``DeclarativeSourceTestSuite`` pointed at this repository (not collected: its name does not start with Test)."""

    test_docker_image_build_and_spec = None
    test_docker_image_spec_backward_compatibility = None
    test_docker_image_build_and_check = None
    test_docker_image_build_and_config_matches_spec = None
    test_docker_image_build_and_discover = None
    test_docker_image_build_and_read = None

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

    @classproperty
    def connector_name(cls) -> str:
        metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())
        return metadata["data"]["dockerRepository"].split("/")[-1]

    @classproperty
    def manifest_yaml_path(cls) -> Path:
        return PACKAGE / "manifest.bundled.yaml"

    @classproperty
    def components_py_path(cls) -> Optional[Path]:
        return PACKAGE / "components.py"

    # ------------------------------------------------------------------------------------------------------------
    # The `incremental` section, which the CDK suite does not collect
    # ------------------------------------------------------------------------------------------------------------
    @classmethod
    def incremental_entry(cls) -> Dict[str, Any]:
        entries = cls.acceptance_test_config["acceptance_tests"]["incremental"]["tests"]
        assert len(entries) == 1, "the incremental section is expected to hold one config"
        return entries[0]

    @classmethod
    def create_stateful_connector(
        cls, config: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog, state: Optional[List[Any]]
    ) -> ConcurrentDeclarativeSource:
        """The suite's connector (as ``create_connector`` builds it), also given the catalog and the input state,
        which a concurrent declarative source takes when it is built, not when it reads."""
        manifest = yaml.safe_load(cls.manifest_yaml_path.read_text())
        components = cls.components_py_path.read_text()
        os.environ["AIRBYTE_ENABLE_UNSAFE_CODE"] = "true"
        injected = {
            "__injected_manifest": manifest,
            **config,
            "__injected_components_py": components,
            "__injected_components_py_checksums": {"md5": hashlib.md5(components.encode()).hexdigest()},
        }
        return ConcurrentDeclarativeSource(config=injected, catalog=catalog, state=state, source_config=manifest)

    @classmethod
    def incremental_read(cls, simulator: Any, state: Optional[List[Dict[str, Any]]] = None) -> "IncrementalRead":
        """Read the incremental section's catalog (each stream in the sync mode the catalog gives it)."""
        entry = cls.incremental_entry()
        config = with_simulator(yaml.safe_load((ROOT / entry["config_path"]).read_text()), simulator)
        catalog = ConfiguredAirbyteCatalogSerializer.load(
            json.loads((ROOT / entry["configured_catalog_path"]).read_text())
        )
        state_messages = [AirbyteStateMessageSerializer.load(message) for message in state] if state else None
        started = datetime.now(timezone.utc)
        output = entrypoint_wrapper.read(
            cls.create_stateful_connector(config, catalog, state_messages), config, catalog, state_messages
        )
        assert not output.errors, "the read failed: " + output.get_formatted_error_message()
        return IncrementalRead(output, catalog, started, datetime.now(timezone.utc))


class IncrementalRead:
    """What one read emitted, by stream, with the catalog it read and when it ran."""

    def __init__(
        self,
        output: entrypoint_wrapper.EntrypointOutput,
        catalog: ConfiguredAirbyteCatalog,
        started: datetime,
        ended: datetime,
    ) -> None:
        self.output, self.catalog, self.started, self.ended = output, catalog, started, ended
        self._records: Dict[str, List[dict]] = {}
        self._states: Dict[str, List[dict]] = {}
        self._messages: Dict[str, Any] = {}
        for message in output.get_message_iterator():
            if message.type == Type.RECORD:
                self._records.setdefault(message.record.stream, []).append(message.record.data)
            elif message.type == Type.STATE and message.state.stream is not None:
                name = message.state.stream.stream_descriptor.name
                stream_state = message.state.stream.stream_state
                self._states.setdefault(name, []).append(stream_position(dict(stream_state.__dict__) if stream_state else {}))
                self._messages[name] = message.state
        self.warnings = [m.log.message for m in output.logs if m.log.level == Level.WARN]

    @property
    def catalog_streams(self) -> List[str]:
        return [configured.stream.name for configured in self.catalog.streams]

    @property
    def incremental_streams(self) -> List[str]:
        return [c.stream.name for c in self.catalog.streams if c.sync_mode.value == "incremental"]

    def cursor_field(self, stream: str) -> str:
        configured = next(c for c in self.catalog.streams if c.stream.name == stream)
        return configured.cursor_field[0]

    def reread_floor(self, stream: str, state: datetime) -> datetime:
        """The oldest cursor value a read starting from ``state`` may return again (the overlap rule)."""
        return reread_floor(stream, self.cursor_field(stream), state, LOOKBACK.days)

    def records(self, stream: str) -> List[dict]:
        return self._records.get(stream, [])

    def cursors(self, stream: str) -> List[datetime]:
        field = self.cursor_field(stream)
        return [parse(s[field]) for s in self._states.get(stream, []) if field in s]

    def final_cursor(self, stream: str) -> datetime:
        cursors = self.cursors(stream)
        assert cursors, f"{stream} emitted no state with its cursor field"
        return cursors[-1]

    def state_for_next_sync(self) -> List[Dict[str, Any]]:
        """The last state message of each stream, serialised as the platform hands it to the next sync."""
        return [copy.deepcopy(AirbyteStateMessageSerializer.dump(m)) for m in self._messages.values()]
