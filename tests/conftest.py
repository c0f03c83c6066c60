"""Shared fixtures: throw-away keys, a bank app on a temporary database, a driver.

Everything is deterministic: the bank's clock is frozen, password hashing is
cheap, and notifications are dispatched only when a test says so.
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from bank_depository import config
from bank_depository.app import create_app
from bank_depository.clock import CST
from bank_depository.domain.identity import id_check_char
from bank_depository.protocol import envelope, operator, signing

PLATFORM_NO = "wanxinp2p"
START = "2026-01-05T09:00:00+08:00"
NOTIFY_URL = "http://platform.test/notify"
SIM_TOKEN = "test-operator-token"
SIM_HEADERS = {"Authorization": f"Bearer {SIM_TOKEN}"}


@pytest.fixture(scope="session")
def keys():
    bank_priv, bank_pub = signing.generate_key_pair()
    plat_priv, plat_pub = signing.generate_key_pair()
    other_priv, _ = signing.generate_key_pair()
    return {
        "bank_private": bank_priv, "bank_public": bank_pub,
        "platform_private": plat_priv, "platform_public": plat_pub,
        "bank_public_key": signing.load_public_key(bank_pub),
        "platform_private_key": signing.load_private_key(plat_priv),
        "other_private_key": signing.load_private_key(other_priv),
    }


def sim_headers(app) -> dict:
    """The operator credential of ``app`` as request headers (for /sim calls)."""
    return operator.header(app.config["SIM_TOKEN"])


def operator_client(app):
    """A Flask test client that presents the operator credential on every request."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = sim_headers(app)["Authorization"]
    return client


_PAGE_TOKEN = re.compile(r'name="pageToken"[^>]*value="([^"]*)"')


def page_token(page) -> str:
    """The one-time ``pageToken`` a rendered gateway page carries ('' when it has no form)."""
    text = page if isinstance(page, str) else page.get_data(as_text=True)
    found = _PAGE_TOKEN.search(text)
    return found.group(1) if found else ""


def make_id_number(seq: int) -> str:
    first17 = f"110101199001{(seq % 28) + 1:02d}{seq % 1000:03d}"
    return first17 + id_check_char(first17)


def bank_config(tmp_path, keys, **extra) -> dict:
    """The test bank's config (cheap hashing, a frozen clock, the test operator token); ``extra`` wins."""
    return config.bank_config(
        tmp_path / "bank.sqlite", private_key=keys["bank_private"].decode(),
        platforms=[{"platform_no": PLATFORM_NO, "public_key": keys["platform_public"].decode(),
                    "notify_url": NOTIFY_URL}],
        **{"PASSWORD_ITERATIONS": 1000, "CLOCK_FROZEN": True, "CLOCK_START": START, "SIM_TOKEN": SIM_TOKEN, **extra})


