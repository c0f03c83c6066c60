"""``/service``: the direct, signed, server-to-server endpoint."""
from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, request

from ..domain.fields import Payload
from ..faults import REQUEST_ACTIONS
from ..protocol import codes, envelope
from ..services import pipeline

bp = Blueprint("service", __name__)


def json_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="application/json;charset=UTF-8")


def request_faults(ctx, service: str, payload: dict, request_no: str):
    """The request-level fault rule that fires for this call, if any."""
    if ctx.faults is None:
        return None
    p = Payload(payload)
    return ctx.faults.fire(REQUEST_ACTIONS, service=service, biz_type=str(p.raw("bizType", "")),
                           user_no=str(p.raw("userNo", "")), request_no=request_no)


@bp.route("/service", methods=["GET", "POST"])
def service():
    ctx = current_app.extensions["wanxin.bank"]
    try:
        signed, platform = pipeline.authenticate(ctx, request.values)
    except envelope.EnvelopeError as exc:
        return json_response(pipeline.refusal_body(ctx, exc))
    return run_direct(ctx, signed, platform)


def run_direct(ctx, signed, platform) -> Response:
    """A verified direct request, answered in the platform's profile, with the
    request-level fault rules (reject, delay, lose_response) applied at the edge."""
    payload = signed.payload()
    request_no = str(payload.get("requestNo", ""))
    fired = request_faults(ctx, signed.service_name, payload, request_no)
    if fired and fired.action == "reject":
        code = fired.rule["code"]
        return json_response(pipeline.platform_error(ctx, platform, code, fired.rule.get("message") or
                                                     codes.message(code), request_no, signed.service_name, payload))
    if fired and fired.action == "delay":
        time.sleep(fired.rule["seconds"])
    outcome = pipeline.handle_direct(ctx, signed, platform)
    if fired and fired.action == "lose_response":
        return Response("", status=504)
    return json_response(outcome.body)
