"""The bank's pages in a real browser: a person types into the gateway pages and uses the console.

Both apps run on loopback (port 0) in this process; Chromium is Debian's,
driven by Playwright. Nothing here uses the scenario user-agent: every form is
filled and clicked in the browser.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from bank_depository.http.filters import yuan
from bank_depository.client import SimClient
from scenarios.browser import gateway_url
from scenarios.runner import identity

PASSWORD = "123456"


def _http(token: str | None = None) -> requests.Session:
    """A loopback session presenting the operator credential (one token opens the bank's /sim and the platform)."""
    s = requests.Session()
    s.trust_env = False
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def _bank(sb) -> SimClient:
    return SimClient(sb.bank_url, sb.sim_token, _http(sb.sim_token))


def customer(sb, index: int, name: str, role: str = "investor", balance: str = "5000.00") -> str:
    """A bank customer with a card, registered on the platform; returns the platform's userNo."""
    http, who = _http(sb.sim_token), identity(index, 7)
    card = {"fullname": name, **who, "bankCode": "ICBC", "balance": balance}
    assert _bank(sb).raw("POST", "/sim/bank-cards", json=card).ok
    user = http.post(sb.platform_url + "/api/users", json={"username": f"u{index}", "role": role,
                                                           "fullname": name, **who})
    assert user.status_code == 201, user.text
    return user.json()["userNo"]


def platform_asks(sb, path: str, amount: str | None = None) -> str:
    resp = _http(sb.sim_token).post(sb.platform_url + path, json={"amount": amount} if amount else None)
    assert resp.ok, resp.text
    return gateway_url(resp.json())


def returned(page) -> dict:
    """The query the bank's redirect left on the platform's callback URL."""
    page.wait_for_url("**/callback?**")
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def balances(sb, user_no: str) -> dict:
    return _bank(sb).get(f"/sim/accounts/{user_no}")


def open_account(page, sb, user_no: str) -> None:
    page.goto(platform_asks(sb, f"/api/users/{user_no}/open-account"))
    page.fill("#password", PASSWORD)
    page.fill("#confirmPassword", PASSWORD)
    page.click("#submit")
    assert returned(page)["code"] == "0"
    sb.deliver_notifications()


def test_a_person_opens_an_account_recharges_and_withdraws_by_typing_the_password(page, sandbox):
    sb = sandbox
    user_no = customer(sb, 1, "王小明", balance="5000.00")

    page.goto(platform_asks(sb, f"/api/users/{user_no}/open-account"))
    assert page.locator("h1").inner_text().startswith("开通存管账户")
    assert "模拟环境" in page.inner_text("#sandbox")
    assert page.inner_text("#f-fullname") == "王小明" and "****" in page.inner_text("#f-mobile")
    page.fill("#password", PASSWORD)
    page.fill("#confirmPassword", PASSWORD)
    page.click("#submit")
    assert returned(page)["code"] == "0"
    sb.deliver_notifications()
    assert _http(sb.sim_token).get(f"{sb.platform_url}/api/users/{user_no}").json()["status"] == "OPEN"

    page.goto(platform_asks(sb, f"/api/users/{user_no}/recharges", "1234.50"))
    assert page.inner_text("#f-amount") == "¥1,234.50"
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")  # Enter confirms; it never cancels
    assert returned(page)["code"] == "0"
    assert balances(sb, user_no)["available"] == "1234.50"

    page.goto(platform_asks(sb, f"/api/users/{user_no}/withdrawals", "1000.00"))
    assert page.inner_text("#f-available") == "¥1,234.50"
    assert page.inner_text("#f-arrival") == yuan("1000.00")  # the demo platform charges no withdraw fee
    page.fill("#password", PASSWORD)
    page.click("#submit")
    assert returned(page)["code"] == "0"
    after = balances(sb, user_no)
    assert (after["available"], after["card"]) == ("234.50", "4765.50")


def test_a_wrong_password_a_cancel_and_the_lockout_go_back_to_the_platform_and_move_nothing(page, sandbox):
    sb = sandbox
    user_no = customer(sb, 2, "李雷")
    open_account(page, sb, user_no)
    url = platform_asks(sb, f"/api/users/{user_no}/recharges", "100.00")

    page.goto(url)
    page.fill("#password", "not-the-password")
    page.click("#submit")
    back = returned(page)
    assert back["code"] == "2" and back["msg"].startswith("用户交易密码错误") and "4 attempts left" in back["msg"]
    assert balances(sb, user_no)["available"] == "0.00"

    page.goto(url)  # nothing was final: the same request opens again, and the page says how many tries are left
    assert "还可尝试 4 次" in page.inner_text("#attempts-left")
    page.click("#cancel")  # no password typed: cancel still leaves
    back = returned(page)
    assert back == {"st": "2", "code": "2", "msg": "用户取消"}
    assert balances(sb, user_no)["available"] == "0.00"

    for _ in range(4):  # the 5th wrong password locks the trade password
        page.goto(url)
        page.fill("#password", "still-wrong")
        page.click("#submit")
        back = returned(page)
    assert back["code"] == "2" and "锁定" in back["msg"]
    page.goto(url)  # the page now says so, with no form to type into
    assert "锁定" in page.inner_text("#error") and page.locator("#password").count() == 0
    assert balances(sb, user_no)["available"] == "0.00"


def test_an_operator_signs_in_finds_the_account_and_works_the_console(page, sandbox):
    sb = sandbox
    user_no = customer(sb, 3, "韩梅梅", balance="8000.00")
    open_account(page, sb, user_no)
    for amount in ("3000.00", "250.25"):
        page.goto(platform_asks(sb, f"/api/users/{user_no}/recharges", amount))
        page.fill("#password", PASSWORD)
        page.click("#submit")
        assert returned(page)["code"] == "0"
    sb.deliver_notifications()

    page.goto(sb.bank_url + "/console/accounts")
    assert "/console/login" in page.url
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    assert "令牌不正确" in page.inner_text("#error")
    page.fill("#token", sb.sim_token)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/accounts")

    page.goto(sb.bank_url + "/console")
    assert "平衡" in page.inner_text("#ledger-verdict")
    assert page.inner_text("#money-total") == "¥0.00"

    page.click("text=账户")
    page.fill("#search", "韩梅")
    page.press("#search", "Enter")
    page.click(f"#accounts a:text('{user_no}')")
    assert page.inner_text("#available") == "¥3,250.25"
    rows = page.locator("#postings-available tbody tr")
    amounts = [int(rows.nth(i).locator("td[data-fen]").first.get_attribute("data-fen")) for i in range(rows.count())]
    newest_balance = int(rows.nth(0).locator("td[data-fen]").nth(1).get_attribute("data-fen"))
    assert sum(amounts) == newest_balance == 325025

    page.goto(sb.bank_url + "/console/notifications")
    first = page.locator("#notifications tbody tr").first
    assert first.locator(".state").inner_text() == "DELIVERED"
    first.locator("button.resend").click()
    assert "已重新排队" in page.inner_text(".flash.ok")
    assert page.locator("#notifications tbody tr").first.locator(".state").inner_text() == "PENDING"

    page.goto(sb.bank_url + "/console/faults")
    page.select_option("#add-fault select[name=action]", "reject")
    page.select_option("#add-fault select[name=service]", "RECHARGE")
    page.fill("#add-fault input[name=code]", "00001")
    page.click("#add-fault button[type=submit]")
    assert "已添加规则" in page.inner_text(".flash.ok")
    assert page.locator("#rules tbody tr[id^=rule-]").count() == 1
    assert "service=RECHARGE" in page.inner_text("#rules")
    page.click("#rules button.remove")
    assert "已删除规则" in page.inner_text(".flash.ok")
    assert page.locator("#rules tbody tr[id^=rule-]").count() == 0

    page.goto(sb.bank_url + "/console/clock")
    assert page.inner_text("#clock-now") == "2026-01-05 09:00:00"
    page.fill("#advance-amount", "3")
    page.select_option("#advance-unit", "days")
    page.click("#advance button[type=submit]")
    assert page.inner_text("#clock-now") == "2026-01-08 09:00:00"
    assert "2026-01-08" in page.inner_text("#bank-clock")
