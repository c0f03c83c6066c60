"""The depository agent: one transaction record per outbound requestNo.

Invariants guarded:

* a record is written (unsynced) and committed before the bank is called, and
  the bank is never called inside a database transaction;
* a request is only ever resent with the same requestNo and the same bytes;
  a new requestNo is never invented for the same intent;
* when the outcome is unknown (timeout, reset, 5xx, unverifiable answer) the
  agent retries with the same requestNo, then asks ``QUERY_TRANSACTION``;
  only a verified answer settles a record (synced on success, failed on a
  refusal); otherwise it stays unsynced and :class:`OutcomeUnknown` is raised.
"""
from __future__ import annotations

import json
from typing import Optional

from bank_depository.protocol import codes, services as svc

from ..bank_client import BankReply, OutcomeUnknown
from .context import PlatformContext

UNSYNCED, SYNCED, FAILED = 0, 1, 2


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def record(conn, ctx: PlatformContext, service: str, payload: dict, *, object_type: str, object_id: str,
           amount: int = 0, commission: int = 0, user_no: str = "", biz_type: str = "") -> str:
    """Insert the unsynced record inside the caller's transaction; returns the requestNo."""
    conn.execute(
        "INSERT INTO depository_records (request_no, service_name, object_type, object_id, payload, amount,"
        " commission, user_no, biz_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (payload["requestNo"], service, object_type, object_id, ctx.bank.payload_text(service, payload), amount,
         commission, user_no, biz_type, ctx.now_iso()))
    return payload["requestNo"]


def stored_reply(row) -> Optional[BankReply]:
    if row is None or row["status"] == UNSYNCED or not row["resp_data"]:
        return None
    return BankReply(json.loads(row["resp_data"]), "")


def settle(ctx: PlatformContext, request_no: str, data: dict, conn=None) -> None:
    """Mark a record synced or failed from a verified bank answer (idempotent)."""
    status = SYNCED if data.get("respCode") == codes.SUCCESS else FAILED
    sql = ("UPDATE depository_records SET status = ?, resp_code = ?, resp_data = ?, confirmed_at = ?"
           " WHERE request_no = ? AND status = 0")
    args = (status, str(data.get("respCode", "")), _dumps(data), ctx.now_iso(), request_no)
    if conn is not None:
        conn.execute(sql, args)
    else:
        with ctx.store.write() as c:
            c.execute(sql, args)


def send(ctx: PlatformContext, request_no: str) -> BankReply:
    """Deliver a recorded request (or return its settled answer)."""
    row = ctx.store.one("SELECT * FROM depository_records WHERE request_no = ?", (request_no,))
    if row is None:
        raise KeyError(f"no depository record {request_no}")
    done = stored_reply(row)
    if done is not None:
        return done
    payload_text, service = row["payload"], row["service_name"]
    payload = json.loads(payload_text)
    last: Optional[OutcomeUnknown] = None
    for _ in range(ctx.settings.retries + 1):
        try:
            reply = ctx.bank.call(service, payload, payload_text=payload_text)
        except OutcomeUnknown as exc:
            last = exc
            _note_attempt(ctx, request_no, str(exc))
            continue
        _note_attempt(ctx, request_no, "")
        settle(ctx, request_no, reply.data)
        return reply
    found = query(ctx, request_no)
    if found is not None:
        settle(ctx, request_no, found)
        return BankReply(found, "")
    raise last or OutcomeUnknown(request_no)


def _note_attempt(ctx: PlatformContext, request_no: str, error: str) -> None:
    with ctx.store.write() as conn:
        conn.execute("UPDATE depository_records SET attempts = attempts + 1, last_error = ? WHERE request_no = ?",
                     (error, request_no))


def query(ctx: PlatformContext, request_no: str) -> Optional[dict]:
    """The bank's final answer to an earlier request, or None if it has none (yet)."""
    try:
        reply = ctx.bank.call(svc.QUERY_TRANSACTION, {"requestNo": ctx.ids.new("QRY"),
                                                      "transactionRequestNo": request_no})
    except OutcomeUnknown:
        return None
    if not reply.ok or reply.data.get("status") not in (SYNCED, FAILED):
        return None
    result = reply.data.get("result")
    return result if isinstance(result, dict) else None


def resolve(ctx: PlatformContext, request_no: str) -> Optional[BankReply]:
    """Settle an unsynced record if possible: resend (direct) or query (gateway)."""
    row = ctx.store.one("SELECT * FROM depository_records WHERE request_no = ?", (request_no,))
    if row is None:
        return None
    done = stored_reply(row)
    if done is not None:
        return done
    if row["service_name"] in svc.GATEWAY_SERVICES:
        found = query(ctx, request_no)
        if found is None:
            return None
        settle(ctx, request_no, found)
        return BankReply(found, "")
    try:
        return send(ctx, request_no)
    except OutcomeUnknown:
        return None
