"""The built-in platform's API needs the operator credential; the bank's notifications and the
browser's callback stay open (issue 14)."""
from __future__ import annotations

import pytest
import requests

from bank_depository.protocol import operator

PROTECTED = [("GET", "/api/users"), ("POST", "/api/users"), ("GET", "/api/projects"), ("GET", "/api/records"),
             ("POST", "/api/jobs/daily"), ("POST", "/api/reconciliations"), ("GET", "/sim/clock"),
             ("POST", "/sim/clock"), ("GET", "/api/claims")]


@pytest.mark.parametrize("method, path", PROTECTED)
def test_the_platform_api_refuses_to_act_or_disclose_without_the_credential(wanxin, method, path):
    wanxin.register("ivy", "investor")
    before = wanxin.rows("SELECT * FROM users")
    clock = wanxin.ok("GET", "/sim/clock")["now"]
    for headers in ({}, operator.header("not-the-token"), {"Authorization": "Basic x"}):
        resp = requests.request(method, wanxin.sb.platform_url + path, json={"advance_seconds": 86400,
                                                                             "username": "mallory"},
                                headers=headers, timeout=30)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "UNAUTHORIZED"
        assert "ivy" not in resp.text and "fullname" not in resp.text
    assert wanxin.rows("SELECT * FROM users") == before and wanxin.ok("GET", "/sim/clock")["now"] == clock


def test_one_credential_opens_both_apps_in_the_sandbox(wanxin):
    assert wanxin.sb.platform_app.config["SIM_TOKEN"] == wanxin.sb.bank_app.config["SIM_TOKEN"]
    assert wanxin.api("GET", "/api/users")[0] == 200


def test_the_notify_endpoint_and_the_callback_page_stay_open(wanxin):
    notify = requests.post(wanxin.sb.platform_url + "/notify", data={"serviceName": "RECHARGE"}, timeout=30)
    assert notify.status_code == 200 and notify.text.startswith("REJECTED")  # open, and it checks the signature
    back = requests.get(wanxin.sb.platform_url + "/callback", params={"st": "2", "code": "0"}, timeout=30)
    assert back.status_code == 200 and back.json()["code"] == "0"
    assert back.headers["X-Frame-Options"] == "DENY" and back.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'self'" in back.headers["Content-Security-Policy"]


def test_a_platform_without_a_configured_token_writes_one_beside_its_database(tmp_path, keys):
    from p2p_platform.app import create_app

    app = create_app({"DATABASE": str(tmp_path / "p.sqlite"), "PRIVATE_KEY": keys["platform_private"].decode(),
                      "BANK_PUBLIC_KEY": keys["bank_public"].decode()})
    path = operator.token_file(tmp_path / "p.sqlite")
    assert path.read_text().strip() == app.config["SIM_TOKEN"] and path.stat().st_mode & 0o777 == 0o600
    assert app.test_client().get("/api/users").status_code == 401
    assert app.test_client().get("/api/users", headers=operator.header(app.config["SIM_TOKEN"])).status_code == 200


def test_the_platform_accepts_the_lock_notice_of_the_bank(wanxin):
    """The bank's TRADE_PASSWORD_LOCKED notice is acknowledged, not retried until it is dead."""
    from bank_depository.protocol import envelope, services as svc

    payload = {"requestNo": "LOCK_U_1", "userNo": "U", "respCode": "60303", "status": 2}
    fields = envelope.sign_request(svc.TRADE_PASSWORD_LOCKED, "wanxinp2p", payload,
                                   wanxin.sb.bank_ctx.private_key, bind=False).fields()
    assert requests.post(wanxin.sb.platform_url + "/notify", data=fields, timeout=30).text == "OK"
