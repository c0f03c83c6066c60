"""Projects (标的) and tenders: create, approve (CREATE_PROJECT), tender
(TENDER freeze), 流标 (CANCEL_PRE_TRANSACTION of every tender, then MISCARRY),
and the project status steps at the bank (MODIFY_PROJECT).

Every bank call is one bank step with its own requestNo (MODIFY_PROJECT never
reuses CONFIRM_LOAN's, the original's bug): the intent is recorded with the
object, the bank is called, and the outcomes registered here are applied in
the transaction that settles the record. Running a use case again after an
unknown outcome continues with the same requestNo instead of starting over.
"""
from __future__ import annotations

import sqlite3
from decimal import Decimal, InvalidOperation

from bank_depository.protocol import codes, services as svc
from bank_depository.protocol.money import format_fen

from ..bank_client import OutcomeUnknown
from ..domain import rules, schedule
from ..domain.errors import PlatformError, bad, not_found
from ..domain.states import ProjectStatus as PS, TenderStatus as TS, UserStatus as US
from ..storage import plans, projects, tenders
from ..storage.projects import Project
from ..storage.records import Record
from . import agent, bank_step, consumer, tunables
from .context import PlatformContext
from .registry import OutcomeRegistry

METHOD_WAYS = {"equal_installment": "FIXED_REPAYMENT", "equal_principal": "FIXED_CAPITAL",
               "interest_first": "INTEREST_FIRST", "bullet": "ONE_TIME"}
# The bank's project statuses the platform asks for with MODIFY_PROJECT (wire values)
BANK_REPAYING, BANK_MISCARRY, BANK_FINISH = "REPAYING", "MISCARRY", "FINISH"
# MODIFY_PROJECT's projectStatus -> (the platform's status it confirms, the column remembering its requestNo)
MODIFY_STEPS = {BANK_REPAYING: (PS.REPAYING, "modify_request_no"), BANK_MISCARRY: (PS.MISCARRY, "miscarry_request_no"),
                BANK_FINISH: (PS.SETTLED, "finish_request_no")}


def project(ctx: PlatformContext, project_no: str) -> Project:
    row = projects.get(ctx.store.conn(), project_no)
    if row is None:
        raise not_found(f"project {project_no}")
    return row


def _status(p: Project, *expected: PS) -> None:
    if p.status not in expected:
        raise PlatformError("PROJECT_STATUS", f"project is {p.status}, not {expected[0].value}", 409)


def create_project(ctx: PlatformContext, data: dict) -> dict:
    borrower = consumer.user(ctx, str(data.get("borrower") or data.get("userNo") or ""))
    if borrower.role != "B":
        raise PlatformError("NOT_A_BORROWER", f"{borrower.username} is not a borrower", 409)
    if borrower.status != US.OPEN:
        raise PlatformError("ACCOUNT_NOT_OPEN", f"{borrower.username} has no depository account", 409)
    amount = consumer.money(data.get("amount"))
    try:
        rate = Decimal(str(data.get("annualRate", data.get("annual_rate", "0.15"))))
        periods = int(data.get("periods", 0))
        if not rate.is_finite():  # NaN would make every comparison below raise
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError, OverflowError):
        raise bad("annualRate must be a decimal and periods a whole number") from None
    method = str(data.get("method", "equal_installment"))
    s = tunables.current(ctx)
    try:
        rules.investor_rate(rate, s.borrower_commission_rate, s.investor_commission_rate)
        schedule.schedule(amount, rate, periods, method)
    except ValueError as exc:
        raise bad(str(exc)) from None
    name = str(data.get("name") or "").strip() or f"{borrower.fullname}的借款"
    project_no = ctx.ids.new("PRO")
    with ctx.store.write() as conn:
        if projects.name_taken(conn, name):
            raise PlatformError("PROJECT_EXISTS", f"a project named {name} exists", 409)
        projects.insert(conn, project_no=project_no, name=name, borrower=borrower.user_no, amount=amount,
                        annual_rate=str(rate), periods=periods, method=method, status=PS.DRAFT.value,
                        borrower_commission_rate=str(s.borrower_commission_rate),
                        investor_commission_rate=str(s.investor_commission_rate), created_at=ctx.now_iso())
    return project_view(ctx, project_no)


