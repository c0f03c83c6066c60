"""The original depository's routes under its context path (the legacy profile).

Registered by ``create_app`` with ``url_prefix`` = ``LEGACY_CONTEXT_PATH``
(``/wanxindepository`` unless configured): ``GET /service`` and ``GET /gateway``
with the four query parameters, the gateway pages' form targets
``/trans/users``, ``/trans/recharge-details`` and ``/trans/withdraw-details``,
and the local endpoints of reference §2.9. Only platforms registered with the
legacy profile are served here; to a modern one these routes answer as to an
unknown platform. Envelope errors are the original's unsigned bodies; local
endpoint refusals are the original's signed ``DepositoryResponse``.
"""
from __future__ import annotations


from flask import Blueprint, Response, current_app, request

from ..domain.errors import BankError, param_error
from ..protocol import codes, envelope, legacy, profiles, services as svc, signing, strictjson
from ..services import counter, gateway, inspect, local
from . import edge
from .gateway_view import _stored_request, confirm_with_faults, opened, render_page
from .service_view import json_response, run_direct

bp = Blueprint("legacy", __name__)

#: The form targets of the original's gateway pages.
TRANS = {"users": svc.PERSONAL_REGISTER, "recharge-details": svc.RECHARGE, "withdraw-details": svc.WITHDRAW}
ACTIONS = {service: name for name, service in TRANS.items()}


def _ctx():
    return current_app.extensions["wanxin.bank"]


def _legacy_platforms(ctx) -> list[str]:
    return [no for no, p in ctx.refresh_platforms().items() if p.profile.serves_context_routes]


def _authenticate(ctx, fields):
    """The envelope of a legacy platform; a modern platform is unknown here. Raises EnvelopeError."""
    return edge.authenticate(ctx, fields, context_routes=True)


def _signed(data: dict) -> Response:
    """What the original's GlobalExceptionHandler answers: a signed DepositoryResponse, HTTP 200."""
    return json_response(legacy.response_body(data, _ctx().private_key, signing.SHA1))


@bp.errorhandler(BankError)
def _refused(exc: BankError):
    return _signed({"requestNo": "", "respCode": exc.code, "respMsg": exc.message, "status": legacy.PROCESSED})


def _method_not_supported() -> Response:
    """A POST where the original maps only GET (its BaseResponse("405", …) has no status or requestNo)."""
    return _signed({"respCode": "405", "respMsg": "method 方法不支持"})


def _json_body() -> dict:
    try:
        data = strictjson.loads(request.get_data() or b"null")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise param_error("the request body must be a JSON object")
    return data


# -- the signed services ------------------------------------------------------
def _signed_get():
    """(ctx, signed, platform) of a legacy GET, or the original's answer to a bad one."""
    if request.method != "GET":
        return None, _method_not_supported()
    ctx = _ctx()
    try:
        signed, platform = _authenticate(ctx, request.args)
    except envelope.EnvelopeError as exc:
        return None, json_response(profiles.LEGACY.envelope_error_body(ctx.private_key, exc.code, exc.detail))
    return (ctx, signed, platform), None


@bp.route("/service", methods=["GET", "POST"])
def service():
    verified, refusal = _signed_get()
    return refusal if refusal is not None else run_direct(*verified)


def _page(page: gateway.Page, status: int = 200):
    # The page lives at {context}/gateway and posts to {context}/trans/…: the cookie goes only there.
    return render_page("legacy_gateway.html", page, status, _cookie_path(), action=ACTIONS.get(page.service, ""))


def _cookie_path() -> str:
    return request.script_root + bp_prefix() + "/trans"


def bp_prefix() -> str:
    """The context path this blueprint is mounted under (``LEGACY_CONTEXT_PATH``)."""
    return legacy.context_path(current_app.config["LEGACY_CONTEXT_PATH"])


@bp.route("/gateway", methods=["GET", "POST"])
def gateway_page():
    verified, refusal = _signed_get()
    if refusal is not None:
        return refusal
    ctx, signed, platform = verified
    return opened(ctx, signed, platform, _page)


