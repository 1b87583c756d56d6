"""The key, and its HTTP Basic encoding, never appear in anything the connector prints: Airbyte messages, logs
with debug on (request headers, response bodies), a failing process's stack trace."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from airbyte_cdk.models import FailureType

from unit_tests.harness import NO_LIMIT, catalog_for, log_levels_restored, output_text, sync, sync_streams
from unit_tests.helpers.catalogs import only
from unit_tests.helpers.console import ConsoleRun, arguments, console

ROOT = Path(__file__).resolve().parents[2]


def test_the_key_never_appears_in_any_output(make_simulator):
    sim = make_simulator(**NO_LIMIT, faults=["503@1:user/", "drop@1:pipeline/"])
    key = sim.api_key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    result = sync_streams(sim.config(), ["users", "pipelines", "lead_statuses"])
    catalog = catalog_for(sim.config(), ["users"])
    failed = sync(sim.config(api_url=sim.url.replace("/api/v1/", "/nowhere/")), catalog=catalog, expect_errors=True)
    assert failed.output.errors
    for text in (output_text(result.output), output_text(failed.output)):
        assert key not in text and basic not in text


def test_the_key_never_appears_in_anything_the_connector_prints_even_with_debug_logs(make_simulator, capfd, tmp_path):
    """spec, check, discover and a read with retries run with `--debug` (request headers, response bodies), and a
    read that fails for good runs as its own process (uncaught exception, stack trace, exit code): neither the
    key nor its HTTP Basic encoding appears anywhere in what they print, stdout or stderr."""
    faults = ["503@1:user/", "drop@1:pipeline/", "429@1:status/lead/"]
    sim = make_simulator(**NO_LIMIT, faults=faults, legacy_429_body=True)
    key = sim.api_key
    forms = {"the key": key, "base64(key:)": base64.b64encode(f"{key}:".encode()).decode(), "base64(key)": base64.b64encode(key.encode()).decode()}
    good = sim.config(requests_per_second=500)
    catalog = catalog_for(good)
    texts = {}
    with log_levels_restored():
        for command, config, chosen in [
            ("spec", None, None),
            ("check", good, None),
            ("discover", good, None),
            ("read", good, only(catalog, ["users", "pipelines", "lead_statuses", "leads"])),
        ]:
            folder = tmp_path / command
            folder.mkdir()
            texts[command] = console(capfd, folder, command, config, chosen, debug=True).text
    assert "Making outbound API request" in texts["read"] and "Authorization" in texts["read"], (
        "debug logs no longer show request headers: the scan would prove less"
    )
    assert sim.stats()["totals"]["faults"], "no fault was served: no retry was logged"

    sim.configure(faults=[{"kind": "503", "path": "user/", "probability": 1.0}])
    folder = tmp_path / "outage"
    folder.mkdir()
    args = arguments(folder, "read", {**good, "max_retries": 0}, only(catalog, ["users"])) + ["--debug"]
    code = "import sys; from source_close_com.run import run; sys.exit(run())"
    process = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    texts["failing read (own process)"] = process.stdout + process.stderr
    assert process.returncode != 0 and "Traceback" in texts["failing read (own process)"]
    assert any(e.failure_type == FailureType.transient_error for e in ConsoleRun(process.returncode, process.stdout).errors)

    leaks = {name: [form for form, value in forms.items() if value in text] for name, text in texts.items()}
    assert not any(leaks.values()), f"the key was printed: {leaks}"
