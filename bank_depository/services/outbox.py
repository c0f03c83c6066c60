"""Writing asynchronous notifications into the durable outbox.

Invariant guarded: the notification row is inserted inside the same
transaction as the movement it reports, so it exists if and only if the
movement (or the final refusal) was committed.
"""
from __future__ import annotations

from ..protocol import codes, envelope, legacy, services as svc
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


#: The fields the original's notifications carry (its PersonalRegisterResponse, RechargeResponse, WithdrawResponse).
LEGACY_FIELDS = {
    svc.PERSONAL_REGISTER: ("auditStatus", "bankCode", "bankName", "requestNo", "respCode", "respMsg", "status"),
    svc.RECHARGE: ("requestNo", "respCode", "respMsg", "status", "transactionStatus"),
    svc.WITHDRAW: ("requestNo", "respCode", "respMsg", "status", "transactionStatus"),
}


def legacy_notification_payload(service: str, note: dict) -> dict:
    """A notification as the original sends it: only its fields, alphabetical, its failure values.

    A refusal is ``respCode`` 00001 and ``status`` 2; its ``respMsg`` is 系统异常, except for
    RECHARGE, where the original puts the reason there (ours, in our words).
    """
    data = {k: note[k] for k in LEGACY_FIELDS[service] if k in note}
    if note.get("respCode") != codes.SUCCESS:
        data.update(respCode=codes.EXCEPTION, status=codes.STATUS_FAILURE,
                    respMsg=note.get("respMsg") if service == svc.RECHARGE else codes.message(codes.EXCEPTION))
    return dict(sorted(data.items()))


def for_profile(profile: str, service: str, note: dict) -> dict:
    """The outbox payload for a platform of ``profile``."""
    return legacy_notification_payload(service, note) if profile == legacy.PROFILE else note


def enqueue(tx: Tx, payload: dict) -> int:
    return db.inserted_id(tx.conn.execute(
        "INSERT INTO notifications (platform_no, service_name, request_no, payload, state, next_attempt_at,"
        " created_at) VALUES (?, ?, ?, ?, 'PENDING', ?, ?)",
        (tx.platform_no, tx.service, tx.request_no, envelope.dumps(payload), tx.now_iso, tx.now_iso)))
