"""Airbyte's standard connector tests (airbyte-cdk ``DeclarativeSourceTestSuite``) against the Close simulator.

The suite reads ``acceptance-test-config.yml`` and runs the manifest as Airbyte's manifest-only runtime does (see
``suite.py``). Per config of that file, parametrized by ``conftest.py``:

* ``test_spec``: one SPEC message, which passes the CDK's spec lint;
* ``test_config_matches_spec`` (``spec`` section): the minimal sample config validates against that spec;
* ``test_check`` (``connection`` section): ``check`` reports SUCCEEDED for the two sample configs and FAILED for
  the config with an unknown key, and prints no secret;
* ``test_discover`` (``discovery`` section): one catalog, which passes the CDK's catalog checks;
* ``test_basic_read`` (``basic_read`` and ``full_refresh``): a full-refresh read of the 69 streams of
  ``integration_tests/configured_catalog.json``; every stream returns records, and every record matches its
  stream's schema (``test_strictness_level: high`` allows no opt-out);
* ``test_fail_read_with_bad_catalog``: a read given an invalid catalog fails with a trace message.

``test_components_load_as_injected_code`` checks on its own the step every test of the suite starts with: loading
components.py the way the manifest-only runtime does.
"""

from __future__ import annotations

import hashlib
import sys

import pytest

from unit_tests.standard.suite import CloseComSuiteBase


class TestCloseComStandardSuite(CloseComSuiteBase):
    """Every test of the CDK's source suite except the Docker image tests (see ``suite.py``)."""


def test_components_load_as_injected_code(monkeypatch) -> None:
    """The manifest-only runtime, the Connector Builder, PyAirbyte's ``source_manifest`` and the suite above load
    components.py with ``exec`` into a fresh module that is not in ``sys.modules`` yet. Every custom class the
    manifest names must come out of that."""
    import re

    from airbyte_cdk.sources.declarative.parsers.custom_code_compiler import register_components_module_from_string

    from unit_tests.standard.suite import PACKAGE

    text = (PACKAGE / "components.py").read_text()
    for name in ("components", "source_declarative_manifest.components"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv("AIRBYTE_ENABLE_UNSAFE_CODE", "true")
    try:
        module = register_components_module_from_string(text, {"md5": hashlib.md5(text.encode()).hexdigest()})
    except Exception as error:  # noqa: BLE001 - the message says what breaks
        pytest.fail(
            f"components.py cannot be loaded as injected code: {type(error).__name__}: {error}. (A @dataclass in a "
            "module run with `from __future__ import annotations` needs that module in sys.modules, which "
            "the CDK registers only after running the code.)"
        )
    named = set(re.findall(r"source_declarative_manifest\.components\.(\w+)", (PACKAGE / "manifest.yaml").read_text()))
    assert named, "the manifest names no custom component"
    missing = sorted(name for name in named if not hasattr(module, name))
    assert not missing, f"components.py loaded as injected code lacks {missing}"
