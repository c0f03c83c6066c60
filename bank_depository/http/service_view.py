"""``/service``: the direct, signed, server-to-server endpoint."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ..protocol import envelope
from ..services import pipeline
from . import edge

bp = Blueprint("service", __name__)


def json_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="application/json;charset=UTF-8")


@bp.route("/service", methods=["GET", "POST"])
def service():
    ctx = current_app.extensions["wanxin.bank"]
    try:
        # A plain dict of request.values (the same first value per name): the envelope's fields are
        # read several times, and each read of a name missing from the query string raised inside werkzeug.
        signed, platform = edge.authenticate(ctx, request.values.to_dict())
    except envelope.EnvelopeError as exc:
        return json_response(pipeline.refusal_body(ctx, exc))
    return run_direct(ctx, signed, platform)


def run_direct(ctx, signed, platform) -> Response:
    """A verified direct request, answered in the platform's profile, with the
    request-level fault rules (reject, delay, lose_response) applied at the edge."""
    payload = signed.payload()
    request_no = str(payload.get("requestNo", ""))
    fault = edge.request_fault(ctx, platform.platform_no, signed.service_name, payload, request_no)
    if fault and fault.reject:
        return json_response(pipeline.platform_error(ctx, platform, fault.code, fault.message, request_no,
                                                     signed.service_name, payload))
    status = 504 if fault and fault.lose_response else 200
    outcome = pipeline.handle_direct(ctx, signed, platform,
                                     before_commit=lambda conn, code, at: edge.log_within(conn, code, status, at))
    if fault and fault.lose_response:
        edge.note(resp_code=outcome.resp_code)
        return Response("", status=504)
    return json_response(outcome.body)
