"""Writing asynchronous notifications into the durable outbox.

Invariant guarded: the notification row is inserted inside the same
transaction as the movement it reports, so it exists if and only if the
movement (or the final refusal) was committed.
"""
from __future__ import annotations

from typing import Optional

from ..protocol import codes, envelope, services as svc
from ..protocol.money import format_fen
from ..storage import db
from .tx import Tx


def notification_payload(service: str, request_no: str, code: str, message: str, status: int,
                         extra: dict) -> dict:
    """The payload in the original's field names, keys in alphabetical order."""
    ok = code == codes.SUCCESS
    data = {"requestNo": request_no, "respCode": code, "respMsg": message, "status": status}
    if service == svc.PERSONAL_REGISTER:
        data["auditStatus"] = "PASSED" if ok else "REFUSED"
    else:
        data["transactionStatus"] = "SUCCESS" if ok else "FAIL"
    data.update(extra)
    amount = data.get("amount")
    if isinstance(amount, int):
        data["amount"] = format_fen(amount)
    return dict(sorted(data.items()))


def enqueue(tx: Tx, payload: dict, text: Optional[str] = None) -> int:
    """Queue ``payload`` for the request's platform; ``text`` is its JSON as the platform's profile writes it."""
    return db.inserted_id(tx.conn.execute(
        "INSERT INTO notifications (platform_no, service_name, request_no, payload, state, next_attempt_at,"
        " created_at) VALUES (?, ?, ?, ?, 'PENDING', ?, ?)",
        (tx.platform_no, tx.service, tx.request_no, envelope.dumps(payload) if text is None else text, tx.now_iso,
         tx.now_iso)))
