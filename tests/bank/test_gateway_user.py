"""The headless end user: the cancel action, POST /sim/gateway/complete, and form filling as rendered."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bank_depository.protocol import gateway_user
from tests.conftest import PLATFORM_NO


def _register(bank, seq: int = 1, request_no: str = "REG_1") -> dict:
    card = bank.card(seq)
    payload = {"requestNo": request_no, "userNo": f"U{seq}", "fullname": card["fullname"],
               "idNumber": card["idNumber"], "mobile": card["mobile"], "cardNumber": card["cardNumber"],
               "role": "I", "callbackUrl": "http://platform.test/cb?st=1"}
    return bank.signed("PERSONAL_REGISTER", payload)


def _complete(bank, fields: dict, **extra):
    return bank.client.post("/sim/gateway/complete", json={**fields, "password": "123456", **extra})


def test_sim_gateway_complete_opens_an_account_and_answers_code_msg_location(bank):
    resp = _complete(bank, _register(bank))
    assert resp.status_code == 200, resp.json
    assert resp.json["code"] == 0 and resp.json["msg"] == ""
    assert resp.json["location"].startswith("http://platform.test/cb?st=1&code=0")
    assert bank.client.get("/sim/accounts/U1").json["userNo"] == "U1"


def test_a_wrong_password_outcome_changes_nothing_and_answers_code_2(bank):
    user = bank.open_account(1)
    fields = bank.signed("RECHARGE", {"requestNo": "R1", "userNo": user, "amount": "10.00",
                                      "callbackUrl": "http://platform.test/cb?st=2"})
    before = bank.snapshot()
    resp = _complete(bank, fields, outcome="wrong_password")
    assert resp.json["code"] == 2 and "密码" in resp.json["msg"]
    assert bank.snapshot() == before
    assert _complete(bank, fields).json["code"] == 0  # the same request can still be confirmed


def test_wrong_password_on_opening_an_account_is_a_confirmation_that_differs(bank):
    resp = _complete(bank, _register(bank), outcome="wrong_password")
    assert resp.json["code"] == 2 and "differ" in resp.json["msg"]


def test_cancel_redirects_with_code_2_and_leaves_the_request_pending_without_notification(bank):
    user = bank.open_account(1)
    notes = len(bank.client.get("/sim/notifications").json)
    fields = bank.signed("RECHARGE", {"requestNo": "R1", "userNo": user, "amount": "10.00",
                                      "callbackUrl": "http://platform.test/cb?st=2"})
    before = bank.snapshot()
    resp = _complete(bank, fields, outcome="cancel")
    assert resp.json["code"] == 2
    query = parse_qs(urlsplit(resp.json["location"]).query)
    assert query["st"] == ["2"] and query["code"] == ["2"] and "取消" in query["msg"][0]
    assert bank.snapshot() == before
    assert len(bank.client.get("/sim/notifications").json) == notes
    assert _complete(bank, fields).json["code"] == 0  # the user may come back and confirm


def test_the_page_offers_a_cancel_action_beside_the_confirm_button(bank):
    page = bank.client.get("/gateway", query_string=_register(bank))
    parsed = gateway_user.parse_page(page.get_data(as_text=True))
    assert [f.id for f in parsed.forms] == ["confirm"]
    assert parsed.forms[0].actions["cancel"].endswith("/gateway/cancel")
    assert {"platformNo", "requestNo"} <= {i["name"] for i in parsed.forms[0].inputs}


def test_cancelling_a_finished_request_repeats_its_stored_redirect(bank):
    fields = _register(bank)
    assert _complete(bank, fields).json["code"] == 0
    done = bank.client.post("/gateway/cancel", data={"platformNo": PLATFORM_NO, "requestNo": "REG_1"})
    assert done.status_code == 302 and "code=0" in done.headers["Location"]


def test_cancel_of_an_unknown_request_is_an_error_page(bank):
    resp = bank.client.post("/gateway/cancel", data={"platformNo": PLATFORM_NO, "requestNo": "NOPE"})
    assert resp.status_code == 400 and b'id="error"' in resp.data


@pytest.mark.parametrize("body, fragment", [
    ({"password": "123456"}, "lacks serviceName"),
    ({"serviceName": "RECHARGE", "platformNo": "x", "reqData": "e30=", "signature": "AA=="}, "password"),
    ({"serviceName": "RECHARGE", "platformNo": "x", "reqData": "e30=", "signature": "AA==", "password": "1",
      "outcome": "shrug"}, "outcome"),
])
def test_sim_gateway_complete_refuses_bad_input_with_400(bank, body, fragment):
    resp = bank.client.post("/sim/gateway/complete", json=body)
    assert resp.status_code == 400 and fragment in resp.json["error"]["message"]


def test_a_refused_signature_is_the_pages_error_as_a_400(bank):
    fields = _register(bank)
    fields["signature"] = "AAAA"
    resp = _complete(bank, fields)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "GATEWAY_PAGE"
    assert "00004" in resp.json["error"]["message"]


def test_sim_gateway_complete_needs_the_operator_credential(bank_app):
    resp = bank_app.test_client().post("/sim/gateway/complete", json={})
    assert resp.status_code == 401


class _Recorder:
    """A fake browser: serves one page, records the form post, answers a redirect."""

    def __init__(self, html: str):
        self.html, self.posted = html, None

    def get(self, url, params):
        return gateway_user.Answer(200, url, self.html, {})

    def post(self, url, data):
        self.posted = (url, dict(data))
        return gateway_user.Answer(302, url, "", {"Location": "http://p.test/cb?code=0"})


def test_every_input_of_the_form_is_submitted_as_rendered_hidden_ones_included():
    html = """<form id="confirm" action="/gateway/confirm" method="post">
      <input type="hidden" name="platformNo" value="acme"><input type="hidden" name="pageToken" value="t&amp;1">
      <input type="password" name="password"><input type="checkbox" name="remember">
      <button type="submit">ok</button></form>"""
    browser = _Recorder(html)
    fields = dict.fromkeys(gateway_user.ENVELOPE_FIELDS, "x")
    result = gateway_user.complete(browser, "http://bank.test/gateway", fields, "123456")
    assert result == {"code": 0, "msg": "", "location": "http://p.test/cb?code=0"}
    assert browser.posted == ("http://bank.test/gateway/confirm",
                              {"platformNo": "acme", "pageToken": "t&1", "password": "123456"})


@pytest.mark.parametrize("text, fragment", [
    ("not a request", "URL"), ("{bad json", "not valid JSON"), ('{"serviceName": "RECHARGE"}', "lacks platformNo"),
    ("http://bank.test/gateway?serviceName=RECHARGE", "lacks platformNo"),
])
def test_a_request_that_is_neither_url_nor_object_is_refused_clearly(text, fragment):
    with pytest.raises(gateway_user.GatewayError, match=fragment):
        gateway_user.parse_request(text, "http://bank.test")


def test_a_json_request_without_depository_url_goes_to_the_banks_gateway():
    url, fields = gateway_user.parse_request('{"serviceName": "RECHARGE", "platformNo": "p", "reqData": "r", '
                                             '"signature": "s"}', "http://bank.test/")
    assert url == "http://bank.test/gateway" and fields["platformNo"] == "p"


def test_sim_gateway_complete_fills_the_legacy_page_of_the_original_too(tmp_path):
    from urllib.parse import parse_qsl

    from tests.bank.legacy_driver import CONTEXT, LegacyDriver, close, create_app, legacy_config, query

    app = create_app(legacy_config(tmp_path))
    try:
        driver = LegacyDriver(app)
        user = driver.open_account(1)
        payload = {"requestNo": "LEG_R1", "userNo": user, "amount": "12.00",
                   "callbackUrl": "http://front.test/#/pages/common/success?st=2"}
        fields = dict(parse_qsl(query("RECHARGE", payload)))
        resp = driver.client.post("/sim/gateway/complete", json={**fields, "password": "123456",
                                                                 "url": f"http://bank.test{CONTEXT}/gateway"})
        assert resp.status_code == 200, resp.json
        assert resp.json["code"] == 0 and resp.json["location"].endswith("&code=0")
        assert driver.balances(user)[0] == "12.00"
    finally:
        close(app)
