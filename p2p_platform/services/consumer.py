"""Consumers: platform users, and the gateway flows that open, fund and drain
their depository accounts. The platform never holds a balance; it asks the bank.

Invariant guarded: each bank notification is verified, deduplicated (by
service and requestNo) and acknowledged; it settles its record through the
agent, which applies the registered outcome once, so a notification and a
QUERY_TRANSACTION recovery can both arrive safely.
"""
from __future__ import annotations

import json
import re

from bank_depository.protocol import services as svc
from bank_depository.protocol.envelope import EnvelopeError
from bank_depository.protocol.money import AmountError, format_fen, parse_yuan

from ..bank_client import GatewayRequest, OutcomeUnknown
from ..domain.errors import PlatformError, bad, not_found
from ..domain.states import PaymentStatus, RecordStatus, UserStatus
from ..storage import payments, records, users
from ..storage.records import Record
from ..storage.users import User
from . import agent, tunables
from .context import PlatformContext
from .registry import Handler, OutcomeRegistry

ROLES = {"borrower": "B", "investor": "I", "B": "B", "I": "I"}


def money(value, field: str = "amount", allow_zero: bool = False) -> int:
    try:
        return parse_yuan(value, field, allow_zero=allow_zero)
    except AmountError as exc:
        raise bad(str(exc)) from None


def user(ctx: PlatformContext, user_no: str) -> User:
    row = users.get(ctx.store.conn(), user_no)
    if row is None:
        raise not_found(f"user {user_no}")
    return row


def register(ctx: PlatformContext, data: dict) -> dict:
    required = ("username", "role", "fullname", "idNumber", "mobile", "cardNumber")
    missing = [k for k in required if not str(data.get(k) or "").strip()]
    if missing:
        raise bad(f"missing field(s): {', '.join(missing)}")
    role = ROLES.get(str(data["role"]))
    if role is None:
        raise bad("role must be borrower or investor")
    username = str(data["username"]).strip()
    if not re.fullmatch(r"[\w.-]{1,64}", username):
        raise bad("username must be 1-64 letters, digits, '.', '_' or '-'")
    user_no = ctx.ids.new("USR")
    with ctx.store.write() as conn:
        if users.username_taken(conn, username):
            raise PlatformError("USER_EXISTS", f"username {username} is taken", 409)
        users.insert(conn, user_no, username, role, str(data["fullname"]).strip(),
                     str(data["idNumber"]).strip().upper(), str(data["mobile"]).strip(),
                     str(data["cardNumber"]).strip(), ctx.now_iso())
    return user_view(ctx, user_no, with_bank=False)


def delete_user(ctx: PlatformContext, user_no: str) -> dict:
    """``DELETE /api/users/<userNo>``: undo a registration that never reached the bank (a scenario's failed
    setup); a user who asked the bank for anything stays, as the records must."""
    with ctx.store.write() as conn:
        u = users.get(conn, user_no)
        if u is None or u.user_no != user_no:
            raise not_found(f"user {user_no}")
        if u.status != UserStatus.NEW or records.any_for_user(conn, user_no):
            raise PlatformError("USER_IN_USE", f"{u.username} is {u.status} and has depository records:"
                                " only a user who never reached the bank can be deleted", 409)
        users.delete(conn, user_no)
    return {"userNo": user_no, "deleted": True}


def open_account(ctx: PlatformContext, user_no: str) -> GatewayRequest:
    u = user(ctx, user_no)
    if u.status == UserStatus.OPEN:
        raise PlatformError("ALREADY_OPEN", f"{u.username} already has a depository account", 409)
    if u.status == UserStatus.OPENING and u.open_request_no:
        rec = records.get(ctx.store.conn(), u.open_request_no)
        if rec and rec.status == RecordStatus.UNSYNCED:  # the same intent: show the same bank page again
            return ctx.bank.gateway_request(svc.PERSONAL_REGISTER, json.loads(rec.payload))
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": u.user_no, "fullname": u.fullname,
               "idNumber": u.id_number, "mobile": u.mobile, "cardNumber": u.card_number, "role": u.role,
               "callbackUrl": ctx.callback_url(1)}
    with ctx.store.write() as conn:
        agent.record(conn, ctx, svc.PERSONAL_REGISTER, payload, object_type="USER", object_id=u.user_no,
                     user_no=u.user_no)
        users.start_opening(conn, u.user_no, payload["requestNo"])
    return ctx.bank.gateway_request(svc.PERSONAL_REGISTER, payload)


def _open_user(ctx: PlatformContext, user_no: str) -> User:
    u = user(ctx, user_no)
    if u.status != UserStatus.OPEN:
        raise PlatformError("ACCOUNT_NOT_OPEN", f"{u.username} has no depository account yet", 409)
    return u


def recharge(ctx: PlatformContext, user_no: str, amount_text) -> GatewayRequest:
    u = _open_user(ctx, user_no)
    amount = money(amount_text)
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": u.user_no, "amount": format_fen(amount),
               "callbackUrl": ctx.callback_url(2)}
    with ctx.store.write() as conn:
        agent.record(conn, ctx, svc.RECHARGE, payload, object_type="RECHARGE", object_id=payload["requestNo"],
                     amount=amount, user_no=u.user_no)
        payments.insert_recharge(conn, payload["requestNo"], u.user_no, amount, ctx.now_iso())
    return ctx.bank.gateway_request(svc.RECHARGE, payload)


