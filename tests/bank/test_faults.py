"""Fault injection: every action does what it says, matchers select exactly, every firing is logged.

Rules are added through ``/sim/faults`` as the CLI and scenarios would. The
``bank`` fixture proves the ledger sound after every test; tests that change
money also compare snapshots so a fault can never move money twice.
"""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import pytest
import responses

from bank_depository.protocol import envelope
from tests.conftest import NOTIFY_URL, PLATFORM_NO, redirect_code

PROJECT = "P_FAULTS"


# -- helpers --------------------------------------------------------------------------------------------
def add_rule(bank, **rule) -> dict:
    resp = bank.client.post("/sim/faults", json=rule)
    assert resp.status_code == 201, resp.json
    return resp.json


def fault_state(bank) -> dict:
    resp = bank.client.get("/sim/faults")
    assert resp.status_code == 200
    return resp.json


def dispatcher(bank):
    return bank.app.extensions["wanxin.dispatcher"]


def notifications(bank) -> list[dict]:
    return sorted(bank.client.get("/sim/notifications").json, key=lambda n: n["id"])


def deliver_all(bank):
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_until_idle()


def posted_request_nos(calls) -> list[str]:
    out = []
    for call in calls:
        form = parse_qs(call.request.body)
        out.append(json.loads(base64.b64decode(form["reqData"][0]))["requestNo"])
    return out


def setup_project(bank) -> tuple[str, str, str]:
    """A borrower with a collecting project and two funded investors."""
    borrower = bank.open_account(1, role="B")
    alice = bank.open_account(2)
    bob = bank.open_account(3)
    bank.recharge(alice, "5000.00")
    bank.recharge(bob, "5000.00")
    r = bank.call("CREATE_PROJECT", {"requestNo": bank.next_no(), "userNo": borrower, "projectNo": PROJECT,
                                     "projectAmount": "3000.00", "projectName": "faults"})
    assert r["respCode"] == "00000", r
    deliver_all(bank)
    return borrower, alice, bob


def tender_payload(bank, user_no: str, amount: str = "100.00", biz_type: str = "TENDER") -> dict:
    return {"requestNo": bank.next_no("TND"), "userNo": user_no, "bizType": biz_type, "projectNo": PROJECT,
            "amount": amount}


def query_user(bank, user_no: str) -> dict:
    return bank.call("QUERY_USER", {"requestNo": bank.next_no("Q"), "userNo": user_no})


def query_pattern(bank, user_no: str, n: int) -> list[bool]:
    """Which of n QUERY_USER calls were rejected by a fault."""
    return [query_user(bank, user_no)["respCode"] != "00000" for _ in range(n)]


def open_recharge_page(bank, user_no: str, amount: str) -> str:
    no = bank.next_no()
    payload = {"requestNo": no, "userNo": user_no, "amount": amount, "callbackUrl": "http://platform.test/cb?st=2"}
    page = bank.remember(bank.client.get("/gateway", query_string=bank.signed("RECHARGE", payload)), no)
    assert page.status_code == 200 and b'id="confirm"' in page.data
    return no


def confirm(bank, request_no: str, service: str = "RECHARGE"):
    return bank.client.post("/gateway/confirm", data=bank.confirm_form(request_no, platformNo=PLATFORM_NO,
                                                                       serviceName=service, password="123456"))


# -- reject ---------------------------------------------------------------------------------------------
def test_a_reject_rule_answers_its_code_signed_and_changes_nothing(bank):
    _, alice, _ = setup_project(bank)
    rule = add_rule(bank, action="reject", code="30042", service="USER_AUTO_PRE_TRANSACTION",
                    message="injected refusal")
    before = bank.snapshot()
    payload = tender_payload(bank, alice)
    r = bank.call("USER_AUTO_PRE_TRANSACTION", payload)
    assert (r["respCode"], r["status"], r["requestNo"]) == ("30042", 2, payload["requestNo"])
    assert "injected refusal" in r["respMsg"]
    assert bank.snapshot() == before
    assert bank.client.get(f"/sim/requests/{payload['requestNo']}").status_code == 404
    # nothing was recorded, so the same requestNo goes through once the rule is spent
    again = bank.call("USER_AUTO_PRE_TRANSACTION", payload)
    assert again["respCode"] == "00000"
    assert bank.balances(alice)[:2] == ("4900.00", "100.00")
    [logged] = fault_state(bank)["log"]
    assert logged["rule_id"] == rule["id"] and logged["action"] == "reject"
    assert logged["request_no"] == payload["requestNo"] and logged["service"] == "USER_AUTO_PRE_TRANSACTION"
    assert logged["rule"]["code"] == "30042"


