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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m close_simulator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the simulated Close API over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--scale", default="small")
    serve.add_argument("--rps", type=float, default=20, help="per (key, endpoint group); 0 = off")
    serve.add_argument("--org-rps", type=float, default=60, help="per (organisation, group); 0 = off")
    serve.add_argument("--no-rate-limit", action="store_true", help="switch off both rate limits")
    serve.add_argument("--latency-ms", type=float, default=0.0)
    serve.add_argument("--jitter-ms", type=float, default=0.0, help="uniform extra delay in [0, jitter]")
    serve.add_argument("--max-skip", type=int, default=None)
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="KIND[=ARG]:PROB[:PREFIX] or KIND[=ARG]@N[,N]:PATH or a JSON object; repeatable",
    )
    serve.add_argument("--fault-seed", type=int, default=None)
    serve.add_argument(
        "--restricted-key",
        action="append",
        default=[],
        metavar="KEY:PREFIX,PREFIX",
        help="an extra key that gets 403 on these endpoint prefixes; repeatable",
    )
    serve.add_argument("--extra-key", action="append", default=[], metavar="KEY", help="another valid key")
    serve.add_argument("--fractional-reset", action="store_true", help="reset=0.25 instead of whole seconds")
    serve.add_argument("--legacy-429-body", action="store_true", help='429 body {"error": {"rate_reset": ...}}')
    serve.add_argument("--header-style", default="standard", choices=("standard", "lower-semicolon", "x-rate-limit"))
    serve.add_argument("--window-s", type=float, default=None, help="Close's windows: limits per this many seconds")
    serve.add_argument("--window-limit", type=int, default=None, help="requests per window per key and group")
    serve.add_argument("--group-limit", action="append", default=[], metavar="GROUP=N", help="a group's own limit")
    serve.add_argument("--grouping", default="close", help="close, path, or a JSON object {prefix: group}")

    dump = commands.add_parser("dump", help="write the ground truth as DIR/<stream>.jsonl")
    dump.add_argument("--seed", type=int, default=7)
    dump.add_argument("--scale", default="small")
    dump.add_argument("--out", required=True, type=Path)
    dump.add_argument("--start-date", default=None)
    return parser


async def serve(args: argparse.Namespace) -> None:
    from .server import SimulatorServer

    limited = not args.no_rate_limit
    server = SimulatorServer(
        seed=args.seed,
        scale=args.scale,
        max_skip=args.max_skip,
        faults=args.fault,
        fault_seed=args.fault_seed,
        rps=(args.rps or None) if limited else None,
        org_rps=(args.org_rps or None) if limited else None,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        restricted_keys=args.restricted_key,
        extra_keys=args.extra_key,
        fractional_reset=args.fractional_reset,
        legacy_429_body=args.legacy_429_body,
        header_style=args.header_style,
        window_s=args.window_s,
        window_limit=args.window_limit,
        group_limits={g: int(n) for g, _, n in (spec.partition("=") for spec in args.group_limit)},
        grouping=orjson.loads(args.grouping) if args.grouping.startswith("{") else args.grouping,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start(args.host, args.port)
    sys.stdout.write(orjson.dumps(server.connector_config()).decode() + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.stop()


def dump(args: argparse.Namespace) -> None:
    from .models import STREAMS, Organization

    org = Organization(seed=args.seed, scale=args.scale)
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
