"""The edge of the signed protocol: authentication, request-level fault rules and the request log.

Every request to ``/service``, ``/gateway``, ``/gateway/confirm``,
``/checkfile`` and their legacy equivalents passes here:

* :func:`authenticate` verifies the envelope and notes who asked what (a
  refusal with its code and, for a signature, its diagnosis);
* :func:`request_fault` is the one place a request-level fault rule
  (``reject``, ``delay``, ``lose_response``) is matched, fired, logged and,
  for ``delay``, slept; the view only chooses how a rejection or a lost
  response looks on its wire;
* a request that runs a business transaction writes its ``request_log`` row
  inside it, just before COMMIT (:func:`log_within`, so the request takes
  SQLite's write lock once; its ``duration_ms`` then ends there, before the
  commit and the signing of the answer); any other request (a refusal, a
  read-only query, a rejected or replayed one) gets its row from
  :func:`_after`, after the answer is computed, in its own short transaction.
  A failure to log is reported and never fails the request; when
  ``ACCESS_LOG`` is on, :func:`_after` writes one access-log line on stderr.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Optional

from flask import Flask, Response, current_app, g, request

from ..domain.fields import Payload
from ..faults import REQUEST_ACTIONS
from ..protocol import codes, envelope
from ..services import pipeline
from ..storage import db, request_log

log = logging.getLogger("wanxin.bank.edge")

#: The endpoints of the signed protocol (blueprint.view names).
LOGGED = frozenset({"service.service", "checkfile.checkfile_stream", "gateway.open_gateway", "gateway.confirm",
                    "legacy.service", "legacy.gateway_page", "legacy.trans"})


@dataclass
class _Record:
    started: float
    platform_no: str = ""
    service: str = ""
    request_no: str = ""
    resp_code: str = ""
    detail: str = ""
    fault_rule_id: Optional[int] = None
    fault_action: str = ""
    diagnosis: Optional[dict] = None
    logged: Optional[request_log.LogEntry] = None  # the row log_within already wrote
    identified: bool = False  # who asked is known (verified or guessed); else _guess reads the raw envelope


@dataclass(frozen=True)
class Fault:
    """What a fired request-level rule asks of the view."""
    rule_id: int
    action: str
    code: str = ""
    message: str = ""

    @property
    def reject(self) -> bool:
        return self.action == "reject"

    @property
    def lose_response(self) -> bool:
        return self.action == "lose_response"


#: The fields of a record that say who asked (a guess from the raw envelope fills them first).
_WHO = frozenset({"platform_no", "service", "request_no"})


def _record() -> Optional[_Record]:
    return g.get("wanxin_edge")


def note(**values: Any) -> None:
    """Tell the log what this request was or what it was answered (unknown keys are a bug)."""
    rec = _record()
    if rec is not None:
        if not rec.identified and not _WHO.isdisjoint(values):
            _identify(rec)  # the raw envelope's guess first, then what the view knows replaces it
        for key, value in values.items():
            if not hasattr(rec, key):
                raise AttributeError(key)
            setattr(rec, key, value)


def authenticate(ctx, fields, *, context_routes: bool = False):
    """:func:`pipeline.authenticate`, noting the caller, or the refusal and its diagnosis."""
    try:
        signed, platform = pipeline.authenticate(ctx, fields, context_routes=context_routes)
    except envelope.EnvelopeError as exc:
        rec = _record()
        if rec is not None:
            _identify(rec)
        note(resp_code=exc.code, detail=exc.detail, diagnosis=exc.diagnosis,
             request_no=exc.request_no or (rec.request_no if rec else ""))
        raise
    rec = _record()
    if rec is not None:  # verified: no guess from the raw envelope is needed
        rec.platform_no, rec.service = platform.platform_no, signed.service_name
        rec.request_no, rec.identified = envelope.request_no_of(signed.payload_text), True
    return signed, platform


def request_fault(ctx, platform_no: str, service: str, payload: dict, request_no: str) -> Optional[Fault]:
    """The request-level fault rule that fires for this call, if any (``delay`` is slept here)."""
    if ctx.faults is None:
        return None
    p = Payload(payload)
    fired = ctx.faults.fire(REQUEST_ACTIONS, service=service, biz_type=str(p.raw("bizType", "")),
                            user_no=str(p.raw("userNo", "")), request_no=request_no, platform_no=platform_no)
    if fired is None:
        return None
    note(fault_rule_id=fired.rule_id, fault_action=fired.action)
    if fired.action == "delay":
        time.sleep(fired.rule["seconds"])
    code = fired.rule.get("code", "")
    return Fault(fired.rule_id, fired.action, code, (fired.rule.get("message") or codes.message(code)) if code else "")


def _guess(rec: _Record) -> None:
    """Who asked, read from the raw envelope before anything is verified (for envelope errors)."""
    values = request.values
    rec.platform_no = str(values.get("platformNo") or values.get("appCode") or "").strip()[:64]
    rec.service = str(values.get("serviceName") or "").strip()[:64]
    rec.request_no = str(values.get("requestNo") or "").strip()[:64]
    raw = str(values.get("reqData") or "").strip()
    if raw and not rec.request_no:
        try:
            rec.request_no = envelope.request_no_of(base64.b64decode(raw, validate=True).decode("utf-8"))[:64]
        except (binascii.Error, ValueError, UnicodeDecodeError):
            pass


def _identify(rec: _Record) -> None:
    """Fill who asked from the raw envelope, once, unless :func:`authenticate` already verified it
    (a verified request needs no guess, so the guess runs only for a refusal or an unauthenticated view)."""
    if rec.identified:
        return
    rec.identified = True
    try:
        _guess(rec)
    except Exception:  # noqa: BLE001 - a guess for the log must never refuse a request
        log.debug("cannot read the envelope for the log", exc_info=True)


def _before() -> None:
    if request.endpoint in LOGGED:
        g.wanxin_edge = _Record(time.perf_counter())


def _resp_code(rec: _Record, response: Response) -> str:
    if rec.resp_code:
        return rec.resp_code
    if response.is_json and not response.is_streamed:
        try:
            data = json.loads(response.get_data(as_text=True))
            code = data.get("respData", data).get("respCode")
            if code:
                return str(code)
        except (ValueError, AttributeError):
            pass
    return codes.SUCCESS if response.status_code < 400 else str(response.status_code)


def _entry(rec: _Record, resp_code: str, http_status: int, at: str = "") -> request_log.LogEntry:
    _identify(rec)
    return request_log.LogEntry(
        at=at or current_app.extensions["wanxin.bank"].now_iso(), endpoint=request.path,
        platform_no=rec.platform_no, service_name=rec.service, request_no=rec.request_no, resp_code=resp_code,
        http_status=http_status,
        duration_ms=round((time.perf_counter() - rec.started) * 1000), fault_rule_id=rec.fault_rule_id,
        fault_action=rec.fault_action, detail=rec.detail, diagnosis=rec.diagnosis)


def log_within(conn, resp_code: str, http_status: int, at: str) -> None:
    """Write this request's log row in the business transaction open on ``conn`` (before its COMMIT).

    ``http_status`` is the status the view will answer, ``at`` the bank-clock instant the
    business ran at (the row's time, read before the lock). A failure is undone
    alone (a savepoint), reported, and left to :func:`_after` to retry; it
    never rolls back the business.
    """
    rec = _record()
    if rec is None or rec.logged is not None:
        return
    try:
        entry = _entry(rec, rec.resp_code or resp_code, http_status, at)
        with db.savepoint(conn, "request_log"):
            request_log.insert(conn, entry)
        rec.logged = entry
    except Exception:  # noqa: BLE001 - the log is evidence, never a reason to fail the business
        log.warning("request log not written in the transaction of %s %s", request.path, rec.request_no,
                    exc_info=True)


def _after(response: Response) -> Response:
    rec = _record()
    if rec is None:
        return response
    g.wanxin_edge = None  # once per request
    if rec.logged is not None and rec.logged.http_status != response.status_code:
        rec.logged = None  # the transaction it was written in did not commit (the answer is an error)
    try:
        entry = rec.logged or _entry(rec, _resp_code(rec, response), response.status_code)
        if current_app.config.get("ACCESS_LOG"):
            fault = f" fault #{entry.fault_rule_id} {entry.fault_action}" if entry.fault_action else ""
            sys.stderr.write(f"{entry.service_name or '-'} {entry.request_no or '-'} {entry.resp_code} "
                             f"{entry.duration_ms} ms{fault} [{entry.platform_no or '?'} {request.path}]\n")
            sys.stderr.flush()
        if rec.logged is None:
            conn = current_app.extensions["wanxin.bank"].conn()
            if conn.in_transaction:  # never inside someone's business transaction
                raise RuntimeError("a transaction is still open")
            request_log.write(conn, entry)
    except Exception:  # noqa: BLE001 - the log is evidence, never a reason to fail the answer
        log.warning("request log not written for %s %s", request.path, rec.request_no, exc_info=True)
    return response


def install(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
