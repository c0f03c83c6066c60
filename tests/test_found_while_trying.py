"""Issue 11, "found while trying it": each rough edge a new user hit, pinned by a test."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import responses

from bank_depository.app import create_app
from bank_depository.clock import parse_instant
from scenarios.harness import Sandbox, write_keys
from tests.conftest import NOTIFY_URL, START, bank_config
from tests.test_cli import assert_one_line_error, closed_port_url, invoke, json_of, live  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


# -- notifications resend ---------------------------------------------------------------
def test_a_resent_notification_counts_the_new_attempt_and_records_its_delivery_time(bank):
    bank.open_account(1)
    [row] = bank.client.get("/sim/notifications").json
    dispatcher = bank.app.extensions["wanxin.dispatcher"]
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher.run_once()
        bank.client.post("/sim/clock", json={"advance_seconds": 90})
        assert bank.client.post(f"/sim/notifications/{row['id']}/resend").status_code == 200
        dispatcher.run_once()
    [row] = bank.client.get("/sim/notifications").json
    assert row["state"] == "DELIVERED"
    assert row["attempts"] == len(row["history"]) == 2
    assert row["deliveredAt"] == row["history"][-1]["attempted_at"]
    assert parse_instant(row["deliveredAt"]) > parse_instant(START)


# -- the CLI: flags, --db, clocks ------------------------------------------------------------
def test_an_explicit_db_beats_an_exported_bank_url(live):  # noqa: F811
    result = invoke("accounts", "list", "--db", live.db, "--json", env={"WANXIN_BANK_URL": closed_port_url()})
    assert {u["userNo"] for u in json_of(result)["users"]} == set(live.users.values())


def test_faults_list_and_clock_show_read_the_database_file(live):  # noqa: F811
    invoke("faults", "set", '{"action": "delay", "seconds": 1, "service": "CONFIRM_LOAN"}', "--bank-url", live.bank_url)
    try:
        online = json_of(invoke("faults", "list", "--bank-url", live.bank_url, "--json"))
        offline = json_of(invoke("faults", "list", "--db", live.db, "--json"))
        assert offline == online and offline["rules"]
    finally:
        invoke("faults", "clear", "--bank-url", live.bank_url)
    assert json_of(invoke("clock", "show", "--db", live.db, "--json")) == \
        json_of(invoke("clock", "show", "--bank-url", live.bank_url, "--json"))


def test_clock_advance_moves_neither_clock_when_the_platform_is_away(live):  # noqa: F811
    before = json_of(invoke("clock", "show", "--bank-url", live.bank_url, "--json"))["bank"]
    result = invoke("clock", "advance", "--days", "1", "--bank-url", live.bank_url, "--platform-url", closed_port_url())
    assert_one_line_error(result, "cannot reach")
    assert json_of(invoke("clock", "show", "--bank-url", live.bank_url, "--json"))["bank"] == before


def test_accounts_list_shows_each_accounts_fullname(live):  # noqa: F811
    accounts = json_of(invoke("accounts", "list", "--bank-url", live.bank_url, "--json"))["users"]
    table = invoke("accounts", "list", "--bank-url", live.bank_url).stdout
    for account in accounts:
        assert account["fullname"] and account["fullname"] in table


# -- files are private ---------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_keys_of_a_kept_run_and_the_database_files_are_0600(tmp_path):
    keys = write_keys(tmp_path / "keys")
    assert keys and _mode(tmp_path / "keys" / "bank_private.pem") == 0o600
    assert _mode(tmp_path / "keys" / "platform_private.pem") == 0o600
    with Sandbox(tmp_path / "run", keys_dir=tmp_path / "keys"):
        assert _mode(tmp_path / "run" / "bank.sqlite") == 0o600
        assert _mode(tmp_path / "run" / "platform.sqlite") == 0o600


# -- serving: one line, nothing alarming -------------------------------------------------------
def test_a_notify_url_that_is_not_an_http_url_is_refused_at_start(tmp_path, keys):
    cfg = bank_config(tmp_path, keys)
    cfg["PLATFORMS"][0]["notify_url"] = "platform.test/notify"
    with pytest.raises(ValueError, match="notify URL 'platform.test/notify' must be an http"):
        create_app(cfg)


def _serve(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", "bank", "serve", "--db", str(tmp_path / "bank.sqlite"),
                           "--keys", str(tmp_path / "keys"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_bank_serve_refuses_a_bad_notify_url_in_one_line(tmp_path):
    write_keys(tmp_path / "keys")
    result = _serve(tmp_path, "--port", "0", "--notify-url", "ftp://x")
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert "--notify-url 'ftp://x': must be an http:// or https:// URL" in result.stderr


def test_a_corrupt_key_file_is_named_in_the_error(tmp_path):
    write_keys(tmp_path / "keys")
    (tmp_path / "keys" / "platform_public.pem").write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n")
    result = _serve(tmp_path, "--port", "0")
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert str(tmp_path / "keys" / "platform_public.pem") in result.stderr


def test_a_port_in_use_is_one_line(tmp_path):
    write_keys(tmp_path / "keys")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(tmp_path, "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: port {port} is in use; try --port 0"


def test_a_healthy_start_prints_no_error_line(tmp_path):
    """gunicorn >= 25.1 opens a control socket under $HOME; where it cannot (or another server holds it)
    it logged ``[ERROR] Control server error``. The bank does not use it, so it is off."""
    write_keys(tmp_path / "keys")
    (tmp_path / "home").write_text("a file, so ~/.gunicorn cannot be made")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": ""}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "bank", "serve", "--db", str(tmp_path / "bank.sqlite"),
                             "--keys", str(tmp_path / "keys"), "--port", "0", "--workers", "1"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("bank listening on http://127.0.0.1:"), first
        url = first.split()[3]
        import requests
        token = (tmp_path / "bank.sqlite.sim-token").read_text().strip()
        health = requests.get(url + "/sim/health", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert health.status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "ERROR" not in err and "Traceback" not in err, err
    assert json.loads(health.text)["ok"] is True
