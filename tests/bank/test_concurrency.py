"""Many clients at once against the real served bank (gunicorn workers, one SQLite file).

Sixteen threads send 400 signed tenders over HTTP: eight investors spend their
balances on two projects at once, and a fifth of the requests are exact
duplicates racing each other. Whatever the interleaving: no overdraft, no
project beyond its amount, exactly as many tenders succeed as fit, a
duplicated requestNo runs once and answers the same bytes, and ``verify`` is
clean.
"""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import pytest
import requests

from bank_depository.app import create_app
from bank_depository.client import SimClient
from bank_depository.protocol import codes, envelope, signing
from bank_depository.protocol.money import parse_yuan
from tests.conftest import SIM_TOKEN, BankDriver, bank_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
THREADS, PER_THREAD, UNIQUE = 16, 25, 320
INVESTORS, START_BALANCE = 8, 40000  # fen each: 3,200.00 in all, a third of what the tenders ask for
PROJECTS = {"P1": 50000, "P2": 500000}  # fen: P1 fills early; P2 could take every balance, so balances run out
STARTUP_SECONDS = 60


def wanxin(*args: str) -> list[str]:
    """The ``wanxin`` command, run by this interpreter from this checkout (never another install on PATH)."""
    return [sys.executable, "-m", "cli", *args]


def _pump(stream, lines: "queue.Queue[str]") -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)


@pytest.fixture
def served_bank(tmp_path):
    """Keys from the CLI, accounts through an in-process app on the same file, then the real server."""
    keys_dir = tmp_path / "keys"
    subprocess.run(wanxin("keys", "generate", "--dir", str(keys_dir)), cwd=ROOT, check=True,
                   capture_output=True, timeout=60)
    keys = {
        "bank_private": (keys_dir / "bank_private.pem").read_bytes(),
        "platform_public": (keys_dir / "platform_public.pem").read_bytes(),
        "bank_public_key": signing.load_public_key(keys_dir / "bank_public.pem"),
        "platform_private_key": signing.load_private_key(keys_dir / "platform_private.pem"),
    }
    app = create_app(bank_config(tmp_path, keys))
    driver = BankDriver(app, keys)
    db_path = app.config["DATABASE"]

    stderr = open(tmp_path / "server.stderr", "w+")
    proc = subprocess.Popen(
        wanxin("bank", "serve", "--db", db_path, "--keys", str(keys_dir), "--host", "127.0.0.1", "--port", "0",
               "--workers", "2", "--password-iterations", "1000", "--sim-token", app.config["SIM_TOKEN"]),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)
    lines: "queue.Queue[str]" = queue.Queue()
    pump = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    pump.start()
    try:
        url = None
        while url is None:
            try:
                line = lines.get(timeout=STARTUP_SECONDS)  # bounded: the only wait in this suite
            except queue.Empty:
                stderr.seek(0)
                pytest.fail(f"the bank did not start: {stderr.read()[-2000:]}")
            found = re.search(r"bank listening on (http://127\.0\.0\.1:\d+)", line)
            url = found and found.group(1)
        yield driver, url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, by its id
            proc.wait(timeout=10)
        pump.join(timeout=10)  # EOF once the server is gone; then the pipe can be closed
        proc.stdout.close()
        stderr.close()
        app.extensions["wanxin.dispatcher"].stop()
        app.extensions["wanxin.bank"].database.close()


