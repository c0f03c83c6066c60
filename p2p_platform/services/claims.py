"""Debt transfer (债权转让): an investor sells remaining principal to another.

Listing reserves nothing at the bank. Buying freezes the buyer's price
(USER_AUTO_PRE_TRANSACTION, CREDIT_ASSIGNMENT), then CONFIRM_CREDIT_ASSIGNMENT
moves it to the seller minus the fee and moves the claim at the bank; only
then are the seller's unpaid receivables split (or moved whole) in one local
transaction, so from the next unpaid period the buyer is paid that share. The
borrower's plan never changes. A listing can be cancelled; a reserved one
releases the buyer's hold. A claim cannot be sold twice, beyond what is held,
when the project is overdue or fully repaid, or while a repayment is mid-flight.
Each bank call is one bank step: the outcomes registered here are applied in
the transaction that settles its record.
"""
from __future__ import annotations

import sqlite3
from decimal import Decimal, InvalidOperation

from bank_depository.protocol import services as svc
from bank_depository.protocol.money import format_fen

from ..domain import transfer
from ..domain.errors import PlatformError, bad, not_found
from ..domain.schedule import round_half_up_fen
from ..domain.states import ClaimStatus as CS, ProjectStatus as PS, UserStatus as US
from ..storage import claims, plans, projects
from ..storage.claims import Claim
from ..storage.records import Record
from . import agent, bank_step, consumer
from .context import PlatformContext
from .projects import project
from .registry import OutcomeRegistry


def claim(ctx: PlatformContext, claim_no: str) -> Claim:
    row = claims.get(ctx.store.conn(), claim_no)
    if row is None:
        raise not_found(f"claim {claim_no}")
    return row


def _held(conn: sqlite3.Connection, project_no: str, user_no: str) -> int:
    return sum(r.principal for r in plans.unpaid_receivables(conn, project_no, user_no))


def _saleable_problem(conn: sqlite3.Connection, ctx: PlatformContext, project_no: str) -> str | None:
    p = projects.get(conn, project_no)
    if p is None or p.status != PS.REPAYING:
        return f"the project is {p.status if p else 'unknown'}, not REPAYING"
    if plans.overdue_exists(conn, project_no, ctx.clock.today().isoformat()):
        return "the project has an overdue period"
    if plans.settling_exists(conn, project_no):
        return "a repayment of the project is being settled; try after it"
    return None


def list_claim(ctx: PlatformContext, data: dict) -> dict:
    seller = consumer.user(ctx, str(data.get("userNo", "")))
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
        problem = _saleable_problem(conn, ctx, p.project_no)
        if problem:
            raise PlatformError("CLAIM_NOT_SALEABLE", problem, 409)
        held = _held(conn, p.project_no, seller.user_no)
        listed = claims.listed_principal(conn, p.project_no, seller.user_no)
        if held == 0:
            raise PlatformError("NO_CLAIM", f"{seller.username} holds no unpaid principal in this project", 409)
        if principal > held - listed:
            raise PlatformError("CLAIM_OVER_HELD", f"{seller.username} holds {format_fen(held)}, of which"
                                f" {format_fen(listed)} is already listed; cannot list {format_fen(principal)}", 409)
        claims.insert(conn, claim_no=claim_no, project_no=p.project_no, seller=seller.user_no, principal=principal,
                      price=price, fee_rate=str(fee_rate), fee=fee, created_at=ctx.now_iso())
    return claim_view(ctx, claim_no)


def buy(ctx: PlatformContext, claim_no: str, buyer_no: str, confirm_now: bool = True) -> dict:
    c = claim(ctx, claim_no)
    buyer = consumer.user(ctx, buyer_no)
    if c.status == CS.RESERVED and c.buyer == buyer.user_no:
        return confirm(ctx, claim_no) if confirm_now else claim_view(ctx, claim_no)
    if c.status != CS.LISTED:
        raise PlatformError("CLAIM_STATUS", f"the claim is {c.status}", 409)
    if buyer.role != "I" or buyer.status != US.OPEN:
        raise PlatformError("NOT_AN_INVESTOR", f"{buyer.username} cannot buy claims", 409)
    if buyer.user_no == c.seller:
        raise PlatformError("OWN_CLAIM", "a claim cannot be bought by its seller", 409)
    if consumer.bank_balances(ctx, buyer.user_no)["available"] < c.price:
        raise PlatformError("BALANCE_NOT_ENOUGH", f"the price is {format_fen(c.price)}", 409)
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": buyer.user_no, "bizType": svc.BIZ_CREDIT_ASSIGNMENT,
               "amount": format_fen(c.price), "projectNo": c.project_no}
    with ctx.store.write() as conn:
        problem = _saleable_problem(conn, ctx, c.project_no)
        if problem:
            raise PlatformError("CLAIM_NOT_SALEABLE", problem, 409)
        if not claims.reserve(conn, claim_no, buyer.user_no, payload["requestNo"]):
            raise PlatformError("CLAIM_STATUS", "the claim was just taken", 409)
        agent.record(conn, ctx, svc.USER_AUTO_PRE_TRANSACTION, payload, object_type="CLAIM", object_id=claim_no,
                     amount=c.price, user_no=buyer.user_no, biz_type=svc.BIZ_CREDIT_ASSIGNMENT)
    bank_step.take(ctx, payload["requestNo"])
    return confirm(ctx, claim_no) if confirm_now else claim_view(ctx, claim_no)


