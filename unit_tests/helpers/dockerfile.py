"""The Dockerfile read as its instructions: what it copies, installs, labels and runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def dockerfile_instructions() -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: List[Tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def dockerfile_values(keyword: str) -> List[str]:
    return [arguments for name, arguments in dockerfile_instructions() if name == keyword]


def dockerfile_from() -> str:
    froms = dockerfile_values("FROM")
    assert len(froms) == 1, f"expected a single-stage build, found FROM {froms}"
    return froms[0].split()[0]


def dockerfile_pairs(instruction: str) -> Dict[str, str]:
    """The ``key=value`` pairs of every ENV or LABEL line (values may be quoted)."""
    pairs: Dict[str, str] = {}
    for arguments in dockerfile_values(instruction):
        for key, value in re.findall(r'([\w.-]+)=("[^"]*"|\S+)', arguments):
            pairs[key] = value.strip('"')
    return pairs


def dockerfile_entrypoint() -> List[str]:
    entrypoints = dockerfile_values("ENTRYPOINT")
    assert entrypoints, "the Dockerfile has no ENTRYPOINT"
    return json.loads(entrypoints[-1])


def dockerfile_copies() -> List[Tuple[List[str], str]]:
    """(sources, destination) of every COPY, flags such as --chown dropped."""
    copies = []
    for arguments in dockerfile_values("COPY"):
        words = [word for word in arguments.split() if not word.startswith("--")]
        copies.append((words[:-1], words[-1]))
    return copies