def plan(investors: list[str]) -> list[dict]:
    """The unique tenders: investor, project and amount follow from the index, so duplicates are identical.

    Every investor tenders on both projects, so one balance is spent by many threads on two projects at once.
    """
    return [{"requestNo": f"CT{k:04d}", "userNo": investors[k % INVESTORS],
             "projectNo": "P1" if (k // INVESTORS) % 2 == 0 else "P2",
             "bizType": "TENDER", "amount": f"{(k % 3 + 1) * 10}.00"} for k in range(UNIQUE)]


def test_concurrent_tenders_never_overdraw_never_oversubscribe_and_fill_exactly(served_bank):
    bank, url = served_bank
    borrower = bank.open_account(100, "B")
    investors = [bank.open_account(101 + i, "I") for i in range(INVESTORS)]
    for user in investors:
        bank.recharge(user, f"{START_BALANCE // 100}.00")
    for project_no, amount in PROJECTS.items():
        assert bank.call("CREATE_PROJECT", {"requestNo": f"C-{project_no}", "userNo": borrower,
                                            "projectNo": project_no, "projectAmount": amount // 100})["respCode"] == \
            codes.SUCCESS

    tenders = plan(investors)
    signed = [bank.signed("USER_AUTO_PRE_TRANSACTION", t) for t in tenders]  # signing stays out of the race
    answers: dict[str, list[bytes]] = defaultdict(list)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(t: int) -> None:
        with requests.Session() as session:
            for j in range(PER_THREAD):
                k = (t * PER_THREAD + j) % UNIQUE
                try:
                    resp = session.post(f"{url}/service", data=signed[k], timeout=60)
                    resp.raise_for_status()
                except BaseException as exc:  # noqa: BLE001 - reported below, never swallowed
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    answers[tenders[k]["requestNo"]].append(resp.content)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors[:3]
    assert sum(len(v) for v in answers.values()) == THREADS * PER_THREAD

    # A duplicated requestNo ran once and answered the same bytes every time.
    results = {}
    for request_no, bodies in answers.items():
        assert len(set(bodies)) == 1, request_no
        data = envelope.verify_response(bodies[0].decode(), bank.keys["bank_public_key"])
        assert data["respCode"] in (codes.SUCCESS, codes.PROJECT_OVER_AMOUNT, codes.BALANCE_NOT_ENOUGH), data
        results[request_no] = data["respCode"]
    assert len(results) == UNIQUE

    won = [t for t in tenders if results[t["requestNo"]] == codes.SUCCESS]
    spent = defaultdict(int)
    tendered = defaultdict(int)
    for t in won:
        spent[t["userNo"]] += parse_yuan(t["amount"])
        tendered[t["projectNo"]] += parse_yuan(t["amount"])

    # No overdraft: each investor's money is exactly where the successful tenders put it.
    available = {}
    for user in investors:
        a, f, _ = bank.balances(user)
        available[user] = parse_yuan(a, allow_zero=True)
        assert available[user] == START_BALANCE - spent[user] >= 0
        assert parse_yuan(f, allow_zero=True) == spent[user]
    # No project beyond its amount, and the holds are exactly the winners.
    served_bank = SimClient(url, SIM_TOKEN, timeout=10)
    listed = {p["projectNo"]: p for p in served_bank.get("/sim/projects")}
    for project_no, amount in PROJECTS.items():
        assert parse_yuan(listed[project_no]["tendered"], allow_zero=True) == tendered[project_no] <= amount
    holds = served_bank.get("/sim/holds")
    assert sorted(h["requestNo"] for h in holds) == sorted(t["requestNo"] for t in won)

    # Exactly as many succeeded as fit: every refusal was true when the race ended.
    for t in tenders:
        amount, code = parse_yuan(t["amount"]), results[t["requestNo"]]
        if code == codes.PROJECT_OVER_AMOUNT:
            assert PROJECTS[t["projectNo"]] - tendered[t["projectNo"]] < amount, t
        elif code == codes.BALANCE_NOT_ENOUGH:
            assert available[t["userNo"]] < amount, t
    assert any(code == codes.PROJECT_OVER_AMOUNT for code in results.values())  # the race really was contended
    assert any(code == codes.BALANCE_NOT_ENOUGH for code in results.values())

    served = served_bank.get("/sim/ledger/verify")
    assert served == {"sound": True, "problems": []}
    assert bank.problems() == []
