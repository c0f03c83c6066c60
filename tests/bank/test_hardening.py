"""Issue 14's other refusals: the clock's range, signatures bound to service and platform, the
legacy endpoints only with a legacy platform, and the warning beyond loopback. Each attack is
refused and changes nothing."""
from __future__ import annotations

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import codes, envelope
from tests.conftest import NOTIFY_URL, PLATFORM_NO, BankDriver, bank_config

BRICK = "9999-12-31T23:59:52+08:00"


def close(app) -> None:
    app.extensions["wanxin.dispatcher"].stop()
    app.extensions["wanxin.bank"].database.close()


# -- the clock ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [{"set": BRICK}, {"set": "1999-12-31T23:59:59+08:00"},
                                  {"set": "2026-01-01T00:00:00+08:00"}, {"advance_seconds": -1},
                                  {"advance_seconds": 80 * 365 * 86400}])
def test_a_clock_move_outside_the_range_or_backwards_is_refused_and_changes_nothing(bank, body):
    before = bank.client.get("/sim/clock").json["now"]
    resp = bank.client.post("/sim/clock", json=body)
    assert resp.status_code == 400 and resp.json["error"]["code"] == codes.PARAM_FAIL
    assert bank.client.get("/sim/clock").json["now"] == before


def test_the_clock_accepts_the_last_second_of_its_range(bank):
    assert bank.client.post("/sim/clock", json={"set": "2099-12-31T23:59:59+08:00"}).status_code == 200
    assert bank.client.post("/sim/notifications/dispatch").status_code == 200


@pytest.mark.parametrize("key, value", [("clock.frozen", BRICK), ("clock.offset", repr(9e12))])
def test_a_database_holding_an_out_of_range_clock_starts_and_is_set_back_by_its_own_commands(tmp_path, keys, key,
                                                                                               value):
    app = create_app(bank_config(tmp_path, keys))
    conn = app.extensions["wanxin.bank"].conn()
    conn.execute("DELETE FROM meta WHERE key LIKE 'clock.%'")
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
    close(app)
    app = create_app(bank_config(tmp_path, keys))  # what an older version left behind
    try:
        bank = BankDriver(app, keys)
        shown = bank.client.get("/sim/clock")
        assert shown.status_code == 200 and shown.json["now"].startswith("2099-12-31")
        bank.open_account(1)  # the bank works again
        back = bank.client.post("/sim/clock", json={"set": "2026-02-01T09:00:00+08:00"})
        assert back.status_code == 200 and back.json["now"].startswith("2026-02-01"), back.json
        again = bank.client.post("/sim/clock", json={"set": "2026-01-01T09:00:00+08:00"})
        assert again.status_code == 400  # the one move back is spent
        assert bank.problems() == []
    finally:
        close(app)


def test_the_platform_clock_keeps_the_same_range_and_recovers_the_same_way(tmp_path):
    from p2p_platform.clock import ClockError, PlatformClock, parse
    from p2p_platform.storage.db import Store

    store = Store(str(tmp_path / "p.sqlite"))
    store.init()
    clock = PlatformClock(store)
    clock.freeze(parse("2026-01-05T09:00:00+08:00"))
    for bad in (lambda: clock.set(parse(BRICK)), lambda: clock.set(parse("2026-01-01T00:00:00+08:00")),
                lambda: clock.advance(-1), lambda: clock.advance(float("nan")), lambda: clock.advance(1e300)):
        with pytest.raises(ClockError):
            bad()
    assert clock.now().isoformat().startswith("2026-01-05T09:00")
    with store.write() as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'clock'", ("frozen:" + BRICK,))
    assert clock.recover() == BRICK
    assert clock.now().isoformat().startswith("2099-12-31")
    assert clock.set(parse("2026-02-01T00:00:00+08:00")).isoformat().startswith("2026-02-01")
    with pytest.raises(ClockError):
        clock.set(parse("2026-01-01T00:00:00+08:00"))


