"""`make demo`, second part: the connector in PyAirbyte, synced into a local DuckDB file.

Starts the Close simulator in its own process (a small organisation), then lets PyAirbyte run the connector and
write what it reads into DuckDB (`demo_output/pyairbyte/close.duckdb`): a first sync of every selected stream,
per-stream row counts read back from DuckDB, then changes in the simulator (new leads and emails, edited
opportunities, a completed task, a deleted opportunity) and a second, incremental sync from the state PyAirbyte
kept in the same DuckDB file, which shows the new rows.

    python -m tools.demo_local                          # the core CRM streams (DEFAULT_STREAMS)
    python -m tools.demo_local --streams '*'            # all 69 streams (PyAirbyte needs ~1 s per table)
    python -m tools.demo_local --streams leads,contacts

How PyAirbyte runs the connector: ``local_executable``, the ``source-close-com`` command installed next to this
Python (the same entry point as the Docker image). PyAirbyte can also run a declarative manifest in-process
(``source_manifest=``), but its executor builds the CDK source without the state PyAirbyte saved, and the CDK's
concurrent declarative source reads its state only when it is built: every sync would then be a full refresh.

PyAirbyte runs offline here: no connector registry lookup and no usage tracking (``AIRBYTE_OFFLINE_MODE``,
``DO_NOT_TRACK``), and nothing is installed: the connector is already in this virtualenv.
"""

from __future__ import annotations

import os

