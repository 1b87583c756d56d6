"""``source-close-com`` run in-process as its console script, with everything it prints captured.

``invoke(capfd, *args)`` calls the connector's entry (``source_close_com.run:run``, what the console script's
``main`` runs once it has set the process's GIL interval) with the arguments of a command line and captures stdout
and stderr at the file descriptors. Its exit code is kept: 0, the code of a ``SystemExit``, or 1 for an exception
that escapes, which is turned into the trace message the CDK's uncaught-exception hook prints for the platform,
as the process would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Dict, List, Optional

from airbyte_cdk.exception_handler import assemble_uncaught_exception
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    FailureType,
    Level,
    TraceType,
    Type,
)

from source_close_com.run import run as console_script
from unit_tests.harness import catalog_for


def parse_output(text: str) -> List[AirbyteMessage]:
    """The Airbyte messages among the lines of ``text`` (debug lines and other output are passed over)."""
    messages = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            messages.append(AirbyteMessageSerializer.load(json.loads(line)))
        except Exception:  # debug lines and other non-protocol output
            continue
    return messages


@dataclass
class ConsoleRun:
    """What one command printed, and its exit code."""

    code: int
    out: str
    err: str = ""

    @property
    def text(self) -> str:
        """Every line printed, stdout then stderr (for secret scans)."""
        return self.out + self.err

    @cached_property
    def messages(self) -> List[AirbyteMessage]:
        return parse_output(self.out)

    def of(self, kind: Type) -> List[AirbyteMessage]:
        return [m for m in self.messages if m.type == kind]

    @property
    def errors(self):
        return [m.trace.error for m in self.of(Type.TRACE) if m.trace.type == TraceType.ERROR]

    @property
    def stream_errors(self) -> Dict[str, list]:
        out: Dict[str, list] = {}
        for error in self.errors:
            if error.stream_descriptor is not None:
                out.setdefault(error.stream_descriptor.name, []).append(error)
        return out

    @property
    def status(self):
        statuses = [m.connectionStatus for m in self.of(Type.CONNECTION_STATUS)]
        assert len(statuses) == 1, self.text[-3000:]
        return statuses[0]

    def warnings(self) -> List[str]:
        return [m.log.message for m in self.of(Type.LOG) if m.log.level == Level.WARN]

    def logs(self) -> List[str]:
        return [m.log.message for m in self.of(Type.LOG)]

    def records(self, stream: str) -> List[dict]:
        return [m.record.data for m in self.of(Type.RECORD) if m.record.stream == stream]

    def only_error(self) -> str:
        """The one config error of a run that failed for a person to fix, as the platform would show it."""
        assert self.code == 1, f"exit code {self.code}: {self.out[-2000:]}{self.err[-2000:]}"
        assert len(self.errors) == 1, [e.message for e in self.errors]
        error = self.errors[0]
        assert error.failure_type == FailureType.config_error, error
        assert "Traceback" not in self.out, self.out[-2000:]
        return error.message


def invoke(capfd, *args: str) -> ConsoleRun:
    """`source-close-com <args>` in this process."""
    capfd.readouterr()
    code, escaped = 0, None
    try:
        console_script(list(args))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except Exception as error:  # what the CDK's excepthook would print before the process exits non-zero
        code, escaped = 1, error
    out, err = capfd.readouterr()
    if escaped is not None:
        trace = assemble_uncaught_exception(type(escaped), escaped).as_airbyte_message()
        out += json.dumps(AirbyteMessageSerializer.dump(trace)) + "\n"
    return ConsoleRun(code, out, err)


def write(folder: Path, name: str, content) -> str:
    """``content`` (text as it is, anything else as JSON) in ``folder/name``; the path."""
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def arguments(
    folder: Path, command: str, config=None, catalog: Optional[ConfiguredAirbyteCatalog] = None, state=None
) -> List[str]:
    """The command line of ``command`` with the config, catalog and state (a list of state messages) written to
    files in ``folder``."""
    args = [command]
    if config is not None:
        args += ["--config", write(folder, "config.json", config)]
    if catalog is not None:
        args += ["--catalog", write(folder, "catalog.json", ConfiguredAirbyteCatalogSerializer.dump(catalog))]
    if state is not None:
        args += ["--state", write(folder, "state.json", state)]
    return args


def catalog_file(folder: Path, config, streams, mode: str = "incremental") -> str:
    """A configured catalog of these streams (in ``mode`` where they support it) in ``folder``; the path."""
    return write(folder, "configured_catalog.json", ConfiguredAirbyteCatalogSerializer.dump(catalog_for(config, streams, mode)))


def console(capfd, folder: Path, command: str, config=None, catalog=None, debug: bool = False, state=None) -> ConsoleRun:
    """``command`` with this config, catalog and state (written to files in ``folder``), optionally with ``--debug``."""
    return invoke(capfd, *arguments(folder, command, config, catalog, state), *(["--debug"] if debug else []))
