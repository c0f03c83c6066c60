"""The six flows and 流标, end to end against the real bank on loopback.

After every step the bank's balances equal what the platform's own records
say they must be (recharges, tenders, loans, paid plans and receivables),
the fee account holds exactly the platform's fees, and the ledger verifies.
"""
from __future__ import annotations

import pytest

from p2p_platform.domain.schedule import METHODS

from .conftest import Driver, fen


def funded(wanxin, *, borrower_cash: str = "0.00", investors=(("ivy", "8000.00"), ("ian", "8000.00"))):
    """A borrower and investors with open accounts and recharged money."""
    wanxin.user("bob", "borrower")
    if fen(borrower_cash):
        wanxin.recharge("bob", borrower_cash)
    for name, cash in investors:
        wanxin.user(name, "investor")
        wanxin.recharge(name, cash)
    wanxin.assert_bank_agrees()


def loaned(wanxin, method: str = "equal_installment", periods: int = 3, commission: str = "60.00",
           borrower_cash: str = "2000.00") -> str:
    funded(wanxin, borrower_cash=borrower_cash)
    wanxin.project("p1", "bob", "6000.00", periods=periods, method=method)
    assert wanxin.tender("p1", "ivy", "4000.00")[0] == 201
    assert wanxin.tender("p1", "ian", "2000.00")[0] == 201
    status, body = wanxin.loan("p1", commission)
    assert status == 200, body
    assert body["status"] == "REPAYING"
    return body["projectNo"]


# -- open account -----------------------------------------------------------
def test_opening_an_account_on_the_bank_page_opens_it_at_both_sides_once_notified(wanxin):
    user_no = wanxin.register("ivy", "investor")
    assert wanxin.open_account("ivy")["code"] == 0
    assert wanxin.ok("GET", f"/api/users/{user_no}")["status"] == "OPENING"  # not before the notification

    wanxin.deliver()

    view = wanxin.ok("GET", f"/api/users/{user_no}")
    assert (view["status"], view["available"], view["frozen"]) == ("OPEN", "0.00", "0.00")
    assert wanxin.account("ivy")["available"] == 0
    assert wanxin.record(wanxin.rows("SELECT open_request_no FROM users")[0][0])["status"] == 1
    wanxin.assert_bank_agrees()


def test_an_account_cannot_be_opened_twice(wanxin):
    wanxin.user("ivy")
    status, body = wanxin.api("POST", f"/api/users/{wanxin.users['ivy']}/open-account")
    assert (status, body["error"]["code"]) == (409, "ALREADY_OPEN")


# -- recharge -----------------------------------------------------------------
def test_recharge_moves_money_from_the_card_to_available(wanxin):
    wanxin.user("ivy", card_balance="10000.00")
    done = wanxin.recharge("ivy", "2500.50")

    assert done["code"] == 0
    assert wanxin.account("ivy") == {"available": 250050, "frozen": 0, "card": 750000 - 50}
    assert wanxin.rows("SELECT status FROM recharges")[0]["status"] == "SUCCESS"
    wanxin.assert_bank_agrees()


def test_recharge_before_opening_an_account_is_refused(wanxin):
    wanxin.register("ivy", "investor")
    status, body = wanxin.api("POST", f"/api/users/{wanxin.users['ivy']}/recharges", {"amount": "10.00"})
    assert (status, body["error"]["code"]) == (409, "ACCOUNT_NOT_OPEN")


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001", "abc", None])
def test_recharge_of_a_bad_amount_is_refused_before_the_bank_is_asked(wanxin, amount):
    wanxin.user("ivy")
    status, body = wanxin.api("POST", f"/api/users/{wanxin.users['ivy']}/recharges", {"amount": amount})
    assert (status, body["error"]["code"]) == (400, "INVALID")
    assert not wanxin.rows("SELECT * FROM recharges")


