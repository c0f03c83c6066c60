"""The ``wanxin`` command through click's ``CliRunner``.

Every command and group has help (found by walking the click tree, so a new
command is covered without touching this file), every inspection command's
``--json`` parses against a live bank and, for the read-only ones, offline on
its database file, errors are one line with a non-zero exit and no traceback,
``scenario run`` exits 0, 1 or 2, and the demo reports a clean verdict.
"""
from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import cli
from scenarios import runner
from scenarios.harness import Sandbox

INSPECTION_OPTIONS = {"bank_url", "db", "platform_url"}
LIVE_TOKEN: dict = {}  # the live sandbox's operator credential, as a user would export it


def walk(command: click.Command, path: tuple = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk(command.commands[name], path + (name,))


COMMANDS = list(walk(cli.main))


def invoke(*args: str, env: dict | None = None):
    # Neither variable leaks in from the developer's shell.
    env = {"WANXIN_BANK_URL": None, "WANXIN_PLATFORM_URL": None, "WANXIN_SIM_TOKEN": LIVE_TOKEN.get("token"),
           **(env or {})}
    try:
        cli_runner = CliRunner(env=env, mix_stderr=False)  # click 8.1
    except TypeError:  # click >= 8.2 always keeps stderr apart
        cli_runner = CliRunner(env=env)
    return cli_runner.invoke(cli.main, [str(a) for a in args])


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught exception
    err = result.stderr.strip()
    assert "Traceback" not in result.output
    assert err.count("\n") == 0, err
    assert err.startswith("Error: ")
    for fragment in fragments:
        assert fragment in err


# -- help ----------------------------------------------------------------------
def test_the_command_tree_has_every_documented_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"demo", "scenario run", "scenario validate", "bank serve", "platform serve", "keys generate",
            "accounts list", "accounts show", "projects list", "notifications list", "notifications resend",
            "ledger verify", "clock show", "clock advance", "faults list", "faults set", "faults clear",
            "reconcile"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) or "wanxin" for p, _ in COMMANDS])
