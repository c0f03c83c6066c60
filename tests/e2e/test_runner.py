"""The scenario runner end to end: every step kind against live servers, every
validation error before anything runs, failures reported with file and step,
``--keep`` and seeded ids.

Scenarios are small YAML texts written to ``tmp_path`` and run in process
with :func:`scenarios.runner.run_file` (a fresh bank and platform on loopback).
"""
from __future__ import annotations

import re
import sqlite3
import tempfile
import textwrap
from pathlib import Path

import pytest

from scenarios import runner, spec

ACTORS = """\
name: {name}
seed: {seed}
actors:
  bob: {{role: borrower, card_balance: "3000.00"}}
  ivy: {{role: investor, card_balance: "8000.00"}}
  ian: {{role: investor, card_balance: "1000.00"}}
  fans: {{role: investor, card_balance: "300.00", count: 2}}
steps:
"""

# One story that uses every step kind; ``test_the_story_uses_every_step_kind`` keeps it complete.
EVERY_STEP = """\
  - open_account: bob
  - open_account: ivy
  - open_account: ian
  - open_account: fans
  - recharge: {user: bob, amount: "3000.00"}
  - recharge: {user: ivy, amount: "8000.00"}
  - recharge: {user: fans, amount: "200.00"}
  - deposit_card: {user: ian, amount: "50.00"}
  - expect_balance:
      ian: {available: "0.00", card: "1050.00"}
      fans: {available: "200.00", frozen: "0.00", card: "100.00"}
  # 流标: the fans' tenders come back
  - create_project: {name: kiosk, borrower: bob, amount: "1000.00", periods: 1, method: bullet}
  - approve_project: kiosk
  - tender: {user: fans, project: kiosk, amount: "100.00"}
  - expect_balance:
      fans: {available: "100.00", frozen: "100.00"}
  - reject_project: kiosk
  - expect_project: {kiosk: MISCARRY}
  # a refusal that changes nothing, then a lost response the platform recovers
  - create_project: {name: bakery, borrower: bob, amount: "6000.00", periods: 2, method: interest_first,
                     annual_rate: "0.12"}
  - approve_project: bakery
  - expect_error:
      step: {tender: {user: ian, project: bakery, amount: "100.00"}}
      code: BALANCE_NOT_ENOUGH
  - fault: {action: lose_response, service: USER_AUTO_PRE_TRANSACTION, bizType: TENDER, times: -1}
  - fault: {action: reject, code: "00001", service: QUERY_TRANSACTION, times: -1}
  - expect_unknown:
      step: {tender: {user: ivy, project: bakery, amount: "3000.00"}}
  - clear_faults
  - recover
  - tender: {user: ivy, project: bakery, amount: "3000.00"}
  - expect_project: {bakery: FULLY}
  - approve_loan: {project: bakery, commission: "60.00"}
  - expect_balance:
      ivy: {available: "2000.00", frozen: "0.00"}
  - advance_days: 31
  - run_repayments
  - expect_plan: {project: bakery, period: 1, status: PAID}
  # 债权转让: one claim sold, one withdrawn
  - list_claim: {user: ivy, project: bakery, amount: "100.00", name: part}
  - buy_claim: {user: fans1, claim: part}
  - list_claim: {user: ivy, project: bakery, amount: "100.00", name: spare}
  - cancel_claim: {claim: spare}
  - advance_days: 28
  - run_daily
  - expect_plan: {project: bakery, period: 2, status: PAID}
  - expect_project: {bakery: SETTLED}
  - withdraw: {user: ivy, amount: "100.00"}
  # the steps for any platform, here against the built-in platform's own API
  - http:
      method: POST
      url: /api/users/${ian.userNo}/recharges
      json: {amount: "10.00"}
      expect: {status: 200, json: {serviceName: RECHARGE}}
      save: {pay: body}
  - gateway: {request: "${pay}", password: "123456", save: {rno: request_no}}
  - expect_request: {request_no: "${rno}", status: SUCCESS}
  - wait_for_notification: {service: RECHARGE, user: ian}
  - deliver_notifications
  - expect_notifications: {pending: 0, dead: 0}
  - expect_ledger_sound
  - expect_reconciled: true
"""


