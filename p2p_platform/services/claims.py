"""Debt transfer (债权转让): an investor sells remaining principal to another.

Listing reserves nothing at the bank. Buying freezes the buyer's price
(USER_AUTO_PRE_TRANSACTION, CREDIT_ASSIGNMENT), then CONFIRM_CREDIT_ASSIGNMENT
moves it to the seller minus the fee and moves the claim at the bank; only
then are the seller's unpaid receivables split (or moved whole) in one local
transaction, so from the next unpaid period the buyer is paid that share. The
borrower's plan never changes. A listing can be cancelled; a reserved one
releases the buyer's hold. A claim cannot be sold twice, beyond what is held,
when the project is overdue or fully repaid, or while a repayment is mid-flight.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bank_depository.protocol import services as svc
from bank_depository.protocol.money import format_fen

from ..domain import transfer
from ..domain.errors import PlatformError, bad, not_found
from ..domain.schedule import round_half_up_fen
from . import agent, consumer, outcomes
from .context import PlatformContext


def claim(ctx: PlatformContext, claim_no: str):
    row = ctx.store.one("SELECT * FROM claims WHERE claim_no = ?", (claim_no,))
    if row is None:
        raise not_found(f"claim {claim_no}")
    return row


def _unpaid_rows(conn, project_no: str, user_no: str):
    return conn.execute("SELECT r.* FROM receivable_plans r JOIN repayment_plans p ON p.id = r.plan_id"
                        " WHERE r.project_no = ? AND r.user_no = ? AND p.status = 'UNPAID' ORDER BY r.period, r.id",
                        (project_no, user_no)).fetchall()


def _saleable_problem(conn, ctx: PlatformContext, project_no: str) -> str | None:
    p = conn.execute("SELECT status FROM projects WHERE project_no = ?", (project_no,)).fetchone()
    if p is None or p["status"] != "REPAYING":
        return f"the project is {p['status'] if p else 'unknown'}, not REPAYING"
    today = ctx.clock.today().isoformat()
    if conn.execute("SELECT 1 FROM repayment_plans WHERE project_no = ? AND status <> 'PAID' AND due_date < ?",
                    (project_no, today)).fetchone():
        return "the project has an overdue period"
    if conn.execute("SELECT 1 FROM repayment_plans WHERE project_no = ? AND status = 'FROZEN'",
                    (project_no,)).fetchone():
        return "a repayment of the project is being settled; try after it"
    return None


def list_claim(ctx: PlatformContext, data: dict) -> dict:
    seller = consumer.user(ctx, str(data.get("userNo", "")))
    from .transactions import project
    p = project(ctx, str(data.get("projectNo", "")))
    principal = consumer.money(data.get("amount"))
    price = consumer.money(data.get("price")) if data.get("price") not in (None, "") else principal
    try:
        fee_rate = Decimal(str(data.get("feeRate", "0")))
        if not 0 <= fee_rate < 1:
            raise InvalidOperation
    except InvalidOperation:
        raise bad("feeRate must be a rate in [0, 1)") from None
    fee = round_half_up_fen(price * fee_rate)
    claim_no = ctx.ids.new("CLM")
    with ctx.store.write() as conn:
        problem = _saleable_problem(conn, ctx, p["project_no"])
        if problem:
            raise PlatformError("CLAIM_NOT_SALEABLE", problem, 409)
        held = sum(r["principal"] for r in _unpaid_rows(conn, p["project_no"], seller["user_no"]))
        listed = conn.execute("SELECT COALESCE(SUM(principal), 0) FROM claims WHERE project_no = ? AND seller = ?"
                              " AND status IN ('LISTED', 'RESERVED')",
                              (p["project_no"], seller["user_no"])).fetchone()[0]
        if held == 0:
            raise PlatformError("NO_CLAIM", f"{seller['username']} holds no unpaid principal in this project", 409)
        if principal > held - listed:
            raise PlatformError("CLAIM_OVER_HELD", f"{seller['username']} holds {format_fen(held)}, of which"
                                f" {format_fen(listed)} is already listed; cannot list {format_fen(principal)}", 409)
        conn.execute("INSERT INTO claims (claim_no, project_no, seller, principal, price, fee_rate, fee, status,"
                     " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'LISTED', ?)",
                     (claim_no, p["project_no"], seller["user_no"], principal, price, str(fee_rate), fee,
                      ctx.now_iso()))
    return claim_view(ctx, claim_no)


def buy(ctx: PlatformContext, claim_no: str, buyer_no: str, confirm_now: bool = True) -> dict:
    c = claim(ctx, claim_no)
    buyer = consumer.user(ctx, buyer_no)
    if c["status"] == "RESERVED" and c["buyer"] == buyer["user_no"]:
        return confirm(ctx, claim_no) if confirm_now else claim_view(ctx, claim_no)
    if c["status"] != "LISTED":
        raise PlatformError("CLAIM_STATUS", f"the claim is {c['status']}", 409)
    if buyer["role"] != "I" or buyer["status"] != "OPEN":
        raise PlatformError("NOT_AN_INVESTOR", f"{buyer['username']} cannot buy claims", 409)
    if buyer["user_no"] == c["seller"]:
        raise PlatformError("OWN_CLAIM", "a claim cannot be bought by its seller", 409)
    if consumer.bank_balances(ctx, buyer["user_no"])["available"] < c["price"]:
        raise PlatformError("BALANCE_NOT_ENOUGH", f"the price is {format_fen(c['price'])}", 409)
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": buyer["user_no"], "bizType": svc.BIZ_CREDIT_ASSIGNMENT,
               "amount": format_fen(c["price"]), "projectNo": c["project_no"]}
    with ctx.store.write() as conn:
        problem = _saleable_problem(conn, ctx, c["project_no"])
        if problem:
            raise PlatformError("CLAIM_NOT_SALEABLE", problem, 409)
        if conn.execute("UPDATE claims SET status = 'RESERVED', buyer = ?, freeze_request_no = ? WHERE claim_no = ?"
                        " AND status = 'LISTED'", (buyer["user_no"], payload["requestNo"], claim_no)).rowcount != 1:
            raise PlatformError("CLAIM_STATUS", "the claim was just taken", 409)
        agent.record(conn, ctx, svc.USER_AUTO_PRE_TRANSACTION, payload, object_type="CLAIM", object_id=claim_no,
                     amount=c["price"], user_no=buyer["user_no"], biz_type=svc.BIZ_CREDIT_ASSIGNMENT)
    reply = outcomes.deliver(ctx, payload["requestNo"])
    if not reply.ok:
        with ctx.store.write() as conn:
            conn.execute("UPDATE claims SET status = 'LISTED', buyer = NULL, freeze_request_no = NULL"
                         " WHERE claim_no = ? AND status = 'RESERVED'", (claim_no,))
        raise outcomes.refused(reply)
    return confirm(ctx, claim_no) if confirm_now else claim_view(ctx, claim_no)


def confirm(ctx: PlatformContext, claim_no: str) -> dict:
    c = claim(ctx, claim_no)
    if c["status"] == "SOLD":
        return claim_view(ctx, claim_no)
    if c["status"] != "RESERVED":
        raise PlatformError("CLAIM_STATUS", f"the claim is {c['status']}, not RESERVED", 409)
    request_no = c["confirm_request_no"]
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "preRequestNo": c["freeze_request_no"],
                   "projectNo": c["project_no"],
                   "sellerUserNo": c["seller"], "claimAmount": format_fen(c["principal"]),
                   "amount": format_fen(c["price"]), "commission": format_fen(c["fee"])}
        with ctx.store.write() as conn:
            problem = _saleable_problem(conn, ctx, c["project_no"])
            if problem:
                raise PlatformError("CLAIM_NOT_SALEABLE", problem + "; cancel to release the hold", 409)
            held = sum(r["principal"] for r in _unpaid_rows(conn, c["project_no"], c["seller"]))
            if c["principal"] > held:
                raise PlatformError("CLAIM_OVER_HELD", "the seller no longer holds this principal", 409)
            request_no = agent.record(conn, ctx, svc.CONFIRM_CREDIT_ASSIGNMENT, payload, object_type="CLAIM",
                                      object_id=claim_no, amount=c["price"], commission=c["fee"], user_no=c["buyer"],
                                      biz_type=svc.BIZ_CREDIT_ASSIGNMENT)
            conn.execute("UPDATE claims SET confirm_request_no = ? WHERE claim_no = ?", (request_no, claim_no))
    reply = outcomes.deliver(ctx, request_no)
    if not reply.ok:
        with ctx.store.write() as conn:
            conn.execute("UPDATE claims SET confirm_request_no = NULL WHERE claim_no = ?", (claim_no,))
        raise outcomes.refused(reply)
    with ctx.store.write() as conn:
        if conn.execute("UPDATE claims SET status = 'SOLD', sold_at = ? WHERE claim_no = ? AND status = 'RESERVED'",
                        (ctx.now_iso(), claim_no)).rowcount:
            _move_receivables(conn, c["project_no"], c["seller"], c["buyer"], c["principal"])
    return claim_view(ctx, claim_no)


def _move_receivables(conn, project_no: str, seller: str, buyer: str, principal: int) -> None:
    rows = _unpaid_rows(conn, project_no, seller)
    parts = transfer.buyer_parts([transfer.Row(r["principal"], r["interest"], r["commission"]) for r in rows],
                                 principal)
    for row, part in zip(rows, parts):
        if part == transfer.Row(row["principal"], row["interest"], row["commission"]):
            conn.execute("UPDATE receivable_plans SET user_no = ? WHERE id = ?", (buyer, row["id"]))
            continue
        if part == transfer.Row(0, 0, 0):
            continue
        conn.execute("UPDATE receivable_plans SET principal = principal - ?, interest = interest - ?,"
                     " commission = commission - ? WHERE id = ?",
                     (part.principal, part.interest, part.commission, row["id"]))
        conn.execute("INSERT INTO receivable_plans (plan_id, project_no, tender_request_no, user_no, period, due_date,"
                     " principal, interest, commission) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (row["plan_id"], project_no, row["tender_request_no"], buyer, row["period"], row["due_date"],
                      part.principal, part.interest, part.commission))


def cancel(ctx: PlatformContext, claim_no: str) -> dict:
    c = claim(ctx, claim_no)
    if c["status"] == "CANCELLED":
        return claim_view(ctx, claim_no)
    if c["status"] == "LISTED":
        with ctx.store.write() as conn:
            conn.execute("UPDATE claims SET status = 'CANCELLED' WHERE claim_no = ? AND status = 'LISTED'", (claim_no,))
        return claim_view(ctx, claim_no)
    if c["status"] != "RESERVED" or c["confirm_request_no"]:
        raise PlatformError("CLAIM_STATUS", f"a {c['status']} claim cannot be cancelled", 409)
    request_no = c["cancel_request_no"]
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "preRequestNo": c["freeze_request_no"]}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.CANCEL_PRE_TRANSACTION, payload, object_type="CLAIM",
                                      object_id=claim_no, amount=c["price"], user_no=c["buyer"],
                                      biz_type=svc.BIZ_CREDIT_ASSIGNMENT)
            conn.execute("UPDATE claims SET cancel_request_no = ? WHERE claim_no = ?", (request_no, claim_no))
    reply = outcomes.deliver(ctx, request_no)
    if not reply.ok:
        raise outcomes.refused(reply)
    with ctx.store.write() as conn:
        conn.execute("UPDATE claims SET status = 'CANCELLED' WHERE claim_no = ?", (claim_no,))
    return claim_view(ctx, claim_no)


def claim_view(ctx: PlatformContext, claim_no: str) -> dict:
    c = claim(ctx, claim_no)
    return {"claimNo": c["claim_no"], "projectNo": c["project_no"], "seller": c["seller"], "buyer": c["buyer"],
            "principal": format_fen(c["principal"]), "price": format_fen(c["price"]), "feeRate": c["fee_rate"],
            "fee": format_fen(c["fee"]), "status": c["status"], "createdAt": c["created_at"], "soldAt": c["sold_at"]}