# -- signatures bound to their service and platform --------------------------------------------------------
def test_a_signed_recharge_opened_as_a_withdrawal_is_refused_and_moves_nothing(bank):
    user = bank.open_account(1)
    bank.recharge(user, "100.00")
    before = bank.snapshot()
    fields = bank.signed("RECHARGE", {"requestNo": "X1", "userNo": user, "amount": "50.00", "commission": "0",
                                      "callbackUrl": "http://platform.test/cb"})
    page = bank.client.get("/gateway", query_string={**fields, "serviceName": "WITHDRAW"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and codes.SIGN_FAIL in html and "serviceName" in html
    assert 'id="confirm"' not in html
    assert bank.snapshot() == before and bank.client.get("/sim/requests/X1").status_code == 404


def test_a_signed_direct_request_relabelled_as_another_service_is_refused(bank):
    user = bank.open_account(1)
    fields = bank.signed("QUERY_USER", {"requestNo": "Q1", "userNo": user})
    before = bank.snapshot()
    resp = bank.client.post("/service", data={**fields, "serviceName": "CANCEL_PRE_TRANSACTION"})
    data = envelope.verify_response(resp.get_data(as_text=True), bank.keys["bank_public_key"])
    assert data["respCode"] == codes.SIGN_FAIL and "serviceName" in data["respMsg"]
    assert bank.snapshot() == before


def test_a_request_signed_for_platform_a_replayed_as_platform_b_is_refused(tmp_path, keys):
    shared = keys["platform_public"].decode()  # B even shares A's key: only the binding tells them apart
    app = create_app(bank_config(tmp_path, keys, PLATFORMS=[
        {"platform_no": PLATFORM_NO, "public_key": shared, "notify_url": NOTIFY_URL},
        {"platform_no": "platformb", "public_key": shared, "notify_url": NOTIFY_URL}]))
    try:
        bank = BankDriver(app, keys)
        user = bank.open_account(1)
        bank.recharge(user, "100.00")
        before = bank.snapshot()
        fields = bank.signed("CREATE_PROJECT", {"requestNo": "P1", "projectNo": "PRJ1", "userNo": user,
                                                "amount": "100.00"})
        resp = bank.client.post("/service", data={**fields, "platformNo": "platformb"})
        data = envelope.verify_response(resp.get_data(as_text=True), keys["bank_public_key"])
        assert data["respCode"] == codes.SIGN_FAIL and "platformNo" in data["respMsg"]
        assert bank.snapshot() == before
        assert bank.problems() == []
    finally:
        close(app)


def test_a_modern_request_whose_signed_json_lacks_the_binding_is_refused_as_a_parameter_error(bank):
    user = bank.open_account(1)
    unbound = envelope.sign_request("QUERY_USER", PLATFORM_NO, {"requestNo": "Q1", "userNo": user},
                                    bank.keys["platform_private_key"], bind=False).fields()
    data = envelope.verify_response(bank.client.post("/service", data=unbound).get_data(as_text=True),
                                    bank.keys["bank_public_key"])
    assert data["respCode"] == codes.PARAM_FAIL and "serviceName" in data["respMsg"]


def test_our_signer_puts_the_binding_into_the_signed_json():
    from bank_depository.protocol import signing

    key = signing.load_private_key(signing.generate_key_pair()[0])
    req = envelope.sign_request("RECHARGE", "p1", {"requestNo": "R"}, key)
    assert req.payload() == {"requestNo": "R", "serviceName": "RECHARGE", "platformNo": "p1"}
    resent = envelope.sign_request("RECHARGE", "p1", {}, key, payload_text='{"requestNo":"R"}')
    assert resent.payload_text == req.payload_text  # a recorded text is bound the same way, byte for byte


# -- legacy endpoints only with a legacy platform ----------------------------------------------------------
@pytest.mark.parametrize("method, path", [("GET", "/balance-details/USR_0001"), ("POST", "/bank-cards"),
                                          ("POST", "/users/password"), ("GET", "/smscode/13800000001"),
                                          ("GET", "/service"), ("POST", "/trans/recharge-details")])
def test_a_bank_without_a_legacy_platform_has_no_legacy_endpoints(bank, method, path):
    bank.open_account(1)
    resp = bank.client.open("/wanxindepository" + path, method=method, json={"userNo": "USR_0001",
                                                                            "password": "123456"})
    assert resp.status_code == 404


# -- listening beyond loopback ----------------------------------------------------------------------------
@pytest.mark.parametrize("host, loud", [("127.0.0.1", False), ("::1", False), ("localhost", False),
                                        ("0.0.0.0", True), ("192.168.1.20", True), ("::", True)])
def test_a_server_beyond_loopback_says_so_loudly_on_stderr(capsys, host, loud):
    from serving import warn_if_exposed

    assert warn_if_exposed(host, "bank") is loud
    err = capsys.readouterr().err
    if loud:
        assert "WARNING" in err and host in err and "personal data" in err and "credential" in err
    else:
        assert err == ""
