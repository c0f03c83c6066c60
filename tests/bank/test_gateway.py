"""The bank-hosted gateway pages: open an account, recharge, withdraw.

A signed request opens a page with one form (masked card and mobile); the user
confirms with the trade password; the bank executes and redirects (302) to the
platform's callbackUrl with ``code=0`` (done), ``1`` (refused, final) or ``2``
(what the user typed was wrong; nothing happened, they may try again).
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bank_depository.protocol import codes
from tests.conftest import PLATFORM_NO, make_id_number, redirect_code

CALLBACK = "http://platform.test/cb?st=1"


def location(resp) -> dict:
    assert resp.status_code == 302, resp.data
    url = urlsplit(resp.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://platform.test/cb"
    return {k: v[0] for k, v in parse_qs(url.query).items()}


def register_payload(bank, seq: int, **over) -> dict:
    card = over.pop("card", None) or {"fullname": f"用户{seq}", "idNumber": make_id_number(seq),
                                      "mobile": f"138{seq:08d}", "cardNumber": f"62220200{seq:08d}"}
    payload = {"requestNo": bank.next_no("REG"), "userNo": f"USR_{seq:04d}", "fullname": card["fullname"],
               "idNumber": card["idNumber"], "mobile": card["mobile"], "cardNumber": card["cardNumber"],
               "role": "I", "callbackUrl": CALLBACK}
    payload.update(over)
    return payload


def open_page(bank, service: str, payload: dict, method: str = "get"):
    fields = bank.signed(service, payload)
    if method == "get":
        return bank.remember(bank.client.get("/gateway", query_string=fields), payload["requestNo"])
    return bank.remember(bank.client.post("/gateway", data=fields), payload["requestNo"])


def confirm(bank, service: str, request_no: str, password: str = "123456", confirm_password: str | None = None):
    form = bank.confirm_form(request_no, platformNo=PLATFORM_NO, serviceName=service, password=password)
    if service == "PERSONAL_REGISTER":
        form["confirmPassword"] = password if confirm_password is None else confirm_password
    return bank.client.post("/gateway/confirm", data=form)


def refused_page(page, code: str) -> dict:
    """A page without a form whose return link carries code=1 and the refusal."""
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert 'id="confirm"' not in html and 'id="error"' in html
    href = re.search(r'id="return" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    assert query["code"] == "1" and query["st"] == "1"
    assert codes.message(code) in query["msg"], query
    return query


def user_row(bank, user_no: str):
    return bank.ctx.conn().execute("SELECT * FROM users WHERE user_no = ?", (user_no,)).fetchone()


def notifications(bank, request_no: str) -> list[dict]:
    return [n for n in bank.client.get("/sim/notifications").json if n["requestNo"] == request_no]


def fee(bank) -> str:
    for a in bank.client.get("/sim/accounts").json["platformAccounts"]:
        if a["code"] == f"fee:{PLATFORM_NO}":
            return a["balance"]
    return "0.00"


# == PERSONAL_REGISTER ====================================================================================
def test_the_register_page_shows_masked_card_and_mobile_and_asks_for_the_password_twice(bank):
    card = bank.card(1)
    page = open_page(bank, "PERSONAL_REGISTER", register_payload(bank, 1))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="confirm"' in html
    assert 'name="password"' in html and 'name="confirmPassword"' in html
    assert "************0001" in html and "138****0001" in html
    assert card["cardNumber"] not in html and card["mobile"] not in html and card["idNumber"] not in html


@pytest.mark.parametrize("role", ["I", "B"])
def test_registering_opens_an_empty_account_and_redirects_with_code_0(bank, role):
    bank.card(1)
    payload = register_payload(bank, 1, role=role)
    open_page(bank, "PERSONAL_REGISTER", payload)
    query = location(confirm(bank, "PERSONAL_REGISTER", payload["requestNo"]))
    assert query == {"st": "1", "code": "0"}
    assert bank.balances("USR_0001") == ("0.00", "0.00", "10000.00")
    assert user_row(bank, "USR_0001")["role"] == role
    note = notifications(bank, payload["requestNo"])
    assert len(note) == 1 and note[0]["payload"]["auditStatus"] == "PASSED"


def test_the_register_page_also_opens_by_form_post(bank):
    bank.card(1)
    payload = register_payload(bank, 1)
    assert 'id="confirm"' in open_page(bank, "PERSONAL_REGISTER", payload, "post").get_data(as_text=True)
    assert redirect_code(confirm(bank, "PERSONAL_REGISTER", payload["requestNo"])) == 0


def test_the_trade_password_is_stored_only_as_a_salted_pbkdf2_hash(bank, tmp_path):
    bank.card(1)
    secret = "Tr@de-Secret-9071"
    payload = register_payload(bank, 1)
    open_page(bank, "PERSONAL_REGISTER", payload)
    assert redirect_code(confirm(bank, "PERSONAL_REGISTER", payload["requestNo"], secret)) == 0
    stored = user_row(bank, "USR_0001")["password_hash"]
    assert re.fullmatch(r"pbkdf2_sha256\$1000\$[0-9a-f]{32}\$[0-9a-f]{64}", stored)
    bank.ctx.conn().execute("PRAGMA wal_checkpoint(FULL)")
    for path in Path(tmp_path).glob("bank.sqlite*"):
        assert secret.encode() not in path.read_bytes(), path


def test_a_registration_posted_twice_opens_one_account(bank):
    bank.card(1)
    payload = register_payload(bank, 1)
    open_page(bank, "PERSONAL_REGISTER", payload)
    first = confirm(bank, "PERSONAL_REGISTER", payload["requestNo"])
    second = confirm(bank, "PERSONAL_REGISTER", payload["requestNo"], "another-password")
    assert first.headers["Location"] == second.headers["Location"]
    assert bank.ctx.conn().execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1
    assert len(notifications(bank, payload["requestNo"])) == 1


@pytest.mark.parametrize("password, again", [("12345", "12345"), ("123456", "654321"), ("", "")])
def test_a_bad_or_unconfirmed_password_is_code_2_and_the_user_may_try_again(bank, password, again):
    bank.card(1)
    payload = register_payload(bank, 1)
    open_page(bank, "PERSONAL_REGISTER", payload)
    before = bank.snapshot()
    query = location(confirm(bank, "PERSONAL_REGISTER", payload["requestNo"], password, again))
    assert query["code"] == "2" and query["msg"]
    assert bank.snapshot() == before and user_row(bank, "USR_0001") is None
    assert notifications(bank, payload["requestNo"]) == []
    assert redirect_code(confirm(bank, "PERSONAL_REGISTER", payload["requestNo"])) == 0


@pytest.mark.parametrize("field, value, code", [
    ("idNumber", make_id_number(1)[:-1] + ("0" if make_id_number(1)[-1] != "0" else "1"), codes.PARAM_FAIL),
    ("idNumber", "11010119900101001", codes.PARAM_FAIL),
    ("mobile", "12800000001", codes.PARAM_FAIL),
    ("mobile", "1380000000", codes.PARAM_FAIL),
    ("cardNumber", "6222020099999999", codes.CARD_NOT_FOUND),
    ("fullname", "别人", codes.IDENTITY_MISMATCH),
    ("idNumber", make_id_number(2), codes.IDENTITY_MISMATCH),
    ("role", "X", codes.PARAM_FAIL),
    ("role", "", codes.PARAM_FAIL),
    ("bankCode", "CMB", codes.CARD_INFO_MISMATCH),
])
def test_registration_refuses_bad_identities_and_cards_with_code_1_and_opens_nothing(bank, field, value, code):
    bank.card(1)
    before = bank.snapshot()
    payload = register_payload(bank, 1, **{field: value})
    refused_page(open_page(bank, "PERSONAL_REGISTER", payload), code)
    assert bank.snapshot() == before and user_row(bank, "USR_0001") is None
    note = notifications(bank, payload["requestNo"])
    assert len(note) == 1 and note[0]["payload"]["auditStatus"] == "REFUSED"
    assert note[0]["payload"]["respCode"] == code


def test_a_user_number_gets_one_account(bank):
    bank.open_account(1)
    bank.card(2)
    refused_page(open_page(bank, "PERSONAL_REGISTER", register_payload(bank, 2, userNo="USR_0001")),
                 codes.USER_EXISTS)


def test_a_card_is_bound_to_one_account(bank):
    bank.open_account(1)
    refused_page(open_page(bank, "PERSONAL_REGISTER", register_payload(bank, 1, userNo="USR_OTHER")),
                 codes.CARD_ALREADY_BOUND)


def test_a_person_gets_one_account_per_platform_even_with_a_second_card(bank):
    bank.open_account(1)
    second = {"fullname": "用户1", "idNumber": make_id_number(1), "mobile": "13800000001",
              "cardNumber": "6222020011110001", "balance": "5.00"}
    assert bank.client.post("/sim/bank-cards", json=second).status_code == 201
    refused_page(open_page(bank, "PERSONAL_REGISTER", register_payload(bank, 1, userNo="USR_OTHER", card=second)),
                 codes.USER_EXISTS)


def test_checks_run_again_at_confirmation_so_a_card_taken_meanwhile_is_refused(bank):
    bank.card(1)
    first = register_payload(bank, 1, userNo="USR_A")
    second = register_payload(bank, 1, userNo="USR_B")
    open_page(bank, "PERSONAL_REGISTER", first)
    open_page(bank, "PERSONAL_REGISTER", second)
    assert redirect_code(confirm(bank, "PERSONAL_REGISTER", first["requestNo"])) == 0
    query = location(confirm(bank, "PERSONAL_REGISTER", second["requestNo"]))
    assert query["code"] == "1" and codes.message(codes.CARD_ALREADY_BOUND) in query["msg"]
    assert user_row(bank, "USR_B") is None


# == RECHARGE =============================================================================================
@pytest.fixture
def investor(bank):
    return bank.open_account(1, "I", balance="1000.00")


def test_the_recharge_page_shows_the_amount_masked_card_and_mobile(bank, investor):
    page = open_page(bank, "RECHARGE", {"requestNo": "RC1", "userNo": investor, "amount": "100.5",
                                        "callbackUrl": CALLBACK})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="confirm"' in html and 'name="password"' in html
    assert 'name="confirmPassword"' not in html
    assert "100.50" in html and "************0001" in html and "138****0001" in html
    assert "6222020000000001" not in html and "13800000001" not in html


def test_a_recharge_moves_money_from_the_card_to_available(bank, investor):
    page, done = bank.recharge(investor, "250.75")
    assert location(done) == {"st": "2", "code": "0"}
    assert bank.balances(investor) == ("250.75", "0.00", "749.25")


def test_a_recharge_beyond_the_card_balance_is_refused_with_code_1_and_moves_nothing(bank, investor):
    before = bank.snapshot()
    page, done = bank.recharge(investor, "1000.01")
    query = {k: v[0] for k, v in parse_qs(urlsplit(done.headers["Location"]).query).items()}
    assert query["code"] == "1" and codes.message(codes.BANK_CARD_BALANCE_NOT_ENOUGH) in query["msg"]
    assert bank.snapshot() == before
    assert bank.balances(investor) == ("0.00", "0.00", "1000.00")


def test_a_wrong_trade_password_is_code_2_moves_nothing_and_can_be_retried(bank, investor):
    payload = {"requestNo": "RC1", "userNo": investor, "amount": "10.00", "callbackUrl": CALLBACK}
    open_page(bank, "RECHARGE", payload)
    before = bank.snapshot()
    query = location(confirm(bank, "RECHARGE", "RC1", "wrong-password"))
    assert query["code"] == "2" and codes.message(codes.PASSWORD_WRONG) in query["msg"]
    assert bank.snapshot() == before and notifications(bank, "RC1") == []
    assert redirect_code(confirm(bank, "RECHARGE", "RC1")) == 0
    assert bank.balances(investor)[0] == "10.00"


def test_a_recharge_form_posted_twice_moves_money_once(bank, investor):
    payload = {"requestNo": "RC1", "userNo": investor, "amount": "10.00", "callbackUrl": CALLBACK}
    open_page(bank, "RECHARGE", payload)
    first = confirm(bank, "RECHARGE", "RC1")
    entries = bank.snapshot()["entries"]
    second = confirm(bank, "RECHARGE", "RC1")
    assert first.headers["Location"] == second.headers["Location"] and redirect_code(second) == 0
    assert bank.snapshot()["entries"] == entries
    assert bank.balances(investor)[0] == "10.00"
    assert len(notifications(bank, "RC1")) == 1


def test_a_finished_request_opens_no_second_form(bank, investor):
    payload = {"requestNo": "RC1", "userNo": investor, "amount": "10.00", "callbackUrl": CALLBACK}
    open_page(bank, "RECHARGE", payload)
    confirm(bank, "RECHARGE", "RC1")
    again = open_page(bank, "RECHARGE", payload).get_data(as_text=True)
    assert 'id="confirm"' not in again and "code=0" in again


def test_a_gateway_request_no_reused_with_another_payload_is_a_conflict(bank, investor):
    open_page(bank, "RECHARGE", {"requestNo": "RC1", "userNo": investor, "amount": "10.00", "callbackUrl": CALLBACK})
    page = open_page(bank, "RECHARGE", {"requestNo": "RC1", "userNo": investor, "amount": "20.00",
                                        "callbackUrl": CALLBACK})
    html = page.get_data(as_text=True)
    assert 'id="confirm"' not in html and codes.message(codes.REQUEST_CONFLICT) in html and "amount" in html


@pytest.mark.parametrize("service", ["RECHARGE", "WITHDRAW"])
def test_recharge_and_withdraw_refuse_bad_amounts_and_change_nothing(bank, investor, service):
    before = bank.snapshot()
    for i, amount in enumerate(["0", "-1.00", "1.001", "NaN", True, "100000000000.01", "abc", None, [1]]):
        page = open_page(bank, service, {"requestNo": f"G{i}", "userNo": investor, "amount": amount,
                                         "callbackUrl": "http://platform.test/cb?st=1"})
        refused_page(page, codes.PARAM_FAIL)
        assert bank.snapshot() == before


@pytest.mark.parametrize("user_no", [{"id": 1}, ["USR_0001"], True])
def test_a_malformed_user_number_is_refused_on_the_page_not_with_an_error(bank, investor, user_no):
    page = open_page(bank, "RECHARGE", {"requestNo": "G1", "userNo": user_no, "amount": "1.00",
                                        "callbackUrl": "http://platform.test/cb?st=1"})
    refused_page(page, codes.PARAM_FAIL)


@pytest.mark.parametrize("service", ["RECHARGE", "WITHDRAW"])
def test_recharge_and_withdraw_refuse_an_unknown_user(bank, service):
    page = open_page(bank, service, {"requestNo": "G1", "userNo": "ghost", "amount": "1.00",
                                     "callbackUrl": "http://platform.test/cb?st=1"})
    refused_page(page, codes.USER_NOT_FOUND)


# == WITHDRAW =============================================================================================
@pytest.fixture
def funded(bank, investor):
    bank.recharge(investor, "500.00")
    return investor


def test_a_withdrawal_pays_the_card_and_the_commission_to_the_platform_fee_account(bank, funded):
    page, done = bank.withdraw(funded, "200.00", commission="2.50")
    assert "2.50" in page.get_data(as_text=True)
    assert location(done) == {"st": "3", "code": "0"}
    assert bank.balances(funded) == ("300.00", "0.00", "697.50")  # 500 on the card + 197.50
    assert fee(bank) == "2.50"


def test_a_withdrawal_beyond_available_is_refused_with_code_1_and_moves_nothing(bank, funded):
    payload = {"requestNo": "WD1", "userNo": funded, "amount": "500.01", "callbackUrl": CALLBACK}
    open_page(bank, "WITHDRAW", payload)
    before = bank.snapshot()
    query = location(confirm(bank, "WITHDRAW", "WD1"))
    assert query["code"] == "1" and codes.message(codes.BALANCE_NOT_ENOUGH) in query["msg"]
    assert bank.snapshot() == before
    note = notifications(bank, "WD1")
    assert len(note) == 1 and note[0]["payload"]["transactionStatus"] == "FAIL"


def test_frozen_money_cannot_be_withdrawn(bank, funded):
    borrower = bank.open_account(2, "B")
    bank.call("CREATE_PROJECT", {"requestNo": "P", "userNo": borrower, "projectNo": "P1", "projectAmount": "1000"})
    bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": "T", "userNo": funded, "projectNo": "P1",
                                            "bizType": "TENDER", "amount": "400.00"})
    _, done = bank.withdraw(funded, "100.01")
    assert redirect_code(done) == 1
    _, done = bank.withdraw(funded, "100.00")
    assert redirect_code(done) == 0
    assert bank.balances(funded)[:2] == ("0.00", "400.00")


def test_a_withdrawal_with_the_wrong_password_is_code_2_and_moves_nothing(bank, funded):
    before = bank.snapshot()
    _, done = bank.withdraw(funded, "100.00", password="000000")
    assert redirect_code(done) == 2
    assert bank.snapshot() == before


def test_a_withdrawal_form_posted_twice_moves_money_once(bank, funded):
    payload = {"requestNo": "WD1", "userNo": funded, "amount": "100.00", "commission": "1.00",
               "callbackUrl": CALLBACK}
    open_page(bank, "WITHDRAW", payload)
    assert redirect_code(confirm(bank, "WITHDRAW", "WD1")) == 0
    assert redirect_code(confirm(bank, "WITHDRAW", "WD1")) == 0
    assert bank.balances(funded) == ("400.00", "0.00", "599.00")
    assert fee(bank) == "1.00"


@pytest.mark.parametrize("commission", ["100.00", "100.01", "-1", "0.001"])
def test_a_withdrawal_commission_must_be_a_fee_smaller_than_the_amount(bank, funded, commission):
    before = bank.snapshot()
    page = open_page(bank, "WITHDRAW", {"requestNo": "WD1", "userNo": funded, "amount": "100.00",
                                        "commission": commission, "callbackUrl": "http://platform.test/cb?st=1"})
    refused_page(page, codes.PARAM_FAIL)
    assert bank.snapshot() == before


# == the envelope and the form ============================================================================
def test_a_tampered_gateway_request_shows_an_error_and_records_nothing(bank, investor):
    fields = bank.signed("RECHARGE", {"requestNo": "RC1", "userNo": investor, "amount": "1.00",
                                      "callbackUrl": CALLBACK})
    fields["signature"] = bank.signed("RECHARGE", {"requestNo": "RC1", "userNo": investor, "amount": "2.00",
                                                   "callbackUrl": CALLBACK})["signature"]
    page = bank.client.get("/gateway", query_string=fields)
    assert page.status_code == 400 and codes.SIGN_FAIL in page.get_data(as_text=True)
    assert bank.client.get("/sim/requests/RC1").status_code == 404


def test_a_direct_service_is_not_a_gateway_page(bank, investor):
    page = open_page(bank, "QUERY_USER", {"requestNo": "Q1", "userNo": investor, "callbackUrl": CALLBACK})
    assert 'id="confirm"' not in page.get_data(as_text=True)
    assert codes.message(codes.UNKNOWN_SERVICE) in page.get_data(as_text=True)


@pytest.mark.parametrize("url", ["", "javascript:alert(1)", "ftp://x/y"])
def test_a_gateway_request_needs_an_http_callback(bank, investor, url):
    page = open_page(bank, "RECHARGE", {"requestNo": "RC1", "userNo": investor, "amount": "1.00", "callbackUrl": url})
    assert page.status_code == 400 and 'id="confirm"' not in page.get_data(as_text=True)


def test_confirming_a_request_that_never_opened_a_page_is_refused(bank, investor):
    resp = confirm(bank, "RECHARGE", "NEVER")
    assert resp.status_code == 400
    resp = bank.client.post("/gateway/confirm", data={"platformNo": "nobody", "requestNo": "X", "password": "1"})
    assert resp.status_code == 400
