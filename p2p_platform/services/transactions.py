"""The transaction center: projects (标的), tenders, full-bid loan and 流标.

Every bank call goes through the depository agent with its own requestNo
(MODIFY_PROJECT never reuses CONFIRM_LOAN's, the original's bug). Each step
is resumable: running a use case again after an unknown outcome continues
with the same requestNo instead of starting over.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bank_depository.protocol import codes, services as svc
from bank_depository.protocol.money import format_fen

from ..bank_client import OutcomeUnknown
from ..domain import rules, schedule
from ..domain.errors import PlatformError, bad, not_found
from . import agent, consumer, outcomes
from .context import PlatformContext

METHOD_WAYS = {"equal_installment": "FIXED_REPAYMENT", "equal_principal": "FIXED_CAPITAL",
               "interest_first": "INTEREST_FIRST", "bullet": "ONE_TIME"}


def project(ctx: PlatformContext, project_no: str):
    row = ctx.store.one("SELECT * FROM projects WHERE project_no = ? OR name = ?", (project_no, project_no))
    if row is None:
        raise not_found(f"project {project_no}")
    return row


def create_project(ctx: PlatformContext, data: dict) -> dict:
    borrower = consumer.user(ctx, str(data.get("borrower") or data.get("userNo") or ""))
    if borrower["role"] != "B":
        raise PlatformError("NOT_A_BORROWER", f"{borrower['username']} is not a borrower", 409)
    if borrower["status"] != "OPEN":
        raise PlatformError("ACCOUNT_NOT_OPEN", f"{borrower['username']} has no depository account", 409)
    amount = consumer.money(data.get("amount"))
    try:
        rate = Decimal(str(data.get("annualRate", data.get("annual_rate", "0.15"))))
        periods = int(data.get("periods", 0))
        if not rate.is_finite():  # NaN would make every comparison below raise
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError, OverflowError):
        raise bad("annualRate must be a decimal and periods a whole number") from None
    method = str(data.get("method", "equal_installment"))
    s = ctx.settings
    try:
        rules.investor_rate(rate, s.borrower_commission_rate, s.investor_commission_rate)
        schedule.schedule(amount, rate, periods, method)
    except ValueError as exc:
        raise bad(str(exc)) from None
    name = str(data.get("name") or "").strip() or f"{borrower['fullname']}的借款"
    project_no = ctx.ids.new("PRO")
    with ctx.store.write() as conn:
        if conn.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone():
            raise PlatformError("PROJECT_EXISTS", f"a project named {name} exists", 409)
        conn.execute(
            "INSERT INTO projects (project_no, name, borrower, amount, annual_rate, periods, method, status,"
            " borrower_commission_rate, investor_commission_rate, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'DRAFT', ?, ?, ?)",
            (project_no, name, borrower["user_no"], amount, str(rate), periods, method,
             str(s.borrower_commission_rate), str(s.investor_commission_rate), ctx.now_iso()))
    return project_view(ctx, project_no)


def approve_project(ctx: PlatformContext, project_no: str) -> dict:
    p = project(ctx, project_no)
    if p["status"] not in ("DRAFT",):
        raise PlatformError("PROJECT_STATUS", f"project is {p['status']}, not DRAFT", 409)
    request_no = p["create_request_no"]
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "userNo": p["borrower"], "projectNo": p["project_no"],
                   "projectAmount": format_fen(p["amount"]), "projectName": p["name"], "projectType": "NEW",
                   "projectPeriod": p["periods"] * 30, "annualRate": p["annual_rate"],
                   "repaymentWay": METHOD_WAYS[p["method"]], "isAssignment": 0}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.CREATE_PROJECT, payload, object_type="PROJECT",
                                      object_id=p["project_no"], amount=p["amount"], user_no=p["borrower"])
            conn.execute("UPDATE projects SET create_request_no = ? WHERE project_no = ?", (request_no, p["project_no"]))
    reply = outcomes.deliver(ctx, request_no)
    if not reply.ok:
        with ctx.store.write() as conn:
            conn.execute("UPDATE projects SET create_request_no = NULL WHERE project_no = ?", (p["project_no"],))
        raise outcomes.refused(reply)
    with ctx.store.write() as conn:
        conn.execute("UPDATE projects SET status = 'COLLECTING', approved_at = ? WHERE project_no = ? AND status = 'DRAFT'",
                     (ctx.now_iso(), p["project_no"]))
    return project_view(ctx, p["project_no"])


def _remaining(conn, p) -> int:
    taken = conn.execute("SELECT COALESCE(SUM(amount), 0) FROM tenders WHERE project_no = ? AND status IN"
                         " ('PENDING', 'FROZEN', 'LOANED')", (p["project_no"],)).fetchone()[0]
    return p["amount"] - taken


def tender(ctx: PlatformContext, project_no: str, user_no: str, amount_text) -> dict:
    p = project(ctx, project_no)
    investor = consumer.user(ctx, user_no)
    if investor["role"] != "I":
        raise PlatformError("NOT_AN_INVESTOR", f"{investor['username']} is not an investor", 409)
    if investor["status"] != "OPEN":
        raise PlatformError("ACCOUNT_NOT_OPEN", f"{investor['username']} has no depository account", 409)
    amount = consumer.money(amount_text)
    available = consumer.bank_balances(ctx, investor["user_no"])["available"]
    if available < amount:
        raise PlatformError("BALANCE_NOT_ENOUGH", f"available {format_fen(available)}, tender {format_fen(amount)}", 409)
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": investor["user_no"], "bizType": svc.BIZ_TENDER,
               "amount": format_fen(amount), "projectNo": p["project_no"]}
    with ctx.store.write() as conn:
        p = conn.execute("SELECT * FROM projects WHERE project_no = ?", (p["project_no"],)).fetchone()
        if p["status"] != "COLLECTING":
            raise PlatformError("PROJECT_STATUS", f"project is {p['status']}, not COLLECTING", 409)
        problem = rules.tender_problem(amount, _remaining(conn, p), ctx.settings.min_tender)
        if problem:
            raise PlatformError(problem[0], problem[1], 409)
        agent.record(conn, ctx, svc.USER_AUTO_PRE_TRANSACTION, payload, object_type="TENDER",
                     object_id=payload["requestNo"], amount=amount, user_no=investor["user_no"], biz_type=svc.BIZ_TENDER)
        conn.execute("INSERT INTO tenders (request_no, project_no, user_no, amount, status, created_at)"
                     " VALUES (?, ?, ?, ?, 'PENDING', ?)", (payload["requestNo"], p["project_no"], investor["user_no"],
                                                            amount, ctx.now_iso()))
    settle_tender(ctx, payload["requestNo"], raise_errors=True)
    return tender_view(ctx, payload["requestNo"])


def settle_tender(ctx: PlatformContext, request_no: str, raise_errors: bool = False) -> None:
    """Send (or resend) a pending tender's freeze and apply the bank's answer."""
    try:
        reply = agent.send(ctx, request_no)
    except OutcomeUnknown as exc:
        if raise_errors:
            raise outcomes.unknown(exc) from None
        return
    with ctx.store.write() as conn:
        t = conn.execute("SELECT * FROM tenders WHERE request_no = ?", (request_no,)).fetchone()
        if t["status"] != "PENDING":
            return
        conn.execute("UPDATE tenders SET status = ? WHERE request_no = ?", ("FROZEN" if reply.ok else "FAILED", request_no))
        p = conn.execute("SELECT * FROM projects WHERE project_no = ?", (t["project_no"],)).fetchone()
        if reply.ok and _remaining(conn, p) == 0 and p["status"] == "COLLECTING" and not conn.execute(
                "SELECT 1 FROM tenders WHERE project_no = ? AND status = 'PENDING'", (p["project_no"],)).fetchone():
            conn.execute("UPDATE projects SET status = 'FULLY' WHERE project_no = ?", (p["project_no"],))
    if not reply.ok and raise_errors:
        raise outcomes.refused(reply)


def approve_loan(ctx: PlatformContext, project_no: str, commission_text=None) -> dict:
    """满标复审: CONFIRM_LOAN, then MODIFY_PROJECT REPAYING with its own requestNo, then the plans."""
    from . import repayment

    p = project(ctx, project_no)
    if p["status"] in ("LOANED", "REPAYING"):
        return finish_loan(ctx, p["project_no"])
    if p["status"] != "FULLY":
        raise PlatformError("PROJECT_STATUS", f"project is {p['status']}, not FULLY", 409)
    request_no = p["loan_request_no"]
    if request_no is None:
        commission = consumer.money(commission_text if commission_text not in (None, "") else "0", "commission",
                                    allow_zero=True)
        tenders = ctx.store.all("SELECT * FROM tenders WHERE project_no = ? AND status = 'FROZEN' ORDER BY request_no",
                                (p["project_no"],))
        if commission > p["amount"]:
            raise bad("commission exceeds the loan")
        payload = {"requestNo": ctx.ids.new("REQ"), "projectNo": p["project_no"], "commission": format_fen(commission),
                   "details": [{"preRequestNo": t["request_no"], "amount": format_fen(t["amount"])} for t in tenders]}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.CONFIRM_LOAN, payload, object_type="LOAN",
                                      object_id=p["project_no"], amount=p["amount"], commission=commission,
                                      user_no=p["borrower"], biz_type="LOAN")
            conn.execute("UPDATE projects SET loan_request_no = ?, loan_commission = ? WHERE project_no = ?",
                         (request_no, commission, p["project_no"]))
    reply = outcomes.deliver(ctx, request_no)
    if not reply.ok:
        with ctx.store.write() as conn:
            conn.execute("UPDATE projects SET loan_request_no = NULL WHERE project_no = ?", (p["project_no"],))
        raise outcomes.refused(reply)
    with ctx.store.write() as conn:
        if conn.execute("UPDATE projects SET status = 'LOANED', loan_date = ? WHERE project_no = ? AND status = 'FULLY'",
                        (ctx.clock.today().isoformat(), p["project_no"])).rowcount:
            conn.execute("UPDATE tenders SET status = 'LOANED' WHERE project_no = ? AND status = 'FROZEN'",
                         (p["project_no"],))
            repayment.generate_plans(conn, ctx, p["project_no"])
    return finish_loan(ctx, p["project_no"])


def finish_loan(ctx: PlatformContext, project_no: str) -> dict:
    """After the loan: tell the bank the project is REPAYING (own requestNo)."""
    p = project(ctx, project_no)
    if p["status"] == "LOANED":
        _modify(ctx, p, "REPAYING", "modify_request_no")
        with ctx.store.write() as conn:
            conn.execute("UPDATE projects SET status = 'REPAYING' WHERE project_no = ? AND status = 'LOANED'",
                         (p["project_no"],))
    return project_view(ctx, p["project_no"])


def _modify(ctx: PlatformContext, p, status: str, column: str) -> None:
    request_no = p[column]
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "projectNo": p["project_no"], "projectStatus": status}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.MODIFY_PROJECT, payload, object_type="PROJECT",
                                      object_id=p["project_no"])
            conn.execute(f"UPDATE projects SET {column} = ? WHERE project_no = ?", (request_no, p["project_no"]))
    reply = outcomes.deliver(ctx, request_no)
    if not reply.ok:
        raise outcomes.refused(reply)


def miscarry(ctx: PlatformContext, project_no: str) -> dict:
    """流标: release every tender's hold (CANCEL_PRE_TRANSACTION), then MISCARRY at the bank."""
    p = project(ctx, project_no)
    if p["status"] == "DRAFT":
        with ctx.store.write() as conn:
            conn.execute("UPDATE projects SET status = 'REJECTED' WHERE project_no = ?", (p["project_no"],))
        return project_view(ctx, p["project_no"])
    if p["status"] not in ("COLLECTING", "FULLY"):
        raise PlatformError("PROJECT_STATUS", f"a {p['status']} project cannot be rejected", 409)
    for t in ctx.store.all("SELECT * FROM tenders WHERE project_no = ? AND status = 'PENDING'", (p["project_no"],)):
        settle_tender(ctx, t["request_no"])
    if ctx.store.one("SELECT 1 FROM tenders WHERE project_no = ? AND status = 'PENDING'", (p["project_no"],)):
        raise PlatformError("OUTCOME_UNKNOWN", "a tender's outcome is still unknown; try again", 202)
    for t in ctx.store.all("SELECT * FROM tenders WHERE project_no = ? AND status = 'FROZEN' ORDER BY request_no",
                           (p["project_no"],)):
        request_no = t["cancel_request_no"]
        if request_no is None:
            payload = {"requestNo": ctx.ids.new("REQ"), "preRequestNo": t["request_no"]}
            with ctx.store.write() as conn:
                request_no = agent.record(conn, ctx, svc.CANCEL_PRE_TRANSACTION, payload, object_type="TENDER",
                                          object_id=t["request_no"], amount=t["amount"], user_no=t["user_no"],
                                          biz_type=svc.BIZ_TENDER)
                conn.execute("UPDATE tenders SET cancel_request_no = ? WHERE request_no = ?", (request_no, t["request_no"]))
        reply = outcomes.deliver(ctx, request_no)
        if not reply.ok and reply.code != codes.HOLD_NOT_FROZEN:
            raise outcomes.refused(reply)
        with ctx.store.write() as conn:
            conn.execute("UPDATE tenders SET status = 'CANCELLED' WHERE request_no = ?", (t["request_no"],))
    _modify(ctx, project(ctx, p["project_no"]), "MISCARRY", "miscarry_request_no")
    with ctx.store.write() as conn:
        conn.execute("UPDATE projects SET status = 'MISCARRY' WHERE project_no = ?", (p["project_no"],))
    return project_view(ctx, p["project_no"])