def approve_project(ctx: PlatformContext, project_no: str) -> dict:
    p = project(ctx, project_no)
    if p.status != PS.DRAFT:
        raise PlatformError("PROJECT_STATUS", f"project is {p.status}, not DRAFT", 409)
    request_no = p.create_request_no
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "userNo": p.borrower, "projectNo": p.project_no,
                   "projectAmount": format_fen(p.amount), "projectName": p.name, "projectType": "NEW",
                   "projectPeriod": p.periods * 30, "annualRate": p.annual_rate,
                   "repaymentWay": METHOD_WAYS[p.method], "isAssignment": 0}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.CREATE_PROJECT, payload, object_type="PROJECT",
                                      object_id=p.project_no, amount=p.amount, user_no=p.borrower)
            projects.set_step(conn, p.project_no, "create_request_no", request_no)
    bank_step.take(ctx, request_no)
    return project_view(ctx, p.project_no)


def tender(ctx: PlatformContext, project_no: str, user_no: str, amount_text) -> dict:
    p = project(ctx, project_no)
    investor = consumer.user(ctx, user_no)
    if investor.role != "I":
        raise PlatformError("NOT_AN_INVESTOR", f"{investor.username} is not an investor", 409)
    if investor.status != US.OPEN:
        raise PlatformError("ACCOUNT_NOT_OPEN", f"{investor.username} has no depository account", 409)
    amount = consumer.money(amount_text)
    available = consumer.bank_balances(ctx, investor.user_no)["available"]
    if available < amount:
        raise PlatformError("BALANCE_NOT_ENOUGH", f"available {format_fen(available)}, tender {format_fen(amount)}",
                            409)
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": investor.user_no, "bizType": svc.BIZ_TENDER,
               "amount": format_fen(amount), "projectNo": p.project_no}
    with ctx.store.write() as conn:
        current = projects.get(conn, p.project_no)
        assert current is not None
        _status(current, PS.COLLECTING)
        problem = rules.tender_problem(amount, current.amount - tenders.taken(conn, p.project_no),
                                       tunables.current(ctx, conn).min_tender)
        if problem:
            raise PlatformError(problem[0], problem[1], 409)
        agent.record(conn, ctx, svc.USER_AUTO_PRE_TRANSACTION, payload, object_type="TENDER",
                     object_id=payload["requestNo"], amount=amount, user_no=investor.user_no, biz_type=svc.BIZ_TENDER)
        tenders.insert(conn, payload["requestNo"], p.project_no, investor.user_no, amount, ctx.now_iso())
    settle_tender(ctx, payload["requestNo"], raise_errors=True)
    return tender_view(ctx, payload["requestNo"])


def settle_tender(ctx: PlatformContext, request_no: str, raise_errors: bool = False) -> None:
    """Send (or resend) a pending tender's freeze; its outcome is applied as the record settles."""
    try:
        reply = agent.send(ctx, request_no)
    except OutcomeUnknown as exc:
        if raise_errors:
            raise bank_step.unknown(exc) from None
        return
    if not reply.ok and raise_errors:
        raise bank_step.refused(reply)


def modify(ctx: PlatformContext, p: Project, status: str) -> None:
    """MODIFY_PROJECT to ``status`` (REPAYING, MISCARRY, FINISH) with its own requestNo; its
    outcome moves the platform's project along (see ``MODIFY_STEPS``)."""
    column = MODIFY_STEPS[status][1]
    request_no = getattr(p, column)
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "projectNo": p.project_no, "projectStatus": status}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.MODIFY_PROJECT, payload, object_type="PROJECT",
                                      object_id=p.project_no)
            projects.set_step(conn, p.project_no, column, request_no)
    bank_step.take(ctx, request_no)


def miscarry(ctx: PlatformContext, project_no: str) -> dict:
    """流标: release every tender's hold (CANCEL_PRE_TRANSACTION), then MISCARRY at the bank."""
    p = project(ctx, project_no)
    if p.status == PS.DRAFT:
        with ctx.store.write() as conn:
            projects.move(conn, p.project_no, PS.REJECTED)
        return project_view(ctx, p.project_no)
    if p.status not in (PS.COLLECTING, PS.FULLY):
        raise PlatformError("PROJECT_STATUS", f"a {p.status} project cannot be rejected", 409)
    conn = ctx.store.conn()
    for t in tenders.of_project(conn, p.project_no, TS.PENDING):
        settle_tender(ctx, t.request_no)
    if tenders.any_pending(conn, p.project_no):
        raise PlatformError("OUTCOME_UNKNOWN", "a tender's outcome is still unknown; try again", 202)
    for t in tenders.of_project(conn, p.project_no, TS.FROZEN):
        request_no = t.cancel_request_no
        if request_no is None:
            payload = {"requestNo": ctx.ids.new("REQ"), "preRequestNo": t.request_no}
            with ctx.store.write() as conn:
                request_no = agent.record(conn, ctx, svc.CANCEL_PRE_TRANSACTION, payload, object_type="TENDER",
                                          object_id=t.request_no, amount=t.amount, user_no=t.user_no,
                                          biz_type=svc.BIZ_TENDER)
                tenders.set_cancel_request_no(conn, t.request_no, request_no)
        reply = bank_step.deliver(ctx, request_no)
        if not reply.ok and reply.code != codes.HOLD_NOT_FROZEN:
            raise bank_step.refused(reply)
    modify(ctx, project(ctx, p.project_no), BANK_MISCARRY)
    return project_view(ctx, p.project_no)


