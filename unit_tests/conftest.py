"""Shared fixtures: a running Close simulator over real HTTP (see close_simulator/testing.py).

* ``simulator``: module-scoped, small organisation, seed 7, no rate limit, no faults. Shared by
  the tests of a module, so tests must not mutate it (use ``make_simulator`` for that).
* ``make_simulator``: ``make_simulator(**options)`` returns a started ``Simulator`` with its own
  port and organisation; every one is stopped at teardown.

Once the tests are collected, the slow set-ups the selected files need (the virtualenvs of helpers/venvs.py) start
in the background, at the lowest CPU priority.
"""

from close_simulator.testing import make_simulator, simulator  # noqa: F401  (pytest fixtures)
from unit_tests.helpers import background, pyairbyte_syncs, three_runners, venvs  # noqa: F401  (they register their set-ups)


def pytest_collection_finish(session) -> None:
    background.start_for({item.nodeid.split("::")[0] for item in session.items})
