"""Fixtures for platform tests against the real bank on loopback.

``sandbox`` is a fresh bank + platform pair (frozen clocks, explicit
notification dispatch); ``wanxin`` is a small driver that walks the flows
through the platform's JSON API and the bank's pages, and can say what the
bank's balances must be according to the platform's own records.
"""
from __future__ import annotations

import base64
import json
import socket
import threading
from contextlib import contextmanager
from typing import Optional

import pytest
import requests

from bank_depository.client import SimClient
from bank_depository.protocol.money import parse_yuan
from scenarios.harness import Sandbox, UserAgent, write_keys
from tests.conftest import make_id_number

PASSWORD = "123456"


def fen(text) -> int:
    return parse_yuan(str(text), allow_zero=True)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("p2p-keys")
    write_keys(directory)
    return directory


@pytest.fixture
def make_sandbox(keys_dir, tmp_path):
    made = []

    def make(**platform_config) -> Sandbox:
        sb = Sandbox(tmp_path / f"sandbox{len(made)}", keys_dir=keys_dir, platform_config=platform_config or None)
        made.append(sb)
        return sb

    yield make
    for sb in made:
        _stop_servers(sb)
        sb.close()


def _stop_servers(sb: Sandbox) -> None:
    """Stop both loopback servers at once, waking their 0.5 s poll loops with a connection
    (``Sandbox.close`` alone waits out one poll interval per server)."""
    servers = [s.server for s in (sb.platform_server, sb.bank_server)]
    stoppers = [threading.Thread(target=server.shutdown) for server in servers]
    for t in stoppers:
        t.start()
    while any(t.is_alive() for t in stoppers):
        for server in servers:
            try:
                socket.create_connection(server.server_address[:2], timeout=0.2).close()
            except OSError:
                pass
        for t in stoppers:
            t.join(0.01)


@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def wanxin(sandbox) -> "Driver":
    return Driver(sandbox)