def test_every_command_and_group_has_help(path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    command = dict(COMMANDS)[path]
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help"


@pytest.mark.parametrize("path", [p for p, c in COMMANDS if not isinstance(c, click.Group)
                                  and INSPECTION_OPTIONS & {param.name for param in c.params}
                                  and p[0] not in ("bank", "platform", "scenario")],
                         ids=lambda p: " ".join(p))
def test_every_command_that_talks_to_a_server_offers_json(path):
    assert "as_json" in {p.name for p in dict(COMMANDS)[path].params}


# -- a live bank ---------------------------------------------------------------------
TINY = """\
name: tiny
seed: 3
actors:
  bob: {role: borrower, card_balance: "500.00"}
  ivy: {role: investor, card_balance: "5000.00"}
steps:
  - open_account: bob
  - open_account: ivy
  - recharge: {user: ivy, amount: "3000.00"}
  - create_project: {name: shop, borrower: bob, amount: "2000.00", periods: 3, method: equal_principal}
  - approve_project: shop
  - tender: {user: ivy, project: shop, amount: "1200.00"}
  - expect_balance: {ivy: {available: "1800.00", frozen: "1200.00", card: "2000.00"}}
"""

FAILING = TINY.replace('available: "1800.00"', 'available: "1799.99"')


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A bank and a platform on loopback with two users, a project and a tender."""
    work = tmp_path_factory.mktemp("cli")
    path = work / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    with Sandbox(work / "sandbox", seed=3) as sb:
        users: dict = {}
        LIVE_TOKEN["token"] = sb.sim_token
        result = runner.run_file(path, bank_url=sb.bank_url, platform_url=sb.platform_url, echo=lambda line: None,
                                 after=lambda r: users.update(r.users), sim_token=sb.sim_token)
        assert result.ok, result.as_dict()
        sb.users = users
        sb.db = sb.workdir / "bank.sqlite"
        yield sb


def json_of(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


READ_ONLY = [("accounts", "list"), ("projects", "list"), ("notifications", "list"), ("ledger", "verify")]


@pytest.mark.parametrize("args", [*READ_ONLY, ("notifications", "list", "--state", "DELIVERED"), ("clock", "show"),
                                  ("faults", "list")], ids=" ".join)
def test_json_output_of_every_inspection_command_parses(live, args):
    data = json_of(invoke(*args, "--bank-url", live.bank_url, "--json"))
    assert data or data == []


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_give_the_same_json_offline_on_the_database_file(live, args):
    online = json_of(invoke(*args, "--bank-url", live.bank_url, "--json"))
    offline = json_of(invoke(*args, "--db", live.db, "--json"))
    assert offline == online


def test_accounts_list_json_shows_every_user_with_exact_amounts(live):
    data = json_of(invoke("accounts", "list", "--bank-url", live.bank_url, "--json"))
    users = {u["userNo"]: u for u in data["users"]}
    ivy = users[live.users["ivy"]]
    assert (ivy["available"], ivy["frozen"], ivy["card"]) == ("1800.00", "1200.00", "2000.00")
    assert live.users["bob"] in users


def test_accounts_show_json_has_balances_holds_and_postings_online_and_offline(live):
    user_no = live.users["ivy"]
    online = json_of(invoke("accounts", "show", user_no, "--bank-url", live.bank_url, "--json"))
    offline = json_of(invoke("accounts", "show", user_no, "--db", live.db, "--json"))
    assert online == offline
    assert online["frozen"] == "1200.00"
    assert [(h["bizType"], h["amount"], h["state"]) for h in online["holds"]] == [("TENDER", "1200.00", "FROZEN")]
    assert online["entries"]


def test_the_bank_url_can_come_from_the_environment(live):
    data = json_of(invoke("projects", "list", "--json", env={"WANXIN_BANK_URL": live.bank_url}))
    assert ("2000.00", "1200.00") in [(p["amount"], p["tendered"]) for p in data]


def test_ledger_verify_says_sound_and_exits_zero(live):
    result = invoke("ledger", "verify", "--db", live.db)
    assert result.exit_code == 0
    assert result.stdout.strip() == "ledger sound: every invariant holds"


def test_tables_right_align_amounts_with_two_decimals(live):
    result = invoke("accounts", "list", "--bank-url", live.bank_url)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["name", "userNo", "role", "available", "frozen", "card"]
    ivy = next(line for line in lines if live.users["ivy"] in line)
    assert ivy.rstrip().endswith("1800.00  1200.00  2000.00")
    widths = {len(line) for line in lines[:len(live.users) + 2]}
    assert len(widths) == 1  # header, rule and rows end in the same column


def test_faults_set_list_and_clear_round_trip_as_json(live):
    rule = '{"action": "reject", "code": "00001", "service": "QUERY_TRANSACTION", "times": 2}'
    made = json_of(invoke("faults", "set", rule, "--bank-url", live.bank_url, "--json"))
    assert made["action"] == "reject" and made["times"] == 2
    listed = json_of(invoke("faults", "list", "--bank-url", live.bank_url, "--json"))
    assert [r["id"] for r in listed["rules"]] == [made["id"]]
    cleared = json_of(invoke("faults", "clear", "--bank-url", live.bank_url, "--json"))
    assert cleared["cleared"] == 1
    assert json_of(invoke("faults", "list", "--bank-url", live.bank_url, "--json"))["rules"] == []


def test_clock_advance_moves_both_clocks_and_reports_json(live):
    before = json_of(invoke("clock", "show", "--bank-url", live.bank_url, "--platform-url", live.platform_url,
                            "--json"))
    after = json_of(invoke("clock", "advance", "--seconds", "60", "--bank-url", live.bank_url, "--platform-url",
                           live.platform_url, "--json"))
    assert set(before) == set(after) == {"bank", "platform"}
    assert after["bank"] > before["bank"] and after["platform"] > before["platform"]


def test_notifications_resend_queues_a_delivered_notification_again(live):
    delivered = json_of(invoke("notifications", "list", "--state", "DELIVERED", "--bank-url", live.bank_url,
                               "--json"))
    data = json_of(invoke("notifications", "resend", delivered[0]["id"], "--bank-url", live.bank_url, "--json"))
    assert data["id"] == delivered[0]["id"] and data["state"] == "PENDING"
    live.deliver_notifications()


def test_reconcile_json_reports_a_clean_day(live):
    data = json_of(invoke("reconcile", "--platform-url", live.platform_url, "--json"))
    assert data["clean"] is True and data["breaks"] == []


# -- errors: one line, non-zero, no traceback ----------------------------------------------
@pytest.mark.parametrize("args", [("accounts", "list"), ("ledger", "verify"), ("faults", "list"), ("clock", "show"),
                                  ("faults", "clear")], ids=" ".join)
def test_an_unreachable_bank_is_one_line_error(args):
    url = closed_port_url()
    result = invoke(*args, "--bank-url", url)
    assert_one_line_error(result, f"cannot reach {url}")


def test_an_unreachable_platform_is_one_line_error():
    assert_one_line_error(invoke("reconcile", "--platform-url", closed_port_url()), "cannot reach")


@pytest.mark.parametrize("args", [("accounts", "list"), ("accounts", "show", "USR_1"), ("projects", "list"),
                                  ("notifications", "list"), ("ledger", "verify"),
                                  ("faults", "list"), ("clock", "show")],  # issue 11: these take --db too
                         ids=" ".join)
def test_a_read_only_command_without_bank_url_or_db_is_one_line_error(args):
    assert_one_line_error(invoke(*args), "give --bank-url (or set WANXIN_BANK_URL) or --db")


@pytest.mark.parametrize("args", [("faults", "clear"), ("notifications", "resend", "1")], ids=" ".join)
def test_a_live_only_command_without_bank_url_is_one_line_error(args):
    result = invoke(*args)
    assert_one_line_error(result, "give --bank-url (or set WANXIN_BANK_URL)")
    assert "--db" not in result.stderr  # these commands have no offline mode


def test_bank_url_and_db_together_is_one_line_error(live):
    assert_one_line_error(invoke("accounts", "list", "--bank-url", live.bank_url, "--db", live.db), "not both")


def test_a_fault_rule_that_is_not_json_is_one_line_error(live):
    assert_one_line_error(invoke("faults", "set", "{action: reject", "--bank-url", live.bank_url),
                          "RULE is not JSON")


def test_a_fault_rule_the_bank_refuses_is_one_line_error(live):
    assert_one_line_error(invoke("faults", "set", '{"action": "explode"}', "--bank-url", live.bank_url),
                          "action must be one of")


def test_a_missing_database_file_is_one_line_error(tmp_path):
    missing = tmp_path / "nowhere.sqlite"
    assert_one_line_error(invoke("accounts", "list", "--db", missing), f"{missing} does not exist")
    assert not missing.exists()  # reading offline never creates a database


def test_a_file_that_is_not_a_bank_database_is_one_line_error(tmp_path):
    other = tmp_path / "other.sqlite"
    import sqlite3
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert_one_line_error(invoke("ledger", "verify", "--db", other), "is not a wanxin bank database")


def test_a_file_that_is_not_sqlite_is_one_line_error(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    assert_one_line_error(invoke("accounts", "list", "--db", junk), f"{junk} cannot be read")


def test_demo_refuses_a_keep_directory_that_holds_a_run_in_one_line(tmp_path):
    (tmp_path / "full_lifecycle").mkdir()
    (tmp_path / "full_lifecycle" / "bank.sqlite").write_bytes(b"")
    assert_one_line_error(invoke("demo", "--keep", tmp_path), "is not empty; --keep needs a fresh directory")


def test_an_unknown_user_is_one_line_error(live):
    assert_one_line_error(invoke("accounts", "show", "USR_NOBODY", "--bank-url", live.bank_url), "USR_NOBODY")
    assert_one_line_error(invoke("accounts", "show", "USR_NOBODY", "--db", live.db), "USR_NOBODY")


def test_clock_advance_by_nothing_is_one_line_error(live):
    assert_one_line_error(invoke("clock", "advance", "--bank-url", live.bank_url), "greater than 0")


def test_keys_generate_writes_four_files_and_refuses_to_overwrite_without_force(tmp_path):
    keys = tmp_path / "keys"
    first = invoke("keys", "generate", "--dir", keys)
    assert first.exit_code == 0, first.output
    written = {p.name: p.read_bytes() for p in keys.iterdir()}
    assert set(written) == set(cli.KEY_FILES)
    assert (keys / "bank_private.pem").stat().st_mode & 0o077 == 0
    refused = invoke("keys", "generate", "--dir", keys)
    assert_one_line_error(refused, "exists; use --force to overwrite")
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == written  # untouched
    forced = invoke("keys", "generate", "--dir", keys, "--force")
    assert forced.exit_code == 0
    assert (keys / "bank_private.pem").read_bytes() != written["bank_private.pem"]


def test_serving_without_keys_is_one_line_error(tmp_path):
    assert_one_line_error(invoke("bank", "serve", "--keys", tmp_path / "none", "--db", tmp_path / "b.sqlite"),
                          "is missing; run `wanxin keys generate")
    assert_one_line_error(invoke("platform", "serve", "--keys", tmp_path / "none", "--db", tmp_path / "p.sqlite",
                                 "--bank-url", "http://127.0.0.1:9"), "is missing")


# -- scenarios -----------------------------------------------------------------------------
def scenario_file(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_scenario_run_exits_zero_on_a_passing_file(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "tiny.yaml"))
    assert result.exit_code == 0, result.output
    assert "PASSED: 7 step(s) passed, 0 failed" in result.stdout
    assert result.stdout.rstrip().endswith("1 scenario(s) passed, 0 failed")


def test_scenario_run_exits_one_on_a_failing_file_and_names_the_step(tmp_path):
    path = scenario_file(tmp_path, FAILING, "failing.yaml")
    result = invoke("scenario", "run", path)
    assert result.exit_code == 1
    assert "ivy.available expected 1799.99, actual 1800.00" in result.stdout
    assert f"[{path}: step 7 (expect_balance, line 13)]" in result.stdout
    assert result.stdout.rstrip().endswith("0 scenario(s) passed, 1 failed")


def test_scenario_run_json_reports_each_file_and_exits_one_if_any_failed(tmp_path):
    good = scenario_file(tmp_path, TINY, "good.yaml")
    bad = scenario_file(tmp_path, FAILING, "bad.yaml")
    result = invoke("scenario", "run", good, bad, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert [(s["file"], s["ok"]) for s in data["scenarios"]] == [(str(good), True), (str(bad), False)]
    assert data["scenarios"][1]["steps"][-1]["number"] == 7


def test_scenario_run_refuses_an_invalid_file_before_running_it(tmp_path):
    path = scenario_file(tmp_path, TINY.replace("open_account: ivy", "open_account: zed"), "invalid.yaml")
    result = invoke("scenario", "run", path)
    assert result.exit_code == 2  # issue 12: an invalid file exits 2 (it was 1)
    assert f"{path}: step 2 (open_account, line 8): unknown actor 'zed'" in result.stderr
    assert "▶" not in result.stdout


def test_scenario_run_keep_leaves_the_sqlite_files(tmp_path):
    keep = tmp_path / "kept"
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "tiny.yaml"), "--keep", keep)
    assert result.exit_code == 0, result.output
    assert {"bank.sqlite", "platform.sqlite"} <= {p.name for p in (keep / "tiny").iterdir()}
    ledger = invoke("ledger", "verify", "--db", keep / "tiny" / "bank.sqlite", "--json")
    assert json_of(ledger)["sound"] is True


def test_scenario_run_against_running_servers(live, tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "tiny.yaml"), "--bank-url", live.bank_url,
                    "--platform-url", live.platform_url)
    assert result.exit_code == 0, result.output


def test_scenario_run_with_only_one_url_is_one_line_error(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "tiny.yaml"), "--bank-url", "http://127.0.0.1:9")
    assert_one_line_error(result, "give both --bank-url and --platform-url, or neither")


def test_scenario_validate_checks_files_without_running_them(tmp_path):
    good = scenario_file(tmp_path, TINY, "good.yaml")
    bad = scenario_file(tmp_path, TINY.replace('"1200.00"}', '"12.001"}'), "bad.yaml")
    assert invoke("scenario", "validate", good).exit_code == 0
    result = invoke("scenario", "validate", good, bad)
    assert result.exit_code == 2  # issue 12: an invalid file exits 2 (it was 1)
    assert result.stdout.startswith(f"✓ {good}: tiny (7 steps, 2 actors)")
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"✗ {bad}: step 6 (tender, line 12): bad amount '12.001' for amount")


# -- the demo ------------------------------------------------------------------------------
def test_demo_json_reports_a_clean_verdict():
    data = json_of(invoke("demo", "--json"))
    verdict = data["verdict"]
    assert (verdict["scenario"], verdict["ledgerSound"], verdict["breaks"]) == (True, True, 0)
    assert verdict["reconciledDays"] >= 12
    assert data["result"]["ok"] is True
    assert len(data["accounts"]["users"]) == 6


# -- issue 14: unlocking a trade password -----------------------------------------------------------------
def test_accounts_unlock_lifts_a_lock_on_a_running_bank(live):
    user = live.users["ivy"]
    conn = live.bank_ctx.conn()
    with conn:
        conn.execute("INSERT OR REPLACE INTO password_guards (platform_no, user_no, failures, locked_at, updated_at)"
                     " VALUES ('wanxinp2p', ?, 5, '2026-01-05T09:00:00+08:00', '2026-01-05T09:00:00+08:00')", (user,))
    data = json_of(invoke("accounts", "unlock", user, "--bank-url", live.bank_url, "--json"))
    assert data == {"platformNo": "wanxinp2p", "userNo": user, "wasLocked": True, "failures": 5, "locked": False}
    again = invoke("accounts", "unlock", user, "--bank-url", live.bank_url)
    assert again.exit_code == 0 and "was not locked" in again.output


def test_accounts_unlock_of_an_unknown_user_is_one_line_error(live):
    result = invoke("accounts", "unlock", "NOBODY", "--bank-url", live.bank_url)
    assert result.exit_code == 1 and "NOBODY" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("options", [
    ("--bank-url", "http://127.0.0.1:9"),
    ("--platform", "no=acme"),
    ("--platform", "garbage"),
])
def test_scenario_run_with_bad_options_exits_two_not_one_which_means_a_run_failed(tmp_path, options):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "tiny.yaml"), *options)
    assert_one_line_error(result)
    assert result.exit_code == 2


def test_an_unreachable_server_says_why_not_just_the_exception_class():
    url = closed_port_url()
    result = invoke("plans", "show", "bakery", "--platform-url", url)
    assert_one_line_error(result, f"cannot reach {url}/api/projects: connection refused (is it running?)")
    assert "ConnectionError" not in result.stderr


def test_a_url_of_the_wrong_server_says_so_instead_of_the_404_page_text(live):
    swapped = invoke("plans", "show", "bakery", "--platform-url", live.bank_url)
    assert_one_line_error(swapped, f"{live.bank_url}/api/projects: no such route (HTTP 404); is that the right server")
    assert "requested URL was not found" not in swapped.stderr
    other_way = invoke("accounts", "list", "--bank-url", live.platform_url)
    assert_one_line_error(other_way, "no such route (HTTP 404)")


def test_a_url_taken_from_the_environment_is_named_when_its_partner_is_missing(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "tiny.yaml"),
                    env={"WANXIN_BANK_URL": "http://127.0.0.1:9"})
    assert_one_line_error(result, "give both --bank-url and --platform-url, or neither",
                          "; WANXIN_BANK_URL is set in the environment")
    assert result.exit_code == 2


def test_platform_with_a_built_in_scenario_is_a_usage_error_before_anything_runs(tmp_path):
    key = tmp_path / "acme_public.pem"
    key.write_bytes(_public_key_pem())
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "tiny.yaml"), "--platform", f"no=acme,key={key}")
    assert_one_line_error(result, "--platform is for scenarios with platform: external;", "tiny.yaml drive(s)")
    assert result.exit_code == 2 and "▶" not in result.stdout


def _public_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
