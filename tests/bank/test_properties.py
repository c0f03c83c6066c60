"""Random sequences of operations keep every ledger invariant and match a simple model.

A hypothesis state machine drives the real bank (Flask test client) with
recharges, withdrawals, tenders, cancellations, loans, repayment holds,
repayments and bad inputs, and keeps a plain model of what every balance
must be. After every step: ``verify`` finds nothing, every user's available,
frozen and card balance and the platform's fee account equal the model's,
and every answer's code is the one the model predicts.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from bank_depository.app import create_app
from bank_depository.protocol import codes
from bank_depository.protocol.money import format_fen
from tests.conftest import PLATFORM_NO, BankDriver, bank_config, redirect_code

CARD = 1_000_000  # fen on every card at the start
START = 300_000  # fen recharged to every account before the first step
INVESTORS = ("INV_1", "INV_2", "INV_3")
BORROWER = "BOR_1"
amounts = st.integers(min_value=1, max_value=400_000)
BAD_AMOUNTS = st.sampled_from(["0", "-1.00", "1.001", "NaN", True, "1e3", "abc", "100000000000.01", [], None])


@dataclass
class Account:
    available: int = 0
    frozen: int = 0
    card: int = CARD


@dataclass
class Hold:
    user: str
    project: str
    biz: str
    amount: int
    state: str = "FROZEN"


@dataclass
class Project:
    amount: int
    status: str = "COLLECTING"
    loaned: bool = False
    claims: dict = field(default_factory=dict)


class BankMachine(RuleBasedStateMachine):
    keys: dict = {}

    def __init__(self):
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        self.app = create_app(bank_config(Path(self._dir.name), self.keys))
        self.bank = BankDriver(self.app, self.keys)
        self.accounts = {}
        for seq, user in enumerate((BORROWER, *INVESTORS), start=1):
            self.bank.open_account(seq, "B" if user == BORROWER else "I", format_fen(CARD), user_no=user)
            _, done = self.bank.recharge(user, format_fen(START))
            assert redirect_code(done) == 0
            self.accounts[user] = Account(available=START, card=CARD - START)
        self.fee = 0
        self.projects: dict[str, Project] = {}
        self.holds: dict[str, Hold] = {}
        self.create_project(amount=600_000)

    def teardown(self):
        self.app.extensions["wanxin.dispatcher"].stop()
        self.app.extensions["wanxin.bank"].database.close()
        self._dir.cleanup()

    # -- helpers ------------------------------------------------------------------------------------------
    def call(self, service: str, payload: dict, expected: str) -> dict:
        data = self.bank.call(service, {"requestNo": self.bank.next_no(service[:3]), **payload})
        assert data["respCode"] == expected, (service, payload, data)
        return data

    def move(self, source: Account, attr_from: str, target: Account, attr_to: str, amount: int) -> None:
        setattr(source, attr_from, getattr(source, attr_from) - amount)
        setattr(target, attr_to, getattr(target, attr_to) + amount)

    def frozen_tenders(self, project_no: str) -> list[tuple[str, Hold]]:
        return [(no, h) for no, h in self.holds.items()
                if h.project == project_no and h.biz == "TENDER" and h.state == "FROZEN"]

    def tendered(self, project_no: str) -> int:
        return sum(h.amount for h in self.holds.values()
                   if h.project == project_no and h.biz == "TENDER" and h.state in ("FROZEN", "SETTLED"))

    # -- gateway ------------------------------------------------------------------------------------------
    @rule(kind=st.sampled_from(["recharge", "withdraw", "wrong_password"]),
          user=st.sampled_from((BORROWER, *INVESTORS)), amount=amounts, fee_percent=st.integers(0, 99))
    def gateway(self, kind, user, amount, fee_percent):
        acct = self.accounts[user]
        if kind == "recharge":
            _, done = self.bank.recharge(user, format_fen(amount))
            if acct.card >= amount:
                assert redirect_code(done) == 0
                acct.card -= amount
                acct.available += amount
            else:
                assert redirect_code(done) == 1
        elif kind == "withdraw":
            commission = amount * fee_percent // 100
            _, done = self.bank.withdraw(user, format_fen(amount), format_fen(commission))
            if acct.available >= amount:
                assert redirect_code(done) == 0
                acct.available -= amount
                acct.card += amount - commission
                self.fee += commission
            else:
                assert redirect_code(done) == 1
        else:
            _, done = self.bank.withdraw(user, format_fen(amount), password="wrong-password")
            assert redirect_code(done) == 2

    # -- projects and holds -------------------------------------------------------------------------------
    @precondition(lambda self: len(self.projects) < 6)
    @rule(amount=st.integers(min_value=100, max_value=800_000))
    def create_project(self, amount):
        project_no = f"P{len(self.projects) + 1}"
        self.call("CREATE_PROJECT", {"userNo": BORROWER, "projectNo": project_no, "projectAmount": format_fen(amount)},
                  codes.SUCCESS)
        self.projects[project_no] = Project(amount)

    @precondition(lambda self: self.projects)
    @rule(data=st.data(), user=st.sampled_from(INVESTORS), amount=amounts, flavour=st.integers(0, 9))
    def tender(self, data, user, amount, flavour):
        """Mostly a tender on a collecting project; sometimes any project; sometimes a bad amount."""
        collecting = sorted(n for n, p in self.projects.items() if p.status == "COLLECTING")
        project_no = data.draw(st.sampled_from(collecting if collecting and flavour else sorted(self.projects)))
        if flavour == 9:
            bad = data.draw(BAD_AMOUNTS)
            self.call("USER_AUTO_PRE_TRANSACTION", {"userNo": user, "projectNo": project_no, "bizType": "TENDER",
                                                    "amount": bad}, codes.PARAM_FAIL)
            return
        project, acct = self.projects[project_no], self.accounts[user]
        if project.status != "COLLECTING":
            expected = codes.PROJECT_STATUS
        elif amount > project.amount - self.tendered(project_no):
            expected = codes.PROJECT_OVER_AMOUNT
        elif acct.available < amount:
            expected = codes.BALANCE_NOT_ENOUGH
        else:
            expected = codes.SUCCESS
        answer = self.call("USER_AUTO_PRE_TRANSACTION", {"userNo": user, "projectNo": project_no, "bizType": "TENDER",
                                                         "amount": format_fen(amount)}, expected)
        if expected == codes.SUCCESS:
            self.holds[answer["requestNo"]] = Hold(user, project_no, "TENDER", amount)
            self.move(acct, "available", acct, "frozen", amount)

    @precondition(lambda self: any(h.state == "FROZEN" for h in self.holds.values()))
    @rule(data=st.data(), stale=st.sampled_from([False, False, False, True]))
    def cancel(self, data, stale):
        """Mostly an open hold (流标, a failed tender); sometimes one already settled or cancelled."""
        closed = sorted(no for no, h in self.holds.items() if h.state != "FROZEN")
        frozen = sorted(no for no, h in self.holds.items() if h.state == "FROZEN")
        request_no = data.draw(st.sampled_from(closed if stale and closed else frozen))
        hold = self.holds[request_no]
        expected = codes.SUCCESS if hold.state == "FROZEN" else codes.HOLD_NOT_FROZEN
        self.call("CANCEL_PRE_TRANSACTION", {"preRequestNo": request_no}, expected)
        if expected == codes.SUCCESS:
            acct = self.accounts[hold.user]
            self.move(acct, "frozen", acct, "available", hold.amount)
            hold.state = "CANCELLED"

    @precondition(lambda self: sum(p.status == "COLLECTING" for p in self.projects.values()) >= 2)
    @rule(data=st.data())
    def miscarry(self, data):
        project_no = data.draw(st.sampled_from(sorted(n for n, p in self.projects.items() if p.status == "COLLECTING")))
        project = self.projects[project_no]
        ok = project.status in ("COLLECTING", "FULLY") and not project.loaned
        self.call("MODIFY_PROJECT", {"projectNo": project_no, "projectStatus": "MISCARRY"},
                  codes.SUCCESS if ok else codes.PROJECT_STATUS)
        if ok:
            project.status = "MISCARRY"

    @precondition(lambda self: any(h.biz == "TENDER" and h.state == "FROZEN" for h in self.holds.values()))
    @rule(data=st.data(), fee_percent=st.integers(0, 100), overcharge=st.sampled_from([False, False, False, True]))
    def loan(self, data, fee_percent, overcharge):
        project_no = data.draw(st.sampled_from(sorted({h.project for h in self.holds.values()
                                                       if h.biz == "TENDER" and h.state == "FROZEN"})))
        project = self.projects[project_no]
        holds = self.frozen_tenders(project_no)
        total = sum(h.amount for _, h in holds)
        commission = total * fee_percent // 100 + (total + 1 if overcharge else 0)
        if project.loaned or project.status not in ("COLLECTING", "FULLY"):
            expected = codes.PROJECT_STATUS
        elif commission > total:
            expected = codes.AMOUNT_MISMATCH
        else:
            expected = codes.SUCCESS
        self.call("CONFIRM_LOAN", {"projectNo": project_no, "commission": format_fen(commission),
                                   "details": [{"preRequestNo": no, "amount": format_fen(h.amount)}
                                               for no, h in holds]},
                  expected)
        if expected != codes.SUCCESS:
            return
        borrower = self.accounts[BORROWER]
        for _, hold in holds:
            self.move(self.accounts[hold.user], "frozen", borrower, "available", hold.amount)
            hold.state = "SETTLED"
            project.claims[hold.user] = project.claims.get(hold.user, 0) + hold.amount
        borrower.available -= commission
        self.fee += commission
        project.loaned = True
        self.call("MODIFY_PROJECT", {"projectNo": project_no, "projectStatus": "REPAYING"}, codes.SUCCESS)
        project.status = "REPAYING"

    @precondition(lambda self: any(p.status == "REPAYING" for p in self.projects.values()))
    @rule(data=st.data(), amount=amounts)
    def repayment_hold(self, data, amount):
        project_no = data.draw(st.sampled_from(sorted(n for n, p in self.projects.items() if p.status == "REPAYING")))
        borrower = self.accounts[BORROWER]
        expected = codes.SUCCESS if borrower.available >= amount else codes.BALANCE_NOT_ENOUGH
        answer = self.call("USER_AUTO_PRE_TRANSACTION", {"userNo": BORROWER, "projectNo": project_no,
                                                         "bizType": "REPAYMENT", "amount": format_fen(amount)},
                           expected)
        if expected == codes.SUCCESS:
            self.holds[answer["requestNo"]] = Hold(BORROWER, project_no, "REPAYMENT", amount)
            self.move(borrower, "available", borrower, "frozen", amount)

    @precondition(lambda self: any(h.biz == "REPAYMENT" and h.state == "FROZEN" for h in self.holds.values()))
    @rule(data=st.data(), fee_percent=st.integers(0, 50), off_by=st.sampled_from([0, 0, 0, 1, -1]))
    def confirm_repayment(self, data, fee_percent, off_by):
        request_no = data.draw(st.sampled_from(sorted(no for no, h in self.holds.items()
                                                      if h.biz == "REPAYMENT" and h.state == "FROZEN")))
        hold = self.holds[request_no]
        project = self.projects[hold.project]
        commission = hold.amount * fee_percent // 100
        rest = hold.amount - commission
        holding = sorted(user for user, held in project.claims.items() if held > 0)
        investor = holding[0] if holding else sorted(project.claims)[0]
        principal = min(project.claims[investor], rest)
        interest = rest - principal + off_by
        if interest < 0:
            return
        investor_fee = (principal + interest) // 100
        if off_by != 0:
            expected = codes.AMOUNT_MISMATCH
        elif not holding:  # nobody holds a claim any more: the bank pays no one
            expected = codes.CLAIM_NOT_ENOUGH
        else:
            expected = codes.SUCCESS
        self.call("CONFIRM_REPAYMENT", {
            "projectNo": hold.project, "preRequestNo": request_no, "commission": format_fen(commission),
            "details": [{"userNo": investor, "amount": format_fen(principal), "interest": format_fen(interest),
                         "commission": format_fen(investor_fee)}]}, expected)
        if expected == codes.SUCCESS:
            self.accounts[BORROWER].frozen -= hold.amount
            self.accounts[investor].available += principal + interest - investor_fee
            self.fee += commission + investor_fee
            project.claims[investor] -= principal
            hold.state = "SETTLED"

    # -- invariants ---------------------------------------------------------------------------------------
    @invariant()
    def the_ledger_is_sound(self):
        assert self.bank.problems() == []

    @invariant()
    def balances_match_the_model(self):
        for user, acct in self.accounts.items():
            assert self.bank.balances(user) == (format_fen(acct.available), format_fen(acct.frozen),
                                                format_fen(acct.card)), user
        row = self.bank.ctx.conn().execute("SELECT balance FROM accounts WHERE code = ?",
                                           (f"fee:{PLATFORM_NO}",)).fetchone()
        assert (row[0] if row else 0) == self.fee


def test_random_operation_sequences_keep_every_invariant_and_match_the_model(keys):
    BankMachine.keys = keys
    run_state_machine_as_test(BankMachine, settings=settings(
        max_examples=20, stateful_step_count=30, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


# -- verify is not vacuous: each broken invariant is found and named -------------------------------------------
TAMPERING = {
    "balance_equals_postings": ["UPDATE accounts SET balance = balance + 1"
                                " WHERE code = 'user:wanxinp2p:INV_1:available'"],
    "entry_balances": ["INSERT INTO postings (entry_id, account_id, amount) SELECT MAX(e.id), a.id, 1"
                       " FROM entries e, accounts a WHERE a.code = 'funding'"],
    "frozen_equals_open_holds": ["UPDATE holds SET amount = amount - 1, remaining = remaining - 1"],
    "hold_state": ["UPDATE holds SET remaining = remaining - 1"],
    "project_not_oversubscribed": ["UPDATE projects SET amount = 1"],
    "one_entry_per_success": ["INSERT INTO requests (platform_no, request_no, service_name, payload, status, resp_code,"
                              " created_at) VALUES ('wanxinp2p', 'GHOST', 'RECHARGE', '{}', 1, '00000', 'now')"],
    "entry_has_request": ["DELETE FROM requests WHERE service_name = 'USER_AUTO_PRE_TRANSACTION'"],
}


def test_verify_names_each_invariant_a_tampered_database_breaks(bank_app, keys):
    bank = BankDriver(bank_app, keys)
    borrower, investor = bank.open_account(1, "B"), bank.open_account(2, "I", user_no="INV_1")
    bank.recharge(investor, "100.00")
    bank.call("CREATE_PROJECT", {"requestNo": "C", "userNo": borrower, "projectNo": "P1", "projectAmount": "50"})
    bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": "T", "userNo": investor, "projectNo": "P1",
                                            "bizType": "TENDER", "amount": "30.00"})
    assert bank.problems() == []
    conn = bank.ctx.conn()
    for broken, statements in TAMPERING.items():
        conn.execute("SAVEPOINT tamper")
        for sql in statements:
            conn.execute(sql)
        found = {p["invariant"] for p in bank.problems()}
        conn.execute("ROLLBACK TO tamper")
        conn.execute("RELEASE tamper")
        assert broken in found, (broken, found)
    assert bank.problems() == []