def confirm(ctx: PlatformContext, claim_no: str) -> dict:
    c = claim(ctx, claim_no)
    if c.status == CS.SOLD:
        return claim_view(ctx, claim_no)
    if c.status != CS.RESERVED:
        raise PlatformError("CLAIM_STATUS", f"the claim is {c.status}, not RESERVED", 409)
    request_no = c.confirm_request_no
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "preRequestNo": c.freeze_request_no, "projectNo": c.project_no,
                   "sellerUserNo": c.seller, "claimAmount": format_fen(c.principal),
                   "amount": format_fen(c.price), "commission": format_fen(c.fee)}
        with ctx.store.write() as conn:
            problem = _saleable_problem(conn, ctx, c.project_no)
            if problem:
                raise PlatformError("CLAIM_NOT_SALEABLE", problem + "; cancel to release the hold", 409)
            if c.principal > _held(conn, c.project_no, c.seller):
                raise PlatformError("CLAIM_OVER_HELD", "the seller no longer holds this principal", 409)
            request_no = agent.record(conn, ctx, svc.CONFIRM_CREDIT_ASSIGNMENT, payload, object_type="CLAIM",
                                      object_id=claim_no, amount=c.price, commission=c.fee, user_no=str(c.buyer),
                                      biz_type=svc.BIZ_CREDIT_ASSIGNMENT)
            claims.set_step(conn, claim_no, "confirm_request_no", request_no)
    bank_step.take(ctx, request_no)
    return claim_view(ctx, claim_no)


def cancel(ctx: PlatformContext, claim_no: str) -> dict:
    c = claim(ctx, claim_no)
    if c.status == CS.CANCELLED:
        return claim_view(ctx, claim_no)
    if c.status == CS.LISTED:
        with ctx.store.write() as conn:
            claims.move(conn, claim_no, CS.CANCELLED, only_from=(CS.LISTED,))
        return claim_view(ctx, claim_no)
    if c.status != CS.RESERVED or c.confirm_request_no:
        raise PlatformError("CLAIM_STATUS", f"a {c.status} claim cannot be cancelled", 409)
    request_no = c.cancel_request_no
    if request_no is None:
        payload = {"requestNo": ctx.ids.new("REQ"), "preRequestNo": c.freeze_request_no}
        with ctx.store.write() as conn:
            request_no = agent.record(conn, ctx, svc.CANCEL_PRE_TRANSACTION, payload, object_type="CLAIM",
                                      object_id=claim_no, amount=c.price, user_no=str(c.buyer),
                                      biz_type=svc.BIZ_CREDIT_ASSIGNMENT)
            claims.set_step(conn, claim_no, "cancel_request_no", request_no)
    bank_step.take(ctx, request_no)
    return claim_view(ctx, claim_no)


# -- outcomes ---------------------------------------------------------------------------------------
def _freeze_refused(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    claims.release(conn, rec.object_id, rec.request_no)   # back on the market


def _sold(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    c = claims.get(conn, rec.object_id)
    if c is not None and c.buyer and claims.move(conn, c.claim_no, CS.SOLD, only_from=(CS.RESERVED,),
                                                 sold_at=ctx.now_iso()):
        _move_receivables(conn, c.project_no, c.seller, c.buyer, c.principal)


def _sale_refused(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    claims.set_step(conn, rec.object_id, "confirm_request_no", None)


def _cancelled(conn: sqlite3.Connection, ctx: PlatformContext, rec: Record, data: dict) -> None:
    claims.move(conn, rec.object_id, CS.CANCELLED)


def register_outcomes(registry: OutcomeRegistry) -> None:
    registry.register("CLAIM", svc.USER_AUTO_PRE_TRANSACTION, on_refusal=_freeze_refused)
    registry.register("CLAIM", svc.CONFIRM_CREDIT_ASSIGNMENT, on_success=_sold, on_refusal=_sale_refused)
    registry.register("CLAIM", svc.CANCEL_PRE_TRANSACTION, on_success=_cancelled)


def _move_receivables(conn: sqlite3.Connection, project_no: str, seller: str, buyer: str, principal: int) -> None:
    rows = plans.unpaid_receivables(conn, project_no, seller)
    parts = transfer.buyer_parts([transfer.Row(r.principal, r.interest, r.commission) for r in rows], principal)
    for row, part in zip(rows, parts):
        if part == transfer.Row(row.principal, row.interest, row.commission):
            plans.give_receivable(conn, row.id, buyer)
        elif part != transfer.Row(0, 0, 0):
            plans.split_receivable(conn, row, buyer, part.principal, part.interest, part.commission)


def claim_view(ctx: PlatformContext, claim_no: str) -> dict:
    c = claim(ctx, claim_no)
    return {"claimNo": c.claim_no, "projectNo": c.project_no, "seller": c.seller, "buyer": c.buyer,
            "principal": format_fen(c.principal), "price": format_fen(c.price), "feeRate": c.fee_rate,
            "fee": format_fen(c.fee), "status": c.status, "createdAt": c.created_at, "soldAt": c.sold_at}


def claims_view(ctx: PlatformContext) -> list[dict]:
    return [claim_view(ctx, claim_no) for claim_no in claims.all_claim_nos(ctx.store.conn())]
