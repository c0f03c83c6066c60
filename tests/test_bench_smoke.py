"""Every ``bench/`` script runs at a tiny size and prints its figures (nothing here is timed).

A benchmark that no test runs rots silently; this keeps each one working end to end.
"""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

TINY = {
    "bank_direct.py": (["--workers", "1", "--clients", "1", "--requests", "20", "--investors", "2",
                        "--projects", "1", "--crypto-seconds", "0.2"],
                       [r"round trips/s\s+\d+\s+\(20 ok", r"sign\+verify/s\s+\d+", r"errors\s+0\b",
                        r"verify\s+sound", r"prototype.*\n.*\n\s+round trips/s\s+\d+\s+\(20 ok",
                        r"totals\s+sound",
                        r"^bank/prototype ratio \d+\.\d\d x .*bank \d+\.\d\d ms, prototype \d+\.\d\d ms"]),
    "prototype.py": (["--requests", "5", "--workers", "1"],
                     [r"round trips/s\s+\d+\s+\(5 ok of 5", r"replayed requestNo\s+00005\s+bad signature 00004",
                      r"fen; sound"]),
    "reconcile_scale.py": (["--sizes", "200", "--users", "2"],
                           [r"^\s+200\s+\d+\.\d\s+\d+\.\d\d\s+\d+\.\d\d\s+-?\d+\.\d\s+0\s"]),
    "scenario_scale.py": (["--counts", "3"], [r"^\s+3\s+\d+\.\d\s+\d+\.\d\s+1\.00x"]),
}


def test_every_bench_script_has_a_tiny_size_here():
    assert sorted(p.name for p in (ROOT / "bench").glob("*.py")) == sorted(TINY)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(TINY))
def test_the_bench_script_runs_at_a_tiny_size_and_prints_its_figures(script):
    args, figures = TINY[script]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    missing = [f for f in figures if not re.search(f, done.stdout, re.MULTILINE)]
    assert missing == [], f"{script} did not print {missing}:\n{done.stdout[-3000:]}"


@pytest.mark.slow
def test_scenario_scale_runs_a_baseline_revision_beside_the_working_tree_and_removes_its_worktree():
    before = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "scenario_scale.py"), "--counts", "3",
                           "--baseline", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # investors, new s, base s, new/base, then requests and CPU per investor on each side
    assert re.search(r"^\s+3\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\dx\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s",
                     done.stdout, re.MULTILINE), done.stdout
    after = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before
