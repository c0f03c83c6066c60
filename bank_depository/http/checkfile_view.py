"""``/checkfile``: the day's check file streamed, closed by a signed trailer line.

The request is the four-field envelope of ``/service`` with
``serviceName=DOWNLOAD_CHECKFILE`` and the same payload (``requestNo``,
``fileDate``), verified by :func:`bank_depository.services.pipeline.authenticate`.

Success: ``200 text/csv; charset=utf-8``, the file's exact bytes (identical
to ``respData.content`` of ``DOWNLOAD_CHECKFILE``) then the trailer line::

    #SIGNATURE,<fileDate>,<closed 0|1>,<content bytes>,<algorithm>,<signature>

signed with the platform's algorithm over the hash of every byte before the
signature (:mod:`bank_depository.protocol.trailer`). A refusal (bad envelope,
wrong service, malformed or future ``fileDate``, a ``reject`` fault) is the
ordinary signed JSON answer of ``/service``, so the content type tells the two
apart and both are verifiable. The fault ``lose_response`` cuts the stream
before its trailer, which the platform must refuse.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ..domain.errors import BankError
from ..domain.fields import Payload
from ..protocol import catalogue, codes, envelope, services as svc
from ..services import checkfile, pipeline
from . import edge
from .service_view import json_response

bp = Blueprint("checkfile", __name__)


@bp.route("/checkfile", methods=["GET", "POST"])
def checkfile_stream():
    ctx = current_app.extensions["wanxin.bank"]
    try:
        signed, platform = edge.authenticate(ctx, request.values)
    except envelope.EnvelopeError as exc:
        return json_response(pipeline.refusal_body(ctx, exc))
    payload = signed.payload()
    request_no = str(payload.get("requestNo", ""))
    if signed.service_name != svc.DOWNLOAD_CHECKFILE:
        return json_response(pipeline.error_body(ctx, codes.UNKNOWN_SERVICE,
                                                 f"/checkfile serves {svc.DOWNLOAD_CHECKFILE} only",
                                                 request_no, platform.algorithm))
    fault = edge.request_fault(ctx, platform.platform_no, signed.service_name, payload, request_no)
    if fault and fault.reject:
        return json_response(pipeline.error_body(ctx, fault.code, fault.message, request_no, platform.algorithm))
    try:
        pipeline.request_no_of(payload)
        declared = Payload(payload, fields=catalogue.request_fields(svc.DOWNLOAD_CHECKFILE))
        day, closed, chunks = checkfile.stream(ctx, platform, declared,
                                               with_trailer=not (fault and fault.lose_response))
    except BankError as exc:
        return json_response(pipeline.error_body(ctx, exc.code, exc.detail, request_no, platform.algorithm))
    # The headers are a convenience for people; only the signed trailer is evidence.
    return Response(chunks, content_type="text/csv; charset=utf-8",
                    headers={"X-Checkfile-Date": day.isoformat(), "X-Checkfile-Closed": str(closed).lower()})
