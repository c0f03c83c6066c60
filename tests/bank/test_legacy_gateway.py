"""The legacy profile's gateway flow (reference §1.6): pages, form targets, redirects.

The original's pages post to ``./trans/users?requestNo=…`` (with ``prePassword``
and ``password``), ``./trans/recharge-details`` and ``./trans/withdraw-details``;
the bank answers with a 302 to ``callbackUrl + "&code=N"`` (+ ``"&msg=" +
URLEncoder(msg)``). Money is ours: a wrong password moves nothing, a
withdrawal is checked against the balance, a resubmitted form moves money once.
"""
from __future__ import annotations

import re
from html import unescape

import pytest

from bank_depository.app import create_app
from tests.bank.legacy_driver import (CONTEXT, FRONT, PLATFORM_NO, LegacyDriver, close, legacy_config, location,
                                      query)

WRONG_PASSWORD = "%E7%94%A8%E6%88%B7%E4%BA%A4%E6%98%93%E5%AF%86%E7%A0%81%E9%94%99%E8%AF%AF"  # 用户交易密码错误


@pytest.fixture
def bank(tmp_path):
    app = create_app(legacy_config(tmp_path))
    driver = LegacyDriver(app)
    yield driver
    assert driver.problems() == []
    close(app)


def form_of(page) -> tuple[str, dict, list]:
    """(action, hidden fields, password field names) of the page's one form."""
    html = page.get_data(as_text=True)
    [action] = re.findall(r'<form method="post" action="([^"]+)" id="confirm">', html)
    hidden = {n: unescape(v) for n, v in re.findall(r'<input type="hidden"[^>]*name="([^"]+)" value="([^"]*)"', html)}
    return unescape(action), hidden, re.findall(r'<input type="password"[^>]*name="([^"]+)"', html)


# -- the pages and their form targets ---------------------------------------------------------------------
def test_the_register_page_posts_to_trans_users_with_the_request_number_and_two_password_fields(bank):
    payload = bank.register_payload(1, bank.card(1))
    page = bank.page("PERSONAL_REGISTER", payload)
    assert page.status_code == 200
    action, hidden, passwords = form_of(page)
    assert action == "./trans/users?requestNo=REQ_000001"
    assert passwords == ["prePassword", "password"]
    assert set(hidden) == {"userNo", "fullname", "mobile", "idNumber", "bankCode", "bankName", "cardNumber",
                           "appCode", "role", "authList", "callbackUrl"}
    assert hidden["appCode"] == PLATFORM_NO and hidden["callbackUrl"] == f"{FRONT}?st=1"
    assert hidden["cardNumber"].endswith("0001") and "*" in hidden["cardNumber"]  # masked: the form is not trusted


@pytest.mark.parametrize("service, target", [("RECHARGE", "./trans/recharge-details"),
                                             ("WITHDRAW", "./trans/withdraw-details")])
def test_the_money_pages_post_to_their_trans_targets_with_the_request_number_as_a_field(bank, service, target):
    user = bank.open_account(1)
    page = bank.page(service, {"requestNo": "REQ_M1", "userNo": user, "amount": "10.00",
                               "callbackUrl": f"{FRONT}?st=2"})
    action, hidden, passwords = form_of(page)
    assert action == target and passwords == ["password"]
    assert {"userNo", "requestNo", "amount", "bankCode", "cardNumber", "appCode", "callbackUrl"} <= set(hidden)
    assert hidden["requestNo"] == "REQ_M1" and hidden["amount"] == "10.00"
    assert "./users/password" in page.get_data(as_text=True)  # the page's pre-check, as the original's


# -- redirects: callbackUrl + "&code=N" (+ "&msg=…") -------------------------------------------------------
def test_opening_an_account_redirects_to_the_callback_with_ampersand_code_0(bank):
    payload = bank.register_payload(1, bank.card(1))
    bank.page("PERSONAL_REGISTER", payload)
    done = bank.client.post(f"{CONTEXT}/trans/users?requestNo=REQ_000001",
                            data=bank.form("REQ_000001", appCode=PLATFORM_NO, prePassword="123456",
                                           password="123456"))
    assert location(done) == "http://front.test/#/pages/common/success?st=1&code=0"
    assert bank.balances("USR_0001") == ("0.00", "0.00", "10000.00")


def test_two_different_passwords_redirect_with_code_2_and_open_nothing(bank):
    payload = bank.register_payload(1, bank.card(1))
    bank.page("PERSONAL_REGISTER", payload)
    done = bank.client.post(f"{CONTEXT}/trans/users?requestNo=REQ_000001",
                            data=bank.form("REQ_000001", appCode=PLATFORM_NO, prePassword="123456",
                                           password="654321"))
    assert location(done) == (f"{FRONT}?st=1&code=2&msg=%E5%8F%82%E6%95%B0%E6%A0%A1%E9%AA%8C%E4%B8%8D%E9%80%9A%E8%BF%87"
                              "%3A+the+two+passwords+differ")
    assert bank.client.get("/sim/accounts/USR_0001").status_code == 404


