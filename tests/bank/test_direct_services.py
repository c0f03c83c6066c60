"""Every direct service on ``/service``: success, each refusal, each bad input.

A refusal is signed, carries its stable code and status 2, and changes no
balance, hold, project, claim or entry (``bank.snapshot()`` is unchanged).
The ``bank`` fixture proves the ledger sound after every test.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from bank_depository.protocol import codes, envelope
from tests.conftest import PLATFORM_NO

FEE = f"fee:{PLATFORM_NO}"


class Raw(str):
    """A JSON token written unquoted, for numbers the json module will not produce (1e999999, -0, 1.001)."""


def send(bank, service: str, payload: dict) -> dict:
    """Call a service; ``Raw`` values (at any depth) go on the wire as bare JSON tokens."""
    raws: list[str] = []

    def mark(value):
        if isinstance(value, Raw):
            raws.append(str(value))
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = envelope.dumps(mark(payload))
    for i, token in enumerate(raws):
        text = text.replace(f'"@@RAW{i}@@"', token)
    req = envelope.sign_request(service, PLATFORM_NO, {}, bank.keys["platform_private_key"], payload_text=text)
    resp = bank.client.post("/service", data=req.fields())
    assert resp.status_code == 200, resp.data
    return envelope.verify_response(resp.get_data(as_text=True), bank.keys["bank_public_key"])


def ok(bank, service: str, payload: dict) -> dict:
    data = send(bank, service, payload)
    assert data["respCode"] == codes.SUCCESS, data
    assert data["status"] == codes.STATUS_SUCCESS and data["requestNo"] == payload["requestNo"]
    return data


def refused(bank, service: str, payload: dict, code: str, mentions: str = "") -> dict:
    """The call is refused with ``code`` and nothing the ledger holds has changed."""
    before = bank.snapshot()
    data = send(bank, service, payload)
    assert data["respCode"] == code, data
    assert data["status"] == codes.STATUS_FAILURE
    assert mentions in data["respMsg"]
    assert bank.snapshot() == before
    return data


#: Amounts that are never money: 3 decimals, negative, zero, NaN, bool, huge, not a number at all.
BAD_AMOUNTS = ["1.001", Raw("1.001"), "-5.00", Raw("-5"), "NaN", Raw("NaN"), Raw("Infinity"), True, False,
               "abc", "1e3", Raw("1e999999"), Raw("1e30"), "100000000000.01", Raw("100000000000.01"),
               [], {"yuan": 1}, "12,00", "0", Raw("0"), "0.00", Raw("-0.0")]
#: Where zero is allowed (commission, interest) it is not a bad amount.
BAD_NON_ZERO = [a for a in BAD_AMOUNTS if a not in ("0", "0.00", "-0.0")]


def each_bad_amount(bank, service: str, build, amounts=BAD_AMOUNTS, field: str = "") -> None:
    for bad in amounts:
        data = refused(bank, service, build(bad), codes.PARAM_FAIL)
        assert field in data["respMsg"], (bad, data)


# -- the world the tests run in ---------------------------------------------------------------------------
@dataclass
class World:
    bank: object
    borrower: str
    i1: str
    i2: str
    i3: str

    def no(self, prefix: str = "REQ") -> str:
        return self.bank.next_no(prefix)

    def tender(self, user: str, amount: str, project: str = "P1") -> str:
        request_no = self.no("TND")
        ok(self.bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": request_no, "userNo": user, "projectNo": project,
                                                    "bizType": "TENDER", "amount": amount})
        return request_no

    def project(self, project_no: str = "P1", amount: str = "1000.00", user: str | None = None) -> dict:
        return ok(self.bank, "CREATE_PROJECT", {"requestNo": self.no("PRJ"), "userNo": user or self.borrower,
                                                "projectNo": project_no, "projectAmount": amount,
                                                "projectPeriod": 12, "annualRate": "0.12", "repaymentWay": "FIXED"})

    def modify(self, status: str, project_no: str = "P1") -> dict:
        return ok(self.bank, "MODIFY_PROJECT", {"requestNo": self.no("MOD"), "projectNo": project_no,
                                                "projectStatus": status})

    def loan(self, holds: list[tuple[str, str]], commission: str = "0", project_no: str = "P1") -> dict:
        return ok(self.bank, "CONFIRM_LOAN", {
            "requestNo": self.no("LOAN"), "projectNo": project_no, "commission": commission,
            "details": [{"preRequestNo": h, "amount": a} for h, a in holds]})

    def repaying(self) -> dict:
        """P1 loaned: I1 600.00 and I2 400.00 tendered, 10.00 commission, now REPAYING."""
        t1, t2 = self.tender(self.i1, "600.00"), self.tender(self.i2, "400.00")
        self.loan([(t1, "600.00"), (t2, "400.00")], "10.00")
        self.modify("REPAYING")
        return {"t1": t1, "t2": t2}

    def hold(self, user: str, biz_type: str, amount: str, project: str = "P1") -> str:
        request_no = self.no("HLD")
        ok(self.bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": request_no, "userNo": user, "projectNo": project,
                                                    "bizType": biz_type, "amount": amount})
        return request_no

    def avail(self, user: str) -> str:
        return self.bank.balances(user)[0]

    def frozen(self, user: str) -> str:
        return self.bank.balances(user)[1]

    def fee(self) -> int:
        row = self.bank.ctx.conn().execute("SELECT balance FROM accounts WHERE code = ?", (FEE,)).fetchone()
        return row[0] if row else 0

    def claim(self, user: str, project: str = "P1") -> int:
        row = self.bank.ctx.conn().execute("SELECT principal FROM claims WHERE project_no = ? AND user_no = ?",
                                           (project, user)).fetchone()
        return row[0] if row else 0

    def hold_state(self, request_no: str) -> tuple[str, int]:
        row = self.bank.ctx.conn().execute("SELECT state, remaining FROM holds WHERE request_no = ?",
                                           (request_no,)).fetchone()
        return row["state"], row["remaining"]

    def project_status(self, project_no: str = "P1") -> str:
        return self.bank.ctx.conn().execute("SELECT status FROM projects WHERE project_no = ?",
                                            (project_no,)).fetchone()[0]


@pytest.fixture
def w(bank):
    borrower = bank.open_account(1, "B")
    i1, i2, i3 = (bank.open_account(seq, "I") for seq in (2, 3, 4))
    for user in (i1, i2, i3):
        bank.recharge(user, "5000.00")
    bank.recharge(borrower, "2000.00")
    world = World(bank, borrower, i1, i2, i3)
    world.project()
    return world


# == CREATE_PROJECT =======================================================================================
def test_create_project_registers_a_collecting_project_for_a_borrower(w):
    data = w.project("P2", "2500.50")
    assert data["projectNo"] == "P2" and data["projectStatus"] == "COLLECTING"
    listed = {p["projectNo"]: p for p in w.bank.client.get("/sim/projects").json}
    assert listed["P2"]["amount"] == "2500.50" and listed["P2"]["userNo"] == w.borrower
    assert listed["P2"]["status"] == "COLLECTING" and listed["P2"]["tendered"] == "0.00"


def test_create_project_accepts_numbers_as_numeric_strings_and_ignores_unknown_keys(w):
    ok(w.bank, "CREATE_PROJECT", {"requestNo": w.no(), "userNo": w.borrower, "projectNo": "P3",
                                  "projectAmount": 800, "projectPeriod": "6", "annualRate": 0.1,
                                  "someFutureField": {"x": 1}})


def test_create_project_refuses_an_unknown_user(w):
    refused(w.bank, "CREATE_PROJECT", {"requestNo": w.no(), "userNo": "ghost", "projectNo": "P9",
                                       "projectAmount": "100"}, codes.USER_NOT_FOUND, "ghost")


def test_create_project_refuses_an_investor_as_borrower(w):
    refused(w.bank, "CREATE_PROJECT", {"requestNo": w.no(), "userNo": w.i1, "projectNo": "P9",
                                       "projectAmount": "100"}, codes.ROLE_NOT_ALLOWED)


def test_create_project_refuses_a_project_number_twice(w):
    refused(w.bank, "CREATE_PROJECT", {"requestNo": w.no(), "userNo": w.borrower, "projectNo": "P1",
                                       "projectAmount": "100"}, codes.PROJECT_EXISTS, "P1")


@pytest.mark.parametrize("field", ["userNo", "projectNo", "projectAmount"])
def test_create_project_requires_its_fields(w, field):
    payload = {"requestNo": w.no(), "userNo": w.borrower, "projectNo": "P9", "projectAmount": "100"}
    del payload[field]
    refused(w.bank, "CREATE_PROJECT", payload, codes.PARAM_FAIL, field)


def test_create_project_refuses_every_bad_project_amount(w):
    each_bad_amount(w.bank, "CREATE_PROJECT", lambda bad: {"requestNo": w.no(), "userNo": w.borrower,
                                                           "projectNo": "P9", "projectAmount": bad},
                    field="projectAmount")


MALFORMED_PROJECT_FIELDS = [
    ("projectPeriod", "1.5"), ("projectPeriod", "twelve"), ("projectPeriod", Raw("1e400")), ("projectPeriod", 0),
    ("projectPeriod", -3), ("projectPeriod", "Infinity"), ("projectPeriod", True),
    ("annualRate", "abc"), ("annualRate", "-0.1"), ("annualRate", "NaN"), ("annualRate", "Infinity"),
    ("annualRate", {"rate": 1}), ("projectNo", "x" * 65),
]


def test_create_project_refuses_malformed_fields(w):
    for field, value in MALFORMED_PROJECT_FIELDS:
        payload = {"requestNo": w.no(), "userNo": w.borrower, "projectNo": "P9", "projectAmount": "100", field: value}
        refused(w.bank, "CREATE_PROJECT", payload, codes.PARAM_FAIL, field)


# == MODIFY_PROJECT =======================================================================================
def test_modify_project_walks_the_allowed_transitions(w):
    assert w.modify("FULLY")["projectStatus"] == "FULLY"
    assert w.modify("COLLECTING")["projectStatus"] == "COLLECTING"
    t = w.tender(w.i1, "1000.00")
    w.modify("FULLY")
    w.loan([(t, "1000.00")])
    w.modify("REPAYING")
    assert w.project_status() == "REPAYING"
    w.modify("FINISH")
    assert w.project_status() == "FINISH"


def test_a_collecting_project_may_fail(w):
    w.project("P2")
    w.modify("MISCARRY", "P2")
    assert w.project_status("P2") == "MISCARRY"


def test_modify_project_refuses_transitions_outside_the_table(w):
    for target in ("FINISH", "REPAYING", "COLLECTING", "DRAFT", "collecting2"):
        refused(w.bank, "MODIFY_PROJECT", {"requestNo": w.no(), "projectNo": "P1", "projectStatus": target},
                codes.PROJECT_STATUS)


def test_a_loaned_project_cannot_fail_or_go_back(w):
    w.repaying()
    for target in ("MISCARRY", "COLLECTING", "FULLY"):
        refused(w.bank, "MODIFY_PROJECT", {"requestNo": w.no(), "projectNo": "P1", "projectStatus": target},
                codes.PROJECT_STATUS)


def test_a_project_with_an_open_hold_cannot_finish(w):
    w.repaying()
    w.hold(w.borrower, "REPAYMENT", "100.00")
    refused(w.bank, "MODIFY_PROJECT", {"requestNo": w.no(), "projectNo": "P1", "projectStatus": "FINISH"},
            codes.PROJECT_STATUS, "open holds")


@pytest.mark.parametrize("final", ["MISCARRY", "FINISH"])
def test_final_project_states_go_nowhere(w, final):
    if final == "FINISH":
        w.repaying()
    w.modify(final)
    for target in ("COLLECTING", "FULLY", "REPAYING", "MISCARRY", "FINISH"):
        refused(w.bank, "MODIFY_PROJECT", {"requestNo": w.no(), "projectNo": "P1", "projectStatus": target},
                codes.PROJECT_STATUS)


def test_modify_project_refuses_an_unknown_project_and_missing_fields(w):
    refused(w.bank, "MODIFY_PROJECT", {"requestNo": w.no(), "projectNo": "P404", "projectStatus": "FULLY"},
            codes.PROJECT_NOT_FOUND)
    refused(w.bank, "MODIFY_PROJECT", {"requestNo": w.no(), "projectNo": "P1"}, codes.PARAM_FAIL, "projectStatus")


# == USER_AUTO_PRE_TRANSACTION: TENDER ====================================================================
def test_a_tender_freezes_the_investors_money_under_a_named_hold(w):
    t = w.tender(w.i1, "250.25")
    assert w.bank.balances(w.i1)[:2] == ("4749.75", "250.25")
    assert w.hold_state(t) == ("FROZEN", 25025)
    hold = w.bank.client.get("/sim/holds", query_string={"userNo": w.i1}).json[0]
    assert (hold["requestNo"], hold["bizType"], hold["projectNo"], hold["amount"]) == (t, "TENDER", "P1", "250.25")


def test_a_tender_never_takes_a_project_beyond_its_amount(w):
    w.tender(w.i1, "600.00")
    payload = {"requestNo": w.no(), "userNo": w.i2, "projectNo": "P1", "bizType": "TENDER", "amount": "400.01"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.PROJECT_OVER_AMOUNT, "400.00")
    w.tender(w.i2, "400.00")
    payload = {"requestNo": w.no(), "userNo": w.i3, "projectNo": "P1", "bizType": "TENDER", "amount": "0.01"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.PROJECT_OVER_AMOUNT)


def test_a_cancelled_tender_makes_room_and_settled_tenders_still_count(w):
    t1, t2 = w.tender(w.i1, "600.00"), w.tender(w.i2, "400.00")
    over = {"userNo": w.i3, "projectNo": "P1", "bizType": "TENDER", "amount": "0.01"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", {**over, "requestNo": w.no()}, codes.PROJECT_OVER_AMOUNT)
    ok(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no(), "preRequestNo": t2})
    t3 = w.tender(w.i3, "400.00")
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", {**over, "requestNo": w.no()}, codes.PROJECT_OVER_AMOUNT)
    w.loan([(t1, "600.00"), (t3, "400.00")])
    listed = {p["projectNo"]: p for p in w.bank.client.get("/sim/projects").json}
    assert listed["P1"]["tendered"] == "1000.00"


def test_a_tender_beyond_available_is_refused(w):
    w.project("P2", "9000.00")
    payload = {"requestNo": w.no(), "userNo": w.i1, "projectNo": "P2", "bizType": "TENDER", "amount": "5000.01"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.BALANCE_NOT_ENOUGH)
    w.tender(w.i1, "5000.00", "P2")
    assert w.bank.balances(w.i1)[:2] == ("0.00", "5000.00")


@pytest.mark.parametrize("status", ["FULLY", "MISCARRY"])
def test_a_tender_needs_a_collecting_project(w, status):
    w.modify(status)
    payload = {"requestNo": w.no(), "userNo": w.i1, "projectNo": "P1", "bizType": "TENDER", "amount": "1.00"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.PROJECT_STATUS)


def test_a_borrower_cannot_tender(w):
    payload = {"requestNo": w.no(), "userNo": w.borrower, "projectNo": "P1", "bizType": "TENDER", "amount": "1.00"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.ROLE_NOT_ALLOWED)


def test_a_pre_transaction_needs_a_known_user_and_project(w):
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": w.no(), "userNo": "ghost", "projectNo": "P1",
                                                  "bizType": "TENDER", "amount": "1"}, codes.USER_NOT_FOUND)
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": w.no(), "userNo": w.i1, "projectNo": "P404",
                                                  "bizType": "TENDER", "amount": "1"}, codes.PROJECT_NOT_FOUND)


def test_a_pre_transaction_refuses_missing_or_unknown_fields(w):
    for field, value in [("bizType", "LOAN"), ("bizType", None), ("userNo", None), ("projectNo", None),
                         ("amount", None)]:
        payload = {"requestNo": w.no(), "userNo": w.i1, "projectNo": "P1", "bizType": "TENDER", "amount": "1.00"}
        payload[field] = value
        refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.PARAM_FAIL, field)


def test_a_pre_transaction_refuses_every_bad_amount(w):
    each_bad_amount(w.bank, "USER_AUTO_PRE_TRANSACTION",
                    lambda bad: {"requestNo": w.no(), "userNo": w.i1, "projectNo": "P1", "bizType": "TENDER",
                                 "amount": bad}, field="amount")


def test_biz_type_is_read_case_insensitively_like_the_original(w):
    ok(w.bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": w.no(), "userNo": w.i1, "projectNo": "P1",
                                             "bizType": "tender", "amount": "1.00"})


# == USER_AUTO_PRE_TRANSACTION: REPAYMENT and CREDIT_ASSIGNMENT ===========================================
def test_a_repayment_hold_freezes_the_borrowers_money(w):
    w.repaying()
    h = w.hold(w.borrower, "REPAYMENT", "120.00")
    assert w.bank.balances(w.borrower)[:2] == ("2870.00", "120.00")  # 2000 + 990 loaned - 120
    assert w.hold_state(h) == ("FROZEN", 12000)


def test_a_repayment_hold_is_only_for_the_projects_borrower_while_repaying(w):
    other = w.bank.open_account(9, "B")
    w.bank.recharge(other, "100.00")
    payload = {"requestNo": w.no(), "userNo": w.borrower, "projectNo": "P1", "bizType": "REPAYMENT",
               "amount": "10.00"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.PROJECT_STATUS, "REPAYING")
    w.repaying()
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", {**payload, "requestNo": w.no(), "userNo": other},
            codes.ROLE_NOT_ALLOWED)
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", {**payload, "requestNo": w.no(), "amount": "3000.00"},
            codes.BALANCE_NOT_ENOUGH)


def test_a_credit_assignment_hold_freezes_the_buyers_money(w):
    w.repaying()
    h = w.hold(w.i3, "CREDIT_ASSIGNMENT", "300.00")
    assert w.bank.balances(w.i3)[:2] == ("4700.00", "300.00")
    assert w.hold_state(h) == ("FROZEN", 30000)


def test_a_credit_assignment_hold_needs_an_investor_and_a_repaying_project(w):
    payload = {"requestNo": w.no(), "userNo": w.i3, "projectNo": "P1", "bizType": "CREDIT_ASSIGNMENT",
               "amount": "10.00"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.PROJECT_STATUS)
    w.repaying()
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", {**payload, "requestNo": w.no(), "userNo": w.borrower},
            codes.ROLE_NOT_ALLOWED)
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", {**payload, "requestNo": w.no(), "amount": "5000.01"},
            codes.BALANCE_NOT_ENOUGH)


# == CANCEL_PRE_TRANSACTION ===============================================================================
@pytest.mark.parametrize("biz_type", ["TENDER", "REPAYMENT", "CREDIT_ASSIGNMENT"])
def test_cancel_unfreezes_what_the_hold_kept(w, biz_type):
    if biz_type == "TENDER":
        user, h = w.i3, w.tender(w.i3, "99.99")
    else:
        w.repaying()
        user = w.borrower if biz_type == "REPAYMENT" else w.i3
        h = w.hold(user, biz_type, "99.99")
    before = w.bank.balances(user)
    data = ok(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no(), "preRequestNo": h})
    assert (data["preRequestNo"], data["userNo"], data["amount"]) == (h, user, "99.99")
    after = w.bank.balances(user)
    assert after[1] == "0.00"
    assert int(after[0].replace(".", "")) - int(before[0].replace(".", "")) == 9999
    assert w.hold_state(h) == ("CANCELLED", 0)


def test_cancel_refuses_an_unknown_hold(w):
    refused(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no(), "preRequestNo": "NOPE"}, codes.HOLD_NOT_FOUND)


def test_cancel_refuses_a_hold_that_is_no_longer_frozen(w):
    t1, t2 = w.tender(w.i1, "10.00"), w.tender(w.i2, "20.00")
    ok(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no(), "preRequestNo": t1})
    refused(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no(), "preRequestNo": t1}, codes.HOLD_NOT_FROZEN,
            "CANCELLED")
    w.loan([(t2, "20.00")])
    refused(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no(), "preRequestNo": t2}, codes.HOLD_NOT_FROZEN,
            "SETTLED")


def test_cancel_requires_the_pre_request_no(w):
    refused(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no()}, codes.PARAM_FAIL, "preRequestNo")


def test_a_failed_project_returns_every_tender(w):
    holds = [w.tender(u, "300.00") for u in (w.i1, w.i2, w.i3)]
    w.modify("MISCARRY")
    for h in holds:
        ok(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no(), "preRequestNo": h})
    for u in (w.i1, w.i2, w.i3):
        assert w.bank.balances(u)[:2] == ("5000.00", "0.00")


# == CONFIRM_LOAN =========================================================================================
def test_confirm_loan_settles_every_hold_to_the_borrower_less_the_commission(w):
    t1, t2 = w.tender(w.i1, "600.00"), w.tender(w.i2, "400.00")
    data = w.loan([(t1, "600.00"), (t2, "400.00")], "12.34")
    assert (data["projectNo"], data["amount"], data["commission"]) == ("P1", "1000.00", "12.34")
    assert w.bank.balances(w.borrower)[:2] == ("2987.66", "0.00")
    assert w.bank.balances(w.i1)[:2] == ("4400.00", "0.00")
    assert w.bank.balances(w.i2)[:2] == ("4600.00", "0.00")
    assert w.fee() == 1234
    assert w.hold_state(t1) == ("SETTLED", 0) and w.hold_state(t2) == ("SETTLED", 0)
    assert (w.claim(w.i1), w.claim(w.i2)) == (60000, 40000)


def test_confirm_loan_posts_exactly_one_entry(w):
    t1, t2 = w.tender(w.i1, "600.00"), w.tender(w.i2, "400.00")
    before = w.bank.snapshot()["entries"]
    data = w.loan([(t1, "600.00"), (t2, "400.00")], "10")
    assert w.bank.snapshot()["entries"] == before + 1
    entry = w.bank.client.get("/sim/entries", query_string={"limit": 1}).json[0]
    assert entry["requestNo"] == data["requestNo"]
    assert sum(int(p["amount"].replace(".", "")) for p in entry["postings"]) == 0
    assert {"account": FEE, "amount": "10.00"} in entry["postings"]


def test_confirm_loan_settles_all_holds_or_none(w):
    t1, t2 = w.tender(w.i1, "600.00"), w.tender(w.i2, "400.00")
    base = {"projectNo": "P1", "commission": "0"}
    cases = [
        ([(t1, "600.00"), ("NOPE", "400.00")], codes.HOLD_NOT_FOUND),
        ([(t1, "600.00"), (t2, "399.99")], codes.AMOUNT_MISMATCH),
        ([(t1, "600.00"), (t2, "400.01")], codes.AMOUNT_MISMATCH),
    ]
    for holds, code in cases:
        refused(w.bank, "CONFIRM_LOAN", {**base, "requestNo": w.no(),
                                         "details": [{"preRequestNo": h, "amount": a} for h, a in holds]}, code)
    assert w.hold_state(t1) == ("FROZEN", 60000)


def test_confirm_loan_refuses_holds_that_are_not_this_projects_tenders(w):
    w.project("P2")
    other = w.tender(w.i3, "100.00", "P2")
    refused(w.bank, "CONFIRM_LOAN", {"requestNo": w.no(), "projectNo": "P1",
                                     "details": [{"preRequestNo": other, "amount": "100.00"}]},
            codes.HOLD_NOT_FOUND, "P1")


def test_confirm_loan_refuses_a_cancelled_hold(w):
    t1 = w.tender(w.i1, "100.00")
    ok(w.bank, "CANCEL_PRE_TRANSACTION", {"requestNo": w.no(), "preRequestNo": t1})
    refused(w.bank, "CONFIRM_LOAN", {"requestNo": w.no(), "projectNo": "P1",
                                     "details": [{"preRequestNo": t1, "amount": "100.00"}]}, codes.HOLD_NOT_FROZEN)


def test_confirm_loan_refuses_a_repeated_hold_and_a_commission_beyond_the_loan(w):
    t1 = w.tender(w.i1, "100.00")
    refused(w.bank, "CONFIRM_LOAN", {"requestNo": w.no(), "projectNo": "P1",
                                     "details": [{"preRequestNo": t1, "amount": "100.00"}] * 2},
            codes.PARAM_FAIL, "preRequestNo")
    refused(w.bank, "CONFIRM_LOAN", {"requestNo": w.no(), "projectNo": "P1", "commission": "100.01",
                                     "details": [{"preRequestNo": t1, "amount": "100.00"}]}, codes.AMOUNT_MISMATCH)


def test_a_project_is_loaned_once(w):
    t1, t2 = w.tender(w.i1, "600.00"), w.tender(w.i2, "400.00")
    w.loan([(t1, "600.00")])
    refused(w.bank, "CONFIRM_LOAN", {"requestNo": w.no(), "projectNo": "P1",
                                     "details": [{"preRequestNo": t2, "amount": "400.00"}]}, codes.PROJECT_STATUS)


def test_a_failed_project_cannot_be_loaned(w):
    t1 = w.tender(w.i1, "600.00")
    w.modify("MISCARRY")
    refused(w.bank, "CONFIRM_LOAN", {"requestNo": w.no(), "projectNo": "P1",
                                     "details": [{"preRequestNo": t1, "amount": "600.00"}]}, codes.PROJECT_STATUS)


def test_confirm_loan_refuses_an_unknown_project_and_malformed_details(w):
    t1 = w.tender(w.i1, "600.00")
    refused(w.bank, "CONFIRM_LOAN", {"requestNo": w.no(), "projectNo": "P404",
                                     "details": [{"preRequestNo": t1, "amount": "600.00"}]}, codes.PROJECT_NOT_FOUND)
    for details in ([], None, "x", [1], [{"amount": "600.00"}]):
        refused(w.bank, "CONFIRM_LOAN", {"requestNo": w.no(), "projectNo": "P1", "details": details},
                codes.PARAM_FAIL, "details")


def test_confirm_loan_refuses_every_bad_amount_and_commission(w):
    t1 = w.tender(w.i1, "600.00")
    each_bad_amount(w.bank, "CONFIRM_LOAN", lambda bad: {
        "requestNo": w.no(), "projectNo": "P1", "details": [{"preRequestNo": t1, "amount": bad}]},
        field="details[0].amount")
    each_bad_amount(w.bank, "CONFIRM_LOAN", lambda bad: {
        "requestNo": w.no(), "projectNo": "P1", "commission": bad,
        "details": [{"preRequestNo": t1, "amount": "600.00"}]}, BAD_NON_ZERO, field="commission")


# == CONFIRM_REPAYMENT ====================================================================================
def repayment(w, pre: str, details: list[dict], commission: str = "0", **extra) -> dict:
    return {"requestNo": w.no("RPY"), "projectNo": "P1", "preRequestNo": pre, "commission": commission,
            "details": details, **extra}


def test_confirm_repayment_pays_each_investor_and_the_platform_every_commission(w):
    w.repaying()
    fee_before = w.fee()
    # I1: 100 + 6 - 0.60; I2: 50 + 4 - 0.40; platform: 2.00 from the borrower + 1.00 from the investors.
    h = w.hold(w.borrower, "REPAYMENT", "162.00")
    data = ok(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, [
        {"userNo": w.i1, "amount": "100.00", "interest": "6.00", "commission": "0.60"},
        {"userNo": w.i2, "amount": "50.00", "interest": "4.00", "commission": "0.40"},
    ], "2.00"))
    assert (data["amount"], data["commission"]) == ("162.00", "3.00")
    assert w.bank.balances(w.i1)[:2] == ("4505.40", "0.00")  # 4400 + 105.40
    assert w.bank.balances(w.i2)[:2] == ("4653.60", "0.00")  # 4600 + 53.60
    assert w.bank.balances(w.borrower)[:2] == ("2828.00", "0.00")  # 2990 - 162
    assert w.fee() - fee_before == 300
    assert (w.claim(w.i1), w.claim(w.i2)) == (50000, 35000)
    assert w.hold_state(h) == ("SETTLED", 0)


def test_confirm_repayment_accepts_the_stated_total_when_it_matches(w):
    w.repaying()
    h = w.hold(w.borrower, "REPAYMENT", "10.00")
    ok(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, [{"userNo": w.i1, "amount": "0", "interest": "10.00"}],
                                              amount="10.00"))


@pytest.mark.parametrize("hold_amount", ["161.99", "162.01"])
def test_confirm_repayment_refuses_details_that_do_not_add_up_to_the_hold(w, hold_amount):
    w.repaying()
    h = w.hold(w.borrower, "REPAYMENT", hold_amount)
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, [
        {"userNo": w.i1, "amount": "100.00", "interest": "6.00", "commission": "0.60"},
        {"userNo": w.i2, "amount": "50.00", "interest": "4.00", "commission": "0.40"},
    ], "2.00"), codes.AMOUNT_MISMATCH)


def test_confirm_repayment_refuses_a_stated_total_other_than_the_hold(w):
    w.repaying()
    h = w.hold(w.borrower, "REPAYMENT", "10.00")
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, [{"userNo": w.i1, "amount": "10.00"}], amount="10.01"),
            codes.AMOUNT_MISMATCH)


def test_confirm_repayment_refuses_an_investor_fee_beyond_what_the_investor_gets(w):
    w.repaying()
    h = w.hold(w.borrower, "REPAYMENT", "10.00")
    refused(w.bank, "CONFIRM_REPAYMENT",
            repayment(w, h, [{"userNo": w.i1, "amount": "5.00", "interest": "5.00", "commission": "10.01"}]),
            codes.AMOUNT_MISMATCH)


def test_confirm_repayment_refuses_principal_beyond_the_investors_claim(w):
    w.repaying()
    h = w.hold(w.borrower, "REPAYMENT", "400.01")
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, [{"userNo": w.i2, "amount": "400.01"}]),
            codes.CLAIM_NOT_ENOUGH)
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, [{"userNo": w.i2, "amount": "200.00"},
                                                          {"userNo": w.i2, "amount": "200.01"}]),
            codes.CLAIM_NOT_ENOUGH)


def test_confirm_repayment_refuses_an_unknown_investor(w):
    w.repaying()
    h = w.hold(w.borrower, "REPAYMENT", "10.00")
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, [{"userNo": "ghost", "amount": "0", "interest": "10.00"}]),
            codes.USER_NOT_FOUND)


def test_confirm_repayment_needs_a_frozen_repayment_hold_of_this_project(w):
    holds = w.repaying()
    w.project("P2")
    t = w.tender(w.i3, "10.00", "P2")
    details = [{"userNo": w.i1, "amount": "10.00"}]
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, "NOPE", details), codes.HOLD_NOT_FOUND)
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, holds["t1"], details), codes.HOLD_NOT_FOUND, "TENDER")
    refused(w.bank, "CONFIRM_REPAYMENT", {**repayment(w, t, details), "projectNo": "P2"}, codes.HOLD_NOT_FOUND)
    h = w.hold(w.borrower, "REPAYMENT", "10.00")
    ok(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, details))
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, details), codes.HOLD_NOT_FROZEN)


def test_confirm_repayment_refuses_a_hold_named_under_another_project(w):
    w.repaying()
    w.project("P2")
    h = w.hold(w.borrower, "REPAYMENT", "10.00")
    refused(w.bank, "CONFIRM_REPAYMENT", {**repayment(w, h, [{"userNo": w.i1, "amount": "10.00"}]),
                                          "projectNo": "P2"}, codes.HOLD_NOT_FOUND, "P2")


def test_confirm_repayment_refuses_every_bad_amount(w):
    w.repaying()
    h = w.hold(w.borrower, "REPAYMENT", "10.00")
    each_bad_amount(w.bank, "CONFIRM_REPAYMENT", lambda bad: repayment(w, h, [{"userNo": w.i1, "amount": bad}]),
                    BAD_NON_ZERO, field="details[0].amount")
    each_bad_amount(w.bank, "CONFIRM_REPAYMENT",
                    lambda bad: repayment(w, h, [{"userNo": w.i1, "amount": "5", "interest": bad}]),
                    BAD_NON_ZERO, field="details[0].interest")
    each_bad_amount(w.bank, "CONFIRM_REPAYMENT",
                    lambda bad: repayment(w, h, [{"userNo": w.i1, "amount": "5", "commission": bad}]),
                    BAD_NON_ZERO, field="details[0].commission")
    each_bad_amount(w.bank, "CONFIRM_REPAYMENT", lambda bad: repayment(w, h, [{"userNo": w.i1, "amount": "10"}], bad),
                    BAD_NON_ZERO, field="commission")
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, h, []), codes.PARAM_FAIL, "details")


# == CONFIRM_CREDIT_ASSIGNMENT ============================================================================
def assignment(w, pre: str, claim: str = "200.00", commission: str = "0", seller: str | None = None, **extra):
    return {"requestNo": w.no("CA"), "preRequestNo": pre, "projectNo": "P1", "sellerUserNo": seller or w.i1,
            "claimAmount": claim, "commission": commission, **extra}


def test_a_credit_assignment_moves_the_price_to_the_seller_and_the_claim_to_the_buyer(w):
    w.repaying()
    fee_before = w.fee()
    h = w.hold(w.i3, "CREDIT_ASSIGNMENT", "205.00")
    data = ok(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h, "200.00", "1.50", amount="205.00"))
    assert (data["sellerUserNo"], data["buyerUserNo"], data["claimAmount"], data["amount"], data["commission"]) == \
        (w.i1, w.i3, "200.00", "205.00", "1.50")
    assert w.bank.balances(w.i1)[:2] == ("4603.50", "0.00")  # 4400 + 205 - 1.50
    assert w.bank.balances(w.i3)[:2] == ("4795.00", "0.00")
    assert w.fee() - fee_before == 150
    assert (w.claim(w.i1), w.claim(w.i3)) == (40000, 20000)
    assert w.hold_state(h) == ("SETTLED", 0)


def test_a_bought_claim_is_repaid_to_its_new_owner(w):
    w.repaying()
    h = w.hold(w.i3, "CREDIT_ASSIGNMENT", "600.00")
    ok(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h, "600.00"))
    r = w.hold(w.borrower, "REPAYMENT", "600.00")
    refused(w.bank, "CONFIRM_REPAYMENT", repayment(w, r, [{"userNo": w.i1, "amount": "600.00"}]),
            codes.CLAIM_NOT_ENOUGH)
    ok(w.bank, "CONFIRM_REPAYMENT", repayment(w, r, [{"userNo": w.i3, "amount": "600.00"}]))
    assert w.bank.balances(w.i3)[0] == "5000.00"


def test_a_seller_cannot_sell_more_claim_than_they_hold(w):
    w.repaying()
    h = w.hold(w.i3, "CREDIT_ASSIGNMENT", "100.00")
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h, "400.01", seller=w.i2), codes.CLAIM_NOT_ENOUGH)


def test_a_credit_assignment_refuses_a_stated_amount_other_than_the_hold_and_a_fee_beyond_the_price(w):
    w.repaying()
    h = w.hold(w.i3, "CREDIT_ASSIGNMENT", "100.00")
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h, amount="100.01"), codes.AMOUNT_MISMATCH)
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h, commission="100.01"), codes.AMOUNT_MISMATCH)


def test_a_claim_cannot_be_sold_to_its_owner_or_by_a_stranger(w):
    w.repaying()
    h = w.hold(w.i1, "CREDIT_ASSIGNMENT", "100.00")
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h, seller=w.i1), codes.PARAM_FAIL)
    h3 = w.hold(w.i3, "CREDIT_ASSIGNMENT", "100.00")
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h3, seller="ghost"), codes.USER_NOT_FOUND)
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h3, seller=w.borrower), codes.ROLE_NOT_ALLOWED)


def test_a_credit_assignment_needs_a_frozen_credit_assignment_hold_of_this_project(w):
    holds = w.repaying()
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, "NOPE"), codes.HOLD_NOT_FOUND)
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, holds["t2"]), codes.HOLD_NOT_FOUND)
    h = w.hold(w.i3, "CREDIT_ASSIGNMENT", "100.00")
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", {**assignment(w, h), "projectNo": "P2"}, codes.HOLD_NOT_FOUND)
    ok(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h, "100.00"))
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", assignment(w, h, "100.00"), codes.HOLD_NOT_FROZEN)


@pytest.mark.parametrize("field", ["preRequestNo", "projectNo", "sellerUserNo", "claimAmount"])
def test_a_credit_assignment_requires_its_fields(w, field):
    w.repaying()
    h = w.hold(w.i3, "CREDIT_ASSIGNMENT", "100.00")
    payload = assignment(w, h)
    del payload[field]
    refused(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", payload, codes.PARAM_FAIL, field)


def test_a_credit_assignment_refuses_every_bad_amount(w):
    w.repaying()
    h = w.hold(w.i3, "CREDIT_ASSIGNMENT", "100.00")
    each_bad_amount(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", lambda bad: assignment(w, h, bad), field="claimAmount")
    each_bad_amount(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", lambda bad: assignment(w, h, commission=bad), BAD_NON_ZERO,
                    field="commission")
    each_bad_amount(w.bank, "CONFIRM_CREDIT_ASSIGNMENT", lambda bad: assignment(w, h, amount=bad), field="amount")


# == QUERY_TRANSACTION ====================================================================================
def test_query_transaction_answers_a_past_success_with_its_stored_result(w):
    t = w.tender(w.i1, "100.00")
    before = w.bank.snapshot()
    data = ok(w.bank, "QUERY_TRANSACTION", {"requestNo": w.no("Q"), "transactionRequestNo": t})
    assert (data["transactionRequestNo"], data["serviceName"], data["transactionStatus"]) == \
        (t, "USER_AUTO_PRE_TRANSACTION", "SUCCESS")
    assert data["result"]["requestNo"] == t and data["result"]["amount"] == "100.00"
    assert w.bank.snapshot() == before


def test_query_transaction_answers_a_past_refusal_as_failed(w):
    payload = {"requestNo": w.no(), "userNo": w.i1, "projectNo": "P1", "bizType": "TENDER", "amount": "1000.01"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.PROJECT_OVER_AMOUNT)
    data = send(w.bank, "QUERY_TRANSACTION", {"requestNo": w.no("Q"), "transactionRequestNo": payload["requestNo"]})
    assert data["respCode"] == codes.SUCCESS and data["status"] == codes.STATUS_FAILURE
    assert data["transactionStatus"] == "FAIL" and data["result"]["respCode"] == codes.PROJECT_OVER_AMOUNT


def test_query_transaction_answers_a_gateway_request_still_waiting_for_its_user_as_processing(w):
    page = w.bank.client.get("/gateway", query_string=w.bank.signed("RECHARGE", {
        "requestNo": "RC-WAIT", "userNo": w.i1, "amount": "1.00", "callbackUrl": "http://platform.test/cb"}))
    assert page.status_code == 200
    data = send(w.bank, "QUERY_TRANSACTION", {"requestNo": w.no("Q"), "transactionRequestNo": "RC-WAIT"})
    assert data["status"] == codes.STATUS_PROCESSING and data["transactionStatus"] == "PROCESSING"
    assert data["serviceName"] == "RECHARGE" and "result" not in data


def test_query_transaction_refuses_an_unknown_request_and_a_missing_field(w):
    refused(w.bank, "QUERY_TRANSACTION", {"requestNo": w.no("Q"), "transactionRequestNo": "NOPE"},
            codes.TRANSACTION_NOT_FOUND)
    refused(w.bank, "QUERY_TRANSACTION", {"requestNo": w.no("Q")}, codes.PARAM_FAIL, "transactionRequestNo")


# == QUERY_USER ===========================================================================================
def test_query_user_answers_role_balances_and_the_masked_card(w):
    w.tender(w.i1, "100.00")
    data = ok(w.bank, "QUERY_USER", {"requestNo": w.no("Q"), "userNo": w.i1})
    assert (data["userNo"], data["role"], data["balance"], data["freezeAmount"]) == (w.i1, "I", "4900.00", "100.00")
    assert data["cardNumber"] == "************0002" and data["mobile"] == "138****0002"


def test_query_user_refuses_an_unknown_user_and_a_missing_field(w):
    refused(w.bank, "QUERY_USER", {"requestNo": w.no("Q"), "userNo": "ghost"}, codes.USER_NOT_FOUND)
    refused(w.bank, "QUERY_USER", {"requestNo": w.no("Q")}, codes.PARAM_FAIL, "userNo")


def test_queries_are_answered_again_under_the_same_request_no(w):
    payload = {"requestNo": "Q-SAME", "userNo": w.i1}
    assert ok(w.bank, "QUERY_USER", payload)["balance"] == "5000.00"
    w.tender(w.i1, "1.00")
    assert ok(w.bank, "QUERY_USER", payload)["balance"] == "4999.00"


# == a loaned project takes no more money =================================================================
def test_a_loaned_project_accepts_no_further_tender_even_while_still_collecting(w):
    t1 = w.tender(w.i1, "600.00")
    w.loan([(t1, "600.00")])
    assert w.project_status() == "COLLECTING"
    payload = {"requestNo": w.no(), "userNo": w.i2, "projectNo": "P1", "bizType": "TENDER", "amount": "100.00"}
    refused(w.bank, "USER_AUTO_PRE_TRANSACTION", payload, codes.PROJECT_STATUS, "loaned")


def test_a_loaned_project_cannot_go_back_to_collecting(w):
    t1 = w.tender(w.i1, "1000.00")
    w.modify("FULLY")
    w.loan([(t1, "1000.00")])
    refused(w.bank, "MODIFY_PROJECT", {"requestNo": w.no(), "projectNo": "P1", "projectStatus": "COLLECTING"},
            codes.PROJECT_STATUS)
    w.modify("REPAYING")


def test_a_repayment_detail_for_a_user_without_a_claim_is_refused_and_moves_nothing(bank):
    borrower = bank.open_account(901, "B")
    investor = bank.open_account(902, "I")
    stranger = bank.open_account(903, "I")
    for user in (borrower, investor):
        bank.recharge(user, "1000.00")
    bank.call("CREATE_PROJECT", {"requestNo": "CP901", "userNo": borrower, "projectNo": "P901",
                                 "projectAmount": "500.00"})
    bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": "T901", "userNo": investor, "bizType": "TENDER",
                                            "amount": "500.00", "projectNo": "P901"})
    bank.call("CONFIRM_LOAN", {"requestNo": "L901", "projectNo": "P901",
                               "details": [{"preRequestNo": "T901", "amount": "500.00"}]})
    bank.call("MODIFY_PROJECT", {"requestNo": "M901", "projectNo": "P901", "projectStatus": "REPAYING"})
    bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": "H901", "userNo": borrower, "bizType": "REPAYMENT",
                                            "amount": "5.00", "projectNo": "P901"})
    before = bank.snapshot()
    data = bank.call("CONFIRM_REPAYMENT", {"requestNo": "R901", "preRequestNo": "H901", "projectNo": "P901",
                                           "details": [{"userNo": stranger, "amount": "0", "interest": "5.00"}]})
    assert data["respCode"] == "30030"
    assert bank.snapshot() == before
