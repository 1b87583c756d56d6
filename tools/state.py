"""A state file for ``read --state`` from the STATE messages a read printed, for running the connector by hand.

    .venv/bin/source-close-com read --config config.json --catalog configured_catalog.json > output.jsonl
    .venv/bin/python -m tools.state output.jsonl > state.json
    .venv/bin/python -m tools.state state.json output2.jsonl > state2.json     # streams not read keep their state

Each input is a read's output (Airbyte messages, one per line), a state file (a JSON list of STATE messages), or a
state in Airbyte's legacy format (one object keyed by stream name); ``-`` reads standard input. The result holds
the last state of each stream, later inputs winning. Full-refresh streams have nothing to resume and are left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional

from tools.cli import print_json, read_input

NO_CURSOR = "__ab_no_cursor_state_message"


def stream_state_message(name: str, stream_state: Any) -> Dict[str, Any]:
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state}}


def states_in(text: str, source: str) -> List[Dict[str, Any]]:
    """The per-stream STATE messages in ``text``, in order; ValueError says what is wrong."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, list):
        entries = whole
    elif isinstance(whole, dict) and whole.get("type") is None and "stream" not in whole:
        # Airbyte's legacy format: {"<stream>": {<state>}, ...}
        return [stream_state_message(name, value) for name, value in whole.items() if isinstance(value, dict)]
    else:
        entries = [whole] if isinstance(whole, dict) else []
        if whole is None:
            for number, line in enumerate(text.splitlines(), 1):
                if line.strip().startswith("{"):
                    try:
                        entries.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise ValueError(f"line {number} of {source} is not JSON: pass what `read` printed") from None
    states = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        message = entry.get("state") if entry.get("type") == "STATE" else entry
        stream = (message or {}).get("stream") if isinstance(message, dict) else None
        if isinstance(stream, dict) and (stream.get("stream_descriptor") or {}).get("name"):
            states.append(stream_state_message(stream["stream_descriptor"]["name"], stream.get("stream_state")))
    return states


def merged_state(inputs: List[tuple]) -> List[Dict[str, Any]]:
    """The last state of each stream over ``(text, source)`` inputs, full-refresh markers left out."""
    last: Dict[str, Dict[str, Any]] = {}
    for text, source in inputs:
        found = states_in(text, source)
        if not found:
            raise ValueError(f"{source} holds no per-stream STATE message")
        for message in found:
            last[message["stream"]["stream_descriptor"]["name"]] = message
    return [m for m in last.values() if not (m["stream"]["stream_state"] or {}).get(NO_CURSOR)]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.state", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="read outputs or state files, oldest first (- for standard input)")
    args = parser.parse_args(argv)
    return print_json("python -m tools.state", lambda: merged_state([read_input(name) for name in args.inputs]))

if __name__ == "__main__":
    sys.exit(main())
