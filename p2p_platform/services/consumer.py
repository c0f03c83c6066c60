"""Consumers: platform users, and the gateway flows that open, fund and drain
their depository accounts. The platform never holds a balance; it asks the bank.

Invariant guarded: each bank notification is verified, applied once (by
service and requestNo) and acknowledged; applying is idempotent, so a
notification and a QUERY_TRANSACTION recovery can both arrive safely.
"""
from __future__ import annotations

import json
import re

from bank_depository.protocol import codes, services as svc
from bank_depository.protocol.envelope import EnvelopeError
from bank_depository.protocol.money import AmountError, format_fen, parse_yuan

from ..bank_client import GatewayRequest, OutcomeUnknown
from ..domain.errors import PlatformError, bad, not_found
from . import agent
from .context import PlatformContext

ROLES = {"borrower": "B", "investor": "I", "B": "B", "I": "I"}


def money(value, field: str = "amount", allow_zero: bool = False) -> int:
    try:
        return parse_yuan(value, field, allow_zero=allow_zero)
    except AmountError as exc:
        raise bad(str(exc)) from None


def user(ctx: PlatformContext, user_no: str):
    row = ctx.store.one("SELECT * FROM users WHERE user_no = ? OR username = ?", (user_no, user_no))
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
        if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            raise PlatformError("USER_EXISTS", f"username {username} is taken", 409)
        conn.execute("INSERT INTO users (user_no, username, role, fullname, id_number, mobile, card_number, created_at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (user_no, username, role, str(data["fullname"]).strip(), str(data["idNumber"]).strip().upper(),
                      str(data["mobile"]).strip(), str(data["cardNumber"]).strip(), ctx.now_iso()))
    return user_view(ctx, user_no, with_bank=False)


def open_account(ctx: PlatformContext, user_no: str) -> GatewayRequest:
    u = user(ctx, user_no)
    if u["status"] == "OPEN":
        raise PlatformError("ALREADY_OPEN", f"{u['username']} already has a depository account", 409)
    if u["status"] == "OPENING" and u["open_request_no"]:
        row = ctx.store.one("SELECT * FROM depository_records WHERE request_no = ?", (u["open_request_no"],))
        if row and row["status"] == agent.UNSYNCED:  # the same intent: show the same bank page again
            return ctx.bank.gateway_request(svc.PERSONAL_REGISTER, json.loads(row["payload"]))
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": u["user_no"], "fullname": u["fullname"],
               "idNumber": u["id_number"], "mobile": u["mobile"], "cardNumber": u["card_number"], "role": u["role"],
               "callbackUrl": ctx.callback_url(1)}
    with ctx.store.write() as conn:
        agent.record(conn, ctx, svc.PERSONAL_REGISTER, payload, object_type="USER", object_id=u["user_no"],
                     user_no=u["user_no"])
        conn.execute("UPDATE users SET status = 'OPENING', open_request_no = ? WHERE user_no = ?",
                     (payload["requestNo"], u["user_no"]))
    return ctx.bank.gateway_request(svc.PERSONAL_REGISTER, payload)


def _open_user(ctx: PlatformContext, user_no: str):
    u = user(ctx, user_no)
    if u["status"] != "OPEN":
        raise PlatformError("ACCOUNT_NOT_OPEN", f"{u['username']} has no depository account yet", 409)
    return u


def recharge(ctx: PlatformContext, user_no: str, amount_text) -> GatewayRequest:
    u = _open_user(ctx, user_no)
    amount = money(amount_text)
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": u["user_no"], "amount": format_fen(amount),
               "callbackUrl": ctx.callback_url(2)}
    with ctx.store.write() as conn:
        agent.record(conn, ctx, svc.RECHARGE, payload, object_type="RECHARGE", object_id=payload["requestNo"],
                     amount=amount, user_no=u["user_no"])
        conn.execute("INSERT INTO recharges (request_no, user_no, amount, created_at) VALUES (?, ?, ?, ?)",
                     (payload["requestNo"], u["user_no"], amount, ctx.now_iso()))
    return ctx.bank.gateway_request(svc.RECHARGE, payload)


def withdraw(ctx: PlatformContext, user_no: str, amount_text) -> GatewayRequest:
    u = _open_user(ctx, user_no)
    amount = money(amount_text)
    commission = ctx.settings.withdraw_commission
    if commission >= amount:
        raise bad(f"a withdrawal must exceed the fee of {format_fen(commission)}")
    available = bank_balances(ctx, u["user_no"])["available"]
    if available < amount:
        raise PlatformError("BALANCE_NOT_ENOUGH", f"available {format_fen(available)}, asked {format_fen(amount)}", 409)
    payload = {"requestNo": ctx.ids.new("REQ"), "userNo": u["user_no"], "amount": format_fen(amount),
               "commission": format_fen(commission), "cardNumber": u["card_number"], "mobile": u["mobile"],
               "callbackUrl": ctx.callback_url(3)}
    with ctx.store.write() as conn:
        agent.record(conn, ctx, svc.WITHDRAW, payload, object_type="WITHDRAW", object_id=payload["requestNo"],
                     amount=amount, commission=commission, user_no=u["user_no"])
        conn.execute("INSERT INTO withdrawals (request_no, user_no, amount, commission, created_at)"
                     " VALUES (?, ?, ?, ?, ?)", (payload["requestNo"], u["user_no"], amount, commission, ctx.now_iso()))
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
    out = {"userNo": u["user_no"], "username": u["username"], "role": u["role"], "fullname": u["fullname"],
           "status": u["status"], "createdAt": u["created_at"]}
    if with_bank and u["status"] == "OPEN":
        b = bank_balances(ctx, u["user_no"])
        out.update(available=format_fen(b["available"]), frozen=format_fen(b["frozen"]))
    return out


# -- applying outcomes (from a notification or a recovery query) ----------
def apply_outcome(conn, ctx: PlatformContext, service: str, request_no: str, data: dict) -> bool:
    """Apply a final gateway outcome once; returns False when the request is not ours."""
    row = conn.execute("SELECT * FROM depository_records WHERE request_no = ?", (request_no,)).fetchone()
    if row is None or row["service_name"] != service:
        return False
    agent.settle(ctx, request_no, data, conn=conn)
    ok = data.get("respCode") == codes.SUCCESS
    now = ctx.now_iso()
    if service == svc.PERSONAL_REGISTER:
        conn.execute("UPDATE users SET status = ? WHERE user_no = ? AND open_request_no = ? AND status = 'OPENING'",
                     ("OPEN" if ok else "FAILED", row["object_id"], request_no))
    elif service == svc.RECHARGE:
        conn.execute("UPDATE recharges SET status = ?, finished_at = ? WHERE request_no = ? AND status = 'PENDING'",
                     ("SUCCESS" if ok else "FAIL", now, request_no))
    elif service == svc.WITHDRAW:
        conn.execute("UPDATE withdrawals SET status = ?, finished_at = ? WHERE request_no = ? AND status = 'PENDING'",
                     ("SUCCESS" if ok else "FAIL", now, request_no))
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
        seen = conn.execute("UPDATE notifications_seen SET times = times + 1 WHERE service_name = ? AND request_no = ?",
                            (service, request_no)).rowcount
        if not seen:
            conn.execute("INSERT INTO notifications_seen (service_name, request_no, received_at) VALUES (?, ?, ?)",
                         (service, request_no, ctx.now_iso()))
            apply_outcome(conn, ctx, service, request_no, data)
    return "OK"
