"""``/gateway``: bank-hosted pages for opening an account, recharging and withdrawing."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from ..domain.errors import BankError
from ..protocol import codes, envelope, hygiene
from ..services import gateway, inspect, pages
from . import edge

bp = Blueprint("gateway", __name__)

TITLES = {"PERSONAL_REGISTER": ("开通存管账户", "open a depository account"), "RECHARGE": ("充值", "recharge"),
          "WITHDRAW": ("提现", "withdraw")}


def render_page(template: str, page: gateway.Page, status: int, cookie_path: str, **context) -> Response:
    """A gateway page; one with a form gets a fresh one-time ``pageToken`` and its cookie (the old page dies)."""
    issued = None
    if not page.error and page.request_no and page.platform_no:
        issued = pages.issue(current_app.extensions["wanxin.bank"], page.platform_no, page.request_no)
    title, gloss = TITLES.get(page.service, ("银行存管", "bank depository"))
    context = {"title": title, "gloss": gloss, **context}
    resp = Response(render_template(template, page=page, page_token=issued.token if issued else "", **context),
                    status=status,
                    content_type="text/html; charset=utf-8")
    back = hygiene.origin(page.done_url) or hygiene.origin(page.fields.get("callbackUrl", ""))
    resp.headers[hygiene.CSP_HEADER] = hygiene.csp((back,) if back else ())
    if issued is not None:
        resp.set_cookie(issued.cookie_name, issued.cookie_value, max_age=issued.max_age, path=cookie_path,
                        httponly=True, samesite="Strict")
    return resp


def page_pass(platform_no: str, request_no: str) -> gateway.PagePass:
    """The form's pageToken and the request's page cookie, as this browser sent them."""
    return gateway.PagePass(str(request.form.get(pages.FORM_FIELD) or ""),
                            request.cookies.get(pages.cookie_name(platform_no, request_no), ""))


def _page(page: gateway.Page, status: int = 200):
    return render_page("gateway.html", page, status, "/gateway", confirm_url=url_for("gateway.confirm"),
                       cancel_url=url_for("gateway.cancel"))


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


def _posted_request(ctx, form: dict):
    """The platform and requestNo a page's form names (the platform None when the bank has no such one)."""
    return ctx.platform(form.get("platformNo", "")), form.get("requestNo", "")


def _unknown_request():
    return _page(gateway.Page("", "", error="unknown platform or request"), 400)


@bp.route("/gateway/confirm", methods=["POST"])
def confirm():
    ctx = current_app.extensions["wanxin.bank"]
    form = request.form.to_dict()
    platform, request_no = _posted_request(ctx, form)
    if platform is None or not request_no:
        edge.note(resp_code=codes.UNKNOWN_PLATFORM if platform is None else codes.PARAM_FAIL,
                  detail="unknown platform or request")
        return _unknown_request()
    service, payload = _stored_request(ctx, platform.platform_no, request_no)
    return confirm_with_faults(ctx, platform, request_no, service, payload, form,
                               lambda message, status=400: _page(gateway.Page(form.get("serviceName", ""),
                                                                              platform.platform_no, request_no,
                                                                              error=message), status))


@bp.route("/gateway/cancel", methods=["POST"])
def cancel():
    """The user leaves the page without confirming: back to the platform with code 2, nothing changes."""
    ctx = current_app.extensions["wanxin.bank"]
    form = request.form.to_dict()
    platform, request_no = _posted_request(ctx, form)
    if platform is None or not request_no:
        return _unknown_request()
    try:
        result = gateway.cancel(ctx, platform, request_no)
    except BankError as exc:
        return _page(gateway.Page(form.get("serviceName", ""), platform.platform_no, request_no,
                                  error=exc.message), 400)
    return redirect(result.url, 302)


def confirm_with_faults(ctx, platform, request_no: str, service: str, payload: dict, form: dict, error_page,
                        cookie_path: str = "/gateway"):
    """Confirm a pending gateway request with the request-level fault rules applied at the edge
    (matched on the request as the bank stored it); ``error_page(message, status)`` renders a refusal.

    A confirmation not bound to the request's live page (no ``pageToken``, another page's, a page
    replaced by a reopen, no cookie, expired) is refused with 403 before any fault rule counts it.
    """
    edge.note(platform_no=platform.platform_no, service=service, request_no=request_no)
    bound = page_pass(platform.platform_no, request_no)
    try:
        gateway.check_page(ctx, platform, request_no, bound)
    except BankError as exc:
        edge.note(resp_code=exc.code, detail=exc.message)
        return error_page(exc.message, 403 if isinstance(exc, pages.PageRefused) else 400)
    fault = edge.request_fault(ctx, platform.platform_no, service, payload, request_no)
    try:
        result = gateway.confirm(ctx, platform, request_no, form, page=bound,
                                 reject_code=fault.code if fault and fault.reject else "")
    except BankError as exc:
        edge.note(resp_code=exc.code, detail=exc.message)
        return error_page(exc.message, 403 if isinstance(exc, pages.PageRefused) else 400)
    edge.note(resp_code=result.resp_code, detail=result.msg)
    if fault and fault.lose_response:
        return Response("", status=504)
    resp = redirect(result.url, 302)
    if result.code != 2:  # final: the page is spent, so its cookie goes (code 2: the user may try again)
        resp.delete_cookie(pages.cookie_name(platform.platform_no, request_no), path=cookie_path, httponly=True,
                           samesite="Strict")
    return resp
