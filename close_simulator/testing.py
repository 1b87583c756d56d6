"""Run the simulator from Python: in a background thread (tests) or as a subprocess (benchmarks).

``Simulator`` serves on a free loopback port from its own thread and event loop, so a test can
point a connector at ``sim.url`` and still inspect or change the organisation from the test's
thread. Every method that touches the organisation, the API object or the stats runs *on the
loop's thread* (``asyncio.run_coroutine_threadsafe``), so it never races with a request being
served. ``sim.org`` and ``sim.api`` are exposed for read-only inspection; prefer the methods.

``SimulatorProcess`` runs ``python -m close_simulator serve`` in a child process: the only way to
measure the server on a core of its own, or to kill it mid-sync.

The pytest fixtures ``simulator`` and ``make_simulator`` are defined at the bottom; a
``conftest.py`` makes them available by importing them.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

from .options import cli_arguments
from .server import SimulatorServer

__all__ = ["Simulator", "SimulatorProcess", "cli_arguments", "simulator", "make_simulator"]


class Simulator:
    """A simulated Close organisation served over real HTTP on ``127.0.0.1:<free port>``.

    Keyword options are those of ``options.OPTIONS`` (the README's options table): ``seed``, ``scale``,
    ``anchor``, ``rps`` (``None`` = no per-key limit), ``org_rps``, ``latency_ms``, ``faults``, ...; ``host``
    and ``port`` (default 0: a free port) say where to listen.

    Use as a context manager or call ``start()`` / ``stop()``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any):
        self.host = host
        self.port = port
        self._server = SimulatorServer(**options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> "Simulator":
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._run_loop, args=(loop,), name="close-simulator", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self.port = asyncio.run_coroutine_threadsafe(self._server.start(self.host, self.port), loop).result(30)
        except BaseException:
            self._shutdown_loop()
            raise
        return self

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def stop(self) -> None:
        """Close the listening socket and every connection, then end the loop's thread."""
        if self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(10)
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        if not loop.is_running():
            loop.close()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._loop is not None

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the server's loop thread (never concurrently with request handling)."""
        loop = self._loop
        if loop is None:  # not serving: nothing can race
            return fn(*args, **kwargs)

        async def on_loop() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(120)

    # -- addresses and identity --

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (control endpoints live under ``/_simulator/``)."""
        return self._server.base_url

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/api/v1/``: the connector's ``api_url``."""
        return self._server.url

    @property
    def api_key(self) -> str:
        return self._server.org.api_key

    @property
    def auth(self) -> tuple[str, str]:
        """``(api_key, "")`` as ``requests`` wants it for HTTP Basic."""
        return (self.api_key, "")

    @property
    def restricted_key(self) -> str | None:
        """The first restricted key configured, if any."""
        return self._server.restricted_key

    @property
    def org(self) -> Any:
        return self._server.org

    @property
    def api(self) -> Any:
        return self._server.api

    @property
    def server(self) -> SimulatorServer:
        return self._server

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A ready connector config: ``api_key``, ``api_url``, ``start_date``, ``num_workers`` 10 (+ overrides)."""
        return self._server.connector_config(**overrides)

    # -- inspection and control (all on the loop thread) --

    def stats(self) -> dict[str, Any]:
        return self.call(self._server.stats.snapshot)

    def reset_stats(self) -> None:
        self.call(self._server.stats.reset)

    def truth(self, stream: str, start_date: str | None = None) -> list[dict]:
        return self.call(self._server.org.truth, stream, start_date)

    def mutate(self, change: dict) -> dict:
        return self.call(lambda: self._server.org.mutate(change))

    def add_listed(self, stream: str, record: dict) -> dict:
        """``Organization.add_listed``: a settings record or event-log entry, as Close would list it."""
        return self.call(lambda: self._server.org.add_listed(stream, record))

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change faults, rps, org_rps, latency, max_skip, header style, ... while serving."""
        return self.call(self._server.configure, **options)

    def settings(self) -> dict[str, Any]:
        return self.call(self._server.settings)

    def reset(self) -> None:
        """Rebuild the organisation from its seed and forget stats (the port stays the same)."""
        self.call(self._server.reset)


class SimulatorProcess:
    """``python -m close_simulator serve`` in a child process, driven over HTTP.

    Options are ``Simulator``'s, turned into ``serve`` arguments by ``options.cli_arguments`` (``rps=None`` →
    ``--rps 0``, ``faults=[...]`` → one ``--fault`` each, ``restricted_keys={key: [prefix]}`` →
    ``--restricted-key``); ``port`` defaults to 0, a free port.
    """

    def __init__(self, *, python: str = sys.executable, startup_timeout: float = 60.0, stderr: Any = None, **options: Any):
        self.argv = [python, "-m", "close_simulator", "serve", *cli_arguments(**{"port": 0, **options})]
        self.startup_timeout = startup_timeout
        self._stderr = stderr
        self.proc: subprocess.Popen | None = None
        self.config: dict[str, Any] = {}

    def start(self) -> "SimulatorProcess":
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._stderr, env=env, cwd=root)
        line = _read_line(self.proc, self.startup_timeout)
        if not line:
            code = self.proc.poll()
            self.stop()
            raise RuntimeError(f"simulator process printed no config (exit code {code}): {' '.join(self.argv)}")
        self.config = json.loads(line)
        return self

    def __enter__(self) -> "SimulatorProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def url(self) -> str:
        return self.config["api_url"]

    @property
    def base_url(self) -> str:
        return self.url[: -len("/api/v1/")]

    @property
    def api_key(self) -> str:
        return self.config["api_key"]

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}/_simulator/{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
        return raw

    def stats(self) -> dict[str, Any]:
        return json.loads(self._control("GET", "stats"))

    def reset_stats(self) -> None:
        self._control("POST", "stats/reset", {})

    def configure(self, **options: Any) -> dict[str, Any]:
        return json.loads(self._control("POST", "configure", options))

    def mutate(self, change: dict) -> dict:
        return json.loads(self._control("POST", "mutate", change))

    def truth(self, stream: str, start_date: str | None = None) -> list[dict]:
        query = f"?{urllib.parse.urlencode({'start_date': start_date})}" if start_date else ""
        raw = self._control("GET", f"truth/{stream}{query}")
        return [json.loads(line) for line in raw.splitlines() if line.strip()]

    def kill(self) -> None:
        """SIGKILL: the abrupt end a connector must survive."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def _read_line(proc: subprocess.Popen, timeout: float) -> bytes:
    """The first stdout line of ``proc``, or b"" if it exits or stays silent for ``timeout``."""
    deadline = time.monotonic() + timeout
    buffer = b""
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return b""
            chunk = os.read(fd, 65536)
            if not chunk:
                return b""
            buffer += chunk
    return buffer.split(b"\n", 1)[0]


# --- pytest fixtures -----------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - fixtures are only needed under pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="module")
    def simulator():
        """A shared small organisation (seed 7), no rate limit, no faults. Do not mutate it."""
        with Simulator(seed=7, scale="small", rps=None, org_rps=None) as sim:
            yield sim

    @pytest.fixture
    def make_simulator():
        """Factory: ``make_simulator(**options)`` returns a started Simulator; all stop at teardown."""
        started: list[Simulator] = []

        def factory(**options: Any) -> Simulator:
            sim = Simulator(**options).start()
            started.append(sim)
            return sim

        yield factory
        for sim in reversed(started):
            sim.stop()
