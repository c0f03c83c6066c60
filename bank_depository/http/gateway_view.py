"""``/gateway``: bank-hosted pages for opening an account, recharging and withdrawing."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from ..domain.errors import BankError
from ..protocol import codes, envelope
from ..services import gateway, inspect
from . import edge

bp = Blueprint("gateway", __name__)

TITLES = {"PERSONAL_REGISTER": ("开通存管账户", "open a depository account"), "RECHARGE": ("充值", "recharge"),
          "WITHDRAW": ("提现", "withdraw")}


def _page(page: gateway.Page, status: int = 200):
    title, gloss = TITLES.get(page.service, ("银行存管", "bank depository"))
    return render_template("gateway.html", page=page, title=title, gloss=gloss,
                           confirm_url=url_for("gateway.confirm"), cancel_url=url_for("gateway.cancel")), status


@bp.route("/gateway", methods=["GET", "POST"])
def open_gateway():
    ctx = current_app.extensions["wanxin.bank"]
    try:
        signed, platform = edge.authenticate(ctx, request.values)
    except envelope.EnvelopeError as exc:
        return _page(gateway.Page(str(request.values.get("serviceName", "")), "", error=f"{exc.code} {exc.detail}"),
                     400)
    return opened(ctx, signed, platform, _page)


def opened(ctx, signed, platform, render):
    """The page of a verified gateway request, its answer noted for the request log."""
    page = gateway.open_page(ctx, signed, platform)
    edge.note(resp_code=page.code or codes.SUCCESS, detail=page.error)
    return render(page, 400 if page.error and not page.done_url else 200)


def _stored_request(ctx, platform_no: str, request_no: str) -> tuple[str, dict]:
    """Service and payload of the request being confirmed, as the bank holds them.

    Fault rules match these, never the form's own serviceName/userNo, which a
    user agent may omit or get wrong.
    """
    try:
        rows = inspect.request(ctx.conn(), request_no)
    except BankError:
        return "", {}
    for row in rows:
        if row["platformNo"] == platform_no:
            payload = row["payload"]
            return row["serviceName"], payload if isinstance(payload, dict) else {}
    return "", {}


@bp.route("/gateway/confirm", methods=["POST"])
def confirm():
    ctx = current_app.extensions["wanxin.bank"]
    form = request.form.to_dict()
    platform = ctx.platform(form.get("platformNo", ""))
    request_no = form.get("requestNo", "")
    if platform is None or not request_no:
        edge.note(resp_code=codes.UNKNOWN_PLATFORM if platform is None else codes.PARAM_FAIL,
                  detail="unknown platform or request")
        return _page(gateway.Page("", "", error="unknown platform or request"), 400)
    service, payload = _stored_request(ctx, platform.platform_no, request_no)
    return confirm_with_faults(ctx, platform, request_no, service, payload, form,
                               lambda message: _page(gateway.Page(form.get("serviceName", ""), platform.platform_no,
                                                                  request_no, error=message), 400))


@bp.route("/gateway/cancel", methods=["POST"])
def cancel():
    """The user leaves the page without confirming: back to the platform with code 2, nothing changes."""
    ctx = current_app.extensions["wanxin.bank"]
    form = request.form.to_dict()
    platform = ctx.platform(form.get("platformNo", ""))
    request_no = form.get("requestNo", "")
    if platform is None or not request_no:
        return _page(gateway.Page("", "", error="unknown platform or request"), 400)
    try:
        result = gateway.cancel(ctx, platform, request_no)
    except BankError as exc:
        return _page(gateway.Page(form.get("serviceName", ""), platform.platform_no, request_no,
                                  error=exc.message), 400)
    return redirect(result.url, 302)


def confirm_with_faults(ctx, platform, request_no: str, service: str, payload: dict, form: dict, error_page):
    """Confirm a pending gateway request with the request-level fault rules applied at the edge
    (matched on the request as the bank stored it); ``error_page(message)`` renders a refusal."""
    edge.note(platform_no=platform.platform_no, service=service, request_no=request_no)
    fault = edge.request_fault(ctx, platform.platform_no, service, payload, request_no)
    try:
        result = gateway.confirm(ctx, platform, request_no, form,
                                 reject_code=fault.code if fault and fault.reject else "")
    except BankError as exc:
        edge.note(resp_code=exc.code, detail=exc.message)
        return error_page(exc.message)
    edge.note(resp_code=result.resp_code, detail=result.msg)
    if fault and fault.lose_response:
        return Response("", status=504)
    return redirect(result.url, 302)
