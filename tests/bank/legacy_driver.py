"""A bank serving a legacy-profile platform, driven as the original Java platform would.

The legacy platform ``wanxinp2p`` uses the original's 512-bit demo keys (the
bank signs with ``depository_privateKey``), so every signature is the same
bytes on every run and whole bodies can be pinned. A second, modern platform
(``modernp2p``, 2048-bit keys) shares the bank when a test asks for it.
"""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

from bank_depository.app import create_app
from bank_depository.config import bank_config
from bank_depository.protocol import envelope, legacy, signing
from tests.conftest import START, make_id_number, operator_client, page_token
from tests.legacy_keys import DEPOSITORY_PRIVATE_KEY, DEPOSITORY_PUBLIC_KEY, P2P_PRIVATE_KEY, P2P_PUBLIC_KEY

PLATFORM_NO = "wanxinp2p"
MODERN_NO = "modernp2p"
CONTEXT = "/wanxindepository"
NOTIFY_URL = "http://platform.test/depository-agent/"
MODERN_NOTIFY_URL = "http://modern.test/notify"
FRONT = "http://front.test/#/pages/common/success"

P2P_KEY = signing.load_private_key(P2P_PRIVATE_KEY, allow_weak=True)
BANK_KEY = signing.load_public_key(DEPOSITORY_PUBLIC_KEY, allow_weak=True)


def legacy_config(tmp_path, keys=None, **extra) -> dict:
    platforms = [{"platform_no": PLATFORM_NO, "public_key": P2P_PUBLIC_KEY, "profile": "legacy",
                  "notify_url": NOTIFY_URL}]
    if keys is not None:
        platforms.append({"platform_no": MODERN_NO, "public_key": keys["platform_public"].decode(),
                          "notify_url": MODERN_NOTIFY_URL})
    return bank_config(tmp_path / "bank.sqlite", private_key=DEPOSITORY_PRIVATE_KEY, platforms=platforms,
                       **{"PASSWORD_ITERATIONS": 1000, "CLOCK_FROZEN": True, "CLOCK_START": START, **extra})


def query(service: str, payload: dict, *, key=None, platform_no: str = PLATFORM_NO,
          algorithm: str = signing.SHA1, payload_text: str | None = None) -> str:
    """The query string the original platform's signing interceptor builds."""
    req = envelope.sign_request(service, platform_no, payload, key or P2P_KEY, algorithm, payload_text=payload_text,
                                bind=False)
    return legacy.query_string(req.fields())


def resp_data_text(body: str) -> str:
    """The exact respData text of a legacy body, where respData is the last member."""
    assert body.endswith("}}")
    return body[body.index('"respData":') + len('"respData":'):-1]


def verified(body: str) -> dict:
    """respData of a legacy /service body whose signature verifies under the demo depository key."""
    return envelope.verify_response(body, BANK_KEY, signing.SHA1)


def location(resp) -> str:
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"]