def test_a_reject_rule_without_a_code_answers_the_generic_exception(bank):
    _, alice, _ = setup_project(bank)
    add_rule(bank, action="reject", service="QUERY_USER")
    r = query_user(bank, alice)
    assert (r["respCode"], r["status"]) == ("00001", 2)


def test_a_reject_rule_on_a_gateway_confirmation_moves_nothing_and_notifies_nothing(bank):
    user = bank.open_account(1)
    deliver_all(bank)
    add_rule(bank, action="reject", code="30041", service="RECHARGE")
    before = bank.snapshot()
    no = open_recharge_page(bank, user, "10.00")
    done = confirm(bank, no)
    assert redirect_code(done) == 2
    assert bank.snapshot() == before
    assert [n["serviceName"] for n in notifications(bank)] == ["PERSONAL_REGISTER"]
    [req] = bank.client.get(f"/sim/requests/{no}").json
    assert req["status"] == 0  # still waiting for the user: the refusal was not final
    assert redirect_code(confirm(bank, no)) == 0
    assert bank.balances(user)[0] == "10.00"


# -- lose_response ----------------------------------------------------------------------------------------
def test_a_lost_response_commits_first_and_a_same_request_no_retry_answers_the_original(bank):
    _, alice, _ = setup_project(bank)
    add_rule(bank, action="lose_response", service="USER_AUTO_PRE_TRANSACTION")
    payload = tender_payload(bank, alice, "300.00")
    lost = bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload)
    assert lost.status_code == 504 and lost.data == b""
    assert bank.balances(alice)[:2] == ("4700.00", "300.00")
    after = bank.snapshot()
    retry = bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload)
    assert retry.status_code == 200
    data = envelope.verify_response(retry.get_data(as_text=True), bank.keys["bank_public_key"])
    assert (data["respCode"], data["amount"], data["requestNo"]) == ("00000", "300.00", payload["requestNo"])
    assert bank.snapshot() == after
    assert bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload).data == retry.data
    found = bank.call("QUERY_TRANSACTION", {"requestNo": bank.next_no("Q"),
                                            "transactionRequestNo": payload["requestNo"]})
    assert (found["transactionStatus"], found["result"]["respCode"]) == ("SUCCESS", "00000")


def test_a_lost_refusal_is_also_the_stored_answer_of_the_retry(bank):
    _, alice, _ = setup_project(bank)
    add_rule(bank, action="lose_response", service="USER_AUTO_PRE_TRANSACTION")
    payload = tender_payload(bank, alice, "3000.01")
    before = bank.snapshot()
    assert bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload).status_code == 504
    retry = bank.call("USER_AUTO_PRE_TRANSACTION", payload)
    assert (retry["respCode"], retry["status"]) == ("30023", 2)
    assert bank.snapshot() == before


def test_a_lost_gateway_response_still_moves_the_money_once_and_notifies_once(bank):
    user = bank.open_account(1)
    deliver_all(bank)
    add_rule(bank, action="lose_response", service="RECHARGE")
    no = open_recharge_page(bank, user, "25.00")
    lost = confirm(bank, no)
    assert lost.status_code == 504
    assert bank.balances(user) == ("25.00", "0.00", "9975.00")
    again = confirm(bank, no)
    assert redirect_code(again) == 0
    assert bank.balances(user) == ("25.00", "0.00", "9975.00")
    recharge_notes = [n for n in notifications(bank) if n["requestNo"] == no]
    assert len(recharge_notes) == 1 and recharge_notes[0]["payload"]["transactionStatus"] == "SUCCESS"


# -- delay ----------------------------------------------------------------------------------------------
def test_a_delay_rule_still_answers_normally(bank):
    _, alice, _ = setup_project(bank)
    add_rule(bank, action="delay", seconds=0.01, service="USER_AUTO_PRE_TRANSACTION")
    r = bank.call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, alice))
    assert r["respCode"] == "00000"
    assert [e["action"] for e in fault_state(bank)["log"]] == ["delay"]


def test_a_delay_rule_on_a_gateway_confirmation_still_redirects(bank):
    user = bank.open_account(1)
    add_rule(bank, action="delay", seconds=0.01, service="RECHARGE")
    _, done = bank.recharge(user, "5.00")
    assert redirect_code(done) == 0
    assert bank.balances(user)[0] == "5.00"
    assert [e["action"] for e in fault_state(bank)["log"]] == ["delay"]


