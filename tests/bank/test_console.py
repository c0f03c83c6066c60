"""The operator console (``/console``): every page behind the credential, forms behind CSRF.

Walks every page with a signed-in session and with the Bearer header (200),
and without either (302 to the login form); mutating forms without the CSRF
token are refused and change nothing.
"""
from __future__ import annotations

import re

import pytest

from bank_depository.http import filters
from bank_depository.protocol import envelope, signing
from tests.conftest import PLATFORM_NO, SIM_TOKEN


@pytest.fixture
def busy(bank):
    """A bank with two users, money moved, a project with a tender hold, a refusal and a notification."""
    investor = bank.open_account(1, "I", balance="5000.00")
    borrower = bank.open_account(2, "B", balance="100.00")
    bank.recharge(investor, "1234.56")
    bank.withdraw(investor, "200.00", commission="1.50")
    bank.recharge(investor, "99999.00")  # refused: beyond the card
    bank.call("CREATE_PROJECT", {"requestNo": bank.next_no(), "userNo": borrower, "projectNo": "P1",
                                 "projectName": "面包店", "projectAmount": "1000.00", "period": 3,
                                 "annualRate": "0.12"})
    bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": "TENDER1", "userNo": investor, "projectNo": "P1",
                                            "bizType": "TENDER", "amount": "300.00"})
    bank.client.post("/sim/faults", json={"action": "reject", "service": "RECHARGE", "code": "00001"})
    return {"investor": investor, "borrower": borrower}


def pages(bank) -> list[str]:
    day = bank.ctx.clock.now().date().isoformat()
    note = bank.client.get("/sim/notifications").json[0]
    return ["/console", "/console/", "/console/accounts", "/console/accounts?q=用户1",
            f"/console/accounts/{PLATFORM_NO}/USR_0001", "/console/projects", f"/console/projects/{PLATFORM_NO}/P1",
            "/console/requests", "/console/requests?outcome=refused", "/console/log", "/console/log?outcome=refused",
            f"/console/requests/{PLATFORM_NO}/TENDER1",
            "/console/notifications", "/console/notifications?state=PENDING", "/console/faults", "/console/clock",
            "/console/checkfiles", f"/console/checkfiles/{PLATFORM_NO}/{day}",
            f"/console/checkfiles/{PLATFORM_NO}/{day}.csv", f"/console/requests/{PLATFORM_NO}/{note['requestNo']}"]


def signed_in(app):
    client = app.test_client()
    page = client.get("/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    done = client.post("/console/login", data={"token": SIM_TOKEN, "csrf_token": csrf, "next": "/console"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/console")
    return client


def csrf_of(client) -> str:
    html = client.get("/console/faults").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_every_console_page_answers_200_to_a_signed_in_operator(bank, busy):
    client = signed_in(bank.app)
    for path in pages(bank):
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        if not path.endswith(".csv"):
            assert "万信银行存管" in resp.get_data(as_text=True), path


def test_the_walk_covers_every_page_the_console_serves(bank, busy):
    served = {r.endpoint for r in bank.app.url_map.iter_rules()
              if r.endpoint.startswith("console.") and "GET" in (r.methods or ())} - {"console.login"}
    adapter = bank.app.url_map.bind("localhost")
    walked = {adapter.match(path.split("?")[0])[0] for path in pages(bank)}
    assert served <= walked, served - walked


def test_every_console_page_answers_200_to_the_bearer_credential(bank, busy):
    for path in pages(bank):
        assert bank.client.get(path).status_code == 200, path


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dGVzdA=="])
def test_every_console_page_refuses_without_the_credential_by_redirecting_to_the_login(bank, busy, header):
    client = bank.app.test_client()
    headers = {"Authorization": header} if header else {}
    for path in pages(bank):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 302, path
        assert "/console/login" in resp.headers["Location"], path
        assert "用户1" not in resp.get_data(as_text=True) and "¥" not in resp.get_data(as_text=True)


def test_mutating_forms_without_the_credential_are_refused_and_change_nothing(bank, busy):
    client = bank.app.test_client()
    before = bank.client.get("/sim/faults").json["rules"]
    for path in ["/console/faults", f"/console/faults/{before[0]['id']}/delete", "/console/clock",
                 "/console/notifications/1/resend", "/console/notifications/dispatch"]:
        resp = client.post(path, data={"action": "reject", "amount": "1", "unit": "days"})
        assert resp.status_code == 302 and "/console/login" in resp.headers["Location"], path
    assert bank.client.get("/sim/faults").json["rules"] == before
    assert bank.client.get("/sim/clock").json["now"].startswith("2026-01-05T09:00")