def scenario(tmp_path: Path, steps: str, *, name: str = "story", seed: int = 1, file: str = "story.yaml") -> Path:
    path = tmp_path / file
    path.write_text(ACTORS.format(name=name, seed=seed) + textwrap.indent(textwrap.dedent(steps), "  "),
                    encoding="utf-8")
    return path


def run(path: Path, **kw) -> tuple[runner.RunResult, list[str]]:
    lines: list[str] = []
    return runner.run_file(path, echo=lines.append, **kw), lines


def step_names(steps: list[spec.Step]) -> set[str]:
    names = set()
    for step in steps:
        names.add(step.name)
        if step.name in ("expect_error", "expect_unknown"):
            names.add(step.arg["step"].name)
    return names


# -- every step kind ------------------------------------------------------------
def test_the_story_uses_every_step_kind(tmp_path):
    story = spec.load(scenario(tmp_path, textwrap.dedent(EVERY_STEP)))
    assert step_names(story.steps) == set(spec.STEPS)


def test_every_step_kind_runs_and_passes_against_live_servers(tmp_path):
    path = scenario(tmp_path, textwrap.dedent(EVERY_STEP))
    result, lines = run(path)
    failed = [line for line in lines if "✗" in line]
    assert result.ok, "\n".join(failed or lines)
    assert len(result.steps) == len(spec.load(path).steps)
    assert all(s.ok for s in result.steps)
    assert lines[0].startswith("▶ story")
    assert re.search(r"PASSED: \d+ step\(s\) passed, 0 failed", lines[-1])


def test_each_step_prints_one_progress_line_with_its_number(tmp_path):
    path = scenario(tmp_path, """\
        - open_account: ivy
        - recharge: {user: ivy, amount: "10.00"}
        - expect_balance: {ivy: {available: "10.00"}}
    """)
    result, lines = run(path)
    assert result.ok
    progress = lines[1:-1]
    assert [re.match(r"\s*(\d+)/3 ✓ (\w+)", line).groups() for line in progress] == [
        ("1", "open_account"), ("2", "recharge"), ("3", "expect_balance")]


def test_a_group_name_stands_for_each_of_its_members(tmp_path):
    path = scenario(tmp_path, """\
        - open_account: fans
        - recharge: {user: fans, amount: "120.00"}
        - expect_balance: {fans: {available: "120.00", card: "180.00"}}
    """)
    captured = {}
    result, lines = run(path, after=lambda r: captured.update(r.users))
    assert result.ok, "\n".join(lines)
    assert lines[-2].endswith("2 account(s) as expected")
    assert {"fans1", "fans2"} <= set(captured)


def _count_calls(monkeypatch) -> list[tuple[str, str, object]]:
    """Every request the runner sends through its clients, as (method, path, json)."""
    calls: list[tuple[str, str, object]] = []
    original = runner.Runner._call

    def counting(client, method, path, **kw):
        calls.append((method, path, kw.get("json")))
        return original(client, method, path, **kw)

    monkeypatch.setattr(runner.Runner, "_call", staticmethod(counting))
    return calls


def test_advance_days_moves_each_clock_once_and_both_land_on_the_day(tmp_path, monkeypatch):
    calls = _count_calls(monkeypatch)
    path = scenario(tmp_path, """\
        - advance_days: 31
    """)
    clocks = {}
    result, lines = run(path, after=lambda r: clocks.update(bank=r.sandbox.bank_ctx.clock.now(),
                                                            platform=r.sandbox.platform_ctx.clock.now()))
    assert result.ok, "\n".join(lines)
    moves = [json for method, where, json in calls if (method, where) == ("POST", "/sim/clock")]
    assert moves == [{"advance_seconds": 31 * 86400}] * 2  # the bank's and the platform's, once each
    assert clocks["bank"].isoformat()[:19] == clocks["platform"].isoformat()[:19] == "2026-02-05T09:00:00"
    assert lines[1].endswith("31 day(s) → 2026-02-05")