def _platform_for(ctx, app_code: str, request_no: str):
    """The legacy platform a form belongs to: its ``appCode``, else the one that holds the requestNo."""
    candidates = [app_code] if app_code else _legacy_platforms(ctx)
    for platform_no in candidates:
        platform = ctx.platform(platform_no)
        if platform is not None and platform.profile.serves_context_routes and \
                _stored_request(ctx, platform_no, request_no)[0]:
            return platform
    return None


def _finished_note(ctx, platform_no: str, request_no: str):
    """The final notification of a finished gateway request (success or refusal), else None."""
    try:
        rows = inspect.request(ctx.conn(), request_no)
    except BankError:
        return None
    for row in rows:
        if row["platformNo"] == platform_no and row["status"] != codes.STATUS_PROCESSING and row["respData"]:
            return row["respData"]
    return None


@bp.post("/trans/<kind>")
def trans(kind: str):
    """A gateway page's form: run the stored request with what the user typed, redirect to the callback."""
    ctx = _ctx()
    service = TRANS.get(kind)
    request_no = str(request.values.get("requestNo") or "").strip()
    platform = _platform_for(ctx, str(request.form.get("appCode") or "").strip(), request_no) \
        if service and request_no else None
    stored_service, payload = _stored_request(ctx, platform.platform_no, request_no) if platform else ("", {})
    if platform is None or stored_service != service:
        missing = f"{codes.message(codes.TRANSACTION_NOT_FOUND)}: no {service or kind} request {request_no}"
        edge.note(resp_code=codes.TRANSACTION_NOT_FOUND, detail=missing)
        return _page(gateway.Page(service or "", "", request_no, error=missing), 400)
    finished = _finished_note(ctx, platform.platform_no, request_no)
    if finished is not None and service in legacy.FORM_REPLAYS:
        stored = platform.profile.json_text(platform.profile.notification_payload(service, finished))
        return json_response(legacy.replayed_form_body(stored, ctx.private_key, platform.algorithm))
    password = str(request.form.get("password") or "")
    # The original's page asks twice: prePassword first, then password (the one it keeps).
    form = {"password": password, "confirmPassword": str(request.form.get("prePassword", password) or "")}
    return confirm_with_faults(ctx, platform, request_no, service, payload, form,
                               lambda message, status=400: _page(gateway.Page(service, platform.platform_no,
                                                                              request_no, error=message), status),
                               cookie_path=_cookie_path())


# -- local endpoints: no envelope, no signature (reference §2.9) ----------------
@bp.get("/balance-details/<user_no>")
def balance_details(user_no: str):
    ctx = _ctx()
    return json_response(local.balance_details(ctx.conn(), _legacy_platforms(ctx), user_no))


@bp.get("/bank-cards/card-number/<card_number>")
def card_balance(card_number: str):
    return json_response(local.card_balance(_ctx().conn(), card_number))


@bp.post("/bank-cards")
def create_card():
    counter.register_card(_ctx(), _json_body())
    return json_response(legacy.local_response())


@bp.post("/bank-cards/q")
def search_cards():
    a = request.args
    return json_response(local.search_cards(_ctx().conn(), _json_body(), a.get("pageNo", "1"), a.get("pageSize", "10"),
                                            a.get("sortBy", ""), a.get("order", "")))


@bp.post("/users/password")
def verify_password():
    ctx = _ctx()
    return json_response(local.verify_password(ctx.conn(), _legacy_platforms(ctx), _json_body(), ctx.now_iso()))


@bp.get("/l/cancel-pre-freeze")
def cancel_pre_freeze():
    """The original's stub: with its three parameters an empty 200 that changes nothing (a missing one is
    Spring's error, answered 99999). The real unfreeze is the signed CANCEL_PRE_TRANSACTION."""
    if any(not str(request.args.get(name) or "").strip() for name in ("requestNo", "preRequestNo", "amount")):
        return _signed({"requestNo": "", "respCode": codes.UNKNOWN, "respMsg": codes.message(codes.UNKNOWN),
                        "status": legacy.PROCESSED})
    resp = Response(b"", status=200)
    del resp.headers["Content-Type"]
    return resp


@bp.get("/smscode/<mobile>")
def sms_code(mobile: str):
    return json_response(legacy.local_response())
