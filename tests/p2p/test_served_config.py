"""The platform's ``/sim/config``: commission rates, minimum tender and withdrawal fee changed while it runs
(what a scenario run against a served platform applies), all or nothing, seen by every worker and put back
by writing the start-up value; and ``DELETE /api/users/<userNo>`` for a registration that never reached
the bank."""
from __future__ import annotations

from decimal import Decimal

import pytest

from p2p_platform.app import create_app
from p2p_platform.services import tunables

STARTED = {"borrowerCommissionRate": "0.02", "investorCommissionRate": "0.03", "minTender": "100.00",
           "withdrawCommission": "0.00", "dailyJob": "auto"}


def test_the_config_shows_what_the_platform_started_with(wanxin):
    assert wanxin.ok("GET", "/sim/config") == {"config": STARTED, "started": STARTED}


def test_a_changed_withdrawal_fee_is_charged_and_putting_it_back_leaves_no_trace(wanxin):
    wanxin.user("ivy", card_balance="1000.00")
    wanxin.recharge("ivy", "500.00")
    changed = wanxin.ok("POST", "/sim/config", {"withdrawCommission": "1.00"})
    assert changed["config"]["withdrawCommission"] == "1.00" and changed["started"] == STARTED
    assert wanxin.withdraw("ivy", "100.00")["code"] == 0
    assert wanxin.account("ivy")["card"] == 500_00 + 99_00
    assert wanxin.ok("POST", "/sim/config", {"withdrawCommission": "0.00"})["config"] == STARTED
    conn = wanxin.sb.platform_ctx.store.conn()
    assert conn.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'config.%'").fetchone()[0] == 0


def test_a_changed_minimum_tender_and_rates_apply_to_new_projects_and_tenders(wanxin):
    borrower = wanxin.user("bob", "borrower")
    investor = wanxin.user("ivy")
    wanxin.recharge("ivy", "5000.00")
    wanxin.ok("POST", "/sim/config", {"minTender": "500.00", "borrowerCommissionRate": "0.01"})
    wanxin.project("farm", borrower, "2000.00")
    status, body = wanxin.tender("farm", investor, "200.00")
    assert status == 409 and body["error"]["code"] == "TENDER_BELOW_MINIMUM" and "500.00" in body["error"]["message"]
    conn = wanxin.sb.platform_ctx.store.conn()
    assert conn.execute("SELECT borrower_commission_rate FROM projects").fetchone()[0] == "0.01"


def test_another_app_on_the_same_database_sees_the_change(wanxin):
    wanxin.ok("POST", "/sim/config", {"investorCommissionRate": "0.04"})
    other = create_app({**wanxin.sb.platform_app.config})  # as a second worker process on the same file
    assert tunables.current(other.extensions["wanxin.platform"]).investor_commission_rate == Decimal("0.04")
    assert other.extensions["wanxin.platform"].settings.investor_commission_rate == Decimal("0.03")


@pytest.mark.parametrize("body, says", [
    ({"withdrawFee": "1.00"}, "unknown config key(s) withdrawFee"),
    ({"withdrawCommission": 1}, "must be text"),
    ({"withdrawCommission": "-1.00"}, "withdrawCommission"),
    ({"minTender": "0.00"}, "minTender"),
    ({"minTender": "1.005"}, "minTender"),
    ({"borrowerCommissionRate": "1"}, "from 0 to below 1"),
    ({"borrowerCommissionRate": "NaN"}, "from 0 to below 1"),
    ({"borrowerCommissionRate": "abc"}, "decimal rate"),
    ({"borrowerCommissionRate": "0.6", "investorCommissionRate": "0.5"}, "must stay below 1"),
    ({"withdrawCommission": "2.00", "minTender": "x"}, "minTender"),  # all or nothing
    ({"dailyJob": "sometimes"}, "dailyJob must be one of auto, manual"),
    ({"dailyJob": True}, "must be text"),
])
def test_a_bad_change_is_a_clear_400_and_changes_nothing(wanxin, body, says):
    status, answer = wanxin.api("POST", "/sim/config", body)
    assert status == 400 and answer["error"]["code"] == "INVALID" and says in answer["error"]["message"]
    assert wanxin.ok("GET", "/sim/config")["config"] == STARTED


def test_the_config_needs_the_operator_credential(sandbox):
    client = sandbox.platform_app.test_client()
    assert client.get("/sim/config").status_code == 401
    assert client.post("/sim/config", json={"minTender": "200.00"}).status_code == 401


def test_a_user_who_never_reached_the_bank_can_be_deleted(wanxin):
    user_no = wanxin.register("ivy", "investor")
    assert wanxin.ok("DELETE", f"/api/users/{user_no}") == {"userNo": user_no, "deleted": True}
    status, _ = wanxin.api("GET", f"/api/users/{user_no}")
    assert status == 404
    status, body = wanxin.api("DELETE", f"/api/users/{user_no}")
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"


def test_a_user_with_a_depository_account_is_not_deleted(wanxin):
    user_no = wanxin.user("ivy")
    status, body = wanxin.api("DELETE", f"/api/users/{user_no}")
    assert status == 409 and body["error"]["code"] == "USER_IN_USE"
    assert wanxin.ok("GET", f"/api/users/{user_no}")["status"] == "OPEN"


def test_with_the_daily_job_manual_a_moved_clock_runs_nothing_and_auto_resumes_on_the_next_date(wanxin, monkeypatch):
    from p2p_platform.services import daily
    ctx = wanxin.sb.platform_ctx
    scheduler = daily.DailyScheduler(ctx)  # what a served platform's background thread ticks
    scheduler.tick()                       # today's run, so that only moved dates are due below
    ran: list = []
    monkeypatch.setattr(daily, "daily", lambda c, today=None: ran.append(today) or {})
    assert wanxin.ok("POST", "/sim/config", {"dailyJob": "manual"})["config"]["dailyJob"] == "manual"
    wanxin.sb.advance(86400)
    assert scheduler.due() and scheduler.tick() is None and ran == []   # the date passes, marked, not run
    assert not scheduler.due()
    assert wanxin.ok("POST", "/sim/config", {"dailyJob": "auto"})["config"] == STARTED
    assert scheduler.tick() is None and ran == []                       # no catching up on that date
    wanxin.sb.advance(86400)
    scheduler.tick()
    assert ran == [ctx.clock.today()]
