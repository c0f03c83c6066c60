"""The depository agent: one transaction record per outbound requestNo.

Invariants guarded:

* a record is written (unsynced) and committed before the bank is called, and
  the bank is never called inside a database transaction;
* a request is only ever resent with the same requestNo and the same bytes;
  a new requestNo is never invented for the same intent;
* when the outcome is unknown (timeout, reset, 5xx, unverifiable answer) the
  agent retries with the same requestNo, then asks ``QUERY_TRANSACTION``;
  only a verified answer settles a record (synced on success, failed on a
  refusal); otherwise it stays unsynced and :class:`OutcomeUnknown` is raised;
* settling a record and applying its registered outcome to the object
  (``ctx.outcomes``) happen in one transaction, once: there is no moment at
  which the record is synced and its object has not caught up.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Optional

from bank_depository.protocol import codes, services as svc

from ..bank_client import BankReply, OutcomeUnknown
from ..domain.states import RecordStatus
from ..storage import records
from ..storage.records import Record
from .context import PlatformContext

UNSYNCED, SYNCED, FAILED = RecordStatus.UNSYNCED, RecordStatus.SYNCED, RecordStatus.FAILED


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def record(conn: sqlite3.Connection, ctx: PlatformContext, service: str, payload: dict, *, object_type: str,
           object_id: str, amount: int = 0, commission: int = 0, user_no: str = "", biz_type: str = "") -> str:
    """Insert the unsynced record inside the caller's transaction; returns the requestNo."""
    records.insert(conn, request_no=payload["requestNo"], service=service, object_type=object_type,
                   object_id=object_id, payload_text=ctx.bank.payload_text(service, payload), amount=amount,
                   commission=commission, user_no=user_no, biz_type=biz_type, created_at=ctx.now_iso())
    return payload["requestNo"]


def stored_reply(rec: Optional[Record]) -> Optional[BankReply]:
    if rec is None or not rec.settled:
        return None
    return BankReply(rec.answer(), "")


def settle(conn: sqlite3.Connection, ctx: PlatformContext, request_no: str, data: dict[str, Any]) -> bool:
    """Inside the caller's transaction: mark the record synced or failed from a verified
    answer and apply its registered outcome. Idempotent: False (and nothing done) if the
    record was settled already or is not ours."""
    ok = data.get("respCode") == codes.SUCCESS
    if not records.settle(conn, request_no, SYNCED if ok else FAILED, str(data.get("respCode", "")), _dumps(data),
                          ctx.now_iso()):
        return False
    rec = records.get(conn, request_no)
    assert rec is not None
    ctx.outcomes.apply(conn, ctx, rec, data, ok)
    return True


def _settle_now(ctx: PlatformContext, request_no: str, data: dict[str, Any]) -> None:
    with ctx.store.write() as conn:
        settle(conn, ctx, request_no, data)


def send(ctx: PlatformContext, request_no: str) -> BankReply:
    """Deliver a recorded request and settle it with its outcome (or return its settled answer)."""
    rec = records.get(ctx.store.conn(), request_no)
    if rec is None:
        raise KeyError(f"no depository record {request_no}")
    done = stored_reply(rec)
    if done is not None:
        return done
    payload = rec.payload_data()
    last: Optional[OutcomeUnknown] = None
    for _ in range(ctx.settings.retries + 1):
        try:
            reply = ctx.bank.call(rec.service_name, payload, payload_text=rec.payload)
        except OutcomeUnknown as exc:
            last = exc
            _note_attempt(ctx, request_no, str(exc))
            continue
        _note_attempt(ctx, request_no, "")
        _settle_now(ctx, request_no, reply.data)
        return reply
    found = query(ctx, request_no)
    if found is not None:
        _settle_now(ctx, request_no, found)
        return BankReply(found, "")
    raise last or OutcomeUnknown(request_no)


def _note_attempt(ctx: PlatformContext, request_no: str, error: str) -> None:
    with ctx.store.write() as conn:
        records.note_attempt(conn, request_no, error)


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
    """Settle an unsynced record (and apply its outcome) if possible: resend (direct) or
    query (gateway); None while the outcome stays unknown."""
    rec = records.get(ctx.store.conn(), request_no)
    if rec is None:
        return None
    done = stored_reply(rec)
    if done is not None:
        return done
    if rec.service_name in svc.GATEWAY_SERVICES:
        found = query(ctx, request_no)
        if found is None:
            return None
        _settle_now(ctx, request_no, found)
        return BankReply(found, "")
    try:
        return send(ctx, request_no)
    except OutcomeUnknown:
        return None


RECORD_FIELDS = ("request_no", "service_name", "object_type", "object_id", "status", "resp_code", "attempts",
                 "last_error", "created_at", "confirmed_at")


def records_view(ctx: PlatformContext, status: Optional[int] = None) -> list[dict]:
    """The records (or those with ``status``) as the API lists them."""
    return [{k: getattr(r, k) for k in RECORD_FIELDS} for r in records.listed(ctx.store.conn(), status)]
