"""Shared fixtures: a running Close simulator over real HTTP (see close_simulator/testing.py).

* ``simulator``: module-scoped, small organisation, seed 7, no rate limit, no faults. Shared by
  the tests of a module, so tests must not mutate it (use ``make_simulator`` for that).
* ``make_simulator``: ``make_simulator(**options)`` returns a started ``Simulator`` with its own
  port and organisation; every one is stopped at teardown.
"""

from close_simulator.testing import make_simulator, simulator  # noqa: F401  (pytest fixtures)
