"""The legacy profile's local endpoints (reference §2.9), byte for byte.

No envelope and no signature on the way in; Jackson-shaped JSON on the way
out (declaration order, nulls written, BigDecimal amounts as numbers). A
refusal is the original's signed ``DepositoryResponse`` (its
GlobalExceptionHandler), with ``status`` 1.
"""
from __future__ import annotations

import json

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import envelope
from tests.bank.legacy_driver import (CONTEXT, MODERN_NO, LegacyDriver, close, legacy_config, verified)
from tests.conftest import make_id_number, page_token

NO_ROW = '{"userNo":null,"changeType":null,"freezeAmount":null,"balance":0,"appCode":null,"createDate":null}'


@pytest.fixture
def bank(tmp_path, keys):
    app = create_app(legacy_config(tmp_path, keys))
    driver = LegacyDriver(app)
    yield driver
    assert driver.problems() == []
    close(app)


def get(bank, path: str) -> str:
    resp = bank.client.get(CONTEXT + path)
    assert resp.status_code == 200 and resp.content_type == "application/json;charset=UTF-8"
    return resp.get_data(as_text=True)


def post(bank, path: str, data) -> str:
    resp = bank.client.post(CONTEXT + path, data=json.dumps(data, ensure_ascii=False),
                            content_type="application/json")
    assert resp.status_code == 200 and resp.content_type == "application/json;charset=UTF-8"
    return resp.get_data(as_text=True)


def change_type(bank, user_no: str) -> int:
    return json.loads(get(bank, f"/balance-details/{user_no}"))["changeType"]


# -- /balance-details/{userNo} ----------------------------------------------------------------------------
def test_an_unknown_user_has_balance_0_and_every_other_field_null(bank):
    assert get(bank, "/balance-details/USR_NOBODY") == NO_ROW


def test_an_opened_account_reads_as_the_originals_opening_row(bank):
    user = bank.open_account(1)
    assert get(bank, f"/balance-details/{user}") == (
        '{"userNo":"USR_0001","changeType":0,"freezeAmount":0.00,"balance":0.00,"appCode":"wanxinp2p",'
        '"createDate":"2026-01-05 09:00:00"}')


def test_every_movement_reports_the_originals_change_type_and_our_exact_balances(bank):
    bob, ivy = bank.open_account(1, "B"), bank.open_account(2, "I")
    bank.recharge(ivy, "500.00")
    assert change_type(bank, ivy) == 1
    assert bank.call("CREATE_PROJECT", {"requestNo": "P", "userNo": bob, "projectNo": "PRO_1",
                                        "projectAmount": "300.00"})["respCode"] == "00000"
    freeze = {"requestNo": "T1", "userNo": ivy, "bizType": "TENDER", "amount": "100.00", "projectNo": "PRO_1"}
    assert bank.call("USER_AUTO_PRE_TRANSACTION", freeze)["respCode"] == "00000"
    assert json.loads(get(bank, f"/balance-details/{ivy}")) == {
        "userNo": ivy, "changeType": 3, "freezeAmount": 100.0, "balance": 400.0, "appCode": "wanxinp2p",
        "createDate": "2026-01-05 09:00:00"}
    assert '"freezeAmount":100.00,"balance":400.00,' in get(bank, f"/balance-details/{ivy}")
    assert bank.call("CANCEL_PRE_TRANSACTION", {"requestNo": "C1", "preRequestNo": "T1"})["respCode"] == "00000"
    assert change_type(bank, ivy) == 4
    assert bank.call("USER_AUTO_PRE_TRANSACTION", {**freeze, "requestNo": "T2", "amount": "300.00"})["respCode"] \
        == "00000"
    loan = {"requestNo": "L1", "projectNo": "PRO_1", "commission": "3.00",
            "details": [{"preRequestNo": "T2", "amount": "300.00"}]}
    assert bank.call("CONFIRM_LOAN", loan)["respCode"] == "00000"
    assert (change_type(bank, ivy), change_type(bank, bob)) == (2, 1)
    assert '"freezeAmount":0.00,"balance":297.00,' in get(bank, f"/balance-details/{bob}")
    bank.withdraw(ivy, "200.00")
    assert change_type(bank, ivy) == 2
    assert '"freezeAmount":0.00,"balance":0.00,' in get(bank, f"/balance-details/{ivy}")


