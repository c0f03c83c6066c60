"""Two platforms on one bank, each with its own key: ``wanxinp2p`` (the conftest's) and ``acme``.

``Side`` is a BankDriver that signs as one platform, so a test can run the
same userNo / projectNo / requestNo on both and compare.
"""
from __future__ import annotations

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import envelope, signing
from tests.conftest import PLATFORM_NO, BankDriver, bank_config, page_token

ACME = "acme"
ACME_NOTIFY = "http://acme.test/notify"


@pytest.fixture(scope="session")
def acme_keys():
    private_pem, public_pem = signing.generate_key_pair()
    return {"private": signing.load_private_key(private_pem), "public_pem": public_pem.decode()}


class Side(BankDriver):
    """The bank as one platform sees it."""

    def __init__(self, app, keys, platform_no: str, private_key, seq_base: int):
        super().__init__(app, keys)
        self.platform_no, self.private_key, self.seq_base = platform_no, private_key, seq_base

    def signed(self, service, payload, key=None, platform_no=None):
        req = envelope.sign_request(service, platform_no or self.platform_no, payload, key or self.private_key)
        return req.fields()

    def gateway(self, service, payload, password="123456", confirm=None):
        page = self.remember(self.client.get("/gateway", query_string=self.signed(service, payload)),
                             payload["requestNo"])
        if page.status_code != 200 or b'id="confirm"' not in page.data:
            return page, None
        form = {"platformNo": self.platform_no, "requestNo": payload["requestNo"], "serviceName": service,
                "password": password, "pageToken": page_token(page)}
        if service == "PERSONAL_REGISTER":
            form["confirmPassword"] = password if confirm is None else confirm
        return page, self.client.post("/gateway/confirm", data=form)

    def balances(self, user_no):
        a = self.client.get(f"/sim/accounts/{user_no}", query_string={"platformNo": self.platform_no}).json
        return a["available"], a["frozen"], a["card"]

    def open_account(self, seq, role="I", balance="10000.00", user_no=None):
        return super().open_account(self.seq_base + seq, role, balance, user_no)

    def project(self, project_no: str, borrower: str, amount: str = "1000.00", request_no: str = "") -> dict:
        return self.call("CREATE_PROJECT", {"requestNo": request_no or self.next_no("PRJ"), "userNo": borrower,
                                            "projectNo": project_no, "projectAmount": amount, "projectPeriod": 12,
                                            "annualRate": "0.12", "repaymentWay": "FIXED"})


def two_platform_config(tmp_path, keys, acme_keys, **extra) -> dict:
    cfg = bank_config(tmp_path, keys, **extra)
    cfg["PLATFORMS"] = cfg["PLATFORMS"] + [{"platform_no": ACME, "public_key": acme_keys["public_pem"],
                                            "notify_url": ACME_NOTIFY}]
    return cfg


@pytest.fixture
def two(tmp_path, keys, acme_keys):
    """(ours, acme): two drivers on one bank app; the ledger is proven sound afterwards."""
    app = create_app(two_platform_config(tmp_path, keys, acme_keys))
    ours = Side(app, keys, PLATFORM_NO, keys["platform_private_key"], 0)
    acme = Side(app, keys, ACME, acme_keys["private"], 500)
    yield ours, acme
    assert ours.problems() == []
    app.extensions["wanxin.dispatcher"].stop()
    app.extensions["wanxin.bank"].database.close()
