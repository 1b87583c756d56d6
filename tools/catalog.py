"""A configured catalog from a discovered one, as the Airbyte platform builds it: the one helper the demo, the
benchmarks and the tests share."""

from __future__ import annotations

from typing import Any, Iterable


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
