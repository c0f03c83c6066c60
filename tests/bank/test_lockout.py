"""Trade-password lockout, operator unlock, and the slow hash outside the write lock (issue 14)."""
from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from bank_depository.domain import identity
from bank_depository.protocol import codes, services as svc
from bank_depository.services import guard
from tests.conftest import NOTIFY_URL, PLATFORM_NO, redirect_code

CALLBACK = "http://platform.test/cb?st=2"


def query(resp) -> dict:
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}


@pytest.fixture
def investor(bank):
    return bank.open_account(1)


def recharge_page(bank, user_no: str, no: str = "RC1"):
    payload = {"requestNo": no, "userNo": user_no, "amount": "10.00", "callbackUrl": CALLBACK}
    return bank.remember(bank.client.get("/gateway", query_string=bank.signed("RECHARGE", payload)), no)


def attempt(bank, no: str, password: str):
    return bank.client.post("/gateway/confirm", data=bank.confirm_form(no, platformNo=PLATFORM_NO,
                                                                       password=password))


def lock(bank, user_no: str, no: str = "RC1") -> list[dict]:
    recharge_page(bank, user_no, no)
    return [query(attempt(bank, no, "000000")) for _ in range(guard.MAX_FAILURES)]


def test_each_wrong_attempt_says_how_many_are_left_and_the_fifth_locks(bank, investor):
    before = bank.snapshot()
    answers = lock(bank, investor)
    assert [a["code"] for a in answers] == ["2"] * 5
    for left, a in zip((4, 3, 2, 1), answers):
        assert codes.message(codes.PASSWORD_WRONG) in a["msg"] and f"{left} attempt" in a["msg"]
    assert codes.PASSWORD_LOCKED in answers[-1]["msg"] and "PASSWORD_LOCKED" in answers[-1]["msg"]
    assert bank.snapshot() == before


def test_a_locked_password_refuses_even_the_right_one_and_moves_nothing(bank, investor):
    lock(bank, investor)
    before = bank.snapshot()
    right = query(attempt(bank, "RC1", "123456"))
    assert right["code"] == "2" and codes.message(codes.PASSWORD_LOCKED) in right["msg"]
    page = recharge_page(bank, investor, "RC2").get_data(as_text=True)
    assert 'id="confirm"' not in page and codes.PASSWORD_LOCKED in page and "code=2" in page
    assert bank.snapshot() == before and bank.balances(investor)[0] == "0.00"


def test_the_lock_sends_the_platform_a_signed_trade_password_locked_notification(bank, investor):
    lock(bank, investor)
    [note] = [n for n in bank.client.get("/sim/notifications").json if n["serviceName"] == svc.TRADE_PASSWORD_LOCKED]
    payload = note["payload"] if isinstance(note.get("payload"), dict) else json.loads(
        bank.ctx.conn().execute("SELECT payload FROM notifications WHERE service_name = ?",
                                (svc.TRADE_PASSWORD_LOCKED,)).fetchone()[0])
    assert payload["userNo"] == investor and payload["respCode"] == codes.PASSWORD_LOCKED
    assert payload["failedAttempts"] == 5 and payload["triggerRequestNo"] == "RC1"
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, NOTIFY_URL, body="OK")
        bank.app.extensions["wanxin.dispatcher"].run_once()
        bodies = [{k: v[0] for k, v in parse_qs(c.request.body).items()} for c in rsps.calls]
    [sent] = [b for b in bodies if b["serviceName"] == svc.TRADE_PASSWORD_LOCKED]
    assert sent["platformNo"] == PLATFORM_NO and sent["signature"]


def test_a_right_password_resets_the_count(bank, investor):
    recharge_page(bank, investor)
    for _ in range(4):
        attempt(bank, "RC1", "000000")
    assert redirect_code(attempt(bank, "RC1", "123456")) == 0
    recharge_page(bank, investor, "RC2")
    assert "4 attempts left" in query(attempt(bank, "RC2", "000000"))["msg"]


def test_the_operator_unlocks_and_the_user_can_pay_again(bank, investor):
    lock(bank, investor)
    assert bank.app.test_client().post(f"/sim/users/{investor}/unlock").status_code == 401
    resp = bank.client.post(f"/sim/users/{investor}/unlock")
    assert resp.status_code == 200 and resp.json == {"platformNo": PLATFORM_NO, "userNo": investor,
                                                     "wasLocked": True, "failures": 5, "locked": False}
    recharge_page(bank, investor)  # the still pending request gets a fresh page
    assert redirect_code(attempt(bank, "RC1", "123456")) == 0
    assert bank.balances(investor)[0] == "10.00"