# -- notification faults ----------------------------------------------------------------------------------
def test_a_dropped_notification_is_never_sent_but_recorded_and_can_be_resent(bank):
    user = bank.open_account(1)
    deliver_all(bank)
    rule = add_rule(bank, action="drop_notification", service="RECHARGE")
    bank.recharge(user, "10.00")
    no = f"REQ_{bank.seq:06d}"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        assert dispatcher(bank).run_until_idle() == []
        assert len(rsps.calls) == 0
    [note] = [n for n in notifications(bank) if n["requestNo"] == no]
    assert note["state"] == "DROPPED"
    assert f"rule {rule['id']}" in note["history"][0]["error"]
    assert [(e["action"], e["request_no"]) for e in fault_state(bank)["log"]] == [("drop_notification", no)]
    bank.client.post(f"/sim/notifications/{note['id']}/resend")
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        assert posted_request_nos(rsps.calls) == [no]
    assert [n["state"] for n in notifications(bank) if n["requestNo"] == no] == ["DELIVERED"]


def test_a_duplicated_notification_is_posted_twice_with_the_same_bytes(bank):
    user = bank.open_account(1)
    deliver_all(bank)
    add_rule(bank, action="duplicate_notification", service="RECHARGE")
    bank.recharge(user, "10.00")
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        assert [a.ok for a in dispatcher(bank).run_once()] == [True, True]
        assert len(rsps.calls) == 2 and rsps.calls[0].request.body == rsps.calls[1].request.body
        assert dispatcher(bank).run_until_idle() == []
    note = notifications(bank)[-1]
    assert note["state"] == "DELIVERED" and len(note["history"]) == 2


def test_a_delayed_notification_waits_that_long_on_the_bank_s_clock(bank):
    user = bank.open_account(1)
    deliver_all(bank)
    add_rule(bank, action="delay_notification", seconds=30, service="RECHARGE")
    bank.recharge(user, "10.00")
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        assert dispatcher(bank).run_until_idle() == []
        bank.client.post("/sim/clock", json={"advance_seconds": 29})
        assert dispatcher(bank).run_once() == []
        bank.client.post("/sim/clock", json={"advance_seconds": 1})
        assert [a.ok for a in dispatcher(bank).run_once()] == [True]
        assert len(rsps.calls) == 1
    assert notifications(bank)[-1]["state"] == "DELIVERED"


def test_an_always_on_delay_rule_delays_each_notification_once_and_then_lets_it_through(bank):
    user = bank.open_account(1)
    deliver_all(bank)
    rule = add_rule(bank, action="delay_notification", seconds=60, times=-1)
    bank.recharge(user, "10.00")
    bank.recharge(user, "20.00")
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        assert dispatcher(bank).run_until_idle() == []
        bank.client.post("/sim/clock", json={"advance_seconds": 60})
        assert [a.ok for a in dispatcher(bank).run_until_idle()] == [True, True]
    recharges = [n for n in notifications(bank) if n["serviceName"] == "RECHARGE"]
    assert [n["state"] for n in recharges] == ["DELIVERED", "DELIVERED"]
    assert f"rule {rule['id']}" in recharges[0]["history"][0]["error"]
    assert len(fault_state(bank)["log"]) == 2


def test_reordered_notifications_arrive_in_reverse(bank):
    user = bank.open_account(1)
    deliver_all(bank)
    for amount in ("1.00", "2.00", "3.00"):
        bank.recharge(user, amount)
    pending = [n["requestNo"] for n in notifications(bank) if n["state"] == "PENDING"]
    add_rule(bank, action="reorder_notifications")
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        assert posted_request_nos(rsps.calls) == pending[::-1]
    assert [e["action"] for e in fault_state(bank)["log"]] == ["reorder_notifications"]


def test_notifications_go_out_in_commit_order_without_a_rule(bank):
    user = bank.open_account(1)
    for amount in ("1.00", "2.00"):
        bank.recharge(user, amount)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        assert posted_request_nos(rsps.calls) == [n["requestNo"] for n in notifications(bank)]


def test_a_notification_rule_matches_by_user(bank):
    a, b = bank.open_account(1), bank.open_account(2)
    add_rule(bank, action="drop_notification", userNo=b, times=-1)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_until_idle()
        delivered = posted_request_nos(rsps.calls)
    states = {n["payload"]["userNo"]: n["state"] for n in notifications(bank)}
    assert states == {a: "DELIVERED", b: "DROPPED"} and len(delivered) == 1


# -- matchers -------------------------------------------------------------------------------------------
def test_a_rule_for_one_service_leaves_the_others_alone(bank):
    borrower, alice, _ = setup_project(bank)
    add_rule(bank, action="reject", service="QUERY_USER", times=-1)
    assert bank.call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, alice))["respCode"] == "00000"
    assert query_user(bank, alice)["respCode"] == "00001"
    [rule] = fault_state(bank)["rules"]
    assert (rule["matched"], rule["fired"]) == (1, 1)


