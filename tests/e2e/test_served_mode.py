"""Scenario runs against servers started elsewhere (``--bank-url`` / ``--platform-url``): the scenario's
config applied and put back or the run refused naming the difference, ``start:`` and the calendar, only
the run's own notifications, breaks and balances counted, its fault rules removed pass or fail, and a
failed setup undone.

The "servers started elsewhere" are an in-process pair on loopback reached only by URL (a ``Runner``
without a sandbox), so these run in seconds; ``tests/e2e/test_served_pair.py`` serves real processes.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import requests

from bank_depository.client import SimClient
from scenarios import runner, spec
from scenarios.harness import Sandbox

TWO = """\
name: {name}
seed: 3
{top}actors:
  bob: {{role: borrower, card_balance: "0.00"}}
  ivy: {{role: investor, card_balance: "5000.00"}}
steps:
"""


@pytest.fixture
def pair(tmp_path):
    with Sandbox(tmp_path / "pair") as sb:
        yield sb


def write(tmp_path: Path, steps: str, *, top: str = "", name: str = "s") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(TWO.format(name=name, top=top) + textwrap.indent(textwrap.dedent(steps), "  "),
                    encoding="utf-8")
    return path


def served_run(sb: Sandbox, path: Path, tag: int, platform_url: str = "") -> tuple[runner.RunResult, list[str],
                                                                                     runner.Runner]:
    lines: list[str] = []
    r = runner.Runner(spec.load(path), bank_url=sb.bank_url, platform_url=platform_url or sb.platform_url,
                      echo=lines.append, run_tag=tag, sim_token=sb.sim_token)
    return r.run(), lines, r


def sim(sb: Sandbox, url: str) -> SimClient:
    return SimClient(url, sb.sim_token, session=requests.Session(), timeout=30)


STARTED = {"borrowerCommissionRate": "0.02", "investorCommissionRate": "0.03", "minTender": "100.00",
           "withdrawCommission": "0.00", "dailyJob": "auto"}


# -- config ---------------------------------------------------------------------
def test_the_scenarios_config_is_applied_to_the_served_platform_and_put_back_after(pair, tmp_path):
    path = write(tmp_path, """\
        - open_account: ivy
        - recharge: {user: ivy, amount: "500.00"}
        - withdraw: {user: ivy, amount: "100.00"}
        - expect_balance:
            ivy: {available: "400.00", card: "4599.00"}
        - http: {method: GET, url: /sim/config,
                 expect: {json: {config: {withdrawCommission: "1.00", dailyJob: manual}}}}
        """, top='config: {withdraw_commission: "1.00"}\n')
    result, lines, _ = served_run(pair, path, 11)
    assert result.ok, lines
    assert "  config applied to the served platform: withdraw_commission: served 0.00, scenario 1.00" in lines
    assert sim(pair, pair.platform_url).request("GET", "/sim/config")["config"] == STARTED


def test_a_config_the_platform_refuses_stops_the_run_before_any_step_naming_the_difference(pair, tmp_path):
    path = write(tmp_path, "- open_account: ivy\n", top='config: {min_tender: "0.00"}\n')
    result, lines, _ = served_run(pair, path, 12)
    assert not result.ok and result.steps == []
    assert "min_tender: served 100.00, scenario 0.00" in result.error and "minTender" in result.error
    assert sim(pair, pair.bank_url).request("GET", "/sim/accounts")["cards"] == []  # nothing was created
    assert sim(pair, pair.platform_url).request("GET", "/sim/config")["config"] == STARTED


def test_a_platform_without_a_config_endpoint_stops_the_run_naming_every_key(pair, tmp_path):
    path = write(tmp_path, "- open_account: ivy\n")
    result, _, _ = served_run(pair, path, 13, platform_url=pair.bank_url)  # a server that is no such platform
    assert not result.ok and result.steps == []
    assert "GET /sim/config" in result.error
    assert "withdraw_commission: served ?, scenario 0.00" in result.error


def test_a_scenario_on_another_wire_than_the_served_banks_stops_before_any_step_naming_both(pair, tmp_path):
    path = write(tmp_path, "- open_account: ivy\n", top="profile: legacy\n")
    result, _, _ = served_run(pair, path, 14)
    assert not result.ok and result.steps == []
    assert ("the scenario runs on the legacy wire (profile: legacy) but the served bank speaks modern to"
            " wanxinp2p (modern): serve the bank with --profile legacy and the platform with --bank-profile legacy"
            ) in result.error
    assert sim(pair, pair.bank_url).request("GET", "/sim/accounts")["cards"] == []  # nothing was created


# -- start: and the calendar ------------------------------------------------------
def clocks(sb: Sandbox) -> tuple[str, str]:
    return (sim(sb, sb.bank_url).request("GET", "/sim/clock")["now"][:19],
            sim(sb, sb.platform_url).request("GET", "/sim/clock")["now"][:19])


def test_start_sets_both_clocks_and_a_rerun_once_they_passed_it_is_refused_naming_why(pair, tmp_path):
    path = write(tmp_path, "- open_account: ivy\n- advance_days: 1\n", top="start: 2026-03-01\n")
    first, lines, _ = served_run(pair, path, 21)
    assert first.ok, lines
    assert clocks(pair) == ("2026-03-02T09:00:00", "2026-03-02T09:00:00")
    again, _, _ = served_run(pair, path, 22)
    assert not again.ok and again.steps == []
    assert "start: 2026-03-01T09:00:00+08:00 is before the bank's clock (2026-03-02T09:00:00" in again.error
    assert "never goes back" in again.error
    cards = sim(pair, pair.bank_url).request("GET", "/sim/accounts")["cards"]
    assert len(cards) == 2  # the refused run registered nothing


def test_start_in_process_starts_both_clocks_there(tmp_path):
    path = write(tmp_path, "- open_account: ivy\n", top="start: 2026-07-01T10:30:00\n")
    seen = {}
    result = runner.run_file(path, echo=lambda _line: None, after=lambda r: seen.update(
        bank=r.bank("GET", "/sim/clock")["now"], platform=r.platform("GET", "/sim/clock")["now"]))
    assert result.ok
    assert seen["bank"].startswith("2026-07-01T10:30:00") and seen["platform"].startswith("2026-07-01T10:30:00")


def test_without_start_a_run_that_moves_the_clock_begins_on_the_next_date_with_the_same_calendar(pair, tmp_path):
    away = write(tmp_path, "- advance_days: 40\n", name="away")
    assert served_run(pair, away, 31)[0].ok
    assert clocks(pair)[0] == "2026-02-14T09:00:00"
    month = write(tmp_path, "- open_account: ivy\n- advance_days: 31\n", name="month")
    result, lines, _ = served_run(pair, month, 32)
    assert result.ok, lines
    # 5 January + 31 days ends in a 28-day February: the next such 5th is 5 January 2027
    assert "  clocks set to 2027-01-05T09:00:00+08:00 (the calendar of 2026-01-05)" in lines
    assert clocks(pair) == ("2027-02-05T09:00:00", "2027-02-05T09:00:00")


def test_a_run_that_never_moves_the_clock_leaves_the_clocks_alone(pair, tmp_path):
    before = clocks(pair)
    assert served_run(pair, write(tmp_path, "- open_account: ivy\n"), 33)[0].ok
    assert clocks(pair) == before


# -- fault rules and setup --------------------------------------------------------
def test_the_runs_fault_rules_are_removed_when_it_fails_and_other_rules_stay(pair, tmp_path):
    bank = sim(pair, pair.bank_url)
    foreign = bank.request("POST", "/sim/faults", json={"action": "delay_notification", "seconds": 5,
                                                        "service": "WITHDRAW"})
    path = write(tmp_path, """\
        - fault: {action: reject, code: "00001", service: QUERY_TRANSACTION, times: -1}
        - clear_faults
        - fault: {action: reject, code: "00001", service: CONFIRM_LOAN, times: -1}
        - open_account: ivy
        - expect_balance:
            ivy: {available: "1.00"}
        """)
    result, lines, _ = served_run(pair, path, 41)
    assert not result.ok and "ivy.available expected 1.00, actual 0.00" in result.steps[-1].detail
    assert "cleared 1" in lines[1]
    assert [r["id"] for r in bank.request("GET", "/sim/faults")["rules"]] == [foreign["id"]]


def test_a_failed_setup_removes_the_cards_and_platform_users_it_created(pair, tmp_path):
    path = write(tmp_path, "- open_account: ivy\n")
    taken = runner.identity(2, 51)  # ivy's card, registered by someone else first
    bank = sim(pair, pair.bank_url)
    bank.request("POST", "/sim/bank-cards", json={"fullname": "别人", **taken, "balance": "1.00"})
    result, _, r = served_run(pair, path, 51)
    assert not result.ok and "setting up actors failed" in result.error and "60101" in result.error
    assert [c["cardNumber"] for c in bank.request("GET", "/sim/accounts")["cards"]] == [taken["cardNumber"]]
    assert sim(pair, pair.platform_url).request("GET", "/api/users") == []
    assert bank.request("GET", "/sim/ledger/verify")["sound"]


# -- only the run's own -----------------------------------------------------------
LOST_TENDER = """\
- open_account: bob
- open_account: ivy
- recharge: {user: ivy, amount: "5000.00"}
- create_project: {name: farm, borrower: bob, amount: "2000.00", periods: 1, method: bullet}
- approve_project: farm
- fault: {action: lose_response, service: USER_AUTO_PRE_TRANSACTION, bizType: TENDER, times: -1}
- fault: {action: reject, code: "00001", service: QUERY_TRANSACTION, times: -1}
- expect_unknown:
    step: {tender: {user: ivy, project: farm, amount: "2000.00"}}
