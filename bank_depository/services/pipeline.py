"""How a signed ``/service`` request becomes one transaction and one signed answer.

Invariants guarded here:

* a request is verified before anything is read or written;
* a money-moving request runs in one ``BEGIN IMMEDIATE`` transaction together
  with its idempotency record, or not at all;
* the same requestNo with the same payload answers the stored respData (the
  signature is deterministic, so the body is the same bytes); with a different
  payload it answers a conflict naming the field, and changes nothing;
* signing happens after commit, so the database lock is held only for the work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..clock import iso
from ..domain.errors import BankError, param_error
from ..domain.fields import Payload, first_difference
from ..protocol import codes, envelope, legacy, services as svc, signing
from ..storage import db
from . import direct, queries
from .context import BankContext, Platform
from .tx import Tx


@dataclass
class Outcome:
    body: str
    request_no: str = ""
    service: str = ""
    committed: bool = False  # this call changed state (a fresh request was recorded)
    replayed: bool = False


def resp_data(request_no: str, code: str, message: str, status: int, extra: Optional[dict] = None) -> dict:
    data = {"requestNo": request_no, "respCode": code, "respMsg": message, "status": status}
    if extra:
        data.update(extra)
    return data


def error_body(ctx: BankContext, code: str, detail: str, request_no: str = "",
               algorithm: str = signing.SHA256) -> str:
    message = codes.message(code) if detail == codes.message(code) else f"{codes.message(code)}: {detail}"
    return ctx.sign_body(resp_data(request_no, code, message, codes.STATUS_FAILURE), algorithm)


def answer(ctx: BankContext, platform: Platform, text: str, service: str = "", payload: Optional[dict] = None) -> str:
    """The signed body for a respData text, in the platform's wire profile.

    Modern: that exact text, signed. Legacy: the original's semantics and key
    order (:func:`bank_depository.protocol.legacy.resp_data`), derived from the
    stored text each time, so a replay is the same bytes.
    """
    if platform.profile == legacy.PROFILE:
        data = legacy.resp_data(envelope.loads(text), service, payload)
        return legacy.response_body(data, ctx.private_key, platform.algorithm)
    return envelope.sign_response(text, ctx.private_key, platform.algorithm)


def platform_error(ctx: BankContext, platform: Platform, code: str, detail: str, request_no: str = "",
                   service: str = "", payload: Optional[dict] = None) -> str:
    """:func:`error_body` for a known platform, in its wire profile."""
    message = codes.message(code) if detail == codes.message(code) else f"{codes.message(code)}: {detail}"
    text = envelope.dumps(resp_data(request_no, code, message, codes.STATUS_FAILURE))
    return answer(ctx, platform, text, service, payload)


def authenticate(ctx: BankContext, fields, *, profile: str = "") -> tuple[envelope.SignedRequest, Platform]:
    """Parse and verify an envelope (of a platform of ``profile`` when given); raises EnvelopeError."""
    request = envelope.parse_request(fields)
    platform = ctx.platform(request.platform_no)
    if platform is None:
        raise envelope.EnvelopeError(codes.SIGN_FAIL, f"unknown platform {request.platform_no}")
    if profile and platform.profile != profile:
        raise envelope.EnvelopeError(codes.SIGN_FAIL, f"platform {platform.platform_no} does not use the {profile}"
                                                      " profile")
    envelope.verify_request(request, platform.public_key, platform.algorithm)
    if platform.profile != legacy.PROFILE:  # wire-profile rule: to move into the profile object
        envelope.require_binding(request)
    return request, platform


def request_no_of(payload: dict) -> str:
    p = Payload(payload)
    try:
        return p.text("requestNo", max_len=64)
    except BankError:
        raise param_error("requestNo is required (at most 64 characters)") from None


def handle_direct(ctx: BankContext, request: envelope.SignedRequest, platform: Platform) -> Outcome:
    service = request.service_name
    payload = request.payload()
    try:
        request_no = request_no_of(payload)
    except BankError as exc:
        return Outcome(platform_error(ctx, platform, exc.code, exc.detail, "", service, payload), service=service)
    if service not in svc.DIRECT_SERVICES:
        return Outcome(platform_error(ctx, platform, codes.UNKNOWN_SERVICE, f"{service} is not a direct service",
                                      request_no, service, payload), request_no, service)
    if service in svc.READ_ONLY_SERVICES:
        data = _read_only(ctx, platform, service, request_no, Payload(payload))
        return Outcome(answer(ctx, platform, envelope.dumps(data), service, payload), request_no, service)
    conn = ctx.conn()
    with db.transaction(conn):
        stored = conn.execute("SELECT service_name, payload, resp_data FROM requests"
                              " WHERE platform_no = ? AND request_no = ?",
                              (platform.platform_no, request_no)).fetchone()
        if stored is not None:
            text = stored["resp_data"]
            # Same payload means same service and same JSON values; spacing and key order do not count.
            field = "serviceName" if stored["service_name"] != service else \
                None if stored["payload"] == request.payload_text else \
                first_difference(envelope.loads(stored["payload"]), payload)
            if field:
                return Outcome(platform_error(ctx, platform, codes.REQUEST_CONFLICT,
                                              f"requestNo {request_no} was used with a different {field}",
                                              request_no, service, payload), request_no, service)
            if text is None:  # a gateway request still waiting for its user
                text = envelope.dumps(resp_data(request_no, codes.SUCCESS, "处理中", codes.STATUS_PROCESSING))
            return Outcome(answer(ctx, platform, text, service, payload), request_no, service, replayed=True)
        now = ctx.clock.now()
        tx = Tx(conn, platform.platform_no, request_no, service, now, ctx.password_iterations)
        try:
            with db.savepoint(conn, "handler"):
                extra = direct.HANDLERS[service](tx, Payload(payload))
            data = resp_data(request_no, codes.SUCCESS, codes.message(codes.SUCCESS), codes.STATUS_SUCCESS, extra)
        except BankError as exc:
            tx.record.clear()
            data = resp_data(request_no, exc.code, exc.message, codes.STATUS_FAILURE)
        text = envelope.dumps(data)
        record_request(tx, payload_text=request.payload_text, status=data["status"],
                       resp_code=data["respCode"], resp_text=text)
    return Outcome(answer(ctx, platform, text, service, payload), request_no, service, committed=True)


def record_request(tx: Tx, *, payload_text: str, status: int, resp_code: str, resp_text: Optional[str]) -> None:
    """Insert or finish the request row (the idempotency record and the check-file source)."""
    r = tx.record
    finished = tx.now_iso if status != codes.STATUS_PROCESSING else None
    day = tx.now.date().isoformat() if finished else None
    tx.conn.execute(
        "INSERT INTO requests (platform_no, request_no, service_name, payload, status, resp_code, resp_data,"
        " biz_type, user_no, counterparty, amount, commission, created_at, finished_at, business_date)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (platform_no, request_no) DO UPDATE SET status = excluded.status,"
        " resp_code = excluded.resp_code, resp_data = excluded.resp_data, biz_type = excluded.biz_type,"
        " user_no = excluded.user_no, counterparty = excluded.counterparty, amount = excluded.amount,"
        " commission = excluded.commission, finished_at = excluded.finished_at,"
        " business_date = excluded.business_date",
        (tx.platform_no, tx.request_no, tx.service, payload_text, status, resp_code, resp_text,
         r.get("biz_type", ""), r.get("user_no", ""), r.get("counterparty", ""), r.get("amount", 0),
         r.get("commission", 0), tx.now_iso, finished, day))


def _read_only(ctx: BankContext, platform: Platform, service: str, request_no: str, p: Payload) -> dict:
    conn = ctx.conn()
    try:
        if service == svc.QUERY_TRANSACTION:
            extra = queries.query_transaction(conn, platform.platform_no, p)
            return resp_data(request_no, codes.SUCCESS, codes.message(codes.SUCCESS), extra.pop("status"), extra)
        if service == svc.QUERY_USER:
            extra = queries.query_user(conn, platform.platform_no, p)
        else:
            from . import checkfile
            extra = checkfile.download(ctx, platform.platform_no, p)
    except BankError as exc:
        return resp_data(request_no, exc.code, exc.message, codes.STATUS_FAILURE)
    return resp_data(request_no, codes.SUCCESS, codes.message(codes.SUCCESS), codes.STATUS_SUCCESS, extra)


__all__ = ["Outcome", "handle_direct", "authenticate", "answer", "error_body", "platform_error", "resp_data",
           "record_request", "iso"]