def test_a_signed_in_form_without_its_csrf_token_is_refused_and_changes_nothing(bank, busy):
    client = signed_in(bank.app)
    before = bank.client.get("/sim/faults").json["rules"]
    resp = client.post(f"/console/faults/{before[0]['id']}/delete", data={})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    resp = client.post("/console/clock", data={"amount": "1", "unit": "days", "csrf_token": "forged"})
    assert resp.status_code == 400
    assert bank.client.get("/sim/faults").json["rules"] == before
    assert bank.client.get("/sim/clock").json["now"].startswith("2026-01-05T09:00")


def test_a_csrf_token_in_any_script_is_refused_not_crashed_on(bank):
    client = signed_in(bank.app)
    resp = client.post("/console/clock", data={"amount": "1", "unit": "days", "csrf_token": "令牌"})
    assert resp.status_code == 400


def test_console_pages_load_nothing_from_elsewhere_and_run_no_script(bank, busy):
    for path in pages(bank):
        if path.endswith(".csv"):
            continue
        html = bank.client.get(path).get_data(as_text=True)
        assert "<script" not in html, path
        for url in re.findall(r'(?:href|src|action)="([^"]*)"', html):
            assert url.startswith("/"), (path, url)
    with bank.client.get("/static/wanxin.css") as css:  # a file response: close it
        assert css.status_code == 200 and "Noto Sans CJK SC" in css.get_data(as_text=True)


def test_a_wrong_token_on_the_login_form_is_refused_with_401_and_no_session(bank):
    client = bank.app.test_client()
    html = client.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp = client.post("/console/login", data={"token": "not-it", "csrf_token": csrf})
    assert resp.status_code == 401 and "令牌不正确" in resp.get_data(as_text=True)
    assert client.get("/console").status_code == 302


