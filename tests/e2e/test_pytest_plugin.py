"""The pytest plugin, used as a platform team's repository uses it (issue 12, "Lint, schema, pytest").

Each test writes ``*.scenario.yaml`` files into a temporary directory outside this repository and runs
``python -m pytest`` there, without ``-p``: the plugin must come from the installed package's ``pytest11``
entry point. ``PYTHONPATH`` names this tree, so the plugin's code is the code under test.
"""
from __future__ import annotations

import importlib.metadata
import os
import socket
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bank_depository import config
from bank_depository.app import create_app
from scenarios import conftest as repo_conftest
from scenarios.harness import LiveServer
from tests.conftest import START

REPO = Path(__file__).resolve().parents[2]

PASSING = """\
name: a card gets money
platform: external
actors:
  zoe: {role: investor, card_balance: "100.00"}
steps:
  - deposit_card: {user: zoe, amount: "${amount}"}
  - expect_ledger_sound
  - expect_request: {request_no: "${req}", status: NOT_FOUND}
"""

FAILING = """\
name: a request that never happened
platform: external
vars:
  req: nothing-here
actors:
  zoe: {role: investor, card_balance: "100.00"}
steps:
  - expect_ledger_sound
  - expect_request: {request_no: "${req}", status: SUCCESS}
  - expect_ledger_sound
"""

INVALID = """\
name: two mistakes
platform: external
actors:
  zoe: {role: investor, card_balance: "100.00"}
steps:
  - expect_request: {request_no: "${nope}", status: SUCCESS}
  - deposit_card: {user: zoe, amount: 5}
"""


@pytest.fixture(scope="module")
def entry_point_installed():
    found = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "wanxin"]
    if not found or found[0].value != "scenarios.pytest_plugin":
        pytest.fail("the pytest11 entry point 'wanxin = scenarios.pytest_plugin' is not installed for "
                    f"{sys.executable}: install this tree with `python -m pip install -e .` (an install made "
                    "before setup.cfg declared it has only the console script)", pytrace=False)


@pytest.fixture
def outside(tmp_path, entry_point_installed) -> Path:
    """A directory of the user's own: not inside this repository, no pytest configuration of ours."""
    assert REPO not in tmp_path.resolve().parents
    return tmp_path


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def pytest_in(directory: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("WANXIN_", "PYTEST_")) and k != "PYTHONPATH"}
    clean["PYTHONPATH"] = str(REPO)
    clean["COLUMNS"] = "300"  # the short summary line untruncated
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=directory, env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=300)


