"""A local stand-in for the Close.com REST API v1, for tests and benchmarks of the connector.

``models.py`` holds the generated organisation (the ground truth), ``responses.py`` Close's API
semantics (filters, paging, caps, error bodies), ``server.py`` the HTTP front end (auth, rate
limits, faults, latency, stats, control endpoints). Run it with ``python -m close_simulator serve``
or from Python with :class:`close_simulator.testing.Simulator`.
"""

__all__ = ["Simulator", "SimulatorProcess"]


def __getattr__(name: str):
    # Imported lazily so that ``import close_simulator`` stays cheap and does not pull in aiohttp.
    if name in __all__:
        from . import testing

        return getattr(testing, name)
    raise AttributeError(f"module 'close_simulator' has no attribute {name!r}")