def withdraw(ctx: PlatformContext, user_no: str, amount_text) -> GatewayRequest:
    u = _open_user(ctx, user_no)
    amount = money(amount_text)
    commission = tunables.current(ctx).withdraw_commission
    if commission >= amount:
        raise bad(f"a withdrawal must exceed the fee of {format_fen(commission)}")
    available = bank_balances(ctx, u.user_no)["available"]
    if available < amount:
        raise PlatformError("BALANCE_NOT_ENOUGH", f"available {format_fen(available)}, asked {format_fen(amount)}", 409)
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": u.user_no, "amount": format_fen(amount),
               "commission": format_fen(commission), "cardNumber": u.card_number, "mobile": u.mobile,
               "callbackUrl": ctx.callback_url(3)}
    with ctx.store.write() as conn:
        agent.record(conn, ctx, svc.WITHDRAW, payload, object_type="WITHDRAW", object_id=payload["requestNo"],
                     amount=amount, commission=commission, user_no=u.user_no)
        payments.insert_withdrawal(conn, payload["requestNo"], u.user_no, amount, commission, ctx.now_iso())
    return ctx.bank.gateway_request(svc.WITHDRAW, payload)


def bank_balances(ctx: PlatformContext, user_no: str) -> dict:
    """The user's balances at the bank (QUERY_USER); the platform keeps none."""
    try:
        reply = ctx.bank.call(svc.QUERY_USER, {"requestNo": ctx.ids.new("QRY"), "userNo": user_no})
    except OutcomeUnknown as exc:
        raise PlatformError("BANK_UNAVAILABLE", f"the bank did not answer: {exc}", 503) from None
    if not reply.ok:
        raise PlatformError(f"BANK_{reply.code}", reply.message, 409)
    return {"available": parse_yuan(reply.data["balance"], allow_zero=True),
            "frozen": parse_yuan(reply.data["freezeAmount"], allow_zero=True)}


def user_view(ctx: PlatformContext, user_no: str, with_bank: bool = True) -> dict:
    u = user(ctx, user_no)
    out = {"userNo": u.user_no, "username": u.username, "role": u.role, "fullname": u.fullname,
           "status": u.status, "createdAt": u.created_at}
    if with_bank and u.status == UserStatus.OPEN:
        b = bank_balances(ctx, u.user_no)
        out.update(available=format_fen(b["available"]), frozen=format_fen(b["frozen"]))
    return out


# -- outcomes (applied by the agent when the record settles: reply, query or notification) --------
def _opened(conn, ctx: PlatformContext, rec: Record, data: dict) -> None:
    users.finish_opening(conn, rec.object_id, rec.request_no, UserStatus.OPEN)


def _not_opened(conn, ctx: PlatformContext, rec: Record, data: dict) -> None:
    users.finish_opening(conn, rec.object_id, rec.request_no, UserStatus.FAILED)


def _payment(target: PaymentStatus) -> Handler:
    def apply(conn, ctx: PlatformContext, rec: Record, data: dict) -> None:
        payments.finish(conn, rec.object_type, rec.request_no, target, ctx.now_iso())
    return apply


def register_outcomes(registry: OutcomeRegistry) -> None:
    registry.register("USER", svc.PERSONAL_REGISTER, on_success=_opened, on_refusal=_not_opened)
    for service in (svc.RECHARGE, svc.WITHDRAW):   # their records' object_type is the service name
        registry.register(service, service, on_success=_payment(PaymentStatus.SUCCESS),
                          on_refusal=_payment(PaymentStatus.FAIL))


def apply_outcome(conn, ctx: PlatformContext, service: str, request_no: str, data: dict) -> bool:
    """Settle a gateway record with its final outcome (applied once); False when the request is not ours."""
    rec = records.get(conn, request_no)
    if rec is None or rec.service_name != service:
        return False
    agent.settle(conn, ctx, request_no, data)
    return True


def receive_notification(ctx: PlatformContext, fields) -> str:
    """Verify, deduplicate and apply one bank notification; the answer body ('OK' acknowledges)."""
    try:
        service, payload = ctx.bank.verify_notification(fields)
    except EnvelopeError as exc:
        return f"REJECTED {exc.code}: {exc.detail}"
    request_no = str(payload.get("requestNo", ""))
    if service in svc.NOTICE_SERVICES and request_no:  # a notice (the trade password locked): noted once
        with ctx.store.write() as conn:
            conn.execute("INSERT OR IGNORE INTO notifications_seen (service_name, request_no, received_at)"
                         " VALUES (?, ?, ?)", (service, request_no, ctx.now_iso()))
        return "OK"
    if service not in svc.GATEWAY_SERVICES or not request_no:
        return f"REJECTED: unexpected notification {service}"
    data = {k: (str(v) if not isinstance(v, (int, str)) else v) for k, v in payload.items()}
    with ctx.store.write() as conn:
        if payments.first_sight(conn, service, request_no, ctx.now_iso()):
            apply_outcome(conn, ctx, service, request_no, data)
    return "OK"


def users_view(ctx: PlatformContext) -> list[dict]:
    return [user_view(ctx, user_no, with_bank=False) for user_no in users.all_user_nos(ctx.store.conn())]