def test_a_wrong_trade_password_redirects_with_the_originals_message_and_moves_nothing(bank):
    user = bank.open_account(1)
    request_no, done = bank.recharge(user, "100.00", password="000000")
    assert location(done) == f"{FRONT}?st=2&code=2&msg={WRONG_PASSWORD}"
    assert bank.balances(user) == ("0.00", "0.00", "10000.00")
    retry = bank.client.post(f"{CONTEXT}/trans/recharge-details", data=bank.form(request_no, requestNo=request_no,
                                                                                 password="123456"))
    assert location(retry) == f"{FRONT}?st=2&code=0"
    assert bank.balances(user) == ("100.00", "0.00", "9900.00")


def test_a_withdrawal_beyond_the_balance_is_refused_with_code_1_and_our_reason(bank):
    user = bank.open_account(1)
    bank.recharge(user, "100.00")
    _, done = bank.withdraw(user, "100.01")
    assert location(done) == (f"{FRONT}?st=3&code=1&msg=%E8%B4%A6%E6%88%B7%E4%BD%99%E9%A2%9D%E4%B8%8D%E8%B6%B3"
                              "%3A+available+100.00%2C+needs+100.01")
    assert bank.balances(user) == ("100.00", "0.00", "9900.00")


def test_a_withdraw_request_may_spell_callbackURL_as_the_original_platforms_do(bank):
    user = bank.open_account(1)
    bank.recharge(user, "100.00")
    payload = {"requestNo": "REQ_W1", "userNo": user, "amount": "40.00", "commission": "0.00",
               "callbackURL": f"{FRONT}?st=3"}
    assert bank.page("WITHDRAW", payload).status_code == 200
    done = bank.client.post(f"{CONTEXT}/trans/withdraw-details", data=bank.form("REQ_W1", requestNo="REQ_W1",
                                                                                password="123456"))
    assert location(done) == f"{FRONT}?st=3&code=0"
    assert bank.balances(user) == ("60.00", "0.00", "9940.00")


def test_a_resubmitted_withdraw_form_repeats_the_redirect_and_moves_the_money_once(bank):
    user = bank.open_account(1)
    bank.recharge(user, "100.00")
    request_no, first = bank.withdraw(user, "30.00")
    again = bank.client.post(f"{CONTEXT}/trans/withdraw-details", data=bank.form(request_no, requestNo=request_no,
                                                                                 appCode=PLATFORM_NO,
                                                                                 password="123456"))
    assert location(first) == location(again) == f"{FRONT}?st=3&code=0"
    assert bank.balances(user) == ("70.00", "0.00", "9930.00")


def test_a_form_posted_to_another_services_target_or_for_an_unknown_request_changes_nothing(bank):
    user = bank.open_account(1)
    bank.page("RECHARGE", {"requestNo": "REQ_R1", "userNo": user, "amount": "10.00", "callbackUrl": f"{FRONT}?st=2"})
    wrong = bank.client.post(f"{CONTEXT}/trans/withdraw-details", data={"requestNo": "REQ_R1", "password": "123456"})
    assert wrong.status_code == 400 and "REQ_R1" in wrong.get_data(as_text=True)
    unknown = bank.client.post(f"{CONTEXT}/trans/recharge-details", data={"requestNo": "NOPE", "password": "123456"})
    assert unknown.status_code == 400
    other = bank.client.post(f"{CONTEXT}/trans/recharge-details", data={"requestNo": "REQ_R1", "appCode": "other",
                                                                        "password": "123456"})
    assert other.status_code == 400
    assert bank.client.post(f"{CONTEXT}/trans/nothing", data={"requestNo": "REQ_R1"}).status_code == 400
    assert bank.balances(user) == ("0.00", "0.00", "10000.00")


def test_a_page_that_cannot_be_served_offers_the_way_back_with_the_legacy_separator(bank):
    payload = bank.register_payload(1, {"fullname": "无名", "idNumber": "11010119900101001X",
                                        "mobile": "13800000001", "cardNumber": "6222999999999999"})
    page = bank.page("PERSONAL_REGISTER", payload)
    html = page.get_data(as_text=True)
    assert 'id="error"' in html and 'id="confirm"' not in html
    [back] = re.findall(r'id="return" href="([^"]+)"', html)
    assert unescape(back).startswith(f"{FRONT}?st=1&code=1&msg=")


def test_a_bad_envelope_on_the_legacy_gateway_is_the_originals_unsigned_json(bank):
    good = query("RECHARGE", {"requestNo": "R", "userNo": "U", "amount": "1.00", "callbackUrl": f"{FRONT}?st=2"})
    resp = bank.client.get(f"{CONTEXT}/gateway?" + good.replace("platformNo=wanxinp2p", "platformNo=nobody"))
    assert resp.get_data(as_text=True) == \
        '{"respData":{"requestNo":"","respCode":"00004","respMsg":"签名验证失败","status":1}}'