def test_unlocking_an_unknown_user_is_404_and_an_ambiguous_one_needs_platform_no(tmp_path, keys):
    from bank_depository.app import create_app
    from tests.conftest import BankDriver, bank_config

    other_priv, other_pub = keys["platform_private_key"], keys["platform_public"].decode()
    app = create_app(bank_config(tmp_path, keys, PLATFORMS=[
        {"platform_no": PLATFORM_NO, "public_key": other_pub, "notify_url": NOTIFY_URL},
        {"platform_no": "otherp2p", "public_key": other_pub, "notify_url": NOTIFY_URL}]))
    try:
        bank = BankDriver(app, keys)
        assert bank.client.post("/sim/users/NOBODY/unlock").status_code == 404
        bank.open_account(1, user_no="SAME")
        card = bank.card(2)
        payload = {"requestNo": "O1", "userNo": "SAME", "fullname": card["fullname"], "idNumber": card["idNumber"],
                   "mobile": card["mobile"], "cardNumber": card["cardNumber"], "role": "I",
                   "callbackUrl": "http://other.test/cb"}
        page = bank.remember(bank.client.get("/gateway", query_string=bank.signed(
            "PERSONAL_REGISTER", payload, key=other_priv, platform_no="otherp2p")), "O1")
        assert page.status_code == 200
        done = bank.client.post("/gateway/confirm", data=bank.confirm_form(
            "O1", platformNo="otherp2p", password="123456", confirmPassword="123456"))
        assert redirect_code(done) == 0
        ambiguous = bank.client.post("/sim/users/SAME/unlock")
        assert ambiguous.status_code == 400 and "platformNo" in ambiguous.json["error"]["message"]
        assert bank.client.post("/sim/users/SAME/unlock?platformNo=otherp2p").json["platformNo"] == "otherp2p"
        assert bank.client.post("/sim/users/SAME/unlock", json={"platformNo": PLATFORM_NO}).status_code == 200
    finally:
        app.extensions["wanxin.dispatcher"].stop()
        app.extensions["wanxin.bank"].database.close()


def test_the_legacy_password_check_counts_toward_the_same_lock(tmp_path):
    from bank_depository.app import create_app
    from tests.bank.legacy_driver import CONTEXT, LegacyDriver, close, legacy_config

    app = create_app(legacy_config(tmp_path))
    try:
        bank = LegacyDriver(app)
        user = bank.open_account(1)
        check = lambda pw: bank.client.post(f"{CONTEXT}/users/password",  # noqa: E731
                                            json={"userNo": user, "password": pw}).get_data(as_text=True)
        assert [check("000000").endswith('"result":0}') for _ in range(5)] == [True] * 5
        locked = json.loads(check("123456"))
        assert locked["respData"]["respCode"] == codes.PASSWORD_LOCKED  # the right one is no longer even checked
        page = bank.page("RECHARGE", {"requestNo": "LR9", "userNo": user, "amount": "10.00",
                                      "callbackUrl": "http://front.test/?st=2"}).get_data(as_text=True)
        assert 'id="confirm"' not in page and codes.PASSWORD_LOCKED in page  # the page names the lock
        assert bank.balances(user)[0] == "0.00"
        assert bank.client.post(f"/sim/users/{user}/unlock").status_code == 200
        assert check("123456").endswith('"result":1}')
    finally:
        close(app)


# -- the slow hash runs before the write lock -------------------------------------------------------------
def _blocking(monkeypatch, name: str):
    """Make identity.<name> wait until released; returns (entered, release) events."""
    entered, release = threading.Event(), threading.Event()
    real = getattr(identity, name)

    def slow(*args, **kw):
        entered.set()
        assert release.wait(30), "never released"
        return real(*args, **kw)

    monkeypatch.setattr(identity, name, slow)
    return entered, release


def _write_goes_through(bank) -> None:
    """A write on the main thread's connection while the hash is blocked: with the lock held it would fail fast."""
    conn = bank.ctx.database.conn()
    conn.execute("PRAGMA busy_timeout = 200")
    try:
        assert bank.client.post("/sim/clock", json={"advance_seconds": 1}).status_code == 200
        bank.card(99)  # a bank-counter write as well
    finally:
        conn.execute("PRAGMA busy_timeout = 30000")


@pytest.mark.parametrize("password", ["000000", "123456"])
def test_checking_a_trade_password_does_not_hold_the_write_lock(bank, investor, monkeypatch, password):
    recharge_page(bank, investor)
    entered, release = _blocking(monkeypatch, "check_password")
    result: dict = {}
    client = bank.client
    worker = threading.Thread(target=lambda: result.update(resp=attempt(bank, "RC1", password)))
    worker.start()
    try:
        assert entered.wait(30)
        from tests.conftest import operator_client
        bank.client = operator_client(bank.app)  # the main thread's own client and connection
        _write_goes_through(bank)
    finally:
        release.set()
        worker.join(30)
        bank.client = client
    assert redirect_code(result["resp"]) == (2 if password == "000000" else 0)


def test_hashing_a_new_trade_password_does_not_hold_the_write_lock(bank, monkeypatch):
    card = bank.card(3)
    payload = {"requestNo": "REG3", "userNo": "U3", "fullname": card["fullname"], "idNumber": card["idNumber"],
               "mobile": card["mobile"], "cardNumber": card["cardNumber"], "role": "I",
               "callbackUrl": "http://platform.test/cb?st=1"}
    bank.remember(bank.client.get("/gateway", query_string=bank.signed("PERSONAL_REGISTER", payload)), "REG3")
    entered, release = _blocking(monkeypatch, "hash_password")
    result: dict = {}
    form = bank.confirm_form("REG3", platformNo=PLATFORM_NO, password="123456", confirmPassword="123456")
    worker = threading.Thread(target=lambda: result.update(resp=bank.client.post("/gateway/confirm", data=form)))
    worker.start()
    try:
        assert entered.wait(30)
        from tests.conftest import operator_client
        other = operator_client(bank.app)
        conn = bank.ctx.database.conn()
        conn.execute("PRAGMA busy_timeout = 200")
        try:
            assert other.post("/sim/clock", json={"advance_seconds": 1}).status_code == 200
        finally:
            conn.execute("PRAGMA busy_timeout = 30000")
    finally:
        release.set()
        worker.join(30)
    assert redirect_code(result["resp"]) == 0
