"""Command line: ``python -m close_simulator serve ...`` and ``python -m close_simulator dump ...``.

``serve`` prints exactly one JSON line on stdout, a ready connector config, and then serves until
SIGINT or SIGTERM; scripts read that line to learn the port (``--port 0`` picks a free one).
``dump`` writes the ground truth, one ``<stream>.jsonl`` file per stream, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import orjson

from . import options


def build_parser() -> argparse.ArgumentParser:
    """``serve`` takes every option of ``options.OPTIONS`` that has a command-line form, ``dump`` the organisation's."""
    parser = argparse.ArgumentParser(prog="python -m close_simulator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the simulated Close API over HTTP")
    options.add_arguments(serve, ("listen", "organisation", "switch", "cli", "api", "faults"))
    dump = commands.add_parser("dump", help="write the ground truth as DIR/<stream>.jsonl")
    options.add_arguments(dump, ("organisation",))
    dump.add_argument("--out", required=True, type=Path)
    dump.add_argument("--start-date", default=None)
    return parser


async def serve(args: argparse.Namespace) -> None:
    from .server import SimulatorServer

    kwargs = options.from_cli(args)
    host, port = kwargs.pop("host"), kwargs.pop("port")
    server = SimulatorServer(**kwargs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start(host, port)
    sys.stdout.write(orjson.dumps(server.connector_config()).decode() + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.stop()


def dump(args: argparse.Namespace) -> None:
    from .models import STREAMS, Organization

    org = Organization(**options.from_cli(args))
    args.out.mkdir(parents=True, exist_ok=True)
    for stream in STREAMS:
        records = org.truth(stream, args.start_date)
        with open(args.out / f"{stream}.jsonl", "wb") as handle:
            for record in records:
                handle.write(orjson.dumps(record) + b"\n")
        print(f"{stream}: {len(records)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            asyncio.run(serve(args))
        else:
            dump(args)
    except (ValueError, OSError) as exc:  # bad option values, port in use: a message, not a traceback
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
