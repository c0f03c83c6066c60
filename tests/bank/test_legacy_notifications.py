"""The legacy profile's asynchronous notifications (reference §1.7), byte for byte.

``GET {notifyUrl}gateway/?serviceName=…&platformNo=…&reqData=…&signature=…``
with the values URL-encoded, the payload holding only the original's fields
in alphabetical order, its failure values (``00001``, ``status`` 2), the
signature over exactly the payload; only the body ``OK`` acknowledges.
"""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import pytest
import responses

from bank_depository.app import create_app
from bank_depository.protocol import envelope, legacy, signing
from tests.bank.legacy_driver import (MODERN_NO, MODERN_NOTIFY_URL, NOTIFY_URL, LegacyDriver, close, legacy_config,
                                      sent_notification)
from tests.conftest import make_id_number, page_token
from tests.legacy_keys import DEPOSITORY_PRIVATE_KEY

GATEWAY_URL = NOTIFY_URL + "gateway/"


@pytest.fixture
def bank(tmp_path, keys):
    app = create_app(legacy_config(tmp_path, keys))
    driver = LegacyDriver(app)
    yield driver
    assert driver.problems() == []
    close(app)


def deliver(bank, body: str = "OK") -> list:
    """Run the dispatcher once against a mocked platform; returns the calls it made."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(GATEWAY_URL, body=body)
        rsps.post(MODERN_NOTIFY_URL, body="OK")
        bank.app.extensions["wanxin.dispatcher"].run_until_idle()
        return list(rsps.calls)


def rows(bank) -> dict:
    return {n["requestNo"]: n for n in bank.client.get("/sim/notifications").json}


def test_an_opened_account_is_notified_by_get_to_notify_url_gateway_with_the_exact_payload(bank):
    bank.open_account(1)
    [call] = deliver(bank)
    payload = ('{"auditStatus":"PASSED","bankCode":"ICBC","bankName":"中国工商银行","requestNo":"REQ_000001",'
               '"respCode":"00000","respMsg":"成功","status":1}')
    key = signing.load_private_key(DEPOSITORY_PRIVATE_KEY, allow_weak=True)
    signature = signing.sign(key, payload.encode("utf-8"), signing.SHA1)
    assert call.request.method == "GET"
    assert call.request.url == (
        GATEWAY_URL + "?serviceName=PERSONAL_REGISTER&platformNo=wanxinp2p&reqData="
        + legacy.java_url_encode(base64.b64encode(payload.encode("utf-8")).decode())
        + "&signature=" + legacy.java_url_encode(signature))
    fields, text = sent_notification(call)
    assert text == payload
    assert rows(bank)["REQ_000001"]["state"] == "DELIVERED"


def test_a_recharge_is_notified_with_only_the_originals_five_fields(bank):
    user = bank.open_account(1)
    deliver(bank)
    request_no, _ = bank.recharge(user, "100.00")
    [call] = deliver(bank)
    assert sent_notification(call)[1] == (f'{{"requestNo":"{request_no}","respCode":"00000","respMsg":"成功",'
                                          '"status":1,"transactionStatus":"SUCCESS"}')


def test_a_refused_recharge_says_00001_status_2_fail_and_keeps_the_reason_as_the_original_does(bank):
    user = bank.open_account(1, balance="50.00")
    deliver(bank)
    request_no, done = bank.recharge(user, "50.01")
    assert "&code=1&msg=" in done.headers["Location"]
    [call] = deliver(bank)
    payload = json.loads(sent_notification(call)[1])
    assert list(payload) == ["requestNo", "respCode", "respMsg", "status", "transactionStatus"]
    assert payload["requestNo"] == request_no and payload["respCode"] == "00001" and payload["status"] == 2
    assert payload["transactionStatus"] == "FAIL" and payload["respMsg"].startswith("银行卡余额不足")


def test_a_refused_withdrawal_says_the_originals_system_exception(bank):
    user = bank.open_account(1)
    deliver(bank)
    request_no, _ = bank.withdraw(user, "1.00")
    [call] = deliver(bank)
    assert sent_notification(call)[1] == (f'{{"requestNo":"{request_no}","respCode":"00001","respMsg":"系统异常",'
                                          '"status":2,"transactionStatus":"FAIL"}')


def test_a_refused_account_opening_says_refused_00001_and_status_2(bank):
    card = bank.card(1)
    bank.open_account(2)
    deliver(bank)
    payload = bank.register_payload(3, card, userNo="USR_0002")  # that userNo is taken
    assert 'id="error"' in bank.page("PERSONAL_REGISTER", payload).get_data(as_text=True)
    [call] = deliver(bank)
    assert sent_notification(call)[1] == (f'{{"auditStatus":"REFUSED","requestNo":"{payload["requestNo"]}",'
                                          '"respCode":"00001","respMsg":"系统异常","status":2}')


def test_only_the_plain_body_ok_acknowledges_a_legacy_notification(bank):
    bank.open_account(1)
    deliver(bank, body="存管代理服务校验存管系统返回数据签名失败")
    row = rows(bank)["REQ_000001"]
    assert row["state"] == "PENDING" and row["attempts"] == 1
    bank.client.post("/sim/clock", json={"advance_seconds": 10})
    [call] = deliver(bank)
    assert rows(bank)["REQ_000001"]["state"] == "DELIVERED"


def test_a_modern_platform_on_the_same_bank_still_gets_its_full_payload_by_post(bank, keys):
    card = {"fullname": "现代", "idNumber": make_id_number(9), "mobile": "13800000009",
            "cardNumber": "6222020000000009", "bankCode": "ICBC", "balance": "100.00"}
    assert bank.client.post("/sim/bank-cards", json=card).status_code == 201
    payload = {"requestNo": "M1", "userNo": "MU1", "fullname": card["fullname"], "idNumber": card["idNumber"],
               "mobile": card["mobile"], "cardNumber": card["cardNumber"], "role": "I",
               "callbackUrl": "http://modern.test/cb?st=1"}
    fields = envelope.sign_request("PERSONAL_REGISTER", MODERN_NO, payload, keys["platform_private_key"]).fields()
    page = bank.client.get("/gateway", query_string=fields)
    assert page.status_code == 200
    done = bank.client.post("/gateway/confirm", data={"platformNo": MODERN_NO, "requestNo": "M1",
                                                      "password": "123456", "confirmPassword": "123456",
                                                      "pageToken": page_token(page)})
    assert done.headers["Location"] == "http://modern.test/cb?st=1&code=0"
    [call] = deliver(bank)
    assert call.request.method == "POST" and call.request.url == MODERN_NOTIFY_URL
    sent = {k: v[0] for k, v in parse_qs(call.request.body).items()}
    assert json.loads(base64.b64decode(sent["reqData"]))["userNo"] == "MU1"  # our full payload, not the original's
