"""Issue 12, "Seeing what happened" and the exit codes: what ``wanxin scenario run``
and ``validate`` print and how they exit.

Exit 2 for an invalid file (every problem of every file reported before anything
runs), 1 for a failed run, 0 when all passed; ``-v`` prints every HTTP exchange
under its step and ``-vv`` their bodies; ✓/PASSED are green and ✗/FAILED red on
a terminal only, never with ``NO_COLOR`` or in ``--json``; ``--version``.
"""
from __future__ import annotations

import configparser
import json
import re
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from scenarios import exchanges
from tests.test_cli import FAILING, TINY, scenario_file

ANSI = "\x1b["
GREEN_TICK = "\x1b[32m✓\x1b[0m"


def invoke(*args, color: bool = False, env: dict | None = None):
    env = {"WANXIN_BANK_URL": None, "WANXIN_PLATFORM_URL": None, "WANXIN_SIM_TOKEN": None, "NO_COLOR": None,
           **(env or {})}
    try:
        runner = CliRunner(env=env, mix_stderr=False)  # click 8.1
    except TypeError:  # click >= 8.2 keeps stderr apart
        runner = CliRunner(env=env)
    return runner.invoke(cli.main, [str(a) for a in args], color=color)


# -- exit codes ----------------------------------------------------------------------------
def test_validate_reports_a_missing_file_bad_yaml_and_an_invalid_scenario_in_one_pass_and_exits_two(tmp_path):
    good = scenario_file(tmp_path, TINY, "good.yaml")
    missing = tmp_path / "missing.yaml"
    broken = scenario_file(tmp_path, "name: [unclosed\n", "broken.yaml")
    invalid = scenario_file(tmp_path, TINY.replace("open_account: ivy", "open_acount: ivy"), "invalid.yaml")
    result = invoke("scenario", "validate", missing, good, broken, invalid)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"✗ {missing}: cannot read: No such file or directory"
    assert lines[1].startswith(f"✗ {broken}: not valid YAML")
    assert any(line.startswith(f"✗ {invalid}: step 2") and "did you mean 'open_account'" in line for line in lines)
    assert result.stdout == f"✓ {good}: tiny (7 steps, 2 actors)\n"


def test_validate_exits_zero_when_every_file_is_valid(tmp_path):
    assert invoke("scenario", "validate", scenario_file(tmp_path, TINY, "a.yaml"),
                  scenario_file(tmp_path, TINY, "b.yaml")).exit_code == 0


def test_run_with_one_invalid_file_among_valid_ones_runs_nothing_and_exits_two(tmp_path):
    good = scenario_file(tmp_path, TINY, "good.yaml")
    bad = scenario_file(tmp_path, TINY.replace('"1200.00"}', "1200}"), "bad.yaml")
    result = invoke("scenario", "run", good, bad, tmp_path / "gone.yaml")
    assert result.exit_code == 2
    assert "▶" not in result.stdout  # not even the valid file ran
    assert 'quote amounts: "1200.00"' in result.stderr
    assert f"✗ {tmp_path / 'gone.yaml'}: cannot read" in result.stderr
    assert result.stdout.strip() == "2 of 3 scenario file(s) invalid; nothing ran"


