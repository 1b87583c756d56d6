"""A configured catalog from a discovered one, as the Airbyte platform builds it: the one helper the demo, the
benchmarks and the tests share, and a command for running the connector by hand.

    .venv/bin/source-close-com discover --config config.json > catalog.json
    .venv/bin/python -m tools.catalog catalog.json > configured_catalog.json
    .venv/bin/python -m tools.catalog catalog.json --streams leads,contacts --mode full_refresh > configured_catalog.json

The input is what ``discover`` prints (Airbyte messages, one per line, among them one CATALOG), or the catalog
object alone; ``-`` reads standard input. Every stream (or the named ones) is configured incremental where it
supports it (``--mode full_refresh`` reads everything whole), deduplicated on its primary key.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterable, List, Optional

from tools.cli import print_json, read_input


def configured_catalog(catalog: dict, mode: str, streams: Iterable[str] | None = None) -> dict:
    """Every stream of ``catalog`` (or the named ones) in ``mode`` where the stream supports it, else in full
    refresh; incremental streams dedupe on their primary key by their default cursor, as the platform's default."""
    wanted = set(streams) if streams is not None else None
    entries: list[dict[str, Any]] = []
    for stream in catalog["streams"]:
        if wanted is not None and stream["name"] not in wanted:
            continue
        incremental = mode == "incremental" and "incremental" in stream["supported_sync_modes"]
        entry = {
            "stream": stream,
            "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append_dedup" if incremental else "overwrite",
        }
        if incremental:
            entry["cursor_field"] = stream.get("default_cursor_field") or []
            entry["primary_key"] = stream.get("source_defined_primary_key") or [["id"]]
        entries.append(entry)
    if wanted is not None:
        missing = wanted - {entry["stream"]["name"] for entry in entries}
        if missing:
            raise ValueError(f"streams not in the catalog: {sorted(missing)}")
    return {"streams": entries}


def discovered_catalog(text: str, source: str) -> dict:
    """The catalog in ``discover``'s output (or a catalog object alone); ValueError says what the text holds."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("streams"), list):
        if whole["streams"] and "stream" in whole["streams"][0]:
            raise ValueError(f"{source} is already a configured catalog: pass it to `read --catalog` as it is")
        return whole
    messages = [whole] if isinstance(whole, dict) else []
    if whole is None:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"line {number} of {source} is not JSON: pass what `discover` printed") from None
    catalogs = [m["catalog"] for m in messages if isinstance(m, dict) and m.get("type") == "CATALOG"]
    if not catalogs:
        errors = [
            m["trace"]["error"].get("message")
            for m in messages
            if isinstance(m, dict) and m.get("type") == "TRACE" and (m.get("trace") or {}).get("type") == "ERROR"
        ]
        reason = f"; discover failed: {errors[0]}" if errors else ""
        raise ValueError(f"{source} holds no CATALOG message{reason}")
    return catalogs[-1]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.catalog", description=__doc__.split("\n\n")[0])
    parser.add_argument("discovered", help="the output of `discover` (a file, or - for standard input)")
    parser.add_argument("--streams", help="comma-separated stream names (default: every stream)")
    parser.add_argument("--mode", choices=("incremental", "full_refresh"), default="incremental")
    args = parser.parse_args(argv)

    def make() -> dict:
        text, source = read_input(args.discovered)
        streams = [name.strip() for name in args.streams.split(",") if name.strip()] if args.streams else None
        return configured_catalog(discovered_catalog(text, source), args.mode, streams)

    return print_json("python -m tools.catalog", make)

if __name__ == "__main__":
    sys.exit(main())
