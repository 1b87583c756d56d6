"""Slow set-ups whose results the tests only read (virtualenvs, runs of the connector as a process), started when
the test run starts and awaited where a test needs them: the second core, which the tests in this process leave
mostly idle, does that work meanwhile, and the run's wall time pays for it only where a test has to wait for it.

A set-up is named once (``SETUPS``) with the test file that needs it; ``start_for(paths)`` starts those of the
selected files, each in a thread of its own running its commands at the lowest CPU priority (``nice 19``), so
that the tests running meanwhile keep the cores they would have had. ``result(name)`` waits for one (starting it
now if it was not started). What a set-up builds and what it returns are the same either way: only when it runs
changes.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from typing import Any, Callable, Dict, Iterable, Tuple

# name -> (the test file that needs it, the set-up); filled in by `setup`.
SETUPS: Dict[str, Tuple[str, Callable[[], Any]]] = {}
_started: Dict[str, Future] = {}
_lock = threading.Lock()


def lowest_priority() -> None:
    """``preexec_fn`` of a set-up's commands: run at nice 19."""
    os.nice(19)


def setup(name: str, needed_by: str):
    """Register a set-up function under ``name``, for the test file ``needed_by`` (a path below unit_tests/)."""

    def register(function: Callable[[], Any]) -> Callable[[], Any]:
        SETUPS[name] = (needed_by, function)
        return function

    return register


def _run(future: Future, function: Callable[[], Any]) -> None:
    try:
        future.set_result(function())
    except BaseException as error:  # surfaced by `result`, in the test that needs it
        future.set_exception(error)


def start(name: str) -> Future:
    with _lock:
        if name not in _started:
            future: Future = Future()
            _started[name] = future
            threading.Thread(target=_run, args=(future, SETUPS[name][1]), name=f"set-up {name}", daemon=True).start()
        return _started[name]


def start_for(paths: Iterable[str]) -> None:
    """Start the set-ups the selected test files need (``paths`` as pytest's node ids begin)."""
    selected = set(paths)
    for name, (needed_by, _) in SETUPS.items():
        if any(path.endswith(needed_by) for path in selected):
            start(name)


def result(name: str, timeout: float = 1800.0) -> Any:
    """What the set-up returned (or the error it raised), started now if it was not yet."""
    return start(name).result(timeout)
