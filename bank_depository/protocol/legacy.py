"""The original Java depository's wire format, byte for byte (the legacy profile).

What differs from the modern wire (reference §1.2–§1.7):

* requests are GETs whose four query values went through ``java.net.URLEncoder``
  in the fixed order ``serviceName, platformNo, reqData, signature``;
* ``/service`` answers ``{"signature":"…","respData":{…}}`` with every object's
  keys in Java ``HashMap`` order (:mod:`.java_hashmap`), the signature over
  exactly the ``respData`` text in the body, and ``status`` 1 for every
  processed request, refusals included, and every character escaped as
  fastjson 1.2.47 escapes it (:mod:`.fastjson`);
* envelope errors are the original's *unsigned* bodies (00003 / 00004);
* the bank's local endpoints answer Jackson-style ``LocalResponse`` objects.

Money semantics are not part of this: only the bytes on the wire.
"""
from __future__ import annotations

import base64
from typing import Any, Mapping, Optional
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import serialization

from . import codes, envelope, fastjson, java_hashmap, services as svc, signing

PROFILE = "legacy"
DEFAULT_CONTEXT_PATH = "/wanxindepository"
QUERY_ORDER = ("serviceName", "platformNo", "reqData", "signature")
#: ``status`` of every respData the original answers for a processed request (StatusCode.STATUS_IN).
PROCESSED = 1


def context_path(path: Optional[str]) -> str:
    """``/name`` (no trailing slash) from a configured context path; the root is refused."""
    text = "/" + str(path or "").strip().strip("/")
    if text == "/":
        raise ValueError("the legacy context path must not be the root (the modern routes live there);"
                         f" use e.g. {DEFAULT_CONTEXT_PATH}")
    return text


def java_url_encode(text: str) -> str:
    """``java.net.URLEncoder.encode(text, "UTF-8")``: space is ``+``, only ``A-Za-z0-9.-*_`` stay as they are."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def query_string(fields: Mapping[str, str]) -> str:
    """The four envelope fields as the original's signing interceptor rebuilds the query."""
    return "&".join(f"{name}={java_url_encode(str(fields[name]))}" for name in QUERY_ORDER)


def resp_data(data: Mapping[str, Any], service: str = "",
              payload: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Our respData with the original's semantics: ``status`` 1 for anything processed, and
    ``bizType`` on every USER_AUTO_PRE_TRANSACTION answer (the original sets it on refusals too)."""
    out = dict(data)
    out["status"] = PROCESSED
    if service == svc.USER_AUTO_PRE_TRANSACTION and "bizType" not in out and payload:
        biz = {str(k).lower(): v for k, v in payload.items()}.get("biztype")
        if isinstance(biz, str) and biz.strip():
            out["bizType"] = biz.strip().upper()
    return out


def resp_text(data: Mapping[str, Any]) -> str:
    """Compact respData text with every object's keys in the original's HashMap order, every
    character escaped as fastjson 1.2.47 escapes it."""
    return fastjson.dumps(java_hashmap.reorder(data))


def response_body(data: Mapping[str, Any], key: signing.PrivateKey, algorithm: str = signing.SHA1) -> str:
    """``{"signature":…,"respData":…}`` (HashMap order) signed over exactly the respData text."""
    text = resp_text(data)
    members = {"respData": text, "signature": envelope.dumps(signing.sign(key, text.encode("utf-8"), algorithm))}
    return "{" + ",".join(f'"{k}":{members[k]}' for k in java_hashmap.fastjson_order(members)) + "}"


def envelope_error_body(code: str) -> str:
    """The original's unsigned answer to a bad envelope: fastjson of a bean, so alphabetical keys."""
    return fastjson.dumps({"respData": {"requestNo": "", "respCode": code, "respMsg": codes.message(code),
                                        "status": PROCESSED}})


#: The fields the original's notifications carry (its PersonalRegisterResponse, RechargeResponse, WithdrawResponse).
NOTIFICATION_FIELDS = {
    svc.PERSONAL_REGISTER: ("auditStatus", "bankCode", "bankName", "requestNo", "respCode", "respMsg", "status"),
    svc.RECHARGE: ("requestNo", "respCode", "respMsg", "status", "transactionStatus"),
    svc.WITHDRAW: ("requestNo", "respCode", "respMsg", "status", "transactionStatus"),
}


def notification_payload(service: str, note: Mapping[str, Any]) -> dict[str, Any]:
    """A notification as the original sends it: only its fields, alphabetical, its failure values.

    A refusal is ``respCode`` 00001 and ``status`` 2; its ``respMsg`` is 系统异常, except for
    RECHARGE, where the original puts the reason there (ours, in our words).
    """
    data = {k: note[k] for k in NOTIFICATION_FIELDS[service] if k in note}
    if note.get("respCode") != codes.SUCCESS:
        data.update(respCode=codes.EXCEPTION, status=codes.STATUS_FAILURE,
                    respMsg=note.get("respMsg") if service == svc.RECHARGE else codes.message(codes.EXCEPTION))
    return dict(sorted(data.items()))


#: Gateway services whose finished form, posted again, the original answers with the stored response
#: (its ``LocalRequestInterceptor``); its WITHDRAW stores none, so that form redirects again.
FORM_REPLAYS = frozenset({svc.PERSONAL_REGISTER, svc.RECHARGE})


def replayed_form_body(stored_text: str, key: signing.PrivateKey, algorithm: str = signing.SHA1) -> str:
    """What the original answers a finished form posted again: ``{"signature","respData"}`` in HashMap
    order, ``respData`` re-parsed (HashMap order), the signature over the stored text itself."""
    data = envelope.loads(stored_text)
    members = {"respData": fastjson.dumps(java_hashmap.reorder(data)),
               "signature": fastjson.string(signing.sign(key, stored_text.encode("utf-8"), algorithm))}
    return "{" + ",".join(f'"{k}":{members[k]}' for k in java_hashmap.fastjson_order(members)) + "}"


def local_response(result_json: str = "null", code: str = codes.SUCCESS) -> str:
    """Jackson's ``LocalResponse``: BaseResponse's fields in declaration order, then ``result``."""
    return ('{"respCode":' + envelope.dumps(code) + ',"respMsg":' + envelope.dumps(codes.message(code))
            + ',"status":1,"requestNo":"","result":' + result_json + "}")


def bare_private_key(key: signing.PrivateKey) -> str:
    """Base64 PKCS#8 DER without PEM armour, as the original's config holds private keys."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return base64.b64encode(der).decode("ascii")


def bare_public_key(key: signing.PublicKey) -> str:
    """Base64 X.509 SubjectPublicKeyInfo DER without PEM armour."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")