os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")  # before PyAirbyte is imported: it reads these at import
os.environ.setdefault("DO_NOT_TRACK", "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

# PyAirbyte imports Google's cloud clients, which warn at import about Python versions they will drop one day:
# nothing this demo does or can act on.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google(\..*)?$")
warnings.filterwarnings("ignore", category=FutureWarning, message=r".*Python version.*")
from pathlib import Path  # noqa: E402
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence  # noqa: E402

import airbyte as ab  # noqa: E402

from close_simulator.testing import SimulatorProcess  # noqa: E402
from source_close_com.components import DELETED_AT  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = Path(sys.executable).with_name("source-close-com")
OUTPUT = ROOT / "demo_output" / "pyairbyte"
DEFAULT_STREAMS = (
    "leads", "contacts", "opportunities", "email_activities", "call_activities", "lead_tasks", "events",
    "deleted_records", "users", "lead_custom_fields",
)


def close_source(config: Mapping[str, Any], streams: str | Sequence[str] = "*") -> ab.Source:
    """The Close.com source as PyAirbyte runs it: the installed ``source-close-com`` command."""
    if not CONNECTOR.exists():
        raise SystemExit(f"{CONNECTOR} is missing: install the project first (`make demo` does)")
    return ab.get_source(
        "source-close-com",
        config=dict(config),
        local_executable=str(CONNECTOR),
        streams=streams if streams == "*" else list(streams),
    )


def duckdb_cache(directory: Path) -> ab.DuckDBCache:
    """A DuckDB cache in ``directory``: the database file and PyAirbyte's staging files."""
    directory.mkdir(parents=True, exist_ok=True)
    return ab.DuckDBCache(db_path=directory / "close.duckdb", cache_dir=directory / "staging")


def table(cache: ab.DuckDBCache, stream: str) -> str:
    return f'{cache.schema_name}."{cache.processor.get_sql_table_name(stream)}"'


def table_ids(cache: ab.DuckDBCache, stream: str) -> List[str]:
    return [row["id"] for row in cache.run_sql_query(f"SELECT id FROM {table(cache, stream)}")]


def row_counts(cache: ab.DuckDBCache, streams: Iterable[str]) -> Dict[str, int]:
    return {s: cache.run_sql_query(f"SELECT count(*) AS n FROM {table(cache, s)}")[0]["n"] for s in streams}


def rows(cache: ab.DuckDBCache, stream: str, ids: Iterable[str], columns: Sequence[str]) -> List[Dict[str, Any]]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    listed = ", ".join("'" + value.replace("'", "''") + "'" for value in wanted)
    selected = ", ".join(f'"{column}"' for column in columns)
    return cache.run_sql_query(f"SELECT {selected} FROM {table(cache, stream)} WHERE id IN ({listed}) ORDER BY id")


def change_the_organisation(sim: Any) -> Dict[str, Any]:
    """Changes a second sync must bring: ids by stream, and the opportunity deleted (for ``deleted_records``)."""

    def ids(change: Dict[str, Any]) -> List[str]:
        return [record["id"] for record in sim.mutate(change)["records"]]

    deleted = ids({"action": "delete", "object_type": "opportunity", "count": 1})
    return {
        "created": {
            "leads": ids({"action": "create", "object_type": "lead", "count": 2}),
            "email_activities": ids({"action": "create", "object_type": "activity", "subtype": "email", "count": 3}),
        },
        "updated": {
            "opportunities": ids(
                {"action": "update", "object_type": "opportunity", "count": 2, "fields": {"confidence": 77}}
            ),
            "lead_tasks": ids(
                {"action": "update", "object_type": "task", "subtype": "lead", "count": 1, "fields": {"is_complete": True}}
            ),
        },
        "deleted_opportunities": deleted,
    }


SHOWN_COLUMNS = {
    "leads": ("id", "display_name", "date_updated"),
    "email_activities": ("id", "subject", "date_created"),
    "opportunities": ("id", "confidence", "date_updated"),
    "lead_tasks": ("id", "is_complete", "date_updated"),
}


def print_counts(title: str, counts: Mapping[str, int], read: Optional[Mapping[str, int]] = None) -> None:
    print(f"\n{title}")
    print(f"{'stream':<40} {'rows in DuckDB':>14}" + (f" {'read this sync':>15}" if read is not None else ""))
    for stream, count in sorted(counts.items()):
        extra = f" {read.get(stream, 0):>15}" if read is not None else ""
        print(f"{stream:<40} {count:>14}{extra}")


def records_read(result: Any) -> Dict[str, int]:
    """Records each stream read in one sync (PyAirbyte counts them while writing)."""
    return {name: count for name, count in (result._progress_tracker.stream_read_counts or {}).items()}  # noqa: SLF001


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--streams", default=",".join(DEFAULT_STREAMS), help="comma-separated stream names, or '*' for every stream"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where the DuckDB file goes (default {OUTPUT})")
    args = parser.parse_args(argv)
    streams = "*" if args.streams == "*" else [name.strip() for name in args.streams.split(",") if name.strip()]

    shutil.rmtree(args.output, ignore_errors=True)
    with SimulatorProcess(seed=7, scale="small", rps=None, org_rps=None) as sim:
        # The bundled simulator sets no rate limit; against Close keep the default of 20 requests per second.
        config = dict(sim.config, requests_per_second=200)
        print(f"Simulator serving a Close organisation at {config['api_url']}")
        source = close_source(config, streams)
        source.check()
        selected = source.get_selected_streams()
        cache = duckdb_cache(args.output)

        first = source.read(cache=cache)
        print_counts(
            f"First sync: {first.processed_records} records of {len(selected)} streams into {cache.db_path}",
            row_counts(cache, selected),
        )

        changes = change_the_organisation(sim)
        print(
            "\nThe simulator created 2 leads and 3 emails, raised the confidence of 2 opportunities to 77, "
            "completed a task and deleted an opportunity."
        )
        second = source.read(cache=cache)
        print_counts(
            f"Incremental sync from the state kept in DuckDB: {second.processed_records} records read",
            row_counts(cache, selected),
            records_read(second),
        )
        print(
            "Full-refresh streams (users, the custom field lists) are read whole each sync; incremental streams re-read\n"
            "a little on purpose (10 minutes before their saved position, a day of activities, and leads moved by a\n"
            "new email or an edited opportunity). DuckDB keeps one row per id, so its tables grow by the new records only."
        )

        print("\nNew and changed rows in DuckDB after the incremental sync:")
        for kind in ("created", "updated"):
            for stream, ids in changes[kind].items():
                if stream not in selected:
                    continue
                for row in rows(cache, stream, ids, SHOWN_COLUMNS[stream]):
                    print(f"  {kind:<8} {stream:<18} " + "  ".join(f"{k}={row[k]}" for k in SHOWN_COLUMNS[stream]))
        if "deleted_records" in selected:
            deleted = changes["deleted_opportunities"]
            found = [
                r for r in cache.run_sql_query(
                    f"SELECT object_type, object_id, date_deleted FROM {table(cache, 'deleted_records')}"
                )
                if r["object_id"] in deleted
            ]
            for row in found:
                print(f"  deleted  {row['object_type']:<18} object_id={row['object_id']}  date_deleted={row['date_deleted']}")
        if "opportunities" in selected:
            for row in rows(cache, "opportunities", changes["deleted_opportunities"], ("id", "confidence", DELETED_AT)):
                print(f"  deleted  {'opportunities':<18} id={row['id']}  {DELETED_AT}={row[DELETED_AT]}  confidence={row['confidence']}")
            print(
                "PyAirbyte keeps one row per id and does not apply deletions: the deleted opportunity's row is now the\n"
                f"deletion row (its id, the deletion time in {DELETED_AT}, other columns empty). Query live rows with\n"
                f"WHERE {DELETED_AT} IS NULL; Airbyte's deduplicated destinations remove such rows themselves."
            )
        cache.close()
    database = args.output / "close.duckdb"
    shown = database.relative_to(ROOT) if database.is_relative_to(ROOT) else database
    print(f"\nDuckDB file: {shown} (one table per stream, in schema main). Query it with the duckdb module PyAirbyte")
    print(f"installed, for example: {query_command(shown)}")


def query_command(database: Path) -> str:
    """A command, run from the repository's root, that lists the tables of ``database`` (no `duckdb` CLI needed)."""
    return f".venv/bin/python -c \"import duckdb; db = duckdb.connect('{database}'); db.sql('SHOW TABLES').show()\""


if __name__ == "__main__":
    main()
