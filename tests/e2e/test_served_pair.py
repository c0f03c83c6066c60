"""The README's "Serving both sides by hand", with ports chosen by the system: one bank and one platform
served as their own processes (``python -m cli bank serve`` / ``platform serve --port 0``), and the same
scenarios run twice against that pair. Both runs pass, no fault rule a run added is left, and the
platform's config is what it was served with.

Each server runs in its own process group; stopping ends only those groups, by their ids.
"""
from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest
import requests

from scenarios import runner

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "served-pair-operator-token"
STARTUP_SECONDS = 90


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("WANXIN_")}


@contextlib.contextmanager
def served(what: str, *args: str, log: Path) -> Iterator[str]:
    """``python -m cli <what> serve … --port 0``; yields the URL it prints once listening."""
    with open(log, "a") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cli", what, "serve", "--host", "127.0.0.1", "--port", "0",
                                 "--sim-token", TOKEN, *args], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                                stderr=err, text=True, start_new_session=True)
    lines: "queue.Queue[str]" = queue.Queue()
    pump = threading.Thread(target=lambda: [lines.put(line) for line in iter(proc.stdout.readline, "")], daemon=True)
    pump.start()
    try:
        url = ""
        while not url:
            try:
                line = lines.get(timeout=STARTUP_SECONDS)
            except queue.Empty:
                raise AssertionError(f"{what} did not start: {log.read_text()[-2000:]}") from None
            found = re.search(what + r" listening on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else ""
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a worker left behind in the group we started
        proc.wait(timeout=30)
        pump.join(10)
        proc.stdout.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[str, str]]:
    work = tmp_path_factory.mktemp("served-pair")
    keys = work / "keys"
    subprocess.run([sys.executable, "-m", "cli", "keys", "generate", "--dir", str(keys)], cwd=ROOT, env=_env(),
                   check=True, capture_output=True, timeout=60)
    log = work / "servers.log"
    with served("bank", "--db", str(work / "bank.sqlite"), "--keys", str(keys), "--workers", "2", "--quiet",
                "--password-iterations", "1000", log=log) as bank_url, \
            served("platform", "--db", str(work / "platform.sqlite"), "--keys", str(keys), "--bank-url", bank_url,
                   log=log) as platform_url:
        # the platform's port is known only now: tell the bank where its notifications go
        http = requests.Session()
        http.trust_env = False
        answer = http.post(bank_url + "/sim/platforms", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
                           json={"platformNo": "wanxinp2p", "notifyUrl": platform_url + "/notify",
                                 "publicKey": (keys / "platform_public.pem").read_text()})
        assert answer.status_code == 200, answer.text
        yield bank_url, platform_url


def sim(url: str, path: str):
    resp = requests.get(url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["full_lifecycle.yaml", "fault_lost_tender_response.yaml",
                                  "fault_notifications.yaml"])
def test_a_scenario_passes_twice_against_one_served_pair_and_leaves_no_fault_rule(pair, name):
    bank_url, platform_url = pair
    config_before = sim(platform_url, "/sim/config")
    for attempt in (1, 2):
        lines: list[str] = []
        result = runner.run_file(ROOT / "scenarios" / name, bank_url=bank_url, platform_url=platform_url,
                                 sim_token=TOKEN, echo=lines.append)
        assert result.ok, f"run {attempt}:\n" + "\n".join(lines)
        assert sim(bank_url, "/sim/faults")["rules"] == []
        assert sim(platform_url, "/sim/config") == config_before
    assert sim(bank_url, "/sim/ledger/verify")["sound"]