def test_a_modern_platforms_accounts_are_not_visible_on_the_legacy_routes(bank, keys):
    card = {"fullname": "现代", "idNumber": make_id_number(9), "mobile": "13800000009",
            "cardNumber": "6222020000000009", "bankCode": "ICBC", "balance": "100.00"}
    bank.client.post("/sim/bank-cards", json=card)
    payload = {"requestNo": "M1", "userNo": "MU1", "fullname": card["fullname"], "idNumber": card["idNumber"],
               "mobile": card["mobile"], "cardNumber": card["cardNumber"], "role": "I",
               "callbackUrl": "http://modern.test/cb?st=1"}
    fields = envelope.sign_request("PERSONAL_REGISTER", MODERN_NO, payload, keys["platform_private_key"]).fields()
    token = page_token(bank.client.get("/gateway", query_string=fields))
    bank.client.post("/gateway/confirm", data={"platformNo": MODERN_NO, "requestNo": "M1", "password": "123456",
                                               "confirmPassword": "123456", "pageToken": token})
    assert bank.client.get("/sim/accounts/MU1").status_code == 200
    assert get(bank, "/balance-details/MU1") == NO_ROW
    assert post(bank, "/users/password", {"userNo": "MU1", "password": "123456"}).endswith('"result":0}')


# -- the bank counter: /bank-cards -------------------------------------------------------------------------
def test_a_card_opened_at_the_counter_answers_an_empty_local_response_and_holds_its_balance(bank):
    card = {"fullname": "张三", "idNumber": make_id_number(1), "mobile": "13800000001", "userType": 1,
            "bankCode": "ICBC", "bankName": "中国工商银行", "cardNumber": "6222020000000001", "password": "888888",
            "balance": 5000.00}
    assert post(bank, "/bank-cards", card) == \
        '{"respCode":"00000","respMsg":"成功","status":1,"requestNo":"","result":null}'
    assert get(bank, "/bank-cards/card-number/6222020000000001") == \
        '{"respCode":"00000","respMsg":"成功","status":1,"requestNo":"","result":5000.00}'
    again = verified(post(bank, "/bank-cards", card))
    assert again["respCode"] == "60101" and again["status"] == 1 and again["requestNo"] == ""


def test_an_unknown_card_is_the_originals_signed_60102(bank):
    assert get(bank, "/bank-cards/card-number/6222000000000000") == (
        '{"signature":"IU1xOwfWTqsEsedi6VTn9l/a3+PPbQr/3zwaSR8xTKioZK6AHS0zES4QPGuWiKE57J5LpOMJhZ9Q6ntjIaDCiA==",'
        '"respData":{"respMsg":"银行卡号不存在","requestNo":"","respCode":"60102","status":1}}')


def test_a_counter_request_that_is_not_json_is_refused_signed_with_00003(bank):
    resp = bank.client.post(f"{CONTEXT}/bank-cards", data="fullname=x", content_type="text/plain")
    data = verified(resp.get_data(as_text=True))
    assert data["respCode"] == "00003" and data["status"] == 1


def test_the_card_search_pages_and_sorts_as_the_originals_pagevo(bank):
    bank.card(1, "100.00")
    bank.card(2, "200.00")
    body = post(bank, "/bank-cards/q?pageNo=1&pageSize=1&sortBy=cardNumber&order=desc", {"cardNumber": "62220200"})
    assert body == (
        '{"respCode":"00000","respMsg":"成功","status":1,"requestNo":"","result":{"content":[{"id":"2","userId":"2",'
        '"bankCode":"ICBC","bankName":"中国工商银行","cardNumber":"6222020000000002","password":null}],"total":"2",'
        '"pageNo":1,"pageSize":1,"first":false,"totalPage":2,"contentSize":1}}')
    none = json.loads(post(bank, "/bank-cards/q?pageNo=1&pageSize=10", {"bankCode": "CMB"}))["result"]
    assert none["content"] == [] and none["total"] == "0"  # PageVO.total is a long: a string
    refused = verified(post(bank, "/bank-cards/q?pageNo=1&pageSize=10&sortBy=1;drop", {}))
    assert refused["respCode"] == "00003"


# -- the pages' helpers: /users/password and /smscode ------------------------------------------------------
def test_the_password_pre_check_answers_1_for_the_right_password_and_0_otherwise(bank):
    user = bank.open_account(1)
    ok = '{"respCode":"00000","respMsg":"成功","status":1,"requestNo":"","result":1}'
    assert post(bank, "/users/password", {"userNo": user, "password": "123456"}) == ok
    assert post(bank, "/users/password", {"userNo": user, "password": "12345"}).endswith('"result":0}')
    assert post(bank, "/users/password", {"userNo": "USR_NOBODY", "password": "123456"}).endswith('"result":0}')


def test_the_sms_code_endpoint_is_a_no_op_success(bank):
    assert get(bank, "/smscode/13800000001") == \
        '{"respCode":"00000","respMsg":"成功","status":1,"requestNo":"","result":null}'
