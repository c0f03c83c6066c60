"""满标复审 — the full-bid loan: CONFIRM_LOAN moves the frozen tenders to the
borrower, then MODIFY_PROJECT tells the bank the project is REPAYING (its own
requestNo). The loan's registered outcome marks the project LOANED, its
tenders LOANED and writes the repayment plans, all in the transaction that
settles the CONFIRM_LOAN record.
"""
from __future__ import annotations

import sqlite3

from bank_depository.protocol import services as svc
from bank_depository.protocol.money import format_fen

from ..domain.errors import PlatformError, bad
from ..domain.states import ProjectStatus as PS, TenderStatus as TS
from ..storage import projects, tenders
from ..storage.records import Record
from . import agent, bank_step, consumer, repayment
from .context import PlatformContext
from .projects import BANK_REPAYING, modify, project, project_view
from .registry import OutcomeRegistry


def approve_loan(ctx: PlatformContext, project_no: str, commission_text=None) -> dict:
    """满标复审: CONFIRM_LOAN, then MODIFY_PROJECT REPAYING with its own requestNo, then the plans."""
    p = project(ctx, project_no)
    if p.status in (PS.LOANED, PS.REPAYING):
        return finish_loan(ctx, p.project_no)
    if p.status != PS.FULLY:
        raise PlatformError("PROJECT_STATUS", f"project is {p.status}, not FULLY", 409)
    request_no = p.loan_request_no
    if request_no is None:
        commission = consumer.money(commission_text if commission_text not in (None, "") else "0", "commission",
                                    allow_zero=True)
        frozen = tenders.of_project(ctx.store.conn(), p.project_no, TS.FROZEN)
        if commission > p.amount:
            raise bad("commission exceeds the loan")
        payload = {"requestNo": ctx.ids.new("REQ"), "projectNo": p.project_no, "commission": format_fen(commission),
                   "details": [{"preRequestNo": t.request_no, "amount": format_fen(t.amount)} for t in frozen]}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.CONFIRM_LOAN, payload, object_type="LOAN",
                                      object_id=p.project_no, amount=p.amount, commission=commission,
                                      user_no=p.borrower, biz_type="LOAN")
            projects.set_step(conn, p.project_no, "loan_request_no", request_no, loan_commission=commission)
    bank_step.take(ctx, request_no)
    return finish_loan(ctx, p.project_no)


def finish_loan(ctx: PlatformContext, project_no: str) -> dict:
    """After the loan: tell the bank the project is REPAYING (own requestNo)."""
    p = project(ctx, project_no)
    if p.status == PS.LOANED:
        modify(ctx, p, BANK_REPAYING)
    return project_view(ctx, p.project_no)


def _loaned(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    if projects.move(conn, rec.object_id, PS.LOANED, loan_date=ctx.clock.today().isoformat()):
        tenders.move_all(conn, rec.object_id, TS.FROZEN, TS.LOANED)
        repayment.generate_plans(conn, ctx, rec.object_id)


def _loan_refused(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    projects.set_step(conn, rec.object_id, "loan_request_no", None)   # a new review is a new request


def register_outcomes(registry: OutcomeRegistry) -> None:
    registry.register("LOAN", svc.CONFIRM_LOAN, on_success=_loaned, on_refusal=_loan_refused)
