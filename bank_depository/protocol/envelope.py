"""The four-field request envelope and the signed JSON response.

Request: ``serviceName``, ``platformNo``, ``reqData`` (standard padded Base64
of the UTF-8 JSON payload) and ``signature`` (over the *decoded* JSON bytes).
Response: ``{"respData": {...}, "signature": "..."}`` where the signature
covers the exact compact ``respData`` text as it stands in the body.

The modern profile binds a signature to its service and platform: the signed
JSON carries ``serviceName`` and ``platformNo`` equal to the envelope's
(:func:`require_binding`), so a signed request cannot be replayed under another
service or platform. The legacy profile keeps the original's scheme (the
signature covers only reqData) and with it that weakness.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping, Optional

from . import codes, signing

FIELDS = ("serviceName", "platformNo", "reqData", "signature")


class EnvelopeError(Exception):
    """The envelope itself is unusable: ``code`` is 00003 (parameters) or 00004 (signature)."""

    def __init__(self, code: str, detail: str, request_no: str = ""):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.request_no = request_no


def dumps(obj: Any) -> str:
    """The one compact JSON form used on the wire (raw UTF-8, no spaces)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    """Parse wire JSON keeping every number exact (floats become Decimal)."""
    return json.loads(text, parse_float=Decimal)


@dataclass(frozen=True)
class SignedRequest:
    service_name: str
    platform_no: str
    payload_text: str
    signature: str

    @property
    def payload_bytes(self) -> bytes:
        return self.payload_text.encode("utf-8")

    def payload(self) -> dict:
        return loads(self.payload_text)

    def fields(self) -> dict[str, str]:
        return {
            "serviceName": self.service_name,
            "platformNo": self.platform_no,
            "reqData": base64.b64encode(self.payload_bytes).decode("ascii"),
            "signature": self.signature,
        }


BOUND_FIELDS = ("serviceName", "platformNo")


def sign_request(service_name: str, platform_no: str, payload: Mapping[str, Any],
                 key: signing.PrivateKey, algorithm: str = signing.SHA256,
                 *, payload_text: Optional[str] = None, bind: bool = True) -> SignedRequest:
    """Build a signed request; ``payload_text`` overrides the serialisation byte for byte.

    ``bind`` (the modern profile): the signed JSON also carries ``serviceName`` and
    ``platformNo``; pass ``bind=False`` for the legacy profile's original scheme.
    """
    text = request_text(service_name, platform_no, payload, payload_text=payload_text, bind=bind)
    return SignedRequest(service_name, platform_no, text,
                         signing.sign(key, text.encode("utf-8"), algorithm))


def parse_request(fields: Mapping[str, Any]) -> SignedRequest:
    """Decode the envelope without verifying it; raises EnvelopeError(00003)."""
    missing = [f for f in FIELDS if not str(fields.get(f) or "").strip()]
    if missing:
        raise EnvelopeError(codes.PARAM_FAIL, f"missing envelope field(s): {', '.join(missing)}")
    raw = str(fields["reqData"]).strip()
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise EnvelopeError(codes.PARAM_FAIL, "reqData is not Base64 of UTF-8 text") from None
    try:
        payload = loads(text)
    except ValueError:
        raise EnvelopeError(codes.PARAM_FAIL, "reqData is not JSON") from None
    if not isinstance(payload, dict):
        raise EnvelopeError(codes.PARAM_FAIL, "reqData must be a JSON object")
    return SignedRequest(str(fields["serviceName"]).strip(), str(fields["platformNo"]).strip(),
                         text, str(fields["signature"]).strip())


def verify_request(request: SignedRequest, key: signing.PublicKey, algorithm: str) -> None:
    if not signing.verify(key, request.payload_bytes, request.signature, algorithm):
        raise EnvelopeError(codes.SIGN_FAIL, "signature does not match reqData",
                            request_no=_request_no_of(request.payload_text))


def request_text(service_name: str, platform_no: str, payload: Mapping[str, Any], *,
                 payload_text: Optional[str] = None, bind: bool = True) -> str:
    """The exact JSON text :func:`sign_request` signs (bound to the service and platform when ``bind``)."""
    if payload_text is None:
        return dumps({**payload, "serviceName": service_name, "platformNo": platform_no} if bind else payload)
    return bind_text(payload_text, service_name, platform_no) if bind else payload_text


