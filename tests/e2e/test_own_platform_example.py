"""``examples/own_platform``: a platform that is not ours, served beside ``wanxin bank serve``, driven by
its own scenario files with ``wanxin scenario run --bank-url`` — twice against the same pair.

Everything runs as a user would run it: the example's ``keygen``, ``python -m cli bank serve --port 0
--platform no=ownp2p,key=…``, the example on port 0, ``wanxin platforms add`` to give the bank its
notify URL (known only once it listens), then the scenarios. Each child is its own process group,
ended by its id; every wait is bounded.
"""
from __future__ import annotations

import ast
import base64
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from scenarios import schema, spec
from tests.security.served import ROOT, ServedBank, wanxin

EXAMPLE = ROOT / "examples" / "own_platform"
SCENARIOS = sorted(EXAMPLE.glob("*.scenario.yaml"))
TOKEN = "own-platform-operator"
STARTUP_SECONDS = 60


class Example:
    """``python examples/own_platform/app.py --port 0 …`` in its own process group."""

    def __init__(self, *args: str, log_path: Path):
        log = open(log_path, "a")
        self.log_path = log_path
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLE / "app.py"), *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        log.close()
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()
        self.printed: list[str] = []
        self.url = self._wait_for(r"ownp2p listening on (http://127\.0\.0\.1:\d+)")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.put(line)

    def _wait_for(self, pattern: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=STARTUP_SECONDS)
            except queue.Empty:
                self.stop()
                raise AssertionError(f"the example did not start: {self.log_path.read_text()[-2000:]}") from None
            self.printed.append(line)
            found = re.search(pattern, line)
            if found:
                return found.group(1)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)
        self.pump.join(20)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANXIN_SIM_TOKEN": TOKEN}
    env.pop("WANXIN_BANK_URL", None)
    return subprocess.run(wanxin(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def served_pair(tmp_path_factory):
    """The bank served for ownp2p, and ownp2p served for the bank."""
    tmp = tmp_path_factory.mktemp("own_platform")
    keygen = subprocess.run([sys.executable, str(EXAMPLE / "app.py"), "keygen", "--keys", str(tmp / "own-keys")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert keygen.returncode == 0, keygen.stderr
    public = Path(re.search(r"ownp2p public key: (\S+)", keygen.stdout).group(1))  # type: ignore[union-attr]
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    made = run("keys", "generate", "--dir", str(tmp / "keys"))
    assert made.returncode == 0, made.stderr
    bank = ServedBank(str(tmp / "bank.sqlite"), tmp / "keys", TOKEN, tmp / "bank.log", "--workers", "2", "--quiet",
                      "--platform", f"no=ownp2p,key={public}")
    bank_url = bank.start()
    example = None
    try:
        example = Example("--port", "0", "--bank-url", bank_url, "--bank-key", str(tmp / "keys" / "bank_public.pem"),
                          "--keys", str(tmp / "own-keys"), "--data", str(tmp / "own-data"), log_path=tmp / "own.log")
        added = run("platforms", "add", f"no=ownp2p,key={public},notify={example.url}/notify", "--bank-url", bank_url)
        assert added.returncode == 0, added.stderr
        assert f"notify {example.url}/notify" in added.stdout
        yield {"bank": bank_url, "own": example.url, "example": example, "tmp": tmp}
    finally:
        if example is not None:
            example.stop()
        bank.stop()


def test_the_example_is_not_the_built_in_platform_and_uses_none_of_the_sandbox_s_code():
    tree = ast.parse((EXAMPLE / "app.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported & {"p2p_platform", "bank_depository", "scenarios", "cli", "serving"} == set()
    assert len((EXAMPLE / "app.py").read_text(encoding="utf-8").splitlines()) < 500


def test_the_example_scenarios_cover_the_story_and_validate_as_external_ones():
    assert [p.name for p in SCENARIOS] == ["lost_response.scenario.yaml", "open_account_and_recharge.scenario.yaml",
                                           "tender_and_loan.scenario.yaml"]
    steps: set[str] = set()
    validator = jsonschema.Draft202012Validator(schema.schema())
    for path in SCENARIOS:
        assert [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))] == []
        scenario = spec.load(path)
        assert (scenario.platform, scenario.platform_no) == ("external", "ownp2p")
        steps |= {s.name for s in scenario.steps}
    assert {"http", "gateway", "wait_for_notification", "expect_balance", "expect_request", "fault",
            "expect_notifications", "expect_ledger_sound"} <= steps
    lost = yaml.safe_load((EXAMPLE / "lost_response.scenario.yaml").read_text(encoding="utf-8"))
    faults = [s["fault"] for s in lost["steps"] if isinstance(s, dict) and "fault" in s]
    assert {(f["action"], f["service"]) for f in faults} == {("lose_response", "USER_AUTO_PRE_TRANSACTION"),
                                                             ("lose_response", "CONFIRM_LOAN")}


def test_the_example_scenarios_pass_twice_against_one_served_bank_and_platform(served_pair):
    for attempt in (1, 2):
        done = run("scenario", "run", *map(str, SCENARIOS), "--bank-url", served_pair["bank"],
                   "--var", f"own={served_pair['own']}", timeout=300)
        assert done.returncode == 0, f"run {attempt}:\n{done.stdout}\n{done.stderr}"
        assert len(re.findall(r"^  PASSED: \d+ step\(s\) passed, 0 failed", done.stdout, re.M)) == 3, done.stdout
        assert "3 scenario(s) passed, 0 failed" in done.stdout


def test_the_example_refuses_a_notification_the_bank_did_not_sign(served_pair):
    raw = json.dumps({"requestNo": "FORGED", "userNo": "U1", "respCode": "00000", "auditStatus": "PASSED"}).encode()
    forged = {"serviceName": "PERSONAL_REGISTER", "platformNo": "ownp2p", "reqData": base64.b64encode(raw).decode(),
              "signature": base64.b64encode(b"not a signature").decode()}
    with requests.Session() as http:
        http.trust_env = False
        resp = http.post(served_pair["own"] + "/notify", data=forged, timeout=10)
        assert (resp.status_code, resp.text) == (400, "BAD SIGNATURE")


def test_a_failing_example_scenario_exits_1_naming_the_step(served_pair, tmp_path):
    broken = tmp_path / "broken.scenario.yaml"
    text = (EXAMPLE / "open_account_and_recharge.scenario.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace('available: "800.00", frozen: "0.00", card: "200.00"',
                                   'available: "799.00", frozen: "0.00", card: "200.00"'), encoding="utf-8")
    done = run("scenario", "run", str(broken), "--bank-url", served_pair["bank"], "--var", f"own={served_pair['own']}")
    assert done.returncode == 1, done.stdout
    assert "zoe.available expected 799.00, actual 800.00" in done.stdout


def test_the_example_prints_its_key_its_url_and_its_notify_url(served_pair):
    printed = served_pair["example"].printed
    assert printed[0].startswith("ownp2p public key: ") and printed[0].strip().endswith("ownp2p_public.pem")
    assert f"ownp2p listening on {served_pair['own']}  (notify URL {served_pair['own']}/notify)" in printed[-1]


@pytest.mark.parametrize("bank_key", ["missing.pem", "not_a_key.pem"])
def test_the_example_started_with_a_bad_bank_key_is_one_line_error_not_a_traceback(tmp_path, bank_key):
    (tmp_path / "not_a_key.pem").write_text("not a key\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(EXAMPLE / "app.py"), "--port", "0", "--bank-url", "http://127.0.0.1:9",
                           "--bank-key", str(tmp_path / bank_key), "--data", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"app.py: error: --bank-key {tmp_path / bank_key}: not a readable PEM public key (" in done.stderr
