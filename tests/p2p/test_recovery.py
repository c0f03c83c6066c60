"""Recovery with the bank's fault rules: lost responses, odd notifications, a bank that is down.

Whatever goes wrong on the wire, money moves exactly once, the platform
never invents a new requestNo for the same intent, and once recovered its
records agree with the bank's.
"""
from __future__ import annotations

from p2p_platform.app import DEFAULTS, create_app

from .conftest import closed_port_url, request_no_of
from .test_flows import funded
from tests.conftest import operator_client


def full_project(wanxin) -> str:
    funded(wanxin)
    project_no = wanxin.project("p1", "bob", "6000.00")
    assert wanxin.tender("p1", "ivy", "4000.00")[0] == 201
    assert wanxin.tender("p1", "ian", "2000.00")[0] == 201
    return project_no


def lose_all(wanxin, service: str) -> None:
    """Every answer to ``service`` and to QUERY_TRANSACTION is lost (the bank still commits)."""
    wanxin.fault(action="lose_response", service=service, times=-1)
    wanxin.fault(action="lose_response", service="QUERY_TRANSACTION", times=-1)


def bank_requests(wanxin, service: str) -> list:
    return wanxin.sb.bank_ctx.conn().execute("SELECT * FROM requests WHERE service_name = ?", (service,)).fetchall()


# -- lost responses -------------------------------------------------------------
def test_a_lost_confirm_loan_response_is_retried_with_the_same_request_and_the_money_moves_once(wanxin):
    full_project(wanxin)
    wanxin.fault(action="lose_response", service="CONFIRM_LOAN")

    status, body = wanxin.loan("p1", "60.00")

    assert (status, body["status"]) == (200, "REPAYING")
    (record,) = wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")
    assert (record["status"], record["attempts"]) == (1, 2)
    assert len(bank_requests(wanxin, "CONFIRM_LOAN")) == 1
    assert len(wanxin.entries_for(record["request_no"])) == 1
    assert wanxin.account("bob")["available"] == 600000 - 6000
    wanxin.assert_bank_agrees()


def test_a_confirm_loan_whose_answers_are_all_lost_is_resolved_by_query_transaction(wanxin):
    full_project(wanxin)
    wanxin.fault(action="lose_response", service="CONFIRM_LOAN", times=-1)

    status, body = wanxin.loan("p1", "60.00")

    assert (status, body["status"]) == (200, "REPAYING")  # three attempts lost; QUERY_TRANSACTION says it was done
    (record,) = wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")
    assert (record["status"], record["attempts"]) == (1, 3)
    assert len(wanxin.entries_for(record["request_no"])) == 1
    wanxin.assert_bank_agrees()


def test_a_confirm_loan_with_no_answer_at_all_stays_unsynced_until_recovery(wanxin):
    full_project(wanxin)
    lose_all(wanxin, "CONFIRM_LOAN")

    status, body = wanxin.loan("p1", "60.00")

    assert (status, body["error"]["code"]) == (202, "OUTCOME_UNKNOWN")
    (record,) = wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")
    assert record["status"] == 0
    assert wanxin.show("p1")["status"] == "FULLY"
    assert wanxin.account("bob")["available"] == 600000 - 6000  # the bank did it; the platform does not know yet

    wanxin.clear_faults()
    report = wanxin.recover()

    assert record["request_no"] in report["resolved"] and report["unresolved"] == []
    assert wanxin.show("p1")["status"] == "REPAYING"
    assert len(wanxin.show("p1")["plans"]) == 3
    assert len(bank_requests(wanxin, "CONFIRM_LOAN")) == 1
    assert len(wanxin.entries_for(record["request_no"])) == 1
    wanxin.assert_bank_agrees()


