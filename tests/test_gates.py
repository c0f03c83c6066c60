"""The linter and the type checker, run as part of the suite (so ``.ci/run`` runs them too).

Their settings live in ``pyproject.toml``; a failure lists every ``file:line`` to fix.
"""
from __future__ import annotations

import configparser
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    return [exe] if exe else [sys.executable, "-m", "ruff"]


@pytest.mark.slow
def test_ruff_finds_nothing_to_fix():
    done = _run(_ruff() + ["check", "--output-format", "concise", "--no-cache", "."])
    assert done.returncode == 0, "ruff check . failed (file:line:col code message):\n" + done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_finds_no_type_errors():
    done = _run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null"])
    assert done.returncode == 0, "mypy failed (file:line: error):\n" + done.stdout + done.stderr


def test_pytest_runs_with_strict_markers_and_warnings_as_errors():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    section = cfg["tool:pytest"]
    assert "--strict-markers" in section["addopts"].split()
    assert "error" in [line.strip() for line in section["filterwarnings"].splitlines()]