class LegacyDriver:
    def __init__(self, app):
        self.app = app
        self.client = operator_client(app)
        self.ctx = app.extensions["wanxin.bank"]
        self.seq = 0
        self.tokens: dict[str, str] = {}  # requestNo -> pageToken of the last page rendered for it

    def form(self, request_no: str, **data) -> dict:
        """A /trans/* form for ``request_no`` with the pageToken of its last page (the cookie is in the client)."""
        return {"pageToken": self.tokens.get(request_no, ""), **data}

    def next_no(self, prefix: str = "REQ") -> str:
        self.seq += 1
        return f"{prefix}_{self.seq:06d}"

    # -- the wire -----------------------------------------------------------
    def service(self, service: str, payload: dict, **kw):
        return self.client.get(f"{CONTEXT}/service?" + query(service, payload, **kw))

    def body(self, service: str, payload: dict, **kw) -> str:
        resp = self.service(service, payload, **kw)
        assert resp.status_code == 200 and resp.content_type == "application/json;charset=UTF-8"
        return resp.get_data(as_text=True)

    def call(self, service: str, payload: dict, **kw) -> dict:
        return verified(self.body(service, payload, **kw))

    def page(self, service: str, payload: dict):
        page = self.client.get(f"{CONTEXT}/gateway?" + query(service, payload))
        if page_token(page):
            self.tokens[payload["requestNo"]] = page_token(page)
        return page

    # -- the bank counter and the gateway flows, as the original's pages post them ------------------
    def card(self, seq: int, balance: str = "10000.00") -> dict:
        data = {"fullname": f"用户{seq}", "idNumber": make_id_number(seq), "mobile": f"138{seq:08d}",
                "userType": 1, "bankCode": "ICBC", "bankName": "中国工商银行", "cardNumber": f"62220200{seq:08d}",
                "password": "888888", "balance": balance}
        resp = self.client.post(f"{CONTEXT}/bank-cards", json=data)
        assert json.loads(resp.get_data(as_text=True))["respCode"] == "00000", resp.get_data(as_text=True)
        return data

    def register_payload(self, seq: int, card: dict, role: str = "I", **over) -> dict:
        payload = {"requestNo": self.next_no(), "userNo": f"USR_{seq:04d}", "fullname": card["fullname"],
                   "idNumber": card["idNumber"], "mobile": card["mobile"], "cardNumber": card["cardNumber"],
                   "bankCode": "ICBC", "role": role, "callbackUrl": f"{FRONT}?st=1"}
        payload.update(over)
        return payload

    def open_account(self, seq: int, role: str = "I", balance: str = "10000.00") -> str:
        payload = self.register_payload(seq, self.card(seq, balance), role)
        assert self.page("PERSONAL_REGISTER", payload).status_code == 200
        done = self.client.post(f"{CONTEXT}/trans/users?requestNo={payload['requestNo']}",
                                data=self.form(payload["requestNo"], appCode=PLATFORM_NO, prePassword="123456",
                                               password="123456"))
        assert location(done).endswith("&code=0"), location(done)
        return payload["userNo"]

    def money(self, service: str, user_no: str, amount: str, password: str = "123456", **over):
        """Open a RECHARGE / WITHDRAW page and post its form; returns (requestNo, the form's answer)."""
        payload = {"requestNo": self.next_no(), "userNo": user_no, "amount": amount,
                   "callbackUrl": f"{FRONT}?st={2 if service == 'RECHARGE' else 3}", **over}
        page = self.page(service, payload)
        assert page.status_code == 200, page.get_data(as_text=True)
        kind = "recharge-details" if service == "RECHARGE" else "withdraw-details"
        done = self.client.post(f"{CONTEXT}/trans/{kind}", data=self.form(payload["requestNo"],
                                                                          requestNo=payload["requestNo"],
                                                                          appCode=PLATFORM_NO, password=password))
        return payload["requestNo"], done

    def recharge(self, user_no: str, amount: str, password: str = "123456"):
        return self.money("RECHARGE", user_no, amount, password)

    def withdraw(self, user_no: str, amount: str, password: str = "123456", **over):
        return self.money("WITHDRAW", user_no, amount, password, **over)

    # -- inspection ---------------------------------------------------------
    def balances(self, user_no: str) -> tuple[str, str, str]:
        a = self.client.get(f"/sim/accounts/{user_no}").json
        return a["available"], a["frozen"], a["card"]

    def problems(self) -> list:
        return self.client.get("/sim/ledger/verify").json["problems"]


def sent_notification(call) -> tuple[dict, str]:
    """(query fields, exact payload text) of one legacy notification GET; its signature must verify."""
    url = urlsplit(call.request.url)
    fields = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    text = base64.b64decode(fields["reqData"], validate=True).decode("utf-8")
    assert signing.verify(BANK_KEY, text.encode("utf-8"), fields["signature"], signing.SHA1)
    return fields, text


def close(app) -> None:
    app.extensions["wanxin.dispatcher"].stop()
    app.extensions["wanxin.bank"].database.close()


__all__ = ["LegacyDriver", "legacy_config", "create_app", "query", "verified", "location", "resp_data_text",
           "sent_notification", "close"]