def test_a_rule_matches_by_biz_type(bank):
    _, alice, _ = setup_project(bank)
    add_rule(bank, action="reject", code="30050", bizType="REPAYMENT", times=-1)
    assert bank.call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, alice))["respCode"] == "00000"
    add_rule(bank, action="reject", code="30050", bizType="TENDER", times=-1)
    assert bank.call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, alice))["respCode"] == "30050"
    assert query_user(bank, alice)["respCode"] == "00000"  # no bizType: neither rule applies


def test_a_rule_matches_by_user_on_direct_services(bank):
    _, alice, bob = setup_project(bank)
    add_rule(bank, action="reject", userNo=bob, times=-1)
    assert bank.call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, alice))["respCode"] == "00000"
    assert bank.call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, bob))["respCode"] == "00001"
    assert bank.balances(bob)[:2] == ("5000.00", "0.00")


def test_a_rule_matches_by_user_on_gateway_confirmations(bank):
    a, b = bank.open_account(1), bank.open_account(2)
    add_rule(bank, action="reject", service="RECHARGE", userNo=b, times=-1)
    _, done_a = bank.recharge(a, "10.00")
    _, done_b = bank.recharge(b, "10.00")
    assert (redirect_code(done_a), redirect_code(done_b)) == (0, 2)
    assert (bank.balances(a)[0], bank.balances(b)[0]) == ("10.00", "0.00")


def test_a_gateway_rule_matches_the_stored_request_not_what_the_form_claims(bank):
    a = bank.open_account(1)
    add_rule(bank, action="reject", service="RECHARGE", userNo=a, times=-1)
    no = open_recharge_page(bank, a, "10.00")
    done = bank.client.post("/gateway/confirm", data=bank.confirm_form(no, platformNo=PLATFORM_NO,
                                                                       serviceName="WITHDRAW",
                                                                       userNo="SOMEONE_ELSE", password="123456"))
    assert redirect_code(done) == 2
    assert bank.balances(a)[0] == "0.00"


def test_nth_fires_on_the_nth_matching_call_only(bank):
    _, alice, _ = setup_project(bank)
    add_rule(bank, action="reject", service="QUERY_USER", nth=3)
    assert query_pattern(bank, alice, 5) == [False, False, True, False, False]


def test_times_limits_how_often_a_rule_fires(bank):
    _, alice, _ = setup_project(bank)
    add_rule(bank, action="reject", service="QUERY_USER", times=2)
    assert query_pattern(bank, alice, 4) == [True, True, False, False]
    bank.client.delete("/sim/faults")
    add_rule(bank, action="reject", service="QUERY_USER", nth=2, times=2)
    assert query_pattern(bank, alice, 5) == [False, True, True, False, False]
    bank.client.delete("/sim/faults")
    add_rule(bank, action="reject", service="QUERY_USER", times=-1)
    assert query_pattern(bank, alice, 6) == [True] * 6


def test_a_seeded_probability_fires_the_same_pattern_every_run(bank):
    _, alice, _ = setup_project(bank)
    rule = {"action": "reject", "service": "QUERY_USER", "probability": 0.5, "seed": 42, "times": -1}
    add_rule(bank, **rule)
    first = query_pattern(bank, alice, 24)
    bank.client.delete("/sim/faults")
    add_rule(bank, **rule)
    second = query_pattern(bank, alice, 24)
    assert first == second
    assert 0 < sum(first) < 24
    bank.client.delete("/sim/faults")
    add_rule(bank, **dict(rule, seed=43))
    assert query_pattern(bank, alice, 24) != first
    log = fault_state(bank)["log"]
    assert log and {e["rule"]["seed"] for e in log} == {42, 43}


def test_a_probability_of_one_always_fires(bank):
    _, alice, _ = setup_project(bank)
    add_rule(bank, action="reject", service="QUERY_USER", probability=1, seed="soak", times=-1)
    assert query_pattern(bank, alice, 5) == [True] * 5


def test_the_first_matching_rule_wins_and_only_it_is_counted_as_fired(bank):
    _, alice, _ = setup_project(bank)
    first = add_rule(bank, action="reject", code="30042", service="QUERY_USER")
    second = add_rule(bank, action="reject", code="30050", service="QUERY_USER")
    assert [query_user(bank, alice)["respCode"] for _ in range(3)] == ["30042", "30050", "00000"]
    assert [(e["rule_id"]) for e in reversed(fault_state(bank)["log"])] == [first["id"], second["id"]]


