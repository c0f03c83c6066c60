"""Idempotency by requestNo (DESIGN §2.3), on the direct services and the gateway.

Same requestNo + same payload: the stored answer, byte for byte, errors
included, and nothing runs twice. Same requestNo + another payload: 00005
naming the field that differs, and nothing changes. Both hold across a restart.
"""
from __future__ import annotations

import json

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import codes, envelope
from tests.conftest import PLATFORM_NO, BankDriver, bank_config, redirect_code


def body(resp) -> bytes:
    assert resp.status_code == 200
    return resp.get_data()


def verified(bank, raw: bytes) -> dict:
    return envelope.verify_response(raw.decode("utf-8"), bank.keys["bank_public_key"])


@pytest.fixture
def world(bank):
    borrower = bank.open_account(1, "B")
    investor = bank.open_account(2, "I")
    bank.recharge(investor, "1000.00")
    bank.call("CREATE_PROJECT", {"requestNo": "PRJ1", "userNo": borrower, "projectNo": "P1",
                                 "projectAmount": "5000.00"})
    return {"borrower": borrower, "investor": investor}


def tender(world, request_no: str = "T1", amount: str = "100.00", **extra) -> dict:
    return {"requestNo": request_no, "userNo": world["investor"], "projectNo": "P1", "bizType": "TENDER",
            "amount": amount, **extra}


# -- same payload -----------------------------------------------------------------------------------------
def test_a_replayed_success_answers_the_same_bytes_and_moves_money_once(bank, world):
    first = body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world)))
    after_first = bank.snapshot()
    second = body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world)))
    assert second == first
    assert verified(bank, second)["respCode"] == codes.SUCCESS
    assert bank.snapshot() == after_first
    assert bank.balances(world["investor"])[:2] == ("900.00", "100.00")


def test_a_replayed_refusal_answers_the_same_bytes_even_when_it_would_now_succeed(bank, world):
    payload = tender(world, amount="1500.00")
    first = body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload))
    assert verified(bank, first)["respCode"] == codes.BALANCE_NOT_ENOUGH
    bank.recharge(world["investor"], "1000.00")  # the same request would now succeed …
    before = bank.snapshot()
    assert body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload)) == first  # … but it already has its answer
    assert bank.snapshot() == before


def test_a_replayed_parameter_error_answers_the_same_bytes(bank, world):
    payload = tender(world, amount="1.001")
    first = body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload))
    assert verified(bank, first)["respCode"] == codes.PARAM_FAIL
    assert body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload)) == first


def test_envelope_refusals_and_unknown_services_also_answer_the_same_bytes(bank, world):
    bad_key = dict(key=bank.keys["other_private_key"])
    assert body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world), **bad_key)) == \
        body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world), **bad_key))
    assert body(bank.raw_call("NO_SUCH", {"requestNo": "N1"})) == body(bank.raw_call("NO_SUCH", {"requestNo": "N1"}))


@pytest.mark.parametrize("service, payload", [
    ("CREATE_PROJECT", {"requestNo": "X", "userNo": "USR_0001", "projectNo": "P2", "projectAmount": "10"}),
    ("MODIFY_PROJECT", {"requestNo": "X", "projectNo": "P1", "projectStatus": "FULLY"}),
    ("CANCEL_PRE_TRANSACTION", {"requestNo": "X", "preRequestNo": "T0"}),
    ("CONFIRM_LOAN", {"requestNo": "X", "projectNo": "P1", "details": [{"preRequestNo": "T0", "amount": "50"}]}),
])
def test_every_mutating_service_runs_once_per_request_no(bank, world, service, payload):
    bank.call("USER_AUTO_PRE_TRANSACTION", tender(world, "T0", "50.00"))
    first = body(bank.raw_call(service, payload))
    assert verified(bank, first)["respCode"] == codes.SUCCESS
    after = bank.snapshot()
    assert body(bank.raw_call(service, payload)) == first
    assert bank.snapshot() == after


def test_the_same_values_serialised_differently_are_the_same_payload(bank, world):
    payload = tender(world)
    first = body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload))
    text = json.dumps(dict(reversed(list(payload.items()))), indent=1)
    req = envelope.sign_request("USER_AUTO_PRE_TRANSACTION", PLATFORM_NO, payload,
                                bank.keys["platform_private_key"], payload_text=text)
    assert body(bank.client.post("/service", data=req.fields())) == first
    assert bank.balances(world["investor"])[:2] == ("900.00", "100.00")


# -- different payload ------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, field", [
    ({"amount": "100.01"}, "amount"),
    ({"amount": 100}, "amount"),             # a number is not the string it looks like
    ({"projectNo": "P2"}, "projectNo"),
    ({"memo": "x"}, "memo"),                 # even a field the service ignores
])
def test_a_request_no_reused_with_another_payload_is_a_conflict_naming_the_field(bank, world, change, field):
    first = body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world)))
    before = bank.snapshot()
    data = bank.call("USER_AUTO_PRE_TRANSACTION", {**tender(world), **change})
    assert data["respCode"] == codes.REQUEST_CONFLICT and data["status"] == codes.STATUS_FAILURE
    assert data["requestNo"] == "T1" and field in data["respMsg"]
    assert bank.snapshot() == before
    assert body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world))) == first  # the original still replays


