"""What a person sees on the bank's gateway pages: Chinese labels with a gloss, ¥ amounts, masked
card and mobile, the withdraw balance and arrival, a sandbox strip, a cancel that changes nothing."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import PLATFORM_NO

CALLBACK = "http://platform.test/cb?st=3"


def page_html(bank, service: str, payload: dict) -> str:
    resp = bank.remember(bank.client.get("/gateway", query_string=bank.signed(service, payload)),
                         payload["requestNo"])
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


@pytest.fixture
def funded(bank):
    user_no = bank.open_account(1, "I", balance="20000.00")
    bank.recharge(user_no, "12345.67")
    return user_no


def test_the_withdraw_page_labels_fields_in_chinese_with_a_gloss_and_shows_what_reaches_the_card(bank, funded):
    html = page_html(bank, "WITHDRAW", {"requestNo": "WD1", "userNo": funded, "amount": "10000.00",
                                        "commission": "2.50", "callbackUrl": CALLBACK})
    assert '<meta name="viewport"' in html
    for zh, en in [("用户编号", "userNo"), ("手续费", "commission"), ("银行卡号", "cardNumber"), ("金额", "amount"),
                   ("可用余额", "available balance"), ("到账金额", "reaches your card")]:
        assert zh in html and en in html
    assert 'id="f-amount" class="amount">¥10,000.00<' in html
    assert 'id="f-commission" class="">¥2.50<' in html
    assert 'id="f-available" class="">¥12,345.67<' in html
    assert 'id="f-arrival" class="arrival">¥9,997.50<' in html
    assert "************0001" in html and "138****0001" in html and "6222020000000001" not in html
    assert 'id="short"' not in html


def test_the_withdraw_page_warns_when_the_amount_is_beyond_the_available_balance(bank, funded):
    html = page_html(bank, "WITHDRAW", {"requestNo": "WD1", "userNo": funded, "amount": "20000.00",
                                        "callbackUrl": CALLBACK})
    assert 'id="short"' in html


def test_every_gateway_page_keeps_its_form_fields_and_says_it_is_a_simulator(bank, funded):
    html = page_html(bank, "RECHARGE", {"requestNo": "RC9", "userNo": funded, "amount": "1.00",
                                        "callbackUrl": CALLBACK})
    assert 'id="confirm"' in html and 'id="sandbox"' in html and "模拟环境" in html and "123456" in html
    for name in ("platformNo", "requestNo", "serviceName", "userNo", "pageToken", "password"):
        assert f'name="{name}"' in html
    assert 'id="cancel" formaction="/gateway/cancel"' in html
    assert 'id="attempts-left"' not in html


def test_cancel_returns_to_the_platform_with_code_2_and_changes_nothing(bank, funded):
    payload = {"requestNo": "WD1", "userNo": funded, "amount": "100.00", "callbackUrl": CALLBACK}
    page_html(bank, "WITHDRAW", payload)
    before = bank.snapshot()
    resp = bank.client.post("/gateway/cancel", data={"platformNo": PLATFORM_NO, "requestNo": "WD1"})
    assert resp.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    assert query == {"st": "3", "code": "2", "msg": "用户取消"}
    assert bank.snapshot() == before
    assert bank.client.get("/sim/requests/WD1").json[0]["status"] == 0
    assert not [n for n in bank.client.get("/sim/notifications").json if n["requestNo"] == "WD1"]
    # nothing was final: the same page can still be confirmed
    done = bank.client.post("/gateway/confirm", data=bank.confirm_form("WD1", platformNo=PLATFORM_NO,
                                                                       password="123456"))
    assert "code=0" in done.headers["Location"]


def test_cancel_after_the_confirmation_repeats_the_stored_outcome(bank, funded):
    _, done = bank.withdraw(funded, "100.00")
    request_no = f"REQ_{bank.seq:06d}"
    resp = bank.client.post("/gateway/cancel", data={"platformNo": PLATFORM_NO, "requestNo": request_no})
    assert resp.headers["Location"] == done.headers["Location"]


@pytest.mark.parametrize("form", [{}, {"platformNo": "nobody", "requestNo": "X"},
                                  {"platformNo": PLATFORM_NO, "requestNo": "unknown"}])
def test_cancel_of_an_unknown_request_is_a_400_page_and_changes_nothing(bank, form):
    before = bank.snapshot()
    resp = bank.client.post("/gateway/cancel", data=form)
    assert resp.status_code == 400 and 'id="error"' in resp.get_data(as_text=True)
    assert bank.snapshot() == before


def test_a_reopened_page_shows_the_attempts_left_before_the_lockout(bank, funded):
    for _ in range(2):
        bank.recharge(funded, "10.00", password="000000")  # two wrong trade passwords
    payload = {"requestNo": bank.next_no(), "userNo": funded, "amount": "10.00",
               "callbackUrl": "http://platform.test/cb?st=2"}
    html = page_html(bank, "RECHARGE", payload)
    assert 'id="attempts-left"' in html and "还可尝试 3 次" in html
    fresh = {"requestNo": bank.next_no(), "userNo": funded, "amount": "10.00",
             "callbackUrl": "http://platform.test/cb?st=2"}
    bank.recharge(funded, "10.00")  # the right password resets the count
    assert 'id="attempts-left"' not in page_html(bank, "RECHARGE", fresh)
