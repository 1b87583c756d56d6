"""Fixtures and hooks of the standard connector tests (see ``suite.py``).

* The airbyte-cdk standard tests apply markers when their modules are imported; the project runs pytest with
  ``--strict-markers``, so they are registered in ``pyproject.toml`` (a conftest below the root registers
  them too late when the whole suite is collected).
* ``pytest_generate_tests`` parametrizes the suite's ``scenario`` argument, per test, with the configs of
  ``acceptance-test-config.yml`` whose sections run that test's command, *indirectly*: the ``scenario`` fixture
  turns each into a scenario whose config points at the live simulator.
* ``live_simulator``: the simulator every config points at, in a child process (the connector keeps this
  process's cores), on a free loopback port, for the module.
"""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

from airbyte_cdk.test.models import ConnectorTestScenario
from close_simulator.testing import SimulatorProcess
from unit_tests.standard.suite import ROOT, SUITE_TEST_COMMANDS, with_simulator

COMPONENT_MODULES = ("source_declarative_manifest.components", "components")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``scenario`` with the scenarios whose sections run the test's command, so that no test is
    collected only to be skipped (the suite would skip e.g. ``discover`` for the config listed only under
    ``connection``)."""
    if "scenario" not in metafunc.fixturenames or metafunc.cls is None:
        return
    name = metafunc.function.__name__
    if name not in SUITE_TEST_COMMANDS:
        raise ValueError(
            f"{name} is a standard test unit_tests/standard does not know yet: add the command it runs to "
            "SUITE_TEST_COMMANDS in unit_tests/standard/suite.py"
        )
    scenarios = [s for s in metafunc.cls.get_scenarios() if s.runs(SUITE_TEST_COMMANDS[name])]
    if name == "test_discover":  # the suite skips discover for configs expected to fail
        scenarios = [s for s in scenarios if not s.expected_outcome.expect_exception()]
    assert scenarios, f"acceptance-test-config.yml gives {name} no config to run"
    metafunc.parametrize("scenario", scenarios, ids=[s.id for s in scenarios], indirect=True)


@pytest.fixture(scope="module")
def live_simulator() -> Iterator[SimulatorProcess]:
    """The organisation every config of acceptance-test-config.yml points at: small, seed 7, no rate limit."""
    with SimulatorProcess(seed=7, scale="small", rps=None, org_rps=None) as sim:
        yield sim


@pytest.fixture
def scenario(request: pytest.FixtureRequest, live_simulator: SimulatorProcess) -> ConnectorTestScenario:
    """The parametrized scenario, with its config read from its file and pointed at the live simulator."""
    template: ConnectorTestScenario = request.param
    config = template.get_config_dict(connector_root=ROOT, empty_if_missing=False)
    return template.model_copy(update={"config_dict": with_simulator(config, live_simulator)})


@pytest.fixture(scope="module", autouse=True)
def keep_package_components() -> Iterator[None]:
    """The injected components.py replaces ``source_declarative_manifest.components`` in ``sys.modules``; put the
    package's module back after each module, so that later tests of the session run the package's own classes."""
    saved = {name: sys.modules.get(name) for name in COMPONENT_MODULES}
    yield
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module