class BankDriver:
    """Drives a bank app through its real HTTP surface (Flask test client)."""

    def __init__(self, app, keys):
        self.app = app
        self.client = operator_client(app)
        self.keys = keys
        self.ctx = app.extensions["wanxin.bank"]
        self.seq = 0
        self.tokens: dict[str, str] = {}  # requestNo -> pageToken of the last page rendered for it

    def remember(self, page, request_no: str):
        """Keep the pageToken of a gateway page (its cookie stays in the client), return the page."""
        token = page_token(page)
        if token:
            self.tokens[request_no] = token
        return page

    def confirm_form(self, request_no: str, **form) -> dict:
        """A /gateway/confirm form for ``request_no`` carrying the token of its last rendered page."""
        return {"requestNo": request_no, "pageToken": self.tokens.get(request_no, ""), **form}

    # -- protocol ---------------------------------------------------------
    def signed(self, service: str, payload: dict, key=None, platform_no: str = PLATFORM_NO) -> dict:
        req = envelope.sign_request(service, platform_no, payload, key or self.keys["platform_private_key"])
        return req.fields()

    def raw_call(self, service: str, payload: dict, **kw):
        return self.client.post("/service", data=self.signed(service, payload, **kw))

    def call(self, service: str, payload: dict, **kw) -> dict:
        resp = self.raw_call(service, payload, **kw)
        assert resp.status_code == 200, resp.data
        return envelope.verify_response(resp.get_data(as_text=True), self.keys["bank_public_key"])

    def next_no(self, prefix: str = "REQ") -> str:
        self.seq += 1
        return f"{prefix}_{self.seq:06d}"

    # -- counter and gateway ----------------------------------------------
    def card(self, seq: int, balance: str = "10000.00", name: str | None = None) -> dict:
        data = {"fullname": name or f"用户{seq}", "idNumber": make_id_number(seq), "mobile": f"138{seq:08d}",
                "cardNumber": f"62220200{seq:08d}", "bankCode": "ICBC", "balance": balance}
        resp = self.client.post("/sim/bank-cards", json=data)
        assert resp.status_code == 201, resp.json
        return data

    def gateway(self, service: str, payload: dict, password: str = "123456", confirm: str | None = None):
        page = self.remember(self.client.get("/gateway", query_string=self.signed(service, payload)),
                             payload["requestNo"])
        if page.status_code != 200 or b'id="confirm"' not in page.data:
            return page, None
        form = {"platformNo": PLATFORM_NO, "requestNo": payload["requestNo"], "serviceName": service,
                "password": password, "pageToken": page_token(page)}
        if service == "PERSONAL_REGISTER":
            form["confirmPassword"] = password if confirm is None else confirm
        return page, self.client.post("/gateway/confirm", data=form)

    def open_account(self, seq: int, role: str = "I", balance: str = "10000.00", user_no: str | None = None) -> str:
        card = self.card(seq, balance)
        user_no = user_no or f"USR_{seq:04d}"
        payload = {"requestNo": self.next_no(), "userNo": user_no, "fullname": card["fullname"],
                   "idNumber": card["idNumber"], "mobile": card["mobile"], "cardNumber": card["cardNumber"],
                   "role": role, "callbackUrl": "http://platform.test/cb?st=1"}
        _, done = self.gateway("PERSONAL_REGISTER", payload)
        assert done is not None and redirect_code(done) == 0, done and done.headers.get("Location")
        return user_no

    def recharge(self, user_no: str, amount: str, password: str = "123456"):
        payload = {"requestNo": self.next_no(), "userNo": user_no, "amount": amount,
                   "callbackUrl": "http://platform.test/cb?st=2"}
        return self.gateway("RECHARGE", payload, password)

    def withdraw(self, user_no: str, amount: str, commission: str = "0", password: str = "123456"):
        payload = {"requestNo": self.next_no(), "userNo": user_no, "amount": amount, "commission": commission,
                   "callbackUrl": "http://platform.test/cb?st=3"}
        return self.gateway("WITHDRAW", payload, password)

    # -- inspection -------------------------------------------------------
    def balances(self, user_no: str) -> tuple[str, str, str]:
        a = self.client.get(f"/sim/accounts/{user_no}").json
        return a["available"], a["frozen"], a["card"]

    def problems(self) -> list:
        return self.client.get("/sim/ledger/verify").json["problems"]

    def snapshot(self) -> dict:
        conn = self.ctx.conn()
        return {
            "accounts": [tuple(r) for r in conn.execute("SELECT code, balance FROM accounts ORDER BY code")],
            "holds": [tuple(r) for r in conn.execute("SELECT * FROM holds ORDER BY request_no")],
            "projects": [tuple(r) for r in conn.execute("SELECT * FROM projects ORDER BY project_no")],
            "entries": conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0],
            "claims": [tuple(r) for r in conn.execute("SELECT * FROM claims ORDER BY project_no, user_no")],
        }


def redirect_code(resp) -> int | None:
    if resp.status_code != 302:
        return None
    return int(parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0])


@pytest.fixture
def bank_app(tmp_path, keys):
    app = create_app(bank_config(tmp_path, keys))
    yield app
    app.extensions["wanxin.dispatcher"].stop()
    app.extensions["wanxin.bank"].database.close()


@pytest.fixture
def bank(bank_app, keys):
    driver = BankDriver(bank_app, keys)
    yield driver
    assert driver.problems() == [], "ledger invariants broken after the test"


def cst(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CST)