def test_scenario_files_in_a_foreign_directory_are_tests_whose_failure_is_the_step_log(outside):
    passing = write(outside, "test_pass.scenario.yaml", PASSING)
    failing = write(outside, "test_fail.scenario.yml", FAILING)
    write(outside, "notes.yaml", "not: a scenario\n")  # only *.scenario.yaml / *.scenario.yml are collected
    done = pytest_in(outside, "--var", "amount=5.00", "--var", "req=R-42", "--junitxml=report.xml",
                     "-o", "junit_logging=system-out")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "wanxin-sandbox" in out.split("collected")[0]  # the plugin came from the installed entry point
    assert "1 failed, 1 passed" in out
    # the failure is the runner's log: the passed step, the failed one with its file and line, the verdict
    assert "    1/3 ✓ expect_ledger_sound: ledger sound" in out
    assert (f"    2/3 ✗ expect_request: request R-42 expected SUCCESS, the bank holds NOT_FOUND"
            f"  [{failing}: step 2 (expect_request, line 9)]") in out
    assert "  FAILED: 1 step(s) passed, 1 failed" in out
    assert "3/3" not in out.split("short test summary")[0].split("FAILURES")[1]  # stopped at the failure
    assert "Traceback" not in out and "runner.py" not in out
    assert ("FAILED test_fail.scenario.yml::a request that never happened - step 2 expect_request: "
            "request R-42 expected SUCCESS, the bank holds NOT_FOUND") in out

    suite = ET.parse(outside / "report.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"a card gets money", "a request that never happened"}
    bad, good = cases["a request that never happened"], cases["a card gets money"]
    assert bad.get("classname") == "test_fail.scenario.yml" and good.get("classname") == "test_pass.scenario.yaml"
    assert float(bad.get("time") or 0) > 0 and float(good.get("time") or 0) > 0
    failure = bad.find("failure")
    assert failure is not None
    assert failure.get("message") == "step 2 expect_request: request R-42 expected SUCCESS, the bank holds NOT_FOUND"
    assert f"[{failing}: step 2 (expect_request, line 9)]" in (failure.text or "")
    assert "1/3 ✓ expect_ledger_sound" in (failure.text or "")

    def properties(case) -> dict:
        return {p.get("name"): p.get("value") for p in case.iter("property")}

    assert properties(bad) == {"scenario": "a request that never happened", "file": "test_fail.scenario.yml",
                               "steps": "3", "steps_passed": "1", "steps_failed": "1", "steps_not_run": "1"}
    assert properties(good) == {"scenario": "a card gets money", "file": "test_pass.scenario.yaml",
                                "steps": "3", "steps_passed": "3", "steps_failed": "0", "steps_not_run": "0"}
    # --var reached the passing scenario too: its log (system-out) shows the values given
    log = good.findtext("system-out") or ""
    assert f"▶ a card gets money  ({passing})" in log
    assert "1/3 ✓ deposit_card: zoe card +5.00" in log and "3/3 ✓ expect_request: R-42 NOT_FOUND" in log


def test_a_run_whose_scenarios_all_pass_exits_0_and_platform_makes_the_in_process_bank_trust_yours(outside, keys):
    write(outside, "test_acme.scenario.yaml", PASSING.replace("platform: external\n",
                                                              "platform: external\nplatform_no: acme\n"))
    write(outside, "test_fail.scenario.yaml", FAILING)
    (outside / "acme_public.pem").write_bytes(keys["platform_public"])
    done = pytest_in(outside, "test_acme.scenario.yaml", "--platform", "no=acme,key=acme_public.pem",
                     "--var", "amount=1.00", "--var", "req=X-1", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_acme.scenario.yaml::a card gets money PASSED" in done.stdout
    assert "1 passed" in done.stdout


def test_an_invalid_file_shows_every_problem_and_a_bad_var_or_platform_is_a_usage_error(outside):
    path = write(outside, "test_invalid.scenario.yaml", INVALID)
    done = pytest_in(outside, "--junitxml=report.xml")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert f"✗ {path}: step 1 (line 6): undefined name ${{nope}}" in out
    assert f"✗ {path}: step 2 (deposit_card, line 7): amount is a YAML number (5); quote amounts: \"5.00\"" in out
    assert "Traceback" not in out and "ScenarioError" not in out
    assert "FAILED test_invalid.scenario.yaml::two mistakes - invalid (2 problems, step 1 (line 6): undefined" in out
    case = ET.parse(outside / "report.xml").getroot().find("testsuite/testcase")
    assert {p.get("name"): p.get("value") for p in case.iter("property")} == {
        "scenario": "two mistakes", "file": "test_invalid.scenario.yaml", "problems": "2"}

    bad_var = pytest_in(outside, "--var", "amount")
    assert bad_var.returncode == 4  # pytest's usage error, before anything runs
    assert "--var needs NAME=VALUE, got 'amount'" in bad_var.stderr
    bad_platform = pytest_in(outside, "--platform", "no=acme")
    assert bad_platform.returncode == 4 and "--platform 'no=acme': key= is required" in bad_platform.stderr


def test_an_unreachable_bank_is_one_line(outside):
    write(outside, "test_pass.scenario.yaml", PASSING)
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = pytest_in(outside, "--bank-url", f"http://127.0.0.1:{port}", "--sim-token", "t",
                     "--var", "amount=1.00", "--var", "req=X-1")
    assert done.returncode == 1, done.stdout + done.stderr
    report = done.stdout.split("= FAILURES =")[1].split("short test summary")[0].splitlines()
    body = [line for line in report[1:] if line.strip() and not line.startswith(("_", "-", "="))]
    assert len(body) == 1 and body[0].startswith("✗ ") and "setting up actors failed" in body[0], report
    assert f"could not reach http://127.0.0.1:{port} (GET /sim/platforms): connection refused" in body[0], body
    assert "Max retries" not in done.stdout and "Traceback" not in done.stdout


@pytest.fixture
def served_bank(tmp_path, keys):
    """A bank served on loopback with one platform, its operator credential 'plugin-operator'."""
    database = tmp_path / "served" / "bank.sqlite"
    database.parent.mkdir()
    app = create_app(config.bank_config(
        database, private_key=keys["bank_private"].decode(),
        platforms=[{"platform_no": "acme", "public_key": keys["platform_public"].decode(), "notify_url": ""}],
        PASSWORD_ITERATIONS=1000, CLOCK_FROZEN=True, CLOCK_START=START, SIM_TOKEN="plugin-operator"))
    server = LiveServer().start(app)
    yield server.url, database
    server.stop()
    app.extensions["wanxin.bank"].database.close()


def test_with_bank_url_the_scenarios_run_against_a_served_bank(outside, served_bank):
    url, database = served_bank
    write(outside, "test_pass.scenario.yaml", PASSING)

    def cards() -> list[str]:
        with sqlite3.connect(database) as conn:
            return [row[0] for row in conn.execute("SELECT card_number FROM bank_cards")]

    first = pytest_in(outside, "--bank-url", url, "--var", "amount=5.00", "--var", "req=X-1",
                      env={"WANXIN_SIM_TOKEN": "plugin-operator"})
    assert first.returncode == 0, first.stdout + first.stderr
    # the environment names the bank, the flag gives the credential; a second run does not collide
    second = pytest_in(outside, "--sim-token", "plugin-operator", "--var", "amount=7.00", "--var", "req=X-2",
                       env={"WANXIN_BANK_URL": url})
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(cards()) == 2


def test_the_repository_s_own_collector_leaves_scenario_files_to_the_plugin():
    assert repo_conftest.pytest_collect_file(parent=None, file_path=Path("x/test_a.scenario.yaml")) is None
    assert repo_conftest.pytest_collect_file(parent=None, file_path=Path("x/test_a.scenario.yml")) is None