def test_in_process_the_actors_cards_and_users_are_made_without_a_request_per_actor(tmp_path, monkeypatch):
    calls = _count_calls(monkeypatch)
    path = scenario(tmp_path, """\
        - open_account: fans
        - recharge: {user: fans, amount: "100.00"}
        - expect_balance: {fans: {available: "100.00", card: "200.00"}}
    """)
    result, lines = run(path)
    assert result.ok, "\n".join(lines)  # the bank knew every card, the platform every user
    assert not [c for c in calls if c[1] in ("/sim/bank-cards", "/api/users")]


def test_a_large_group_is_checked_from_one_listing_and_each_member_is_still_named(tmp_path):
    count = runner.GROUP_LISTING + 5
    path = tmp_path / "crowd.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: crowd
        actors:
          crowd: {{role: investor, card_balance: "10.00", count: {count}}}
        steps:
          - open_account: crowd
          - recharge: {{user: crowd{count}, amount: "1.00"}}
          - expect_balance: {{crowd: {{available: "0.00", card: "10.00"}}}}
    """), encoding="utf-8")
    result, lines = run(path, keep_going=True)
    assert [s.ok for s in result.steps] == [True, True, False]
    assert result.steps[-1].detail == (f"crowd{count}.available expected 0.00, actual 1.00;"
                                       f" crowd{count}.card expected 10.00, actual 9.00")


# -- validation: the file is refused before anything runs -------------------------
PRELUDE = """\
- open_account: bob
- create_project: {name: p, borrower: bob, amount: "1000.00", periods: 1, method: bullet}
"""

BAD_STEPS = [
    ("unknown step", "- fly: bob", "unknown step 'fly'"),
    ("unknown key", '- recharge: {user: ivy, amount: "1.00", colour: red}', "unknown key(s) colour"),
    ("too many decimals", '- recharge: {user: ivy, amount: "1.234"}', "bad amount '1.234' for amount"),
    ("negative amount", '- tender: {user: ivy, project: p, amount: "-5"}', "bad amount '-5' for amount"),
    ("amount in an expectation", '- expect_balance: {ivy: {available: "abc"}}', "bad amount 'abc'"),
    ("unknown actor", "- open_account: zed", "unknown actor 'zed'"),
    ("unknown actor in an expectation", '- expect_balance: {zed: {available: "1.00"}}', "unknown actor 'zed'"),
    ("unknown project", "- approve_project: nowhere", "unknown project 'nowhere'"),
    ("borrower tendering", '- tender: {user: bob, project: p, amount: "100.00"}', "bob is not an investor"),
    ("investor borrowing",
     '- create_project: {name: q, borrower: ivy, amount: "100.00", periods: 1, method: bullet}',
     "ivy is not a borrower"),
    ("a group member with the wrong role", '- create_project: {name: q, borrower: fans, amount: "100.00",'
     ' periods: 1, method: bullet}', "fans1 is not a borrower"),
    ("bad method", '- create_project: {name: q, borrower: bob, amount: "100.00", periods: 1, method: annuity}',
     "method must be one of equal_installment, equal_principal, interest_first, bullet"),
    ("missing key", "- recharge: {user: ivy}", "missing key(s) amount"),
    ("bad fault action", "- fault: {action: explode}", "action must be one of"),
    ("bad fault key", "- fault: {action: reject, colour: red}", "unknown key(s) colour"),
    ("fault probability without seed", "- fault: {action: reject, probability: 0.5}", "probability needs a seed"),
    ("expect_error around an expectation", "- expect_error: {step: expect_ledger_sound}",
     "the wrapped step must be an action, not expect_ledger_sound"),
    ("an invalid wrapped step", '- expect_error: {step: {recharge: {user: zed, amount: "1.00"}}}',
     "unknown actor 'zed'"),
    ("days that are not a number", "- advance_days: soon", "needs a whole number of days"),
]


@pytest.mark.parametrize("bad, problem", [(b, p) for _, b, p in BAD_STEPS], ids=[i for i, _, _ in BAD_STEPS])
def test_a_bad_step_is_refused_naming_file_step_and_problem_and_nothing_runs(tmp_path, bad, problem):
    path = scenario(tmp_path, PRELUDE + bad + "\n- expect_ledger_sound\n")
    lines: list[str] = []
    keep = tmp_path / "keep"
    with pytest.raises(spec.ScenarioError) as caught:
        runner.run_file(path, echo=lines.append, keep=keep)
    message = str(caught.value)
    assert message.startswith(f"{path}: step 3 ")
    assert "line 11" in message  # the bad step's line in the file
    assert problem in message
    assert "\n" not in message
    assert lines == [] and not keep.exists()  # no server started, no database written


@pytest.mark.parametrize("text, problem", [
    ("name: x\nactors: {ivy: {role: investor}}\nsteps: [open_account: ivy]\ncolour: red\n", "unknown top-level key"),
    ("actors: {ivy: {role: investor}}\nsteps: [open_account: ivy]\n", "name is required"),
    ("name: x\nactors: {ivy: {role: banker}}\nsteps: [open_account: ivy]\n", "role must be borrower or investor"),
    ("name: x\nactors: {ivy: {role: investor, card_balance: '1.001'}}\nsteps: [open_account: ivy]\n",
     "bad amount '1.001' for card_balance"),
    ("name: x\nactors: {ivy: {role: investor, count: 0}}\nsteps: [open_account: ivy]\n", "count must be"),
    ("name: x\nconfig: {min_tender: '-1'}\nactors: {ivy: {role: investor}}\nsteps: [open_account: ivy]\n",
     "bad amount '-1' for min_tender"),
    ("name: x\nconfig: {tax: '0.1'}\nactors: {ivy: {role: investor}}\nsteps: [open_account: ivy]\n",
     "unknown config key 'tax'"),
    ("name: x\nactors: {ivy: {role: investor}}\nsteps: []\n", "steps must be a non-empty list"),
    ("name: x\nactors: [ivy\n", "not valid YAML"),
], ids=["top-level key", "no name", "role", "card balance", "group count", "config amount", "config key",
        "no steps", "yaml"])
def test_a_bad_file_is_refused_naming_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(spec.ScenarioError) as caught:
        spec.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_every_shipped_scenario_validates():
    files = sorted(Path(spec.__file__).parent.glob("*.yaml"))
    assert len(files) >= 15
    for path in files:
        spec.load(path)


# -- failures ------------------------------------------------------------------
FAILING = """\
- open_account: ivy
- recharge: {user: ivy, amount: "100.00"}
- expect_balance: {ivy: {available: "99.00", card: "7900.00"}}
- expect_ledger_sound
"""


def test_a_failing_expectation_names_file_step_expected_and_actual_and_stops_the_run(tmp_path):
    path = scenario(tmp_path, FAILING)
    result, lines = run(path)
    assert not result.ok
    assert [s.ok for s in result.steps] == [True, True, False]  # step 4 never ran
    failure = result.steps[-1]
    assert (failure.number, failure.name) == (3, "expect_balance")
    assert failure.detail == "ivy.available expected 99.00, actual 100.00"  # the card matched
    line = next(line for line in lines if "✗" in line)
    assert "ivy.available expected 99.00, actual 100.00" in line
    assert f"[{path}: step 3 (expect_balance, line 11)]" in line
    assert "FAILED: 2 step(s) passed, 1 failed" in lines[-1]


def test_keep_going_runs_the_steps_after_a_failure_and_still_fails(tmp_path):
    path = scenario(tmp_path, FAILING)
    result, lines = run(path, keep_going=True)
    assert not result.ok
    assert [s.ok for s in result.steps] == [True, True, False, True]
    assert "FAILED: 3 step(s) passed, 1 failed" in lines[-1]


def test_an_action_that_fails_reports_the_code_and_stops(tmp_path):
    path = scenario(tmp_path, """\
        - open_account: ivy
        - withdraw: {user: ivy, amount: "1.00"}
        - expect_ledger_sound
    """)
    result, lines = run(path)
    assert not result.ok and len(result.steps) == 2
    assert result.steps[-1].detail.startswith("failed with ")
    assert f"[{path}: step 2 (withdraw, line 10)]" in lines[-2]


def test_expect_error_fails_when_the_wrapped_step_succeeds(tmp_path):
    path = scenario(tmp_path, """\
        - open_account: ivy
        - expect_error:
            step: {recharge: {user: ivy, amount: "1.00"}}
    """)
    result, _ = run(path)
    assert not result.ok
    assert result.steps[-1].detail == "recharge succeeded, expected an error"


def test_expect_error_fails_when_the_code_differs(tmp_path):
    path = scenario(tmp_path, """\
        - open_account: ivy
        - expect_error:
            step: {withdraw: {user: ivy, amount: "1.00"}}
            code: PROJECT_STATUS
    """)
    result, _ = run(path)
    assert not result.ok
    assert "expected code PROJECT_STATUS" in result.steps[-1].detail


def test_expect_reconciled_with_breaks_fails_when_the_day_is_clean(tmp_path):
    path = scenario(tmp_path, """\
        - open_account: ivy
        - expect_reconciled:
            breaks: [{kind: balance_mismatch, user: ivy}]
    """)
    result, _ = run(path)
    assert not result.ok
    assert result.steps[-1].detail.startswith("expected breaks [balance_mismatch@ivy], found none")


# -- keep and seed ---------------------------------------------------------------
def test_keep_leaves_both_sqlite_databases_for_inspection(tmp_path):
    path = scenario(tmp_path, """\
        - open_account: ivy
        - recharge: {user: ivy, amount: "25.00"}
    """)
    keep = tmp_path / "keep"
    result, _ = run(path, keep=keep)
    assert result.ok
    kept = keep / "story"
    assert {"bank.sqlite", "platform.sqlite"} <= {p.name for p in kept.iterdir()}
    with sqlite3.connect(kept / "bank.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1
    with sqlite3.connect(kept / "platform.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM users WHERE status = 'OPEN'").fetchone()[0] == 1


def test_keep_refuses_a_directory_that_already_holds_a_run(tmp_path):
    path = scenario(tmp_path, "- open_account: ivy\n")
    keep = tmp_path / "keep"
    assert run(path, keep=keep)[0].ok
    with pytest.raises(spec.ScenarioError, match="not empty"):
        run(path, keep=keep)


def test_without_keep_nothing_is_left_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)
    path = scenario(tmp_path, "- open_account: ivy\n")
    assert run(path)[0].ok
    assert list((tmp_path / "tmp").iterdir()) == []


SEEDED = """\
- open_account: bob
- open_account: fans
- create_project: {name: p, borrower: bob, amount: "1000.00", periods: 1, method: bullet}
"""


def ids_of(path: Path) -> dict:
    seen = {}
    result, lines = run(path, after=lambda r: seen.update(users=dict(r.users), projects=dict(r.projects)))
    assert result.ok, "\n".join(lines)
    return seen


def test_the_same_seed_reproduces_every_user_and_project_number(tmp_path):
    first = ids_of(scenario(tmp_path, SEEDED, seed=42, file="a.yaml"))
    second = ids_of(scenario(tmp_path, SEEDED, seed=42, file="b.yaml"))
    assert first == second
    assert set(first["users"]) == {"bob", "ivy", "ian", "fans1", "fans2"} and first["projects"]["p"]


def test_a_different_seed_gives_different_numbers(tmp_path):
    first = ids_of(scenario(tmp_path, SEEDED, seed=42, file="a.yaml"))
    other = ids_of(scenario(tmp_path, SEEDED, seed=43, file="b.yaml"))
    assert set(first["users"].values()).isdisjoint(other["users"].values())
    assert first["projects"] != other["projects"]


def test_a_claim_step_naming_an_actor_group_is_refused_before_anything_runs(tmp_path):
    path = tmp_path / "group_claim.yaml"
    path.write_text(
        "name: group claim\n"
        "actors:\n"
        "  bob: {role: borrower, card_balance: '0.00'}\n"
        "  fans: {role: investor, card_balance: '100.00', count: 3}\n"
        "steps:\n"
        "  - create_project: {name: p, borrower: bob, amount: '300.00', periods: 1, method: bullet}\n"
        "  - list_claim: {user: fans, project: p, amount: '10.00', name: c}\n", encoding="utf-8")
    with pytest.raises(spec.ScenarioError, match=r"step 2 .*not the group 'fans'"):
        spec.load(path)