# -- tender -------------------------------------------------------------------
def test_tenders_freeze_investor_money_and_the_last_one_makes_the_project_full(wanxin):
    funded(wanxin)
    project_no = wanxin.project("p1", "bob", "6000.00")

    status, first = wanxin.tender("p1", "ivy", "4000.00")
    assert (status, first["status"]) == (201, "FROZEN")
    assert wanxin.show("p1")["status"] == "COLLECTING"
    wanxin.assert_bank_agrees()

    status, last = wanxin.tender("p1", "ian", "2000.00")
    assert (status, last["status"]) == (201, "FROZEN")
    assert wanxin.show("p1")["status"] == "FULLY"
    assert wanxin.account("ivy")["frozen"] == 400000 and wanxin.account("ian")["frozen"] == 200000
    holds = wanxin.holds(projectNo=project_no)
    assert sorted((h["requestNo"], h["amount"], h["state"]) for h in holds) == sorted(
        [(first["requestNo"], "4000.00", "FROZEN"), (last["requestNo"], "2000.00", "FROZEN")])
    wanxin.assert_bank_agrees()


@pytest.mark.parametrize("amount, code", [
    ("99.99", "TENDER_BELOW_MINIMUM"),        # E_150109
    ("6000.01", "TENDER_OVER_REMAINING"),     # E_150110
    ("5950.00", "TENDER_LEAVES_TOO_LITTLE"),  # E_150111
    ("8000.01", "BALANCE_NOT_ENOUGH"),        # E_150112
])
def test_a_tender_breaking_a_rule_is_refused_and_nothing_is_frozen(wanxin, amount, code):
    funded(wanxin, investors=(("ivy", "8000.00"),))
    wanxin.project("p1", "bob", "6000.00")

    status, body = wanxin.tender("p1", "ivy", amount)

    assert (status, body["error"]["code"]) == (409, code)
    assert not wanxin.rows("SELECT * FROM tenders")
    assert wanxin.holds() == []
    wanxin.assert_bank_agrees()