# -- outcomes ---------------------------------------------------------------------------------------
def _approved(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    projects.move(conn, rec.object_id, PS.COLLECTING, approved_at=ctx.now_iso())


def _approval_refused(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    projects.set_step(conn, rec.object_id, "create_request_no", None)   # a new approval is a new request


def _modified(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    target = MODIFY_STEPS[rec.payload_data()["projectStatus"]][0]
    projects.move(conn, rec.object_id, target)


def _tender_answered(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    ok = data.get("respCode") == codes.SUCCESS
    t = tenders.get(conn, rec.request_no)
    if t is None or not tenders.move(conn, t.request_no, TS.FROZEN if ok else TS.FAILED, only_from=(TS.PENDING,)):
        return
    p = projects.get(conn, t.project_no)
    if ok and p is not None and p.status == PS.COLLECTING and p.amount == tenders.taken(conn, p.project_no) \
            and not tenders.any_pending(conn, p.project_no):
        projects.move(conn, p.project_no, PS.FULLY)


def _released(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    tenders.move(conn, rec.object_id, TS.CANCELLED)


def _release_refused(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    if data.get("respCode") == codes.HOLD_NOT_FROZEN:   # nothing left to release: the tender is over anyway
        tenders.move(conn, rec.object_id, TS.CANCELLED)


def register_outcomes(registry: OutcomeRegistry) -> None:
    registry.register("PROJECT", svc.CREATE_PROJECT, on_success=_approved, on_refusal=_approval_refused)
    registry.register("PROJECT", svc.MODIFY_PROJECT, on_success=_modified)
    registry.register("TENDER", svc.USER_AUTO_PRE_TRANSACTION, on_success=_tender_answered,
                      on_refusal=_tender_answered)
    registry.register("TENDER", svc.CANCEL_PRE_TRANSACTION, on_success=_released, on_refusal=_release_refused)


# -- views ------------------------------------------------------------------------------------------
def tender_view(ctx: PlatformContext, request_no: str) -> dict:
    t = tenders.get(ctx.store.conn(), request_no)
    assert t is not None
    return {"requestNo": t.request_no, "projectNo": t.project_no, "userNo": t.user_no,
            "amount": format_fen(t.amount), "status": t.status, "createdAt": t.created_at}


def plans_view(ctx: PlatformContext, project_no: str) -> list[dict]:
    conn = ctx.store.conn()
    out = []
    for plan in plans.of_project(conn, project_no):
        out.append({"period": plan.period, "dueDate": plan.due_date, "principal": format_fen(plan.principal),
                    "interest": format_fen(plan.interest), "platformFee": format_fen(plan.platform_fee),
                    "amount": format_fen(plan.amount), "status": plan.status,
                    "receivables": [receivable_view(s) for s in plans.receivables(conn, plan.id)]})
    return out


def receivable_view(s: plans.Receivable) -> dict:
    """An investor's share of a period: ``interest`` is what reaches the investor, ``commission`` the
    platform's fee taken from the share's ``grossInterest``; ``net`` (principal + interest) is the payout."""
    return {"userNo": s.user_no, "tenderRequestNo": s.tender_request_no, "principal": format_fen(s.principal),
            "interest": format_fen(s.interest), "commission": format_fen(s.commission),
            "grossInterest": format_fen(s.interest + s.commission), "net": format_fen(s.principal + s.interest),
            "status": s.status}


def project_view(ctx: PlatformContext, project_no: str, detail: bool = False) -> dict:
    p = project(ctx, project_no)
    ts = tenders.of_project(ctx.store.conn(), p.project_no, by_time=True)
    taken = sum(t.amount for t in ts if t.status in tenders.TAKING)
    out = {"projectNo": p.project_no, "name": p.name, "borrower": p.borrower, "amount": format_fen(p.amount),
           "annualRate": p.annual_rate, "periods": p.periods, "method": p.method, "status": p.status,
           "tendered": format_fen(taken), "remaining": format_fen(p.amount - taken), "loanDate": p.loan_date}
    if detail:
        out["tenders"] = [tender_view(ctx, t.request_no) for t in ts]
        out["plans"] = plans_view(ctx, p.project_no)
    return out


def projects_view(ctx: PlatformContext) -> list[dict]:
    return [project_view(ctx, project_no) for project_no in projects.all_project_nos(ctx.store.conn())]
