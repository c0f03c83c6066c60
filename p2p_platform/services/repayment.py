"""Repayment: plans on loan, the daily job, and the CONFIRM_REPAYMENT outbox.

Invariants guarded:

* per period the borrower's amount equals exactly the investors' principal +
  interest plus the platform's fees, and principals sum exactly to the loan;
* a due plan is frozen (REPAYMENT hold) first; the freeze's registered outcome
  writes the CONFIRM_REPAYMENT request to a durable local outbox in the very
  transaction that settles the freeze record (the seed's transactional
  message), and the outbox is retried until the bank answers; plans and
  receivables are marked paid only by the confirmation's outcome;
* a borrower short of money stays overdue, nothing half-applied, and is
  retried on the next run with a new freeze request (the old one was refused).
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

from bank_depository.protocol import services as svc
from bank_depository.protocol.money import format_fen

from ..bank_client import OutcomeUnknown
from ..domain import schedule
from ..domain.errors import PlatformError
from ..domain.states import PlanStatus, ProjectStatus as PS, TenderStatus as TS
from ..storage import plans, projects, tenders
from ..storage.plans import Plan
from ..storage.records import Record
from . import agent
from .context import PlatformContext
from .projects import BANK_FINISH, modify, project
from .registry import OutcomeRegistry


def generate_plans(conn: sqlite3.Connection, ctx: PlatformContext, project_no: str) -> None:
    p = projects.get(conn, project_no)
    assert p is not None
    shares = tenders.of_project(conn, project_no, TS.FROZEN, TS.LOANED)
    periods = schedule.repayment_plan([t.amount for t in shares], Decimal(p.annual_rate), p.periods, p.method,
                                      Decimal(p.borrower_commission_rate), Decimal(p.investor_commission_rate))
    loan_date = dt.date.fromisoformat(str(p.loan_date))
    for period in periods:
        due = schedule.due_date(loan_date, period.month_offset).isoformat()
        plan_id = plans.insert_plan(conn, project_no, period.period, due, period.principal, period.interest,
                                    period.platform_fee, period.amount)
        plans.insert_receivables(conn, [(plan_id, project_no, t.request_no, t.user_no, period.period, due,
                                         share.principal, share.interest, share.commission)
                                        for t, share in zip(shares, period.investors)])


def run_repayments(ctx: PlatformContext, today: dt.date | None = None) -> dict:
    """The daily job: freeze every due or overdue unpaid plan, then deliver the outbox."""
    today = today or ctx.clock.today()
    report: dict[str, list[str]] = {"frozen": [], "overdue": [], "unknown": [], "paid": [], "failed": []}
    for plan in plans.due(ctx.store.conn(), today.isoformat()):
        report[freeze(ctx, plan)].append(plan.label)
    delivered = process_outbox(ctx)
    report["paid"] = delivered["paid"]
    report["failed"] = delivered["failed"]
    return {"date": today.isoformat(), **report}


def freeze(ctx: PlatformContext, plan: Plan) -> str:
    """The period's REPAYMENT freeze: "frozen" (and its confirmation queued), "overdue" or "unknown"."""
    request_no = plan.freeze_request_no
    if request_no is None:
        p = project(ctx, plan.project_no)
        payload = {"requestNo": ctx.ids.new("REQ"), "userNo": p.borrower, "bizType": svc.BIZ_REPAYMENT,
                   "amount": format_fen(plan.amount), "projectNo": plan.project_no}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.USER_AUTO_PRE_TRANSACTION, payload, object_type="REPAYMENT",
                                      object_id=str(plan.id), amount=plan.amount, user_no=p.borrower,
                                      biz_type=svc.BIZ_REPAYMENT)
            plans.set_freeze_request_no(conn, plan.id, request_no)
    try:
        reply = agent.send(ctx, request_no)
    except OutcomeUnknown:
        return "unknown"
    return "frozen" if reply.ok else "overdue"