def test_a_full_project_takes_no_more_tenders(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00")
    wanxin.tender("p1", "ivy", "6000.00")

    status, body = wanxin.tender("p1", "ian", "100.00")

    assert (status, body["error"]["code"]) == (409, "PROJECT_STATUS")  # E_150114
    assert wanxin.account("ian") == {**wanxin.account("ian"), "available": 800000, "frozen": 0}


def test_a_tender_on_a_project_not_yet_approved_is_refused(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00", approve=False)
    status, body = wanxin.tender("p1", "ivy", "100.00")
    assert (status, body["error"]["code"]) == (409, "PROJECT_STATUS")


def test_only_investors_tender_and_only_borrowers_borrow(wanxin):
    funded(wanxin)
    status, body = wanxin.api("POST", "/api/projects", {"borrower": "ivy", "name": "x", "amount": "100.00",
                                                        "periods": 1})
    assert (status, body["error"]["code"]) == (409, "NOT_A_BORROWER")
    wanxin.project("p1", "bob", "6000.00")
    status, body = wanxin.tender("p1", "bob", "100.00")
    assert (status, body["error"]["code"]) == (409, "NOT_AN_INVESTOR")


# -- loan -----------------------------------------------------------------------
def test_the_loan_pays_the_borrower_takes_the_commission_and_tells_the_bank_repaying(wanxin):
    project_no = loaned(wanxin, commission="60.00", borrower_cash="0.00")

    assert wanxin.account("bob") == {**wanxin.account("bob"), "available": 600000 - 6000, "frozen": 0}
    assert wanxin.account("ivy")["frozen"] == 0 and wanxin.account("ian")["frozen"] == 0
    assert wanxin.fee() == 6000
    assert {h["state"] for h in wanxin.holds(projectNo=project_no)} == {"SETTLED"}
    bank_project = next(p for p in wanxin.bank("GET", "/sim/projects") if p["projectNo"] == project_no)
    assert bank_project["status"] == "REPAYING"
    # MODIFY_PROJECT has its own requestNo (the original reused CONFIRM_LOAN's and never reached the bank).
    p = wanxin.rows("SELECT * FROM projects")[0]
    assert p["modify_request_no"] and p["modify_request_no"] != p["loan_request_no"]
    assert wanxin.bank_request(p["modify_request_no"])["serviceName"] == "MODIFY_PROJECT"
    assert {t["status"] for t in wanxin.rows("SELECT status FROM tenders")} == {"LOANED"}
    wanxin.assert_bank_agrees()


def test_a_project_not_full_cannot_be_loaned(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00")
    wanxin.tender("p1", "ivy", "4000.00")
    status, body = wanxin.loan("p1")
    assert (status, body["error"]["code"]) == (409, "PROJECT_STATUS")
    wanxin.assert_bank_agrees()


def test_loaning_twice_moves_the_money_once(wanxin):
    loaned(wanxin)
    before = wanxin.actual()
    status, body = wanxin.loan("p1", "60.00")
    assert (status, body["status"]) == (200, "REPAYING")
    assert wanxin.actual() == before
    assert len(wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")) == 1


@pytest.mark.parametrize("method", METHODS)
def test_the_plans_balance_to_the_fen_each_period(wanxin, method):
    loaned(wanxin, method=method, periods=4)
    plans = wanxin.show("p1")["plans"]

    assert len(plans) == (1 if method == "bullet" else 4)
    for plan in plans:
        shares = plan["receivables"]
        assert fen(plan["amount"]) == sum(fen(s["principal"]) + fen(s["interest"]) + fen(s["commission"])
                                          for s in shares) + fen(plan["platformFee"])
        assert fen(plan["amount"]) == fen(plan["principal"]) + fen(plan["interest"])
        assert fen(plan["principal"]) == sum(fen(s["principal"]) for s in shares)
    assert sum(fen(p["principal"]) for p in plans) == 600000
    by_investor = {}
    for plan in plans:
        for s in plan["receivables"]:
            by_investor[s["userNo"]] = by_investor.get(s["userNo"], 0) + fen(s["principal"])
    assert by_investor == {wanxin.users["ivy"]: 400000, wanxin.users["ian"]: 200000}


def test_the_plan_follows_the_original_rates_investors_earn_ten_percent(wanxin):
    loaned(wanxin, periods=1)
    (plan,) = wanxin.show("p1")["plans"]
    # 6000.00 for one month at 15 %: 75.00 interest; investors 10 % (50.00), their commission 3 % (15.00),
    # the platform's borrower commission 2 % (10.00).
    assert (plan["interest"], plan["platformFee"]) == ("75.00", "10.00")
    shares = {s["userNo"]: (s["interest"], s["commission"]) for s in plan["receivables"]}
    assert shares == {wanxin.users["ivy"]: ("33.33", "10.00"), wanxin.users["ian"]: ("16.67", "5.00")}


# -- repay ------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_the_daily_job_repays_every_period_and_settles_the_project(wanxin, method):
    loaned(wanxin, method=method, periods=3)
    plans = wanxin.show("p1")["plans"]

    for plan in plans:
        early = wanxin.repay()  # nothing is due before the due date
        assert early["frozen"] == [] and early["paid"] == []
        day = plan["dueDate"]
        while wanxin.sb.platform_ctx.clock.today().isoformat() < day:
            wanxin.sb.advance(86400)
        report = wanxin.repay()
        assert report["paid"] == [f"{wanxin.show('p1')['projectNo']}#{plan['period']}"], report
        wanxin.assert_bank_agrees()

    view = wanxin.show("p1")
    assert view["status"] == "SETTLED"
    assert {p["status"] for p in view["plans"]} == {"PAID"}
    assert {s["status"] for p in view["plans"] for s in p["receivables"]} == {"PAID"}
    bank_project = next(p for p in wanxin.bank("GET", "/sim/projects") if p["projectNo"] == view["projectNo"])
    assert bank_project["status"] == "FINISH"
    # Investors got back their principal plus the interest net of their commission.
    for name, lent in (("ivy", 400000), ("ian", 200000)):
        received = sum(fen(s["principal"]) + fen(s["interest"]) for p in view["plans"] for s in p["receivables"]
                       if s["userNo"] == wanxin.users[name])
        assert wanxin.account(name)["available"] == 800000 - lent + received
    wanxin.assert_bank_agrees()
    assert wanxin.repay()["paid"] == []  # a paid plan is never paid again


def test_an_overdue_borrower_without_money_stays_overdue_and_pays_after_recharging(wanxin):
    loaned(wanxin, periods=2, commission="0.00", borrower_cash="0.00")
    project_no = wanxin.show("p1")["projectNo"]
    wanxin.withdraw("bob", "6000.00")          # the borrower spends the whole loan
    before = wanxin.actual()
    wanxin.sb.advance(31 * 86400)

    report = wanxin.repay()

    assert report["overdue"] == [f"{project_no}#1"] and report["paid"] == []
    assert wanxin.actual() == before                       # nothing half-applied
    assert [h for h in wanxin.holds(projectNo=project_no) if h["bizType"] == "REPAYMENT"] == []
    plan = wanxin.show("p1")["plans"][0]
    assert plan["status"] == "UNPAID" and {s["status"] for s in plan["receivables"]} == {"UNPAID"}
    refused = wanxin.rows("SELECT * FROM depository_records WHERE biz_type = 'REPAYMENT'")
    assert [(r["service_name"], r["status"], r["resp_code"]) for r in refused] == [
        ("USER_AUTO_PRE_TRANSACTION", 2, "30042")]
    assert not wanxin.rows("SELECT * FROM outbox")
    wanxin.assert_bank_agrees()

    wanxin.sb.advance(86400)
    assert wanxin.repay()["overdue"] == [f"{project_no}#1"]  # still short a day later: retried each run
    assert wanxin.actual() == before

    wanxin.recharge("bob", "10000.00")
    wanxin.sb.advance(86400)
    report = wanxin.repay()

    assert report["paid"] == [f"{project_no}#1"] and report["overdue"] == []
    assert [p["status"] for p in wanxin.show("p1")["plans"]] == ["PAID", "UNPAID"]
    wanxin.assert_bank_agrees()

    wanxin.sb.advance(31 * 86400)
    assert wanxin.repay()["paid"] == [f"{project_no}#2"]
    assert wanxin.show("p1")["status"] == "SETTLED"
    wanxin.assert_bank_agrees()


def test_two_projects_and_an_investor_with_two_tenders_are_repaid_to_the_fen(wanxin):
    funded(wanxin, borrower_cash="3000.00")
    wanxin.project("p1", "bob", "3000.00", periods=2, method="equal_principal")
    wanxin.project("p2", "bob", "1000.00", periods=1, method="bullet", rate="0.24")
    for project, investor, amount in (("p1", "ivy", "1000.00"), ("p1", "ian", "1000.00"), ("p1", "ivy", "1000.00"),
                                      ("p2", "ivy", "900.00"), ("p2", "ian", "100.00")):
        status, body = wanxin.tender(project, investor, amount)
        assert status == 201, body
    assert wanxin.loan("p1", "30.00")[0] == 200 and wanxin.loan("p2", "0.00")[0] == 200
    wanxin.assert_bank_agrees()

    wanxin.sb.advance(31 * 86400)
    assert len(wanxin.repay()["paid"]) == 2
    wanxin.assert_bank_agrees()
    wanxin.sb.advance(31 * 86400)
    assert len(wanxin.repay()["paid"]) == 1
    assert [p["status"] for p in wanxin.ok("GET", "/api/projects")] == ["SETTLED", "SETTLED"]
    wanxin.assert_bank_agrees()


def test_overdue_plans_of_earlier_days_are_taken_by_a_later_run(wanxin):
    # The original only took plans due exactly today; a missed day was never retried.
    loaned(wanxin, periods=3)
    wanxin.sb.advance(100 * 86400)
    report = wanxin.repay()
    assert len(report["paid"]) == 3
    assert wanxin.show("p1")["status"] == "SETTLED"
    wanxin.assert_bank_agrees()


# -- withdraw -------------------------------------------------------------------------
def test_withdraw_moves_money_to_the_card_minus_the_platform_fee(make_sandbox):
    wanxin = Driver(make_sandbox(WITHDRAW_COMMISSION="1.50"))
    wanxin.user("ivy", card_balance="10000.00")
    wanxin.recharge("ivy", "3000.00")

    done = wanxin.withdraw("ivy", "1000.00")

    assert done["code"] == 0
    assert wanxin.account("ivy") == {"available": 200000, "frozen": 0, "card": 700000 + 100000 - 150}
    assert wanxin.fee() == 150
    assert wanxin.rows("SELECT status, commission FROM withdrawals")[0][:] == ("SUCCESS", 150)
    wanxin.assert_bank_agrees()


def test_withdraw_beyond_available_is_refused_and_moves_nothing(wanxin):
    wanxin.user("ivy")
    wanxin.recharge("ivy", "100.00")
    status, body = wanxin.api("POST", f"/api/users/{wanxin.users['ivy']}/withdrawals", {"amount": "100.01"})
    assert (status, body["error"]["code"]) == (409, "BALANCE_NOT_ENOUGH")
    assert not wanxin.rows("SELECT * FROM withdrawals")
    wanxin.assert_bank_agrees()


def test_investors_withdraw_their_repaid_money_after_the_project_settles(wanxin):
    loaned(wanxin, periods=1)
    wanxin.sb.advance(31 * 86400)
    wanxin.repay()
    available = wanxin.account("ivy")["available"]

    wanxin.withdraw("ivy", f"{available // 100}.{available % 100:02d}")

    assert wanxin.account("ivy")["available"] == 0
    wanxin.assert_bank_agrees()


# -- 流标 -------------------------------------------------------------------------------
def test_rejecting_a_collecting_project_releases_every_tender(wanxin):
    funded(wanxin)
    project_no = wanxin.project("p1", "bob", "6000.00")
    wanxin.tender("p1", "ivy", "3000.00")
    wanxin.tender("p1", "ian", "1000.00")

    view = wanxin.ok("POST", "/api/projects/p1/reject")

    assert view["status"] == "MISCARRY"
    assert {t["status"] for t in wanxin.rows("SELECT status FROM tenders")} == {"CANCELLED"}
    assert {h["state"] for h in wanxin.holds(projectNo=project_no)} == {"CANCELLED"}
    assert wanxin.account("ivy")["available"] == 800000 and wanxin.account("ian")["available"] == 800000
    bank_project = next(p for p in wanxin.bank("GET", "/sim/projects") if p["projectNo"] == project_no)
    assert bank_project["status"] == "MISCARRY"
    wanxin.assert_bank_agrees()


def test_rejecting_a_full_project_releases_every_tender(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00")
    wanxin.tender("p1", "ivy", "4000.00")
    wanxin.tender("p1", "ian", "2000.00")

    assert wanxin.ok("POST", "/api/projects/p1/reject")["status"] == "MISCARRY"
    assert wanxin.account("ivy")["frozen"] == 0 and wanxin.account("ian")["frozen"] == 0
    status, body = wanxin.loan("p1")
    assert (status, body["error"]["code"]) == (409, "PROJECT_STATUS")
    wanxin.assert_bank_agrees()


def test_a_project_still_collecting_after_fifteen_days_is_miscarried_by_the_daily_job(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00")
    wanxin.tender("p1", "ivy", "3000.00")

    wanxin.sb.advance(15 * 86400)
    assert wanxin.ok("POST", "/api/jobs/daily")["expired"] == []
    wanxin.sb.advance(86400)
    assert wanxin.ok("POST", "/api/jobs/daily")["expired"] == [wanxin.show("p1")["projectNo"]]

    assert wanxin.show("p1")["status"] == "MISCARRY"
    assert wanxin.account("ivy") == {**wanxin.account("ivy"), "available": 800000, "frozen": 0}
    wanxin.assert_bank_agrees()


def test_rejecting_a_draft_sends_nothing_to_the_bank(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00", approve=False)
    assert wanxin.ok("POST", "/api/projects/p1/reject")["status"] == "REJECTED"
    assert wanxin.bank("GET", "/sim/projects") == []
    wanxin.assert_bank_agrees()
