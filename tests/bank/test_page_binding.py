"""Gateway confirmations bound to the page the bank rendered (issue 14).

Every attack here is refused and changes nothing: the balance snapshot, the
users table and the outbox are the same before and after.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from bank_depository.protocol import codes
from bank_depository.services import pages
from tests.conftest import PLATFORM_NO, page_token, redirect_code

CALLBACK = "http://platform.test/cb?st=2"


def state(bank) -> tuple:
    conn = bank.ctx.conn()
    return (bank.snapshot(), conn.execute("SELECT COUNT(*) FROM users").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM notifications").fetchone()[0],
            [tuple(r) for r in conn.execute("SELECT request_no, status FROM requests ORDER BY request_no")])


def open_page(bank, service: str, payload: dict, client=None):
    client = client or bank.client
    return bank.remember(client.get("/gateway", query_string=bank.signed(service, payload)), payload["requestNo"])


def confirm(client, request_no: str, token: str, password: str = "123456", **extra):
    return client.post("/gateway/confirm", data={"platformNo": PLATFORM_NO, "requestNo": request_no,
                                                 "password": password, "pageToken": token, **extra})


def stranger(bank):
    """Another browser: the operator header (so it can look around) but none of the victim's cookies."""
    from tests.conftest import operator_client
    return operator_client(bank.app)


@pytest.fixture
def investor(bank):
    return bank.open_account(1)


def recharge_payload(user_no: str, no: str = "RC1", amount: str = "10.00") -> dict:
    return {"requestNo": no, "userNo": user_no, "amount": amount, "callbackUrl": CALLBACK}


