"""Two PyAirbyte syncs into one DuckDB file, with changes to the organisation in between, as ``tools/demo_local.py``
runs them: a set-up of ``test_pyairbyte.py`` that starts with the test run (``background.py``).

It runs as a process of its own, at the lowest CPU priority (``python -m unit_tests.helpers.pyairbyte_syncs DIR``),
against a simulator process of its own (small, seed 7, no rate limit); DIR then holds the DuckDB file and
``syncs.json``: what each sync processed, the ground truth after each, and the changes made between them.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict

from unit_tests.helpers.background import lowest_priority, setup

ROOT = Path(__file__).resolve().parents[2]
RESULT = "syncs.json"


def syncs(directory: Path) -> Dict[str, Any]:
    from close_simulator.testing import SimulatorProcess
    from tools.demo_local import DEFAULT_STREAMS, change_the_organisation, close_source, duckdb_cache, table_ids

    with SimulatorProcess(seed=7, scale="small", rps=None, org_rps=None) as sim:
        config = dict(sim.config, requests_per_second=500)
        source = close_source(config, DEFAULT_STREAMS)
        cache = duckdb_cache(directory)
        first = source.read(cache=cache)
        after_first = {stream: table_ids(cache, stream) for stream in DEFAULT_STREAMS}
        truth_first = {stream: sim.truth(stream, start_date=config["start_date"]) for stream in DEFAULT_STREAMS}
        changes = change_the_organisation(sim)
        second = source.read(cache=cache)
        truth_second = {stream: sim.truth(stream, start_date=config["start_date"]) for stream in DEFAULT_STREAMS}
        cache.close()
    return {
        "config": config, "changes": changes, "after_first": after_first, "truth_first": truth_first,
        "truth_second": truth_second, "first_processed": first.processed_records,
        "second_processed": second.processed_records,
    }


@setup("pyairbyte syncs", needed_by="test_pyairbyte.py")
def pyairbyte_syncs() -> Path:
    """The directory of the DuckDB file and of ``syncs.json``; an error if the syncs failed."""
    directory = Path(tempfile.mkdtemp(prefix="source-close-com-pyairbyte-"))
    atexit.register(shutil.rmtree, directory, True)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""))
    done = subprocess.run(
        [sys.executable, "-m", "unit_tests.helpers.pyairbyte_syncs", str(directory)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=900, preexec_fn=lowest_priority,
    )
    if done.returncode != 0 or not (directory / RESULT).exists():
        raise RuntimeError(f"the PyAirbyte syncs failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return directory


if __name__ == "__main__":
    target = Path(sys.argv[1])
    result = syncs(target)
    (target / RESULT).write_text(json.dumps(result))