"""


def test_notifications_breaks_and_balances_of_another_run_on_the_same_day_are_not_counted(pair, tmp_path):
    left_over = write(tmp_path, LOST_TENDER, name="left")  # ends with an unsynced tender: two breaks of its own
    assert served_run(pair, left_over, 61)[0].ok
    mine = write(tmp_path, LOST_TENDER + textwrap.dedent("""\
        - expect_notifications: {delivered: 3, pending: 0}
        - expect_reconciled:
            auto_resolve: false
            breaks:
              - {kind: status_mismatch, user: ivy}
              - {kind: balance_mismatch, user: ivy}
        - expect_error:
            step: {tender: {user: ivy, project: farm, amount: "100.00"}}
        """), name="mine")
    result, lines, r = served_run(pair, mine, 62)
    assert result.ok, lines
    state = r._state()
    other = runner.identity(2, 61)["cardNumber"]  # the other run's ivy
    sim(pair, pair.bank_url).request("POST", f"/sim/bank-cards/{other}/deposit", json={"amount": "5.00"})
    assert r._state() == state  # expect_error compares only this run's accounts and holds
    own = runner.identity(2, 62)["cardNumber"]
    sim(pair, pair.bank_url).request("POST", f"/sim/bank-cards/{own}/deposit", json={"amount": "5.00"})
    assert r._state() != state
