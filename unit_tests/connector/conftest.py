"""Fixtures of the connector tests (the simulators themselves: unit_tests/conftest.py)."""

import pytest

from unit_tests.helpers.catalogs import incremental_catalog


@pytest.fixture(scope="module")
def incremental(simulator):
    """(configured catalog, cursor per stream) of every incremental stream, in incremental mode."""
    return incremental_catalog(simulator.config())
