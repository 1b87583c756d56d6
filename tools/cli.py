"""What the commands of ``tools/`` share: reading an input named on the command line, and printing the JSON they
make or the one line that says why they could not."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Tuple


def read_input(name: str) -> Tuple[str, str]:
    """The text of an input (a file, or ``-`` for standard input) and how to name it in a message."""
    if name == "-":
        return sys.stdin.read(), "standard input"
    with open(name, encoding="utf-8") as handle:
        return handle.read(), name


def print_json(prog: str, make: Callable[[], Any]) -> int:
    """Print what ``make`` returns as indented JSON (exit code 0), or the file or input problem it raised, one line
    on standard error prefixed with the command's name (exit code 2)."""
    try:
        result = make()
    except (OSError, ValueError) as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
