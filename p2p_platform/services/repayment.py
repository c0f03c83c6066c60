"""Repayment: plans on loan, the daily job, and the CONFIRM_REPAYMENT outbox.

Invariants guarded:

* per period the borrower's amount equals exactly the investors' principal +
  interest plus the platform's fees, and principals sum exactly to the loan;
* a due plan is frozen (REPAYMENT hold) first; the CONFIRM_REPAYMENT request is
  written to a durable local outbox in the same transaction that records the
  freeze, and retried until the bank answers (the seed's transactional
  message); plans and receivables are marked paid only once the bank confirms;
* a borrower short of money stays overdue, nothing half-applied, and is
  retried on the next run with a new freeze request (the old one was refused).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from bank_depository.protocol import services as svc
from bank_depository.protocol.money import format_fen

from ..bank_client import OutcomeUnknown
from ..domain import schedule
from . import agent
from .context import PlatformContext


def generate_plans(conn, ctx: PlatformContext, project_no: str) -> None:
    p = conn.execute("SELECT * FROM projects WHERE project_no = ?", (project_no,)).fetchone()
    tenders = conn.execute("SELECT * FROM tenders WHERE project_no = ? AND status IN ('FROZEN', 'LOANED')"
                           " ORDER BY request_no", (project_no,)).fetchall()
    periods = schedule.repayment_plan([t["amount"] for t in tenders], Decimal(p["annual_rate"]), p["periods"],
                                      p["method"], Decimal(p["borrower_commission_rate"]),
                                      Decimal(p["investor_commission_rate"]))
    loan_date = dt.date.fromisoformat(p["loan_date"])
    for period in periods:
        due = schedule.due_date(loan_date, period.month_offset).isoformat()
        plan_id = conn.execute(
            "INSERT INTO repayment_plans (project_no, period, due_date, principal, interest, platform_fee, amount)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", (project_no, period.period, due, period.principal, period.interest,
                                              period.platform_fee, period.amount)).lastrowid
        conn.executemany(
            "INSERT INTO receivable_plans (plan_id, project_no, tender_request_no, user_no, period, due_date,"
            " principal, interest, commission) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(plan_id, project_no, t["request_no"], t["user_no"], period.period, due, share.principal, share.interest,
              share.commission) for t, share in zip(tenders, period.investors)])


def due_plans(ctx: PlatformContext, today: dt.date) -> list:
    return ctx.store.all("SELECT r.* FROM repayment_plans r JOIN projects p ON p.project_no = r.project_no"
                         " WHERE r.status = 'UNPAID' AND r.due_date <= ? AND p.status = 'REPAYING'"
                         " ORDER BY r.due_date, r.project_no, r.period", (today.isoformat(),))


def run_repayments(ctx: PlatformContext, today: dt.date | None = None) -> dict:
    """The daily job: freeze every due or overdue unpaid plan, then deliver the outbox."""
    today = today or ctx.clock.today()
    report: dict[str, Any] = {"date": today.isoformat(), "frozen": [], "overdue": [], "unknown": [], "paid": [],
                              "failed": []}
    for plan in due_plans(ctx, today):
        outcome = _freeze(ctx, plan)
        report[outcome].append(f"{plan['project_no']}#{plan['period']}")
    delivered = process_outbox(ctx)
    report["paid"] = delivered["paid"]
    report["failed"] = delivered["failed"]
    return report


def _freeze(ctx: PlatformContext, plan) -> str:
    project = ctx.store.one("SELECT borrower FROM projects WHERE project_no = ?", (plan["project_no"],))
    if project is None:
        raise LookupError(f"plan {plan['id']} names no project {plan['project_no']}")
    borrower = project["borrower"]
    request_no = plan["freeze_request_no"]
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "userNo": borrower, "bizType": svc.BIZ_REPAYMENT,
                   "amount": format_fen(plan["amount"]), "projectNo": plan["project_no"]}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.USER_AUTO_PRE_TRANSACTION, payload, object_type="REPAYMENT",
                                      object_id=str(plan["id"]), amount=plan["amount"], user_no=borrower,
                                      biz_type=svc.BIZ_REPAYMENT)
            conn.execute("UPDATE repayment_plans SET freeze_request_no = ? WHERE id = ?", (request_no, plan["id"]))
    try:
        reply = agent.send(ctx, request_no)
    except OutcomeUnknown:
        return "unknown"
    if not reply.ok:
        # A definitive refusal (e.g. 30042): the plan stays overdue; the next run is a new attempt.
        with ctx.store.write() as conn:
            conn.execute("UPDATE repayment_plans SET freeze_request_no = NULL WHERE id = ? AND freeze_request_no = ?",
                         (plan["id"], request_no))
        return "overdue"
    _enqueue_confirm(ctx, plan["id"], request_no)
    return "frozen"


def confirm_payload(conn, ctx: PlatformContext, plan_id: int, freeze_request_no: str) -> dict:
    plan = conn.execute("SELECT * FROM repayment_plans WHERE id = ?", (plan_id,)).fetchone()
    shares = conn.execute("SELECT * FROM receivable_plans WHERE plan_id = ? ORDER BY id", (plan_id,)).fetchall()
    return {"requestNo": ctx.ids.new("REQ"), "preRequestNo": freeze_request_no, "projectNo": plan["project_no"],
            "amount": format_fen(plan["amount"]), "commission": format_fen(plan["platform_fee"]),
            "details": [{"userNo": s["user_no"], "amount": format_fen(s["principal"]),
                         "interest": format_fen(s["interest"] + s["commission"]),
                         "commission": format_fen(s["commission"])} for s in shares]}


def _enqueue_confirm(ctx: PlatformContext, plan_id: int, freeze_request_no: str) -> None:
    """Record the freeze and the CONFIRM_REPAYMENT message in one local transaction."""
    with ctx.store.write() as conn:
        plan = conn.execute("SELECT * FROM repayment_plans WHERE id = ?", (plan_id,)).fetchone()
        if plan["status"] != "UNPAID":
            return
        payload = confirm_payload(conn, ctx, plan_id, freeze_request_no)
        fees = plan["platform_fee"] + conn.execute("SELECT COALESCE(SUM(commission), 0) FROM receivable_plans"
                                                   " WHERE plan_id = ?", (plan_id,)).fetchone()[0]
        borrower = conn.execute("SELECT borrower FROM projects WHERE project_no = ?",
                                (plan["project_no"],)).fetchone()[0]
        agent.record(conn, ctx, svc.CONFIRM_REPAYMENT, payload, object_type="REPAYMENT", object_id=str(plan_id),
                     amount=plan["amount"], commission=fees, user_no=borrower, biz_type=svc.BIZ_REPAYMENT)
        conn.execute("UPDATE repayment_plans SET status = 'FROZEN', confirm_request_no = ? WHERE id = ?",
                     (payload["requestNo"], plan_id))
        conn.execute("INSERT INTO outbox (kind, ref, request_no, created_at) VALUES ('CONFIRM_REPAYMENT', ?, ?, ?)",
                     (str(plan_id), payload["requestNo"], ctx.now_iso()))


def process_outbox(ctx: PlatformContext) -> dict:
    """Deliver pending CONFIRM_REPAYMENT messages; mark plans paid once the bank confirms."""
    result: dict[str, list[str]] = {"paid": [], "failed": [], "pending": []}
    for row in ctx.store.all("SELECT * FROM outbox WHERE state = 'PENDING' ORDER BY id"):
        try:
            reply = agent.send(ctx, row["request_no"])
        except OutcomeUnknown as exc:
            with ctx.store.write() as conn:
                conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                             (str(exc), row["id"]))
            result["pending"].append(row["request_no"])
            continue
        with ctx.store.write() as conn:
            plan = conn.execute("SELECT * FROM repayment_plans WHERE id = ?", (int(row["ref"]),)).fetchone()
            label = f"{plan['project_no']}#{plan['period']}"
            if reply.ok:
                conn.execute("UPDATE repayment_plans SET status = 'PAID', paid_at = ?"
                             " WHERE id = ? AND status = 'FROZEN'",
                             (ctx.now_iso(), plan["id"]))
                conn.execute("UPDATE receivable_plans SET status = 'PAID', paid_at = ? WHERE plan_id = ?",
                             (ctx.now_iso(), plan["id"]))
                conn.execute("UPDATE outbox SET state = 'DONE', attempts = attempts + 1, done_at = ? WHERE id = ?",
                             (ctx.now_iso(), row["id"]))
                result["paid"].append(label)
            else:
                conn.execute("UPDATE outbox SET state = 'FAILED', attempts = attempts + 1, last_error = ? WHERE id = ?",
                             (f"{reply.code} {reply.message}", row["id"]))
                result["failed"].append(label)
        if reply.ok:
            _settle_project_if_done(ctx, plan["project_no"])
    return result


def _settle_project_if_done(ctx: PlatformContext, project_no: str) -> None:
    from .transactions import _modify, project
    if ctx.store.one("SELECT 1 FROM repayment_plans WHERE project_no = ? AND status <> 'PAID'", (project_no,)):
        return
    p = project(ctx, project_no)
    if p["status"] != "REPAYING":
        return
    try:
        _modify(ctx, p, "FINISH", "finish_request_no")
    except Exception:  # the bank's status is cosmetic here; retried by the next daily run
        return
    with ctx.store.write() as conn:
        conn.execute("UPDATE projects SET status = 'SETTLED' WHERE project_no = ? AND status = 'REPAYING'",
                     (project_no,))


def plans_view(ctx: PlatformContext, project_no: str) -> list[dict]:
    out = []
    for plan in ctx.store.all("SELECT * FROM repayment_plans WHERE project_no = ? ORDER BY period", (project_no,)):
        shares = ctx.store.all("SELECT * FROM receivable_plans WHERE plan_id = ? ORDER BY id", (plan["id"],))
        out.append({"period": plan["period"], "dueDate": plan["due_date"], "principal": format_fen(plan["principal"]),
                    "interest": format_fen(plan["interest"]), "platformFee": format_fen(plan["platform_fee"]),
                    "amount": format_fen(plan["amount"]), "status": plan["status"],
                    "receivables": [{"userNo": s["user_no"], "principal": format_fen(s["principal"]),
                                     "interest": format_fen(s["interest"]), "commission": format_fen(s["commission"]),
                                     "status": s["status"]} for s in shares]})
    return out

