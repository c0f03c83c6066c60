"""Debt transfer across both apps: the bank's claim moves with the money, the
check file lists the transfer, and claims that must not sell are refused."""
from __future__ import annotations

import textwrap

from scenarios import runner
from tests.conftest import operator_client


def run(tmp_path, steps: str, after=None):
    text = textwrap.dedent("""\
        name: claims
        seed: 5
        actors:
          bob: {role: borrower, card_balance: "1000.00"}
          ivy: {role: investor, card_balance: "6000.00"}
          ian: {role: investor, card_balance: "6000.00"}
        steps:
          - open_account: bob
          - open_account: ivy
          - open_account: ian
          - recharge: {user: ivy, amount: "6000.00"}
          - recharge: {user: ian, amount: "6000.00"}
          - create_project: {name: A, borrower: bob, amount: "6000.00", periods: 2, method: interest_first,
                             annual_rate: "0.12"}
          - approve_project: A
          - tender: {user: ivy, project: A, amount: "6000.00"}
          - approve_loan: {project: A}
        """) + textwrap.indent(textwrap.dedent(steps), "  ")
    path = tmp_path / "claims.yaml"
    path.write_text(text, encoding="utf-8")
    lines: list[str] = []
    result = runner.run_file(path, echo=lines.append, after=after)
    return result, lines


def test_a_sold_claim_moves_at_the_bank_and_the_check_file_lists_the_transfer(tmp_path):
    seen = {}

    def after(r):
        conn = r.sandbox.bank_ctx.conn()
        seen["claims"] = {row["user_no"]: row["principal"] for row in conn.execute("SELECT * FROM claims")}
        day = r.platform("GET", "/sim/clock")["now"][:10]
        seen["file"] = operator_client(r.sandbox.bank_app).get(f"/sim/checkfile?date={day}").get_data(as_text=True)
        seen["users"] = dict(r.users)

    result, lines = run(tmp_path, """\
          - list_claim: {user: ivy, project: A, amount: "2000.00", fee_rate: "0.01", name: c1}
          - buy_claim: {user: ian, claim: c1}
          - expect_ledger_sound
          - expect_reconciled: true
        """, after)
    assert result.ok, "\n".join(lines)
    ivy, ian = seen["users"]["ivy"], seen["users"]["ian"]
    assert seen["claims"] == {ivy: 400000, ian: 200000}
    transfer = [line for line in seen["file"].splitlines() if ",CONFIRM_CREDIT_ASSIGNMENT," in line]
    assert len(transfer) == 1 and f",{ian},{ivy},2000.00,20.00,SUCCESS," in transfer[0]


def test_an_overdue_claim_cannot_be_listed(tmp_path):
    result, lines = run(tmp_path, """\
          - withdraw: {user: bob, amount: "6000.00"}
          - advance_days: 32
          - run_repayments
          - expect_plan: {project: A, period: 1, status: UNPAID}
          - expect_error:
              step: {list_claim: {user: ivy, project: A, amount: "100.00", name: late}}
              code: CLAIM_NOT_SALEABLE
        """)
    assert result.ok, "\n".join(lines)


def test_a_fully_repaid_claim_cannot_be_listed(tmp_path):
    result, lines = run(tmp_path, """\
          - recharge: {user: bob, amount: "1000.00"}
          - advance_days: 31
          - run_repayments
          - advance_days: 28
          - run_repayments
          - expect_project: {A: SETTLED}
          - expect_error:
              step: {list_claim: {user: ivy, project: A, amount: "100.00", name: repaid}}
              code: CLAIM_NOT_SALEABLE
        """)
    assert result.ok, "\n".join(lines)


def test_a_reserved_claim_that_is_cancelled_releases_the_buyers_hold_and_can_be_sold_again(tmp_path):
    result, lines = run(tmp_path, """\
          - list_claim: {user: ivy, project: A, amount: "3000.00", name: c1}
          - buy_claim: {user: ian, claim: c1, confirm: false}
          - expect_balance: {ian: {available: "3000.00", frozen: "3000.00"}}
          - cancel_claim: {claim: c1}
          - expect_balance: {ian: {available: "6000.00", frozen: "0.00"}}
          - list_claim: {user: ivy, project: A, amount: "3000.00", name: c2}
          - buy_claim: {user: ian, claim: c2}
          - expect_balance: {ian: {available: "3000.00", frozen: "0.00"}, ivy: {available: "3000.00"}}
          - expect_ledger_sound
          - expect_reconciled: true
        """)
    assert result.ok, "\n".join(lines)