def test_the_page_carries_a_one_time_page_token_and_sets_a_strict_http_only_cookie(bank, investor):
    page = open_page(bank, "RECHARGE", recharge_payload(investor))
    html = page.get_data(as_text=True)
    assert re.search(r'<input name="pageToken" type="hidden" value="[^"]{20,}">', html)
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith(pages.cookie_name(PLATFORM_NO, "RC1") + "=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/gateway" in cookie
    stored = bank.ctx.conn().execute("SELECT token_hash FROM gateway_pages WHERE request_no = 'RC1'").fetchone()
    assert stored is not None and page_token(page) not in stored[0]  # only a digest is kept


def test_a_stranger_who_knows_a_pending_registration_cannot_set_the_victims_password(bank):
    card = bank.card(2)
    payload = {"requestNo": "REG1", "userNo": "VICTIM", "fullname": card["fullname"], "idNumber": card["idNumber"],
               "mobile": card["mobile"], "cardNumber": card["cardNumber"], "role": "I",
               "callbackUrl": "http://platform.test/cb?st=1"}
    open_page(bank, "PERSONAL_REGISTER", payload)
    before = state(bank)
    other = stranger(bank)
    for token in ("", "guessed-token", bank.tokens["REG1"]):  # without, made up, or leaked without the cookie
        resp = confirm(other, "REG1", token, "666666", confirmPassword="666666")
        assert resp.status_code == 403 and codes.message(codes.PAGE_EXPIRED) in resp.get_data(as_text=True)
    assert state(bank) == before
    # The victim's own page still works, with the victim's password.
    done = confirm(bank.client, "REG1", bank.tokens["REG1"], "123456", confirmPassword="123456")
    assert redirect_code(done) == 0


def test_a_strangers_confirm_of_a_pending_withdrawal_is_refused_and_moves_nothing(bank, investor):
    bank.recharge(investor, "100.00")
    payload = {"requestNo": "WD1", "userNo": investor, "amount": "100.00", "commission": "0",
               "callbackUrl": CALLBACK}
    open_page(bank, "WITHDRAW", payload)
    before = state(bank)
    resp = confirm(stranger(bank), "WD1", "")
    assert resp.status_code == 403 and "pageToken" in resp.get_data(as_text=True)
    assert state(bank) == before and bank.balances(investor)[0] == "100.00"


def test_another_pages_token_does_not_confirm_this_request(bank, investor):
    open_page(bank, "RECHARGE", recharge_payload(investor, "RC1"))
    open_page(bank, "RECHARGE", recharge_payload(investor, "RC2"))
    before = state(bank)
    resp = confirm(bank.client, "RC1", bank.tokens["RC2"])
    assert resp.status_code == 403 and "not the live page" in resp.get_data(as_text=True)
    assert state(bank) == before


def test_reopening_a_pending_request_gives_a_fresh_token_and_the_old_page_dies(bank, investor):
    payload = recharge_payload(investor)
    old = page_token(open_page(bank, "RECHARGE", payload))
    new = page_token(open_page(bank, "RECHARGE", payload))
    assert old and new and old != new
    before = state(bank)
    assert confirm(bank.client, "RC1", old).status_code == 403
    assert state(bank) == before
    assert redirect_code(confirm(bank.client, "RC1", new)) == 0
    assert bank.balances(investor)[0] == "10.00"


def test_a_page_expires_on_the_simulated_clock(bank, investor):
    open_page(bank, "RECHARGE", recharge_payload(investor))
    bank.client.post("/sim/clock", json={"advance_seconds": pages.TTL_SECONDS + 1})
    before = state(bank)
    resp = confirm(bank.client, "RC1", bank.tokens["RC1"])
    assert resp.status_code == 403 and "expired" in resp.get_data(as_text=True)
    assert state(bank) == before
    assert redirect_code(confirm(bank.client, "RC1", page_token(open_page(bank, "RECHARGE",
                                                                          recharge_payload(investor))))) == 0


def test_a_spent_page_only_reads_back_its_outcome_and_never_confirms_again(bank, investor):
    open_page(bank, "RECHARGE", recharge_payload(investor))
    token = bank.tokens["RC1"]
    first = confirm(bank.client, "RC1", token)
    assert redirect_code(first) == 0
    assert pages.cookie_name(PLATFORM_NO, "RC1") + "=;" in first.headers["Set-Cookie"]  # the cookie goes with it
    before = state(bank)
    again = confirm(bank.client, "RC1", token)
    assert again.headers["Location"] == first.headers["Location"]
    assert confirm(bank.client, "RC1", "").status_code == 403  # without the token: not even the outcome
    assert state(bank) == before
    reopened = open_page(bank, "RECHARGE", recharge_payload(investor)).get_data(as_text=True)
    assert 'id="confirm"' not in reopened and 'name="pageToken"' not in reopened


def test_a_confirm_refused_for_its_page_does_not_count_a_fault_rule(bank, investor):
    bank.client.post("/sim/faults", json={"action": "reject", "service": "RECHARGE", "code": "00001", "times": 1})
    open_page(bank, "RECHARGE", recharge_payload(investor))
    assert confirm(stranger(bank), "RC1", "").status_code == 403
    done = confirm(bank.client, "RC1", bank.tokens["RC1"])
    assert redirect_code(done) == 2  # the rule fires on the real confirmation, not on the refused one


def test_the_legacy_page_binds_its_form_the_same_way(tmp_path):
    from bank_depository.app import create_app
    from tests.bank.legacy_driver import CONTEXT, LegacyDriver, close, legacy_config

    app = create_app(legacy_config(tmp_path))
    try:
        bank = LegacyDriver(app)
        user = bank.open_account(1)
        payload = {"requestNo": "LR1", "userNo": user, "amount": "10.00", "callbackUrl": "http://front.test/?st=2"}
        page = bank.page("RECHARGE", payload)
        assert f"Path={CONTEXT}/trans" in page.headers["Set-Cookie"]
        other = app.test_client()
        refused = other.post(f"{CONTEXT}/trans/recharge-details", data={"requestNo": "LR1", "password": "123456",
                                                                         "pageToken": bank.tokens["LR1"]})
        assert refused.status_code == 403
        assert bank.balances(user)[0] == "0.00"
        done = bank.client.post(f"{CONTEXT}/trans/recharge-details", data=bank.form("LR1", requestNo="LR1",
                                                                                     password="123456"))
        assert done.status_code == 302 and done.headers["Location"].endswith("&code=0")
        assert bank.problems() == []
    finally:
        close(app)


def test_every_answer_carries_the_hygiene_headers_and_the_page_may_post_only_to_itself_and_the_callback(bank,
                                                                                                        investor):
    page = open_page(bank, "RECHARGE", recharge_payload(investor))
    answers = [page, bank.client.get("/sim/clock"), bank.raw_call("QUERY_USER", {"requestNo": "Q", "userNo": investor}),
               bank.app.test_client().get("/sim/accounts"), bank.client.get("/nowhere")]
    for resp in answers:
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self' http://platform.test" in csp
    html = page.get_data(as_text=True)
    assert 'autocomplete="off"' in html and "<script>" not in html
    callback = parse_qs(urlsplit(CALLBACK).query)
    assert callback == {"st": ["2"]}


def test_no_gateway_template_has_an_inline_script():
    from pathlib import Path

    import bank_depository

    for template in (Path(bank_depository.__file__).parent / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert all('autocomplete="off"' in tag for tag in re.findall(r'<input type="password"[^>]*>', text))