def test_a_conflict_inside_details_names_the_dotted_field(bank, world):
    bank.call("USER_AUTO_PRE_TRANSACTION", tender(world, "T0", "50.00"))
    loan = {"requestNo": "L1", "projectNo": "P1", "details": [{"preRequestNo": "T0", "amount": "50.00"}]}
    bank.call("CONFIRM_LOAN", loan)
    before = bank.snapshot()
    data = bank.call("CONFIRM_LOAN", {**loan, "details": [{"preRequestNo": "T0", "amount": "50.01"}]})
    assert data["respCode"] == codes.REQUEST_CONFLICT and "details[0].amount" in data["respMsg"]
    assert bank.snapshot() == before


def test_a_request_no_reused_for_another_service_is_a_conflict_naming_the_service(bank, world):
    bank.call("USER_AUTO_PRE_TRANSACTION", tender(world, "T0", "50.00"))
    cancel = {"requestNo": "SAME", "preRequestNo": "T0"}
    assert bank.call("CANCEL_PRE_TRANSACTION", cancel)["respCode"] == codes.SUCCESS
    before = bank.snapshot()
    for service in ("CONFIRM_LOAN", "MODIFY_PROJECT"):
        data = bank.call(service, cancel)  # the very same payload text under another service
        assert data["respCode"] == codes.REQUEST_CONFLICT and "serviceName" in data["respMsg"]
    assert bank.snapshot() == before


def test_a_conflicting_replay_of_a_refusal_is_still_a_conflict(bank, world):
    assert bank.call("USER_AUTO_PRE_TRANSACTION", tender(world, amount="1500.00"))["respCode"] == \
        codes.BALANCE_NOT_ENOUGH
    data = bank.call("USER_AUTO_PRE_TRANSACTION", tender(world, amount="15.00"))
    assert data["respCode"] == codes.REQUEST_CONFLICT and "amount" in data["respMsg"]
    assert bank.balances(world["investor"])[:2] == ("1000.00", "0.00")


def test_a_gateway_request_no_cannot_be_replayed_as_a_direct_service(bank, world):
    page = bank.client.get("/gateway", query_string=bank.signed("RECHARGE", {
        "requestNo": "G1", "userNo": world["investor"], "amount": "1.00", "callbackUrl": "http://platform.test/cb"}))
    assert page.status_code == 200
    data = bank.call("CANCEL_PRE_TRANSACTION", {"requestNo": "G1", "userNo": world["investor"], "amount": "1.00",
                                                "callbackUrl": "http://platform.test/cb"})
    assert data["respCode"] == codes.REQUEST_CONFLICT and "serviceName" in data["respMsg"]


def test_a_gateway_page_for_another_service_under_a_used_request_no_is_a_conflict(bank, world):
    """A recharge page reopened as a withdrawal must not show one thing and execute the other."""
    payload = {"requestNo": "G1", "userNo": world["investor"], "amount": "1.00",
               "callbackUrl": "http://platform.test/cb"}
    assert b'id="confirm"' in bank.client.get("/gateway", query_string=bank.signed("RECHARGE", payload)).data
    page = bank.client.get("/gateway", query_string=bank.signed("WITHDRAW", payload))
    html = page.get_data(as_text=True)
    assert 'id="confirm"' not in html and codes.message(codes.REQUEST_CONFLICT) in html and "serviceName" in html


# -- across a restart -------------------------------------------------------------------------------------
def test_replays_and_conflicts_hold_across_a_restart_on_the_same_database(bank, world, tmp_path, keys):
    ok = body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world)))
    refusal = body(bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world, "T2", "5000.00")))
    gateway = {"requestNo": "RC9", "userNo": world["investor"], "amount": "5.00",
               "callbackUrl": "http://platform.test/cb"}
    _, done = bank.gateway("RECHARGE", gateway)
    assert redirect_code(done) == 0
    before = bank.snapshot()

    app = create_app(bank_config(tmp_path, keys))
    try:
        again = BankDriver(app, keys)
        assert body(again.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world))) == ok
        assert body(again.raw_call("USER_AUTO_PRE_TRANSACTION", tender(world, "T2", "5000.00"))) == refusal
        data = again.call("USER_AUTO_PRE_TRANSACTION", tender(world, amount="1.00"))
        assert data["respCode"] == codes.REQUEST_CONFLICT and "amount" in data["respMsg"]
        confirm = again.client.post("/gateway/confirm", data=bank.confirm_form(
            "RC9", platformNo=PLATFORM_NO, serviceName="RECHARGE", password="123456"))
        assert confirm.headers["Location"] == done.headers["Location"]
        assert again.snapshot() == before
        assert again.problems() == []
    finally:
        app.extensions["wanxin.dispatcher"].stop()
        app.extensions["wanxin.bank"].database.close()


def test_connections_of_finished_threads_are_closed_so_a_thread_per_request_server_does_not_leak(tmp_path):
    import threading

    from bank_depository.storage.db import Database

    database = Database(tmp_path / "x.sqlite")
    database.conn()
    for _ in range(50):
        worker = threading.Thread(target=lambda: database.conn().execute("SELECT 1").fetchone())
        worker.start()
        worker.join()
    database.conn()
    assert database.open_connections() <= 2
    database.close()