def tender_view(ctx: PlatformContext, request_no: str) -> dict:
    t = ctx.store.one("SELECT * FROM tenders WHERE request_no = ?", (request_no,))
    return {"requestNo": t["request_no"], "projectNo": t["project_no"], "userNo": t["user_no"],
            "amount": format_fen(t["amount"]), "status": t["status"], "createdAt": t["created_at"]}


def project_view(ctx: PlatformContext, project_no: str, detail: bool = False) -> dict:
    p = project(ctx, project_no)
    tenders = ctx.store.all("SELECT * FROM tenders WHERE project_no = ? ORDER BY created_at, request_no",
                            (p["project_no"],))
    taken = sum(t["amount"] for t in tenders if t["status"] in ("PENDING", "FROZEN", "LOANED"))
    out = {"projectNo": p["project_no"], "name": p["name"], "borrower": p["borrower"], "amount": format_fen(p["amount"]),
           "annualRate": p["annual_rate"], "periods": p["periods"], "method": p["method"], "status": p["status"],
           "tendered": format_fen(taken), "remaining": format_fen(p["amount"] - taken), "loanDate": p["loan_date"]}
    if detail:
        from . import repayment
        out["tenders"] = [tender_view(ctx, t["request_no"]) for t in tenders]
        out["plans"] = repayment.plans_view(ctx, p["project_no"])
    return out