def test_the_session_cookie_is_httponly_and_samesite_strict(bank):
    client = bank.app.test_client()
    resp = client.get("/console/login")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("wanxin_console=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_two_apps_with_the_same_token_accept_each_others_session(tmp_path, keys):
    """Every gunicorn worker is its own app: the cookie key comes from the token, not from chance."""
    from bank_depository.app import create_app
    from tests.conftest import bank_config

    one = create_app(bank_config(tmp_path, keys))
    other = create_app(bank_config(tmp_path, keys))
    assert one.config["SECRET_KEY"] == other.config["SECRET_KEY"]
    client = signed_in(one)
    cookie = client.get_cookie("wanxin_console")
    fresh = other.test_client()
    fresh.set_cookie("wanxin_console", cookie.value)
    assert fresh.get("/console/accounts").status_code == 200
    for app in (one, other):
        app.extensions["wanxin.bank"].database.close()


def test_the_overview_shows_money_by_kind_adding_up_to_zero_and_a_sound_ledger(bank, busy):
    html = bank.client.get("/console").get_data(as_text=True)
    assert 'id="money-total">¥0.00<' in html
    assert "平衡" in html and "sound" in html
    assert re.search(r'id="money-funding">-¥5,100\.00<', html)
    assert 'id="count-accounts">2<' in html and 'id="count-faults">1<' in html


def test_the_account_page_shows_postings_whose_running_balance_ends_at_the_balance(bank, busy):
    html = bank.client.get(f"/console/accounts/{PLATFORM_NO}/USR_0001").get_data(as_text=True)
    available = bank.balances("USR_0001")[0]
    assert f'id="available">{filters.yuan(available)}<' in html
    table = html.split('id="postings-available"')[1].split("</table>")[0]
    amounts = [int(x) for x in re.findall(r'class="num (?:neg|pos)" data-fen="(-?\d+)"', table)]
    running = [int(x) for x in re.findall(r'<td class="num" data-fen="(-?\d+)"', table)]
    assert sum(amounts) == filters.fen_of(available) == running[0]
    assert "卡 ************0001" in table  # the counterparty of a recharge is the user's card
    assert "TENDER" in html and "面包店" not in html.split('id="holds"')[0]


def test_the_request_log_shows_each_refusals_message(bank, busy):
    html = bank.client.get("/console/requests?outcome=refused").get_data(as_text=True)
    assert "银行卡余额不足" in html and "拒绝 30041" in html


def test_a_notification_can_be_resent_from_the_console(bank, busy):
    client = signed_in(bank.app)
    note = bank.client.get("/sim/notifications").json[-1]
    bank.app.extensions["wanxin.dispatcher"].run_until_idle()  # platform.test is unreachable: attempts fail
    resp = client.post(f"/console/notifications/{note['id']}/resend", data={"csrf_token": csrf_of(client)})
    assert resp.status_code == 303
    again = [n for n in bank.client.get("/sim/notifications").json if n["id"] == note["id"]][0]
    assert again["state"] == "PENDING" and again["attempts"] == 1  # resend keeps counting attempts (issue 11)
    assert "已重新排队" in client.get("/console/notifications").get_data(as_text=True)


def test_a_fault_rule_is_added_and_removed_from_the_console(bank, busy):
    client = signed_in(bank.app)
    csrf = csrf_of(client)
    client.post("/console/faults", data={"csrf_token": csrf, "action": "lose_response", "service": "CONFIRM_LOAN",
                                         "times": "2"})
    rules = bank.client.get("/sim/faults").json["rules"]
    added = [r for r in rules if r["action"] == "lose_response"][0]
    assert added["service"] == "CONFIRM_LOAN" and added["times"] == 2
    client.post(f"/console/faults/{added['id']}/delete", data={"csrf_token": csrf})
    assert [r["id"] for r in bank.client.get("/sim/faults").json["rules"]] == [rules[0]["id"]]


def test_a_bad_fault_rule_is_shown_as_a_message_and_adds_nothing(bank, busy):
    client = signed_in(bank.app)
    resp = client.post("/console/faults", data={"csrf_token": csrf_of(client), "action": "delay", "seconds": "abc"},
                       follow_redirects=True)
    assert resp.status_code == 200 and "seconds must be a number" in resp.get_data(as_text=True)
    assert len(bank.client.get("/sim/faults").json["rules"]) == 1


def test_the_clock_advances_and_refuses_to_go_back_from_the_console(bank):
    client = signed_in(bank.app)
    csrf = csrf_of(client)
    client.post("/console/clock", data={"csrf_token": csrf, "amount": "2", "unit": "days"})
    assert bank.client.get("/sim/clock").json["now"].startswith("2026-01-07T09:00")
    resp = client.post("/console/clock", data={"csrf_token": csrf, "set": "2026-01-01T00:00:00"},
                       follow_redirects=True)
    assert "cannot set the clock back" in resp.get_data(as_text=True)
    assert bank.client.get("/sim/clock").json["now"].startswith("2026-01-07T09:00")
    assert "2026-01-07 09:00:00" in resp.get_data(as_text=True)


def test_a_check_file_downloads_as_the_same_bytes_the_protocol_serves(bank, busy):
    day = bank.ctx.clock.now().date().isoformat()
    resp = bank.client.get(f"/console/checkfiles/{PLATFORM_NO}/{day}.csv")
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{PLATFORM_NO}-{day}.csv"'
    assert resp.data == bank.client.get("/sim/checkfile", query_string={"date": day}).data
    assert b"TENDER1" in resp.data


@pytest.mark.parametrize("path", ["/console/accounts/wanxinp2p/nobody", "/console/projects/wanxinp2p/nope",
                                  "/console/requests/wanxinp2p/nope", "/console/checkfiles/nobody/2026-01-05",
                                  "/console/checkfiles/wanxinp2p/2027-01-01", "/console/checkfiles/wanxinp2p/x"])
def test_unknown_things_get_an_html_error_page_not_a_500(bank, path):
    resp = bank.client.get(path)
    assert resp.status_code in (400, 404) and resp.content_type.startswith("text/html")
    assert 'id="error"' in resp.get_data(as_text=True)


@pytest.mark.parametrize("value, shown", [(1234567, "¥12,345.67"), ("12345.67", "¥12,345.67"), (0, "¥0.00"),
                                          (-510000, "-¥5,100.00"), ("100.5", "¥100.50"), (None, "")])
def test_amounts_are_written_with_the_yuan_sign_and_thousands(value, shown):
    assert filters.yuan(value) == shown


def test_times_are_shown_in_the_banks_zone():
    assert filters.cst("2026-01-05T01:00:00+00:00") == "2026-01-05 09:00:00"


def test_the_console_log_shows_every_call_with_the_diagnosis_of_a_refused_signature(bank):
    payload = {"requestNo": "Q-SHA1", "userNo": "U"}
    req = envelope.sign_request("QUERY_USER", PLATFORM_NO, payload, bank.keys["platform_private_key"], signing.SHA1)
    bank.client.post("/service", data=req.fields())  # a SHA1 signature for a SHA256 platform: refused, diagnosed
    html = bank.client.get("/console/log?outcome=refused").get_data(as_text=True)
    assert "Q-SHA1" in html and "matchesOtherAlgorithm" in html and "SHA256withRSA" in html
    assert "Q-SHA1" not in bank.client.get("/console/log?outcome=accepted").get_data(as_text=True)


def test_the_overview_names_each_platforms_wire_profile(bank):
    html = bank.client.get("/console").get_data(as_text=True)
    assert "<td>modern</td>" in html and "ModernProfile(" not in html
