"""``wanxin plans show``: the built-in platform's repayment and receivable plans,
against a project a small scenario loaned and repaid once, with figures that add
up to the fen (issue 12, "Seeing what happened")."""
from __future__ import annotations

import json

import pytest

from bank_depository.protocol.money import parse_yuan
from scenarios import runner
from scenarios.harness import Sandbox
from tests.test_cli_output import invoke

STORY = """\
name: plans
seed: 5
actors:
  bob: {role: borrower, card_balance: "1000.00"}
  ivy: {role: investor, card_balance: "5000.00"}
  ian: {role: investor, card_balance: "5000.00"}
steps:
  - open_account: bob
  - open_account: ivy
  - open_account: ian
  - recharge: {user: ivy, amount: "2000.00"}
  - recharge: {user: ian, amount: "3001.00"}
  - create_project: {name: bakery, borrower: bob, amount: "5001.00", periods: 3, method: equal_installment,
                     annual_rate: "0.13"}
  - approve_project: bakery
  - tender: {user: ivy, project: bakery, amount: "2000.00"}
  - tender: {user: ian, project: bakery, amount: "3001.00"}
  - approve_loan: {project: bakery, commission: "50.00"}
  - create_project: {name: kiosk, borrower: bob, amount: "800.00", periods: 2, method: bullet}
  - advance_days: 31
  - run_repayments
  - expect_plan: {project: bakery, period: 1, status: PAID}
"""


@pytest.fixture(scope="module")
def loaned(tmp_path_factory):
    """A platform with a loaned 3-period project (period 1 paid) and a project not yet loaned."""
    work = tmp_path_factory.mktemp("plans")
    path = work / "plans.yaml"
    path.write_text(STORY, encoding="utf-8")
    with Sandbox(work / "sandbox", seed=5) as sb:
        seen: dict = {}
        result = runner.run_file(path, bank_url=sb.bank_url, platform_url=sb.platform_url, echo=lambda line: None,
                                 sim_token=sb.sim_token,
                                 after=lambda r: seen.update(projects=dict(r.projects), users=dict(r.users)))
        assert result.ok, result.as_dict()
        sb.projects, sb.users = seen["projects"], seen["users"]
        yield sb


def show(sb, *args):
    return invoke("plans", "show", *args, env={"WANXIN_SIM_TOKEN": sb.sim_token, "WANXIN_PLATFORM_URL":
                                               sb.platform_url})


def fen(text: str) -> int:
    return parse_yuan(text, allow_zero=True)


def test_plans_show_json_adds_up_per_period_and_per_investor(loaned):
    result = show(loaned, loaned.projects["bakery"], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["projectNo"], data["amount"], data["periods"], data["status"]) == \
        (loaned.projects["bakery"], "5001.00", 3, "REPAYING")
    plans = data["plans"]
    assert [p["period"] for p in plans] == [1, 2, 3]
    assert [p["status"] for p in plans] == ["PAID", "UNPAID", "UNPAID"]
    assert sum(fen(p["principal"]) for p in plans) == fen("5001.00")
    for p in plans:
        shares = p["receivables"]
        assert {s["userNo"] for s in shares} == {loaned.users["ivy"], loaned.users["ian"]}
        assert {s["username"].split("-")[0] for s in shares} == {"ivy", "ian"}  # served: names carry a run tag
        assert sum(fen(s["principal"]) for s in shares) == fen(p["principal"])
        assert fen(p["amount"]) == fen(p["principal"]) + fen(p["interest"])
        # the borrower's interest is the investors' gross interest plus the borrower fee
        assert sum(fen(s["grossInterest"]) for s in shares) + fen(p["platformFee"]) == fen(p["interest"])
        for s in shares:
            assert fen(s["grossInterest"]) == fen(s["interest"]) + fen(s["commission"])
            assert fen(s["net"]) == fen(s["principal"]) + fen(s["grossInterest"]) - fen(s["commission"])
            assert s["status"] == ("PAID" if p["period"] == 1 else "UNPAID")
        # what the borrower pays = what the investors receive + every fee, to the fen
        assert fen(p["amount"]) == sum(fen(s["net"]) + fen(s["commission"]) for s in shares) + fen(p["platformFee"])
    for user, tendered in (("ivy", "2000.00"), ("ian", "3001.00")):
        assert sum(fen(s["principal"]) for p in plans for s in p["receivables"]
                   if s["userNo"] == loaned.users[user]) == fen(tendered)


def test_plans_show_net_of_the_paid_period_is_what_reached_the_investor(loaned):
    data = json.loads(show(loaned, loaned.projects["bakery"], "--json").stdout)
    ivy_net = next(s["net"] for s in data["plans"][0]["receivables"] if s["userNo"] == loaned.users["ivy"])
    account = json.loads(invoke("accounts", "show", loaned.users["ivy"], "--bank-url", loaned.bank_url, "--json",
                                env={"WANXIN_SIM_TOKEN": loaned.sim_token}).stdout)
    assert account["available"] == ivy_net  # ivy tendered everything she had: period 1's net is her balance


def test_plans_show_prints_both_tables_with_sums(loaned):
    data = json.loads(show(loaned, loaned.projects["bakery"], "--json").stdout)
    ivy = next(s["username"] for s in data["plans"][0]["receivables"] if s["userNo"] == loaned.users["ivy"])
    result = show(loaned, loaned.projects["bakery"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "repayment plan (the borrower pays):" in out and "receivable plans (each investor receives):" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("period  due date"))
    assert header.split() == ["period", "due", "date", "principal", "interest", "borrower", "fee", "total", "status"]
    sums = [line for line in lines if line.startswith("sum ")]
    assert len(sums) == 2
    assert sums[0].split()[1] == "5001.00" and sums[1].split()[1] == "5001.00"  # Σ principal both sides
    assert any(line.split()[:3] == ["1", ivy, loaned.users["ivy"]] and line.rstrip().endswith("PAID")
               for line in lines)


def test_plans_show_finds_a_project_by_its_name(loaned):
    name = json.loads(show(loaned, loaned.projects["bakery"], "--json").stdout)["name"]
    by_name = show(loaned, name, "--json")
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["projectNo"] == loaned.projects["bakery"]


def test_plans_show_of_a_project_not_yet_loaned_says_there_are_no_plans(loaned):
    result = show(loaned, loaned.projects["kiosk"])
    assert result.exit_code == 0, result.output
    assert "no plans yet: they are made when the loan is confirmed" in result.stdout
    assert json.loads(show(loaned, loaned.projects["kiosk"], "--json").stdout)["plans"] == []


def test_plans_show_of_an_unknown_project_is_one_line_error_with_a_suggestion(loaned):
    name = json.loads(show(loaned, loaned.projects["bakery"], "--json").stdout)["name"]
    result = show(loaned, name[:-1] + "x")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert err.count("\n") == 0
    assert err == f"Error: the platform has no project {name[:-1] + 'x'!r} (projectNo or name) (did you mean {name!r}?)"


def test_plans_show_without_a_platform_url_is_one_line_error():
    result = invoke("plans", "show", "PRO_1")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: give --platform-url (or set WANXIN_PLATFORM_URL): the running built-in "
                                     "platform")


def test_plans_show_needs_the_operator_credential(loaned):
    result = invoke("plans", "show", loaned.projects["bakery"], "--platform-url", loaned.platform_url,
                    env={"WANXIN_SIM_TOKEN": "wrong"})
    assert result.exit_code == 1
    assert "UNAUTHORIZED" in result.stderr and "Traceback" not in result.output
