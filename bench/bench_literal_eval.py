"""What answering plain words before ``ast.literal_eval`` saves: records per CPU-second, with and without it.

    .venv/bin/python -m bench.bench_literal_eval [--scale small] [--rounds 3] [--streams a,b]

The CDK runs every interpolated value (every key and constant of the contacts search body, ``_order_by``
values, ...) through ``ast.literal_eval``. ``components.py`` guards that call with a lock on CPython < 3.12
(python/cpython#106905); it could also answer identifiers without parsing them, since a name is never a
literal. This benchmark runs the same full sync under both variants, alternating them ``--rounds`` times in one
invocation against one simulator, each variant installed in the connector process on top of the original
``ast.literal_eval`` (whatever ``components.py`` itself installs is replaced):

- ``parser``: every value goes to the parser (under the lock where the Python version needs it);
- ``names first``: identifiers that are not keywords are refused at once, everything else as ``parser``.

Printed: connector CPU seconds and records per CPU-second per run, the median per variant and their ratio.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import keyword
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    SimulatorProcess, configured_catalog, discover, fmt_table, machine_line, run_read,
)

VARIANTS = {"parser": False, "names first": True}


def install(names_first: bool) -> None:
    """Replace ``ast.literal_eval`` in this process by the chosen variant, built on the original."""
    original = getattr(ast.literal_eval, "__wrapped__", ast.literal_eval)
    lock = threading.Lock() if sys.version_info < (3, 12) else contextlib.nullcontext()

    def literal_eval(node_or_string: Any) -> Any:
        if names_first and isinstance(node_or_string, str) and node_or_string.isidentifier() and not keyword.iskeyword(node_or_string):
            raise ValueError(f"malformed node or string: {node_or_string!r}")
        with lock:
            return original(node_or_string)

    literal_eval._close_guarded = True  # type: ignore[attr-defined]
    literal_eval.__wrapped__ = original  # type: ignore[attr-defined]
    ast.literal_eval = literal_eval


def child(variant: str, args: List[str]) -> None:
    """``source-close-com`` with the variant installed after the connector's own guard."""
    from source_close_com import components  # noqa: F401  (installs the connector's guard first)
    from source_close_com.run import run

    install(VARIANTS[variant])
    run(args)


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, alternated")
    parser.add_argument("--streams", help="only these streams (comma separated); default every stream")
    parser.add_argument("--workers", type=int, default=10)
    args = parser.parse_args()
    streams = args.streams.split(",") if args.streams else None
    commands = {name: [sys.executable, "-m", "bench.bench_literal_eval", "--child", name] for name in VARIANTS}

    print(f"literal_eval benchmark: full sync, scale {args.scale}, seed {args.seed}, {args.workers} workers, no "
          f"latency, no rate limit, {args.rounds} rounds per variant" + (f", streams {streams}" if streams else ", every stream"))
    print(machine_line() + " (before)")
    rows = []
    with SimulatorProcess(seed=args.seed, scale=args.scale, rps=None, org_rps=None) as sim:
        workdir = Path(tempfile.mkdtemp(prefix="close-bench-literal-eval-"))
        config = dict(sim.config, requests_per_second=1000, num_workers=args.workers)
        catalog = configured_catalog(discover(config, workdir), "full_refresh", streams)
        for round_ in range(1, args.rounds + 1):
            for name, command in commands.items():
                result = run_read(config, catalog, workdir=workdir, keep_ids=False, command=command)
                rate = result.records / result.cpu_s
                print(f"  round {round_}, {name}: {result.records} records, connector CPU {result.cpu_s:.2f} s, "
                      f"{rate:.0f} records per CPU-second" + (f"; ERRORS: {result.errors[:2]}" if result.errors else ""))
                rows.append({"variant": name, "cpu": result.cpu_s, "rate": rate, "records": result.records})
    print("\n" + machine_line() + " (after)\n")
    medians = {name: statistics.median(r["rate"] for r in rows if r["variant"] == name) for name in VARIANTS}
    print(fmt_table(
        ["variant", "runs", "median CPU s", "median records/CPU-s"],
        [[name, sum(r["variant"] == name for r in rows),
          f"{statistics.median(r['cpu'] for r in rows if r['variant'] == name):.2f}", f"{medians[name]:.0f}"]
         for name in VARIANTS]))
    saving = 1 - medians["parser"] / medians["names first"]
    print(f"\nnames first vs parser: {medians['names first'] / medians['parser']:.3f}x records per CPU-second "
          f"({saving:+.1%} of the CPU per record saved by answering names first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
