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

import sqlite3
from dataclasses import dataclass
from typing import Callable, Optional

from ..clock import iso
from ..domain.errors import BankError, param_error
from ..domain.fields import Payload, first_difference
from ..protocol import catalogue, codes, envelope, profiles, services as svc, signing
from ..storage import db, requests as requests_sql
from . import diagnosis, direct, queries
from .context import BankContext, Platform
from .tx import Tx


@dataclass
class Outcome:
    body: str
    request_no: str = ""
    service: str = ""
    resp_code: str = ""  # what respData says (the request log's, even when the response is lost)


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
    """The signed body for a respData text, in the platform's wire profile (derived from the
    stored text each time, so a replay is the same bytes)."""
    return platform.profile.response_body(text, ctx.private_key, platform.algorithm, service, payload)


def platform_error(ctx: BankContext, platform: Platform, code: str, detail: str, request_no: str = "",
                   service: str = "", payload: Optional[dict] = None) -> str:
    """:func:`error_body` for a known platform, in its wire profile."""
    message = codes.message(code) if detail == codes.message(code) else f"{codes.message(code)}: {detail}"
    text = envelope.dumps(resp_data(request_no, code, message, codes.STATUS_FAILURE))
    return answer(ctx, platform, text, service, payload)


def authenticate(ctx: BankContext, fields, *, context_routes: bool = False) -> tuple[envelope.SignedRequest, Platform]:
    """Parse and verify an envelope; raises EnvelopeError, with a ``diagnosis`` when the signature
    is refused or the platform unknown.

    A refused payload in a signed envelope (too deep, a lone surrogate, a number
    out of range, NaN, a key given twice) is recorded under its requestNo when
    one can be read, so a retry gets the same answer; ``exc.body`` is then that
    answer in the platform's profile. A profile that binds signatures (the modern one) also
    needs the signed JSON to name the envelope's serviceName and platformNo. On the context-path
    routes (``context_routes``) a platform whose profile does not serve them is unknown (00004).
    """
    try:
        request = envelope.parse_request(fields)
    except envelope.EnvelopeError as exc:
        if exc.request is not None and exc.request_no:
            known = ctx.platform(exc.request.platform_no)
            if known is not None and signing.verify(known.public_key, exc.request.payload_bytes,
                                                    exc.request.signature, known.algorithm):
                exc.body = _record_refusal(ctx, exc, known)
        raise
    platform = ctx.platform(request.platform_no)
    if platform is None:
        unknown = envelope.EnvelopeError(codes.UNKNOWN_PLATFORM, f"unknown platform {request.platform_no}",
                                         request_no=envelope.request_no_of(request.payload_text))
        unknown.diagnosis = diagnosis.signature(request, str(fields.get("reqData", "")).strip(), None,
                                                ctx.platforms.values())
        if unknown.diagnosis["matchesPlatform"]:
            unknown.detail = f"{unknown.detail} ({unknown.diagnosis['hint']})"
        raise unknown
    if context_routes and not platform.profile.serves_context_routes:
        raise envelope.EnvelopeError(codes.SIGN_FAIL, f"platform {platform.platform_no} does not use the "
                                                      f"{profiles.LEGACY.name} profile",
                                     request_no=envelope.request_no_of(request.payload_text))
    try:
        envelope.verify_request(request, platform.public_key, platform.algorithm)
    except envelope.EnvelopeError as exc:
        exc.diagnosis = diagnosis.signature(request, str(fields.get("reqData", "")).strip(), platform,
                                            ctx.platforms.values())
        exc.detail = f"{exc.detail} ({exc.diagnosis['hint']})"
        raise
    if platform.profile.binds_signature:
        envelope.require_binding(request)
    return request, platform


def _record_refusal(ctx: BankContext, exc: envelope.EnvelopeError, platform: Platform) -> str:
    """Record a signed request whose payload was refused; replay it on a retry."""
    request = exc.request
    assert request is not None
    conn = ctx.conn()
    with db.transaction(conn):
        stored = requests_sql.get(conn, platform.platform_no, exc.request_no)
        if stored is not None:
            if stored.service_name != request.service_name or stored.payload != request.payload_text:
                field = "serviceName" if stored.service_name != request.service_name else "reqData"
                return platform_error(ctx, platform, codes.REQUEST_CONFLICT,
                                      f"requestNo {exc.request_no} was used with a different {field}",
                                      exc.request_no, request.service_name)
            text = stored.resp_data or envelope.dumps(
                resp_data(exc.request_no, codes.SUCCESS, "处理中", codes.STATUS_PROCESSING))
            return answer(ctx, platform, text, request.service_name)
        message = f"{codes.message(exc.code)}: {exc.detail}"
        text = envelope.dumps(resp_data(exc.request_no, exc.code, message, codes.STATUS_FAILURE))
        tx = Tx(conn, platform.platform_no, exc.request_no, request.service_name, ctx.clock.now(),
                ctx.password_iterations, platform.profile)
        record_request(tx, payload_text=request.payload_text, status=codes.STATUS_FAILURE,
                       resp_code=exc.code, resp_text=text)
    return answer(ctx, platform, text, request.service_name)


