"""The Makefile keeps the README's promises: `make run` installs the service without the test
extras; `make test` and `make quick` install them. Read with `make -n -B` (print every recipe,
run none) against a venv path that does not exist, so nothing is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _recipe(target: str, tmp_path: Path) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # Run alone, not as a sub-make of `make test` (which `.ci/run` runs): an inherited MAKEFLAGS
    # would add "make[1]: Leaving directory" lines and the parent's flags to what is read.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(["make", "--no-print-directory", "-n", "-B", target, f"VENV={tmp_path}/v"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=True, env=env)
    return done.stdout.splitlines()


def _installs(lines: list[str]) -> list[str]:
    return [line.split("install --quiet ", 1)[1] for line in lines if "pip install --quiet -e" in line]


def test_make_run_installs_the_service_without_test_extras(tmp_path: Path) -> None:
    lines = _recipe("run", tmp_path)
    assert _installs(lines) == ["-e ."]
    assert not any("[test]" in line for line in lines)
    assert lines[-1].endswith(" serve")


@pytest.mark.parametrize("target", ["test", "quick"])
def test_make_test_and_quick_install_the_test_extras(target: str, tmp_path: Path) -> None:
    lines = _recipe(target, tmp_path)
    assert _installs(lines) == ["-e .", "-e '.[test]'"]
    assert "pytest" in lines[-1]