# -- the rule book --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule, key", [
    ({"action": "explode"}, "action"),
    ({}, "action"),
    ({"action": "reject", "colour": "red"}, "colour"),
    ({"action": "reject", "code": "00000"}, "code"),
    ({"action": "reject", "code": "abc"}, "code"),
    ({"action": "delay"}, "seconds"),
    ({"action": "delay", "seconds": -1}, "seconds"),
    ({"action": "delay", "seconds": 1000}, "seconds"),
    ({"action": "delay_notification", "seconds": "soon"}, "seconds"),
    ({"action": "reject", "nth": 0}, "nth"),
    ({"action": "reject", "nth": "2"}, "nth"),
    ({"action": "reject", "times": 0}, "times"),
    ({"action": "reject", "times": -2}, "times"),
    ({"action": "reject", "probability": 1.5, "seed": 1}, "probability"),
    ({"action": "reject", "probability": 0.5}, "seed"),
])
def test_an_invalid_rule_is_a_400_naming_the_key(bank, rule, key):
    resp = bank.client.post("/sim/faults", json=rule)
    assert resp.status_code == 400
    assert key in resp.json["error"]["message"]
    assert fault_state(bank)["rules"] == []


def test_a_rule_that_is_not_a_json_object_is_refused(bank):
    resp = bank.client.post("/sim/faults", json=["reject"])
    assert resp.status_code == 400 and resp.json["error"]["message"]


def test_rules_are_listed_with_their_counters_and_deleted_together(bank):
    _, alice, _ = setup_project(bank)
    made = add_rule(bank, action="reject", service="QUERY_USER", code="30042")
    assert made["times"] == 1 and made["id"] > 0
    add_rule(bank, action="drop_notification", userNo=alice)
    query_user(bank, alice)
    state = fault_state(bank)
    assert [(r["action"], r["matched"], r["fired"]) for r in state["rules"]] == [("reject", 1, 1),
                                                                                ("drop_notification", 0, 0)]
    cleared = bank.client.delete("/sim/faults")
    assert cleared.status_code == 200 and cleared.json == {"cleared": 2}
    assert fault_state(bank)["rules"] == []
    assert query_user(bank, alice)["respCode"] == "00000"
    assert len(fault_state(bank)["log"]) == 1  # the log explains the past run


def test_every_firing_is_logged_with_its_rule_and_the_bank_s_time(bank):
    _, alice, _ = setup_project(bank)
    rule = add_rule(bank, action="reject", service="QUERY_USER", times=3)
    bank.client.post("/sim/clock", json={"advance_seconds": 60})
    for _ in range(4):
        query_user(bank, alice)
    log = fault_state(bank)["log"]
    assert len(log) == 3
    for entry in log:
        assert entry["rule_id"] == rule["id"]
        assert entry["rule"] == {k: v for k, v in rule.items() if k != "id"}
        assert entry["fired_at"].startswith("2026-01-05T09:01:00")
        assert entry["service"] == "QUERY_USER" and entry["request_no"].startswith("Q_")
        assert f"userNo={alice}" in entry["detail"]


@pytest.mark.parametrize("action", ["reject", "lose_response", "delay"])
def test_the_ledger_stays_sound_under_every_request_fault_for_a_whole_lifecycle(bank, action):
    borrower, alice, bob = setup_project(bank)
    extra = {"code": "30042"} if action == "reject" else {"seconds": 0.01} if action == "delay" else {}
    add_rule(bank, action=action, times=-1, probability=0.5, seed=action, **extra)
    for user, amount in ((alice, "1000.00"), (bob, "2000.00")):
        payload = tender_payload(bank, user, amount)
        for _ in range(10):  # retry with the same requestNo until an answer gets through
            resp = bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload)
            if resp.status_code == 200:
                body = envelope.verify_response(resp.get_data(as_text=True), bank.keys["bank_public_key"])
                if body["respCode"] == "00000":
                    break
        assert bank.problems() == []
    bank.client.delete("/sim/faults")
    assert bank.balances(alice)[:2] == ("4000.00", "1000.00")
    assert bank.balances(bob)[:2] == ("3000.00", "2000.00")


@pytest.mark.parametrize("action", ["drop_notification", "duplicate_notification", "reorder_notifications"])
def test_the_ledger_stays_sound_under_every_notification_fault(bank, action):
    user = bank.open_account(1)
    add_rule(bank, action=action, times=-1)
    before = bank.snapshot()
    for amount in ("1.00", "2.00"):
        bank.recharge(user, amount)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_until_idle()
    assert bank.problems() == []
    assert bank.snapshot()["entries"] == before["entries"] + 2