def confirm_payload(conn: sqlite3.Connection, ctx: PlatformContext, plan: Plan, freeze_request_no: str) -> dict:
    return {"requestNo": ctx.ids.new("REQ"), "preRequestNo": freeze_request_no, "projectNo": plan.project_no,
            "amount": format_fen(plan.amount), "commission": format_fen(plan.platform_fee),
            "details": [{"userNo": s.user_no, "amount": format_fen(s.principal),
                         "interest": format_fen(s.interest + s.commission),
                         "commission": format_fen(s.commission)} for s in plans.receivables(conn, plan.id)]}


def _frozen(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    """The freeze is synced: record the CONFIRM_REPAYMENT message in the same transaction."""
    plan = plans.get(conn, int(rec.object_id))
    if plan is None or plan.status != PlanStatus.UNPAID:
        return
    payload = confirm_payload(conn, ctx, plan, rec.request_no)
    fees = plan.platform_fee + sum(s.commission for s in plans.receivables(conn, plan.id))
    agent.record(conn, ctx, svc.CONFIRM_REPAYMENT, payload, object_type="REPAYMENT", object_id=str(plan.id),
                 amount=plan.amount, commission=fees, user_no=rec.user_no, biz_type=svc.BIZ_REPAYMENT)
    plans.move(conn, plan.id, PlanStatus.FROZEN, confirm_request_no=payload["requestNo"])
    plans.enqueue(conn, svc.CONFIRM_REPAYMENT, str(plan.id), payload["requestNo"], ctx.now_iso())


def _freeze_refused(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    # A definitive refusal (e.g. 30042): the plan stays overdue; the next run is a new attempt.
    plans.set_freeze_request_no(conn, int(rec.object_id), None, only_if=rec.request_no)


def _repaid(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    plan_id = int(rec.object_id)
    plans.move(conn, plan_id, PlanStatus.PAID, only_from=(PlanStatus.FROZEN,), paid_at=ctx.now_iso())
    plans.pay_receivables(conn, plan_id, ctx.now_iso())
    plans.message_done(conn, rec.request_no, ctx.now_iso())


def _repayment_refused(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    plans.message_failed(conn, rec.request_no, f"{data.get('respCode', '')} {data.get('respMsg', '')}")


def register_outcomes(registry: OutcomeRegistry) -> None:
    registry.register("REPAYMENT", svc.USER_AUTO_PRE_TRANSACTION, on_success=_frozen, on_refusal=_freeze_refused)
    registry.register("REPAYMENT", svc.CONFIRM_REPAYMENT, on_success=_repaid, on_refusal=_repayment_refused)


def process_outbox(ctx: PlatformContext) -> dict:
    """Deliver pending CONFIRM_REPAYMENT messages (their outcome marks the plans paid), then
    settle each project whose last plan is paid."""
    result: dict[str, list[str]] = {"paid": [], "failed": [], "pending": []}
    for message in plans.pending_messages(ctx.store.conn()):
        try:
            reply = agent.send(ctx, message.request_no)
        except OutcomeUnknown as exc:
            with ctx.store.write() as conn:
                plans.message_attempted(conn, message.id, str(exc))
            result["pending"].append(message.request_no)
            continue
        plan = plans.get(ctx.store.conn(), int(message.ref))
        assert plan is not None
        result["paid" if reply.ok else "failed"].append(plan.label)
        if reply.ok:
            settle_project_if_done(ctx, plan.project_no)
    return result


def settle_project_if_done(ctx: PlatformContext, project_no: str) -> bool:
    """Once every plan is paid: MODIFY_PROJECT FINISH, whose outcome settles the project.
    False while the bank's answer is unknown or refused (the next daily run retries)."""
    if not plans.all_paid(ctx.store.conn(), project_no):
        return False
    p = project(ctx, project_no)
    if p.status != PS.REPAYING:
        return False
    try:
        modify(ctx, p, BANK_FINISH)
    except PlatformError:  # the bank's status is cosmetic here; retried by the next daily run
        return False
    return True