def test_run_json_of_an_invalid_file_exits_two_with_the_problem_in_the_document(tmp_path):
    bad = scenario_file(tmp_path, TINY.replace("open_account: ivy", "open_account: zed"), "bad.yaml")
    result = invoke("scenario", "run", bad, "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert [(s["file"], s["ok"]) for s in data["scenarios"]] == [(str(bad), False)]
    assert "unknown actor 'zed'" in data["scenarios"][0]["error"]
    assert result.stderr == ""


def test_a_failed_run_exits_one_and_a_passing_one_zero(tmp_path):
    assert invoke("scenario", "run", scenario_file(tmp_path, FAILING, "f.yaml")).exit_code == 1
    assert invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml")).exit_code == 0


@pytest.mark.parametrize("command", ["run", "validate"])
def test_the_help_says_what_the_exit_codes_mean(command):
    text = " ".join(invoke("scenario", command, "--help").stdout.split())
    assert "2 when a file is invalid" in text or "2 when any is invalid" in text
    assert "0 when every" in text
    if command == "run":
        assert "1 when a run failed" in text


# -- -v and -vv ----------------------------------------------------------------------------
def step_block(stdout: str, number: int) -> list[str]:
    """The lines printed under step ``number`` (up to the next step line or the verdict)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"\s+{number}/\d+ ", line))
    block = []
    for line in lines[start + 1:]:
        if re.match(r"\s+\d+/\d+ ", line) or line.strip().startswith(("PASSED", "FAILED")):
            break
        block.append(line)
    return block


EXCHANGE = r"\s{8}(\[[^\]]+\] )?(GET|POST|DELETE) http://127\.0\.0\.1:\d+/\S+( [A-Z_]+)? → \d{3} \(\d+ ms\)$"


def test_v_prints_every_http_exchange_indented_under_its_step(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml"), "-v")
    assert result.exit_code == 0, result.output
    tender = step_block(result.stdout, 6)
    assert tender and all(re.match(EXCHANGE, line) for line in tender), tender
    assert any(re.search(r"^\s{8}POST http://127\.0\.0\.1:\d+/api/projects/PRO_\w+/tenders → 201 \(\d+ ms\)$", line)
               for line in tender), tender
    # in process, the platform's own signed calls to the bank are shown too, marked as such
    assert any("[platform → bank] POST" in line and "/service USER_AUTO_PRE_TRANSACTION → 200" in line
               for line in tender), tender
    # and the bank's notification that a gateway step waits for
    recharge = step_block(result.stdout, 3)
    assert any("[bank → platform] POST" in line and "/notify RECHARGE → 200" in line for line in recharge), recharge
    assert any(re.search(r"GET http://127\.0\.0\.1:\d+/gateway\?… RECHARGE → 200", line) for line in recharge)
    assert not any(line.strip().startswith((">", "<")) for line in result.stdout.splitlines())  # no bodies at -v


def test_without_v_no_exchange_is_printed(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml"))
    assert result.exit_code == 0
    assert "http://127.0.0.1" not in result.stdout
    assert step_block(result.stdout, 6) == []


def test_vv_adds_the_request_and_response_bodies(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml"), "-vv")
    assert result.exit_code == 0, result.output
    tender = step_block(result.stdout, 6)
    at = next(i for i, line in enumerate(tender) if "/tenders → 201" in line)
    sent, answered = json.loads(tender[at + 1].split("> ", 1)[1]), json.loads(tender[at + 2].split("< ", 1)[1])
    assert sent["amount"] == "1200.00" and answered["amount"] == "1200.00" and answered["status"] == "FROZEN"
    # a signed envelope shows its decoded business payload, not Base64
    freeze = next(i for i, line in enumerate(tender) if "USER_AUTO_PRE_TRANSACTION → 200" in line)
    assert tender[freeze + 1].strip().startswith('> reqData {"requestNo":')
    assert '"bizType":"TENDER"' in tender[freeze + 1]


def test_vv_never_prints_the_trade_password_a_gateway_form_posts(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml"), "-vv")
    assert result.exit_code == 0, result.output
    posted = [line for line in result.stdout.splitlines() if "> " in line and "password=" in line]
    assert posted and all("password=%2A%2A%2A" in line for line in posted), posted
    assert "135790" not in result.stdout


def test_vv_truncates_a_body_after_two_kilobytes():
    text = exchanges._truncate(("页" * 1000).encode("utf-8"))  # 3000 bytes
    assert text.endswith(" … (952 more bytes)")
    assert len(text.split(" … ")[0].encode("utf-8")) <= exchanges.BODY_LIMIT
    assert exchanges._truncate(b'{"a": 1}') == '{"a": 1}'


def test_a_failed_step_still_shows_the_exchanges_behind_it(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, FAILING, "f.yaml"), "-v")
    assert result.exit_code == 1
    block = step_block(result.stdout, 7)
    assert any(re.search(r"GET http://127\.0\.0\.1:\d+/sim/accounts/USR_\w+ → 200", line) for line in block), block


def test_v_with_json_prints_only_the_json_document(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml"), "-vv", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True


# -- colour ----------------------------------------------------------------------------------
def test_marks_and_verdicts_are_coloured_on_a_terminal(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, FAILING, "f.yaml"), color=True)
    assert result.exit_code == 1
    assert f"1/7 {GREEN_TICK} open_account" in result.stdout
    assert "7/7 \x1b[31m\x1b[1m✗\x1b[0m expect_balance" in result.stdout
    assert "\x1b[31m\x1b[1mFAILED\x1b[0m: 6 step(s) passed, 1 failed" in result.stdout
    passed = invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml"), color=True)
    assert "\x1b[32mPASSED\x1b[0m: 7 step(s) passed" in passed.stdout


def test_validate_colours_its_marks_on_a_terminal(tmp_path):
    bad = scenario_file(tmp_path, TINY.replace("open_account: ivy", "open_account: zed"), "bad.yaml")
    result = invoke("scenario", "validate", scenario_file(tmp_path, TINY, "good.yaml"), bad, color=True)
    assert result.stdout.startswith(GREEN_TICK + " ")
    assert result.stderr.startswith("\x1b[31m\x1b[1m✗\x1b[0m ")


def test_no_colour_when_stdout_is_not_a_terminal(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, FAILING, "f.yaml"))
    assert ANSI not in result.stdout and ANSI not in result.stderr
    assert "7/7 ✗ expect_balance" in result.stdout


@pytest.mark.parametrize("value", ["1", "yes", "0"])  # any non-empty value (no-color.org)
def test_no_colour_on_a_terminal_when_no_color_is_set(tmp_path, value):
    result = invoke("scenario", "run", scenario_file(tmp_path, FAILING, "f.yaml"), color=True,
                    env={"NO_COLOR": value})
    assert result.exit_code == 1
    assert ANSI not in result.stdout and ANSI not in result.stderr
    assert "1/7 ✓ open_account" in result.stdout


def test_an_empty_no_color_does_not_turn_colour_off(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml"), color=True, env={"NO_COLOR": ""})
    assert GREEN_TICK in result.stdout


def test_json_output_is_never_coloured(tmp_path):
    result = invoke("scenario", "run", scenario_file(tmp_path, FAILING, "f.yaml"), "--json", color=True)
    assert result.exit_code == 1
    assert ANSI not in result.stdout
    json.loads(result.stdout)


# -- --version -------------------------------------------------------------------------------
def test_version_prints_the_installed_package_version():
    try:
        installed = metadata.version("wanxin-sandbox")
    except metadata.PackageNotFoundError:
        pytest.skip("wanxin-sandbox is not installed here (the fallback has its own test)")
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"wanxin {installed}\n"


def test_version_falls_back_to_setup_cfg_when_the_package_is_not_installed(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    cfg = configparser.ConfigParser()
    cfg.read(Path(cli.__file__).with_name("setup.cfg"), encoding="utf-8")
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"wanxin {cfg['metadata']['version']} (not installed)\n"


def test_v_against_served_apps_shows_the_runners_exchanges_and_the_notification_dispatch(tmp_path):
    from scenarios.harness import Sandbox

    with Sandbox(tmp_path / "sandbox", seed=3) as sb:
        result = invoke("scenario", "run", scenario_file(tmp_path, TINY, "t.yaml"), "-v", "--bank-url", sb.bank_url,
                        "--platform-url", sb.platform_url, env={"WANXIN_SIM_TOKEN": sb.sim_token})
    assert result.exit_code == 0, result.output
    recharge = step_block(result.stdout, 3)
    assert any(re.search(rf"^\s{{8}}POST {re.escape(sb.bank_url)}/sim/notifications/dispatch → 200 \(\d+ ms\)$", line)
               for line in recharge), recharge
    assert not any("[platform → bank]" in line or "[bank → platform]" in line for line in result.stdout.splitlines())


def test_help_run_as_python_m_cli_names_a_command_one_can_type():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "cli", "scenario", "run", "--help"], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: python -m cli scenario run [OPTIONS] FILES...")
    bad = subprocess.run([sys.executable, "-m", "cli", "scenario", "run"], cwd=root,
                         capture_output=True, text=True, timeout=60)
    assert "Try 'python -m cli scenario run --help' for help." in bad.stderr


def test_a_file_that_is_not_utf8_or_not_yaml_is_one_line_each_not_a_traceback(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    broken = scenario_file(tmp_path, "name: x\nsteps: [\n", "broken.yaml")
    result = invoke("scenario", "validate", latin, broken)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.splitlines() == [
        f"✗ {latin}: not UTF-8 text (byte 0xe9 at offset 9); save the file as UTF-8",
        f"✗ {broken}: not valid YAML: while parsing a flow node, expected the node content, but found"
        " '<stream end>' (line 3, column 1)"]


def test_every_option_read_from_the_environment_says_which_variable_in_its_help():
    import click

    def commands(cmd, path):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from commands(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    silent = [(path, p.name) for path, cmd in commands(cli.main, []) for p in cmd.params
              if getattr(p, "envvar", None) and f"env {p.envvar}" not in (p.help or "")]
    assert silent == []


def test_validate_counts_one_step_and_one_actor_in_the_singular(tmp_path):
    text = "name: one\nactors: {ivy: {role: investor}}\nsteps: [open_account: ivy]\n"
    one = scenario_file(tmp_path, text, "one.yaml")
    result = invoke("scenario", "validate", one)
    assert result.stdout == f"✓ {one}: one (1 step, 1 actor)\n"


def test_a_var_no_file_declares_or_uses_is_warned_about_with_a_suggestion(tmp_path):
    text = ('name: v\nplatform: external\nvars: {own: "http://127.0.0.1:9"}\n'
            'steps:\n  - http: {method: GET, url: "${own}/x"}\n')
    path = scenario_file(tmp_path, text, "v.yaml")
    typo = invoke("scenario", "validate", path, "--var", "onw=http://127.0.0.1:1", "--var", "own=http://127.0.0.1:2")
    assert typo.exit_code == 0
    assert typo.stderr == "warning: --var onw: no scenario file given declares or uses it (did you mean 'own'?)\n"
    assert invoke("scenario", "validate", path, "--var", "own=http://127.0.0.1:2").stderr == ""