def bind_text(text: str, service_name: str, platform_no: str) -> str:
    """A JSON object text with the binding fields appended when it lacks them (deterministic, so a
    recorded payload resent later is the same bytes); anything that is not an object is left as it is."""
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    if not isinstance(obj, dict) or all(k in obj for k in BOUND_FIELDS):
        return text
    body = text.rstrip()
    if not body.endswith("}"):
        return text
    extra = ",".join(f"{dumps(k)}:{dumps(v)}" for k, v in zip(BOUND_FIELDS, (service_name, platform_no))
                     if k not in obj)
    return body[:-1] + ("," if obj else "") + extra + "}"


def require_binding(request: SignedRequest) -> None:
    """The modern profile's rule: the signed JSON names the envelope's serviceName and platformNo.

    Missing: 00003 (a parameter is missing); different: 00004 (the signature was made
    for another service or platform, so it does not hold for this envelope).
    """
    payload = request.payload()
    request_no = _request_no_of(request.payload_text)
    for name, expected in zip(BOUND_FIELDS, (request.service_name, request.platform_no)):
        if name not in payload:
            raise EnvelopeError(codes.PARAM_FAIL, f"the signed reqData must carry {name} (the modern profile binds"
                                                  " the signature to the service and the platform)", request_no)
        if payload[name] != expected:
            raise EnvelopeError(codes.SIGN_FAIL, f"the signature was made for {name} {payload[name]!r}, but the"
                                                 f" envelope says {expected!r}", request_no)


def _request_no_of(text: str) -> str:
    try:
        value = loads(text).get("requestNo", "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else str(value)


def sign_response(resp_data_text: str, key: signing.PrivateKey, algorithm: str = signing.SHA256) -> str:
    """The whole response body for an already-serialised respData text."""
    signature = signing.sign(key, resp_data_text.encode("utf-8"), algorithm)
    return '{"respData":' + resp_data_text + ',"signature":"' + signature + '"}'


def response_body(resp_data: Mapping[str, Any], key: signing.PrivateKey,
                  algorithm: str = signing.SHA256) -> str:
    return sign_response(dumps(resp_data), key, algorithm)


class ResponseSignatureError(ValueError):
    """A response whose signature does not verify: it must never be trusted."""


def _members_with_text(body: str) -> dict[str, tuple[Any, str]]:
    """Top-level members of a JSON object with the exact text of each value."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    ws = " \t\r\n"
    i = 0

    def skip(j: int) -> int:
        while j < len(body) and body[j] in ws:
            j += 1
        return j

    i = skip(i)
    if i >= len(body) or body[i] != "{":
        raise ValueError("not an object")
    i = skip(i + 1)
    members: dict[str, tuple[Any, str]] = {}
    if i < len(body) and body[i] == "}":
        return members
    while True:
        key, i = decoder.raw_decode(body, i)
        i = skip(i)
        if body[i] != ":":
            raise ValueError("expected ':'")
        start = skip(i + 1)
        value, end = decoder.raw_decode(body, start)
        members[key] = (value, body[start:end])
        i = skip(end)
        if body[i] == ",":
            i = skip(i + 1)
            continue
        if body[i] == "}":
            return members
        raise ValueError("expected ',' or '}'")


def verify_response(body: str, key: signing.PublicKey, algorithm: str = signing.SHA256) -> dict:
    """Verify a ``/service`` response body and return its respData (numbers exact).

    The signature is checked over the exact respData text as it stands in the
    body, so key order and number formatting never matter.
    """
    try:
        members = _members_with_text(body)
    except (ValueError, IndexError):
        raise ResponseSignatureError("response is not a JSON object") from None
    resp = members.get("respData")
    if resp is None or not isinstance(resp[0], dict):
        raise ResponseSignatureError("response has no respData object")
    signature = members.get("signature", (None, ""))[0]
    if not isinstance(signature, str):
        raise ResponseSignatureError("response is not signed")
    if not signing.verify(key, resp[1].encode("utf-8"), signature, algorithm):
        raise ResponseSignatureError("response signature does not verify")
    return resp[0]