def test_asking_for_the_loan_again_after_an_unknown_outcome_reuses_the_same_request(wanxin):
    full_project(wanxin)
    wanxin.fault(action="lose_response", service="CONFIRM_LOAN", times=3)
    wanxin.fault(action="lose_response", service="QUERY_TRANSACTION", times=1)
    assert wanxin.loan("p1", "60.00")[0] == 202

    status, body = wanxin.loan("p1", "60.00")

    assert (status, body["status"]) == (200, "REPAYING")
    assert len(wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")) == 1
    assert len(bank_requests(wanxin, "CONFIRM_LOAN")) == 1
    wanxin.assert_bank_agrees()


def test_a_lost_tender_freeze_response_is_retried_and_freezes_the_money_once(wanxin):
    funded(wanxin)
    project_no = wanxin.project("p1", "bob", "6000.00")
    wanxin.fault(action="lose_response", service="USER_AUTO_PRE_TRANSACTION", bizType="TENDER")

    status, body = wanxin.tender("p1", "ivy", "4000.00")

    assert (status, body["status"]) == (201, "FROZEN")
    assert wanxin.record(body["requestNo"])["attempts"] == 2
    assert [h["requestNo"] for h in wanxin.holds(projectNo=project_no)] == [body["requestNo"]]
    assert wanxin.account("ivy")["frozen"] == 400000
    wanxin.assert_bank_agrees()


def test_a_tender_with_no_answer_at_all_is_pending_then_recovered_and_still_counts_against_the_project(wanxin):
    funded(wanxin)
    project_no = wanxin.project("p1", "bob", "6000.00")
    lose_all(wanxin, "USER_AUTO_PRE_TRANSACTION")

    status, body = wanxin.tender("p1", "ivy", "4000.00")

    assert (status, body["error"]["code"]) == (202, "OUTCOME_UNKNOWN")
    (tender,) = wanxin.rows("SELECT * FROM tenders")
    assert tender["status"] == "PENDING"
    assert wanxin.show("p1")["remaining"] == "2000.00"  # an unknown tender still takes its share
    assert wanxin.tender("p1", "ian", "2500.00")[1]["error"]["code"] == "TENDER_OVER_REMAINING"

    wanxin.clear_faults()
    wanxin.recover()

    assert wanxin.rows("SELECT status FROM tenders")[0]["status"] == "FROZEN"
    assert [h["requestNo"] for h in wanxin.holds(projectNo=project_no)] == [tender["request_no"]]
    wanxin.assert_bank_agrees()
    assert wanxin.tender("p1", "ian", "2000.00")[0] == 201
    assert wanxin.show("p1")["status"] == "FULLY"


def test_a_repayment_freeze_with_no_answer_is_resumed_by_the_next_run_with_the_same_request(wanxin):
    project_no = full_project(wanxin)
    wanxin.loan("p1", "60.00")
    wanxin.recharge("bob", "1000.00")
    lose_all(wanxin, "USER_AUTO_PRE_TRANSACTION")
    wanxin.sb.advance(31 * 86400)

    report = wanxin.repay()

    assert report["unknown"] == [f"{project_no}#1"] and report["paid"] == []
    (freeze,) = wanxin.rows("SELECT * FROM depository_records WHERE biz_type = 'REPAYMENT'")
    assert freeze["status"] == 0
    wanxin.clear_faults()

    report = wanxin.repay()

    assert report["paid"] == [f"{project_no}#1"]
    assert [p["status"] for p in wanxin.show("p1")["plans"]] == ["PAID", "UNPAID", "UNPAID"]
    holds = [h for h in wanxin.holds(projectNo=project_no) if h["bizType"] == "REPAYMENT"]
    assert [(h["requestNo"], h["state"]) for h in holds] == [(freeze["request_no"], "SETTLED")]
    assert len(bank_requests(wanxin, "CONFIRM_REPAYMENT")) == 1
    wanxin.assert_bank_agrees()


def test_a_lost_confirm_repayment_is_settled_by_recovery_alone(wanxin):
    full_project(wanxin)
    wanxin.loan("p1", "60.00")
    wanxin.recharge("bob", "1000.00")
    lose_all(wanxin, "CONFIRM_REPAYMENT")
    wanxin.sb.advance(31 * 86400)
    assert wanxin.repay()["frozen"] and wanxin.show("p1")["plans"][0]["status"] == "FROZEN"

    wanxin.clear_faults()
    wanxin.recover()

    assert wanxin.show("p1")["plans"][0]["status"] == "PAID"
    wanxin.assert_bank_agrees()


# -- notifications ------------------------------------------------------------------------
def test_a_duplicated_notification_is_applied_once(wanxin):
    wanxin.user("ivy")
    wanxin.fault(action="duplicate_notification", service="RECHARGE")

    done = wanxin.recharge("ivy", "300.00")

    (seen,) = wanxin.rows("SELECT * FROM notifications_seen WHERE request_no = ?", (done["requestNo"],))
    assert seen["times"] == 2
    (recharge,) = wanxin.rows("SELECT * FROM recharges")
    assert recharge["status"] == "SUCCESS"
    assert wanxin.account("ivy")["available"] == 30000
    wanxin.assert_bank_agrees()


def test_a_delayed_notification_is_applied_when_it_arrives(wanxin):
    wanxin.register("ivy", "investor")
    wanxin.fault(action="delay_notification", service="PERSONAL_REGISTER", seconds=60)
    wanxin.open_account("ivy")

    assert wanxin.deliver() == []
    assert wanxin.ok("GET", f"/api/users/{wanxin.users['ivy']}")["status"] == "OPENING"

    wanxin.sb.advance(60)
    assert [a.ok for a in wanxin.deliver()] == [True]
    assert wanxin.ok("GET", f"/api/users/{wanxin.users['ivy']}")["status"] == "OPEN"
    wanxin.assert_bank_agrees()


def test_reordered_notifications_are_each_applied(wanxin):
    wanxin.user("ivy")
    wanxin.user("ian")
    first = wanxin.recharge("ivy", "100.00", deliver=False)
    second = wanxin.recharge("ian", "200.00", deliver=False)
    wanxin.fault(action="reorder_notifications")

    attempts = wanxin.deliver()

    assert [a.request_no for a in attempts] == [second["requestNo"], first["requestNo"]]
    assert {r["status"] for r in wanxin.rows("SELECT status FROM recharges")} == {"SUCCESS"}
    wanxin.assert_bank_agrees()


def test_a_dropped_notification_is_recovered_with_query_transaction(wanxin):
    wanxin.user("ivy")
    wanxin.fault(action="drop_notification", service="RECHARGE")
    done = wanxin.recharge("ivy", "300.00")
    assert wanxin.rows("SELECT status FROM recharges")[0]["status"] == "PENDING"
    assert wanxin.account("ivy")["available"] == 30000  # the bank did it

    report = wanxin.recover()

    assert report["resolved"] == [done["requestNo"]]
    assert wanxin.rows("SELECT status FROM recharges")[0]["status"] == "SUCCESS"
    wanxin.assert_bank_agrees()


def test_a_dropped_open_account_notification_is_recovered_and_a_late_copy_changes_nothing(wanxin):
    wanxin.register("ivy", "investor")
    wanxin.fault(action="drop_notification", service="PERSONAL_REGISTER")
    wanxin.open_account("ivy")
    wanxin.deliver()
    assert wanxin.ok("GET", f"/api/users/{wanxin.users['ivy']}")["status"] == "OPENING"

    wanxin.recover()
    assert wanxin.ok("GET", f"/api/users/{wanxin.users['ivy']}")["status"] == "OPEN"

    (note,) = wanxin.bank("GET", "/sim/notifications")
    wanxin.bank("POST", f"/sim/notifications/{note['id']}/resend")
    assert [a.ok for a in wanxin.deliver()] == [True]
    assert wanxin.ok("GET", f"/api/users/{wanxin.users['ivy']}")["status"] == "OPEN"
    wanxin.assert_bank_agrees()


def test_a_gateway_request_the_user_never_confirmed_stays_unsynced_after_recovery(wanxin):
    wanxin.user("ivy")
    gateway = wanxin.ok("POST", f"/api/users/{wanxin.users['ivy']}/recharges", {"amount": "10.00"})
    request_no = request_no_of(gateway)

    report = wanxin.recover()

    assert report == {"resolved": [], "unresolved": [request_no]}
    assert wanxin.record(request_no)["status"] == 0


# -- an unreachable bank ------------------------------------------------------------------------
def test_an_unreachable_bank_leaves_the_loan_unsynced_and_recovery_finishes_it_once_it_is_back(wanxin):
    full_project(wanxin)
    before = wanxin.actual()

    with wanxin.bank_down():
        status, body = wanxin.loan("p1", "60.00")
        assert (status, body["error"]["code"]) == (202, "OUTCOME_UNKNOWN")
        (record,) = wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")
        assert (record["status"], record["attempts"]) == (0, 3)  # the first try and two same-requestNo retries
        assert wanxin.recover() == {"resolved": [], "unresolved": [record["request_no"]]}
        assert wanxin.record(record["request_no"])["attempts"] == 6  # resent once more per run, no more

    assert wanxin.record(record["request_no"])["status"] == 0
    assert wanxin.show("p1")["status"] == "FULLY"
    assert wanxin.actual() == before  # the bank never heard of it
    assert bank_requests(wanxin, "CONFIRM_LOAN") == []

    report = wanxin.recover()

    assert report["resolved"] == [record["request_no"]]
    assert wanxin.show("p1")["status"] == "REPAYING"
    assert len(wanxin.entries_for(record["request_no"])) == 1
    wanxin.assert_bank_agrees()


def test_an_unreachable_bank_during_the_repayment_job_leaves_plans_unpaid_until_it_is_back(wanxin):
    full_project(wanxin)
    wanxin.loan("p1", "60.00")
    wanxin.recharge("bob", "1000.00")
    wanxin.sb.advance(31 * 86400)

    with wanxin.bank_down():
        report = wanxin.repay()
    assert len(report["unknown"]) == 1
    assert wanxin.show("p1")["plans"][0]["status"] == "UNPAID"

    report = wanxin.repay()
    assert len(report["paid"]) == 1
    wanxin.assert_bank_agrees()


def test_an_unreachable_bank_is_a_503_for_reads_and_records_nothing_for_a_tender(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00")
    with wanxin.bank_down():
        status, body = wanxin.tender("p1", "ivy", "100.00")
        assert (status, body["error"]["code"]) == (503, "BANK_UNAVAILABLE")
        status, _ = wanxin.api("GET", f"/api/users/{wanxin.users['ivy']}")
        assert status == 503
    assert wanxin.rows("SELECT * FROM tenders") == []
    wanxin.assert_bank_agrees()


def test_a_platform_started_against_a_closed_port_answers_outcome_unknown_and_another_recovers(wanxin):
    full_project(wanxin)
    config = {k: wanxin.sb.platform_app.config[k] for k in DEFAULTS}
    offline = operator_client(create_app({**config, "BANK_URL": closed_port_url()}))

    resp = offline.post("/api/projects/p1/loan", json={"commission": "60.00"})

    assert (resp.status_code, resp.json["error"]["code"]) == (202, "OUTCOME_UNKNOWN")
    assert [r["status"] for r in wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")] \
        == [0]
    wanxin.recover()
    assert wanxin.show("p1")["status"] == "REPAYING"
    wanxin.assert_bank_agrees()


# -- every step of a project catches up after recovery ------------------------------------------
def test_a_project_approval_with_no_answer_is_collecting_after_recovery(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00", approve=False)
    lose_all(wanxin, "CREATE_PROJECT")
    status, body = wanxin.api("POST", "/api/projects/p1/approve")
    assert (status, body["error"]["code"]) == (202, "OUTCOME_UNKNOWN")

    wanxin.clear_faults()
    wanxin.recover()

    assert wanxin.show("p1")["status"] == "COLLECTING"
    assert [p["status"] for p in wanxin.bank("GET", "/sim/projects")] == ["COLLECTING"]
    assert wanxin.tender("p1", "ivy", "100.00")[0] == 201


def test_a_lost_modify_project_after_the_loan_is_repaying_at_both_sides_after_recovery(wanxin):
    project_no = full_project(wanxin)
    lose_all(wanxin, "MODIFY_PROJECT")
    status, body = wanxin.loan("p1", "60.00")
    assert (status, body["error"]["code"]) == (202, "OUTCOME_UNKNOWN")
    assert wanxin.show("p1")["status"] == "LOANED"

    wanxin.clear_faults()
    wanxin.recover()

    assert wanxin.show("p1")["status"] == "REPAYING"
    assert next(p for p in wanxin.bank("GET", "/sim/projects") if p["projectNo"] == project_no)["status"] == "REPAYING"
    assert len(bank_requests(wanxin, "CONFIRM_LOAN")) == 1
    wanxin.assert_bank_agrees()


def test_a_lost_cancel_during_a_miscarry_is_finished_by_recovery(wanxin):
    project_no = full_project(wanxin)
    lose_all(wanxin, "CANCEL_PRE_TRANSACTION")
    status, body = wanxin.api("POST", "/api/projects/p1/reject")
    assert (status, body["error"]["code"]) == (202, "OUTCOME_UNKNOWN")

    wanxin.clear_faults()
    wanxin.recover()

    assert wanxin.show("p1")["status"] == "MISCARRY"
    assert {t["status"] for t in wanxin.rows("SELECT status FROM tenders")} == {"CANCELLED"}
    assert {h["state"] for h in wanxin.holds(projectNo=project_no)} == {"CANCELLED"}
    assert len(bank_requests(wanxin, "CANCEL_PRE_TRANSACTION")) == 2
    wanxin.assert_bank_agrees()


def test_a_lost_finish_after_the_last_repayment_settles_the_project_on_recovery(wanxin):
    project_no = full_project(wanxin)
    wanxin.loan("p1", "60.00")
    wanxin.recharge("bob", "1000.00")
    lose_all(wanxin, "MODIFY_PROJECT")
    wanxin.sb.advance(100 * 86400)

    assert len(wanxin.repay()["paid"]) == 3
    assert wanxin.show("p1")["status"] == "REPAYING"  # every plan paid, FINISH unanswered

    wanxin.clear_faults()
    wanxin.recover()

    assert wanxin.show("p1")["status"] == "SETTLED"
    assert next(p for p in wanxin.bank("GET", "/sim/projects") if p["projectNo"] == project_no)["status"] == "FINISH"
    wanxin.assert_bank_agrees()


def test_a_tender_the_bank_refuses_fails_and_frees_its_share_of_the_project(wanxin):
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00")
    wanxin.fault(action="reject", service="USER_AUTO_PRE_TRANSACTION", code="30042")

    status, body = wanxin.tender("p1", "ivy", "4000.00")

    assert (status, body["error"]["code"]) == (409, "BANK_30042")
    assert [(t["status"]) for t in wanxin.rows("SELECT status FROM tenders")] == ["FAILED"]
    assert wanxin.show("p1")["remaining"] == "6000.00"
    assert wanxin.holds() == []
    wanxin.assert_bank_agrees()
    assert wanxin.tender("p1", "ivy", "6000.00")[0] == 201