def closed_port_url() -> str:
    """A loopback URL nobody listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Driver:
    """Walks the six flows through the platform's API; inspects the bank's ledger."""

    def __init__(self, sb: Sandbox):
        self.sb = sb
        self.http = requests.Session()
        self.platform_client = SimClient(sb.platform_url, sb.sim_token, session=self.http, timeout=30)
        self.bank_client = SimClient(sb.bank_url, sb.sim_token, session=self.http, timeout=30)
        self.ua = UserAgent(requests.Session())
        self.users: dict[str, str] = {}
        self.seq = 0

    # -- raw HTTP ---------------------------------------------------------
    def api(self, method: str, path: str, json: Optional[dict] = None) -> tuple[int, dict]:
        resp = self.platform_client.raw(method, path, json=json)
        return resp.status_code, resp.json()

    def ok(self, method: str, path: str, json: Optional[dict] = None) -> dict:
        status, body = self.api(method, path, json)
        assert status in (200, 201), (status, body)
        return body

    def bank(self, method: str, path: str, json: Optional[dict] = None):
        resp = self.bank_client.raw(method, path, json=json)
        assert resp.status_code in (200, 201), (resp.status_code, resp.text)
        return resp.json()

    def fault(self, **rule) -> dict:
        return self.bank("POST", "/sim/faults", rule)

    def clear_faults(self) -> None:
        self.bank("DELETE", "/sim/faults")

    def deliver(self) -> list:
        return self.sb.deliver_notifications()

    # -- the flows --------------------------------------------------------
    def register(self, name: str, role: str, card_balance: str = "50000.00") -> str:
        """A bank customer with a card, and a platform user (account not yet opened)."""
        self.seq += 1
        card = {"fullname": f"用户{self.seq}", "idNumber": make_id_number(self.seq), "mobile": f"138{self.seq:08d}",
                "cardNumber": f"62220200{self.seq:08d}", "balance": card_balance}
        self.bank("POST", "/sim/bank-cards", card)
        user = self.ok("POST", "/api/users", {"username": name, "role": role, **card})
        self.users[name] = user["userNo"]
        return user["userNo"]

    def open_account(self, name: str) -> dict:
        gateway = self.ok("POST", f"/api/users/{self.users[name]}/open-account")
        return self.ua.complete(gateway, PASSWORD)

    def user(self, name: str, role: str = "investor", card_balance: str = "50000.00", deliver: bool = True) -> str:
        """Register, open the depository account on the bank's page, apply the notification."""
        user_no = self.register(name, role, card_balance)
        assert self.open_account(name)["code"] == 0
        if deliver:
            self.deliver()
            assert self.ok("GET", f"/api/users/{user_no}")["status"] == "OPEN"
        return user_no

    def recharge(self, name: str, amount: str, deliver: bool = True) -> dict:
        gateway = self.ok("POST", f"/api/users/{self.users[name]}/recharges", {"amount": amount})
        result = self.ua.complete(gateway, PASSWORD)
        if deliver:
            self.deliver()
        return {**result, "requestNo": request_no_of(gateway)}

    def withdraw(self, name: str, amount: str, deliver: bool = True) -> dict:
        gateway = self.ok("POST", f"/api/users/{self.users[name]}/withdrawals", {"amount": amount})
        result = self.ua.complete(gateway, PASSWORD)
        if deliver:
            self.deliver()
        return {**result, "requestNo": request_no_of(gateway)}

    def project(self, name: str, borrower: str, amount: str, periods: int = 3, method: str = "equal_installment",
                rate: str = "0.15", approve: bool = True) -> str:
        created = self.ok("POST", "/api/projects", {"borrower": borrower, "name": name, "amount": amount,
                                                    "annualRate": rate, "periods": periods, "method": method})
        if approve:
            assert self.ok("POST", f"/api/projects/{name}/approve")["status"] == "COLLECTING"
        return created["projectNo"]

    def tender(self, project: str, investor: str, amount: str) -> tuple[int, dict]:
        return self.api("POST", f"/api/projects/{project}/tenders", {"userNo": investor, "amount": amount})

    def loan(self, project: str, commission: str = "0.00") -> tuple[int, dict]:
        return self.api("POST", f"/api/projects/{project}/loan", {"commission": commission})

    def repay(self) -> dict:
        return self.ok("POST", "/api/jobs/repayments")

    def recover(self) -> dict:
        return self.ok("POST", "/api/jobs/recover")

    def show(self, project: str) -> dict:
        return self.ok("GET", f"/api/projects/{project}")

    # -- the bank's view --------------------------------------------------
    def account(self, name: str) -> dict:
        a = self.bank("GET", f"/sim/accounts/{self.users.get(name, name)}")
        return {"available": fen(a["available"]), "frozen": fen(a["frozen"]), "card": fen(a["card"])}

    def fee(self) -> int:
        accounts = self.bank("GET", "/sim/accounts")["platformAccounts"]
        return next(fen(a["balance"]) for a in accounts if a["code"] == "fee:wanxinp2p")

    def holds(self, **query) -> list[dict]:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return self.bank("GET", "/sim/holds" + (f"?{qs}" if qs else ""))

    def bank_request(self, request_no: str) -> dict:
        (row,) = self.bank("GET", f"/sim/requests/{request_no}")
        return row

    def entries_for(self, request_no: str) -> list:
        conn = self.sb.bank_ctx.conn()
        return conn.execute("SELECT * FROM entries WHERE request_no = ?", (request_no,)).fetchall()

    def verify(self) -> dict:
        return self.bank("GET", "/sim/ledger/verify")

    # -- the platform's own records ----------------------------------------
    def rows(self, sql: str, args=()) -> list:
        return self.sb.platform_ctx.store.all(sql, args)

    def record(self, request_no: str):
        return self.sb.platform_ctx.store.one("SELECT * FROM depository_records WHERE request_no = ?", (request_no,))

    def expected(self) -> dict:
        """What the bank's balances must be, computed from the platform's records only."""
        one = lambda sql, args=(): self.sb.platform_ctx.store.one(sql, args)[0]  # noqa: E731
        out = {}
        for u in self.rows("SELECT * FROM users WHERE status = 'OPEN'"):
            n = u["user_no"]
            recharged = one("SELECT COALESCE(SUM(amount), 0) FROM recharges WHERE user_no = ? AND status = 'SUCCESS'",
                            (n,))
            withdrawn = one("SELECT COALESCE(SUM(amount), 0) FROM withdrawals WHERE user_no = ? AND status = 'SUCCESS'",
                            (n,))
            tendered = one("SELECT COALESCE(SUM(amount), 0) FROM tenders WHERE user_no = ? AND status IN"
                           " ('FROZEN', 'LOANED')", (n,))
            tender_frozen = one("SELECT COALESCE(SUM(amount), 0) FROM tenders WHERE user_no = ? AND status = 'FROZEN'",
                                (n,))
            received = one("SELECT COALESCE(SUM(principal + interest), 0) FROM receivable_plans WHERE user_no = ?"
                           " AND status = 'PAID'", (n,))
            borrowed = one("SELECT COALESCE(SUM(amount - loan_commission), 0) FROM projects WHERE borrower = ? AND"
                           " status IN ('LOANED', 'REPAYING', 'SETTLED')", (n,))
            repaid = one("SELECT COALESCE(SUM(r.amount), 0) FROM repayment_plans r JOIN projects p USING (project_no)"
                         " WHERE p.borrower = ? AND r.status IN ('FROZEN', 'PAID')", (n,))
            repay_frozen = one("SELECT COALESCE(SUM(r.amount), 0) FROM repayment_plans r JOIN projects p"
                               " USING (project_no) WHERE p.borrower = ? AND r.status = 'FROZEN'", (n,))
            out[n] = {"available": recharged - withdrawn - tendered + received + borrowed - repaid,
                      "frozen": tender_frozen + repay_frozen}
        out["fee"] = (one("SELECT COALESCE(SUM(commission), 0) FROM withdrawals WHERE status = 'SUCCESS'")
                      + one("SELECT COALESCE(SUM(loan_commission), 0) FROM projects WHERE status IN"
                            " ('LOANED', 'REPAYING', 'SETTLED')")
                      + one("SELECT COALESCE(SUM(platform_fee), 0) FROM repayment_plans WHERE status = 'PAID'")
                      + one("SELECT COALESCE(SUM(commission), 0) FROM receivable_plans WHERE status = 'PAID'"))
        return out

    def actual(self) -> dict:
        out = {}
        for n in self.expected():
            if n != "fee":
                a = self.account(n)
                out[n] = {"available": a["available"], "frozen": a["frozen"]}
        out["fee"] = self.fee()
        return out

    def assert_bank_agrees(self) -> None:
        """The bank's balances are what the platform's records say, and the ledger is sound."""
        assert not self.rows("SELECT * FROM depository_records WHERE status = 0"), "unsettled records remain"
        assert self.actual() == self.expected()
        assert self.verify() == {"sound": True, "problems": []}

    @contextmanager
    def bank_down(self):
        """The platform's bank URL points at a closed port for the duration."""
        bank = self.sb.platform_ctx.bank
        saved, bank.base_url = bank.base_url, closed_port_url()
        try:
            yield
        finally:
            bank.base_url = saved


def request_no_of(gateway: dict) -> str:
    """The requestNo inside a gateway request the platform handed out."""
    return json.loads(base64.b64decode(gateway["reqData"]))["requestNo"]