def refusal_body(ctx: BankContext, exc: envelope.EnvelopeError) -> str:
    """The signed answer to an envelope refused by :func:`authenticate`."""
    if exc.body is not None:
        return exc.body
    return profiles.MODERN.envelope_error_body(ctx.private_key, exc.code, exc.detail, exc.request_no)


def differing_field(stored_service: str, stored_payload: str, service: str, request: envelope.SignedRequest,
                    payload: dict) -> Optional[str]:
    """The field in which a retry differs from the stored request with its requestNo, or None."""
    if stored_service != service:
        return "serviceName"
    if stored_payload == request.payload_text:
        return None
    try:
        stored = envelope.parse_payload(stored_payload)
    except ValueError:  # the stored one was refused as malformed: any well-formed retry differs
        return "reqData"
    return first_difference(stored, payload)


def request_no_of(payload: dict) -> str:
    p = Payload(payload)
    try:
        return p.text("requestNo", max_len=64)
    except BankError:
        raise param_error("requestNo is required (at most 64 characters)") from None


#: Called inside a request's business transaction, just before COMMIT, with its connection, the
#: respCode it answers and the bank-clock instant (ISO) it ran at (the HTTP edge writes the
#: request-log row there, so one request takes the write lock once).
BeforeCommit = Callable[[sqlite3.Connection, str, str], None]


def handle_direct(ctx: BankContext, request: envelope.SignedRequest, platform: Platform,
                  before_commit: Optional[BeforeCommit] = None) -> Outcome:
    service = request.service_name
    payload = request.payload()
    try:
        request_no = request_no_of(payload)
    except BankError as exc:
        return Outcome(platform_error(ctx, platform, exc.code, exc.detail, "", service, payload), service=service,
                       resp_code=exc.code)
    if service not in svc.DIRECT_SERVICES:
        return Outcome(platform_error(ctx, platform, codes.UNKNOWN_SERVICE, f"{service} is not a direct service",
                                      request_no, service, payload), request_no, service, codes.UNKNOWN_SERVICE)
    if service in svc.READ_ONLY_SERVICES:
        declared = Payload(payload, fields=catalogue.request_fields(service))
        data = _read_only(ctx, platform, service, request_no, declared)
        return Outcome(answer(ctx, platform, envelope.dumps(data), service, payload), request_no, service,
                       data["respCode"])
    conn = ctx.conn()
    # Read before the write lock (the clock is the bank's, not part of the business): a clock moved by
    # the operator meanwhile stamps the next request, as it would had this one arrived a moment sooner.
    now = ctx.clock.now()
    fields = catalogue.request_fields(service)
    with db.transaction(conn):
        stored = requests_sql.get(conn, platform.platform_no, request_no)
        if stored is not None:
            text = stored.resp_data
            if stored.service_name != service and platform.profile.replays_across_services:
                # As the original: a known requestNo answers its stored response, whatever the service.
                service, payload = stored.service_name, envelope.loads(stored.payload)
            # Same payload means same service and same JSON values; spacing and key order do not count.
            field = differing_field(stored.service_name, stored.payload, service, request, payload)
            if field:
                return Outcome(platform_error(ctx, platform, codes.REQUEST_CONFLICT,
                                              f"requestNo {request_no} was used with a different {field}",
                                              request_no, service, payload), request_no, service,
                               codes.REQUEST_CONFLICT)
            if text is None:  # a gateway request still waiting for its user
                text = envelope.dumps(resp_data(request_no, codes.SUCCESS, "处理中", codes.STATUS_PROCESSING))
            return Outcome(answer(ctx, platform, text, service, payload), request_no, service,
                           str(envelope.loads(text).get("respCode", "")))
        tx = Tx(conn, platform.platform_no, request_no, service, now, ctx.password_iterations, platform.profile)
        try:
            with db.savepoint(conn, "handler"):
                # the handler reads the fields as the catalogue declares them (and /openapi.json publishes)
                extra = direct.HANDLERS[service](tx, Payload(payload, fields=fields))
            data = resp_data(request_no, codes.SUCCESS, codes.message(codes.SUCCESS), codes.STATUS_SUCCESS, extra)
        except BankError as exc:
            tx.record.clear()
            data = resp_data(request_no, exc.code, exc.message, codes.STATUS_FAILURE)
        text = envelope.dumps(data)
        record_request(tx, payload_text=request.payload_text, status=data["status"],
                       resp_code=data["respCode"], resp_text=text)
        if before_commit is not None:
            before_commit(conn, data["respCode"], tx.now_iso)
    return Outcome(answer(ctx, platform, text, service, payload), request_no, service, data["respCode"])


def record_request(tx: Tx, *, payload_text: str, status: int, resp_code: str, resp_text: Optional[str]) -> None:
    """Insert or finish the request row (the idempotency record and the check-file source)."""
    r = tx.record
    day = tx.now.date().isoformat() if status != codes.STATUS_PROCESSING else None
    requests_sql.save(tx.conn, platform_no=tx.platform_no, request_no=tx.request_no, service_name=tx.service,
                      payload=payload_text, status=status, resp_code=resp_code, resp_data=resp_text,
                      now_iso=tx.now_iso, business_date=day, biz_type=r.get("biz_type", ""),
                      user_no=r.get("user_no", ""), counterparty=r.get("counterparty", ""),
                      amount=r.get("amount", 0), commission=r.get("commission", 0))


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
           "record_request", "refusal_body", "differing_field", "iso"]
