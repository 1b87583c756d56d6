"""The two virtualenvs the suite builds, each a set-up started with the test run (``background.py``).

* ``cdk-only``: airbyte-cdk alone, for Airbyte's manifest-only runner and the Connector Builder
  (``connector/test_three_runners.py``). Built once per CDK version and kept, under ``.venv/cdk-only/`` (or the
  system temp directory without a ``.venv``), under a file lock so that test runs started at once wait for each other.
* ``docker steps``: the Dockerfile's COPY and ``pip install .`` replayed in a clean virtualenv (``test_shipping.py``),
  made anew each test run in a temporary directory.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from unit_tests.helpers.background import lowest_priority, setup
from unit_tests.helpers.dockerfile import dockerfile_copies

ROOT = Path(__file__).resolve().parents[2]
CDK_VERSION = importlib.metadata.version("airbyte-cdk")


def clean_env(unsafe_code: bool = False) -> Dict[str, str]:
    """This process's environment without PYTHONPATH (and with or without Airbyte's switch for custom code)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "AIRBYTE_ENABLE_UNSAFE_CODE")}
    if unsafe_code:
        env["AIRBYTE_ENABLE_UNSAFE_CODE"] = "true"
    return env


def cdk_only_venv_path() -> Path:
    name = f"airbyte-cdk-{CDK_VERSION}"
    if (ROOT / ".venv").is_dir():
        return ROOT / ".venv" / "cdk-only" / name
    return Path(tempfile.gettempdir()) / "source-close-com-cdk-only" / name


def build_cdk_only_venv(venv: Path) -> Path:
    """Create (once, under a file lock so that test runs started at once wait for each other) a virtualenv with airbyte-cdk."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    ready = venv / ".ready"
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists() and ready.read_text() == CDK_VERSION:
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, preexec_fn=lowest_priority)
        install = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-compile", f"airbyte-cdk=={CDK_VERSION}"],  # modules compile as they are imported
            capture_output=True, text=True, timeout=900, preexec_fn=lowest_priority,
        )
        assert install.returncode == 0, f"pip install airbyte-cdk=={CDK_VERSION} failed:\n{install.stderr[-3000:]}"
        ready.write_text(CDK_VERSION)
    return venv


@setup("cdk-only", needed_by="connector/test_three_runners.py")
def cdk_only_venv() -> Path:
    return build_cdk_only_venv(cdk_only_venv_path())


@dataclass
class DockerSteps:
    """The Dockerfile's build replayed: the build context it copies, and the virtualenv `pip install .` made."""

    context: Path
    venv: Path
    install: subprocess.CompletedProcess


@setup("docker steps", needed_by="test_shipping.py")
def docker_steps() -> DockerSteps:
    """Replays the Dockerfile's COPY and `pip install .` in a clean virtualenv."""
    folder = Path(tempfile.mkdtemp(prefix="source-close-com-docker-steps-"))
    atexit.register(shutil.rmtree, folder, True)
    context = folder / "integration_code"
    context.mkdir()
    for sources, destination in dockerfile_copies():
        for source in sources:
            origin = ROOT / source
            target = context / (destination if len(sources) == 1 and destination not in ("./", ".") else source)
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name if target.is_dir() else target)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, preexec_fn=lowest_priority)
    install = subprocess.run(
        # --no-compile: bytecode is written as modules are imported; compiling every dependency is not under test.
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
         str(context)],
        capture_output=True, text=True, timeout=900, preexec_fn=lowest_priority,
    )
    return DockerSteps(context, venv, install)
