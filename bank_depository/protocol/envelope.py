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
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping, Optional

from . import codes, signing, strictjson

FIELDS = ("serviceName", "platformNo", "reqData", "signature")


class EnvelopeError(Exception):
    """The envelope itself is unusable: ``code`` is 00003 (parameters) or 00004 (signature).

    When the four fields are fine and only the payload is refused, ``request``
    is the decoded envelope (so the caller can check its signature and record
    the refusal under ``request_no``), and ``body`` may be set by that caller to
    the answer it recorded.
    """

    def __init__(self, code: str, detail: str, request_no: str = "",
                 request: "Optional[SignedRequest]" = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.request_no = request_no
        #: Why a signature was refused (:mod:`bank_depository.services.diagnosis`), for the request log.
        self.diagnosis: Optional[dict[str, Any]] = None
        self.request = request
        self.body: Optional[str] = None


def dumps(obj: Any) -> str:
    """The one compact JSON form used on the wire (raw UTF-8, no spaces)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    """Parse wire JSON the bank wrote itself, keeping every number exact (floats become Decimal)."""
    return json.loads(text, parse_float=Decimal)


def parse_payload(text: str) -> dict[str, Any]:
    """A payload from a stranger, strictly: bounded depth and numbers, no NaN, no lone
    surrogates, no key given twice (keys are matched case-insensitively, so ``userNo`` and
    ``USERNO`` count as the same key). Raises :class:`strictjson.JSONInputError`."""
    payload = strictjson.loads(text, fold_case=True)
    if not isinstance(payload, dict):
        raise strictjson.JSONInputError("reqData must be a JSON object")
    return payload


def stored_payload(text: str) -> dict[str, Any]:
    """A payload as the bank recorded it; a refused (malformed) one reads as empty."""
    try:
        return parse_payload(text)
    except ValueError:
        return {}


_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')
_SPACE = " \t\r\n"


def _skip_container(text: str, start: int) -> int:
    """The end of the array or object opening at ``start``, found without recursion."""
    depth = 0
    for m in _TOKEN.finditer(text, start):
        token = m.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    raise ValueError("unterminated")


def _top_level_scalars(text: str) -> list[tuple[str, Any]]:
    """The top-level members of a JSON object text whose values are scalars (nesting is skipped)."""
    decoder = json.JSONDecoder()
    i = len(text) - len(text.lstrip(_SPACE))
    if not text.startswith("{", i):
        raise ValueError("not an object")
    out: list[tuple[str, Any]] = []
    i += 1
    while True:
        while i < len(text) and text[i] in _SPACE + ",":
            i += 1
        if i >= len(text) or text[i] == "}":
            return out
        key, i = decoder.raw_decode(text, i)
        while i < len(text) and text[i] in _SPACE + ":":
            i += 1
        if text.startswith(("{", "["), i):
            i = _skip_container(text, i)
            continue
        value, i = decoder.raw_decode(text, i)
        out.append((key, value))


def readable_request_no(text: str) -> str:
    """The requestNo of a payload the strict parser refused, if one can be read unambiguously."""
    try:
        members = _top_level_scalars(text)
    except (ValueError, IndexError, RecursionError):
        return ""
    found = [v for k, v in members if isinstance(k, str) and k.lower() == "requestno"]
    if len(found) != 1 or not isinstance(found[0], (str, int)) or isinstance(found[0], bool):
        return ""
    value = str(found[0]).strip()
    if not value or len(value) > 64 or not value.isprintable() or strictjson.has_surrogate(value):
        return ""
    return value


@dataclass(frozen=True)
class SignedRequest:
    service_name: str
    platform_no: str
    payload_text: str
    signature: str

    @property
    def payload_bytes(self) -> bytes:
        return self.payload_text.encode("utf-8")

    def payload(self) -> dict[str, Any]:
        """The payload's values (numbers exact), parsed once per request object (the edge, the
        binding check and the handler all read it; nothing mutates it)."""
        data: Optional[dict[str, Any]] = self.__dict__.get("_payload")
        if data is None:
            data = loads(self.payload_text)
            object.__setattr__(self, "_payload", data)
        return data

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
    request = SignedRequest(str(fields["serviceName"]).strip(), str(fields["platformNo"]).strip(),
                            text, str(fields["signature"]).strip())
    try:
        _strict_request_no(text)
    except strictjson.JSONInputError as exc:
        detail = "reqData is not JSON" if str(exc).startswith("not JSON") else f"reqData: {exc}"
        raise EnvelopeError(codes.PARAM_FAIL, detail, readable_request_no(text), request) from None
    return request


def verify_request(request: SignedRequest, key: signing.PublicKey, algorithm: str) -> None:
    if not signing.verify(key, request.payload_bytes, request.signature, algorithm):
        raise EnvelopeError(codes.SIGN_FAIL, "signature does not match reqData",
                            request_no=request_no_of(request.payload_text))


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
    request_no = request_no_of(request.payload_text)
    for name, expected in zip(BOUND_FIELDS, (request.service_name, request.platform_no)):
        if name not in payload:
            raise EnvelopeError(codes.PARAM_FAIL, f"the signed reqData must carry {name} (the modern profile binds"
                                                  " the signature to the service and the platform)", request_no)
        if payload[name] != expected:
            raise EnvelopeError(codes.SIGN_FAIL, f"the signature was made for {name} {payload[name]!r}, but the"
                                                 f" envelope says {expected!r}", request_no)


#: Payload texts that passed :func:`parse_payload` -> their requestNo text. One request asks for its
#: requestNo several times (the log's guess, the envelope check, the binding check, the log's note):
#: the strict parse then runs once. Bounded: small texts only, cleared when full.
_STRICT: dict[str, str] = {}
_STRICT_MAX, _STRICT_TEXT_MAX = 256, 8192


def _strict_request_no(text: str) -> str:
    """:func:`parse_payload` (raising as it does), remembered: the payload's requestNo as text."""
    known = _STRICT.get(text)
    if known is not None:
        return known
    value = parse_payload(text).get("requestNo", "")
    request_no = value if isinstance(value, str) else str(value)
    if len(text) <= _STRICT_TEXT_MAX:
        if len(_STRICT) >= _STRICT_MAX:
            _STRICT.clear()
        _STRICT[text] = request_no
    return request_no


def request_no_of(text: str) -> str:
    """The payload's requestNo as text, or '' (for reporting a refusal, never for acting on it)."""
    try:
        return _strict_request_no(text)
    except ValueError:
        return ""


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


def verify_response(body: str, key: signing.PublicKey, algorithm: str = signing.SHA256) -> dict[str, Any]:
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
