"""Why a signature was refused: the checks a platform developer would otherwise guess at.

Given a request whose signature did not verify, say which algorithm the bank
expected, the length and SHA-256 of the exact bytes it verified, and whether
the signature would have matched with the other hash algorithm, over the
Base64 ``reqData`` text instead of the decoded JSON, or under another
registered platform's key. Only public keys are tried; nothing is stored.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Iterable, Optional

from ..protocol import envelope, signing
from .context import Platform


def _other(algorithm: str) -> str:
    return signing.SHA1 if algorithm == signing.SHA256 else signing.SHA256


def signature(request: envelope.SignedRequest, raw_req_data: str, platform: Optional[Platform],
              others: Iterable[Platform]) -> dict:
    """The diagnosis of a refused signature (``platform`` None: the platformNo is not registered)."""
    data = request.payload_bytes
    out: dict = {"verifiedBytes": len(data), "verifiedSha256": hashlib.sha256(data).hexdigest(),
                 "signatureBytes": _signature_length(request.signature)}
    candidates = [p for p in others if platform is None or p.platform_no != platform.platform_no]
    if platform is not None:
        expected = platform.algorithm
        out["algorithmExpected"] = expected
        out["matchesOtherAlgorithm"] = signing.verify(platform.public_key, data, request.signature, _other(expected))
        out["matchesBase64Text"] = any(signing.verify(platform.public_key, raw_req_data.encode("utf-8"),
                                                      request.signature, a) for a in signing.ALGORITHMS)
    out["matchesPlatform"] = next((p.platform_no for p in candidates
                                   if any(signing.verify(p.public_key, data, request.signature, a)
                                          for a in signing.ALGORITHMS)), None)
    out["hint"] = hint(out)
    return out


def hint(d: dict) -> str:
    if d.get("matchesOtherAlgorithm"):
        return (f"the signature is {_other(d['algorithmExpected'])}; this platform is registered for "
                f"{d['algorithmExpected']}")
    if d.get("matchesBase64Text"):
        return "the signature covers the Base64 reqData text; sign the decoded JSON bytes instead"
    if d.get("matchesPlatform"):
        return f"the signature was made with the key of platform {d['matchesPlatform']}"
    if "algorithmExpected" not in d:
        return "no registered platform's key matches the signature"
    return (f"no key and algorithm we know match: check the {d['verifiedBytes']} bytes you signed "
            f"(SHA-256 {d['verifiedSha256'][:16]}…) against the Base64-decoded reqData")


def _signature_length(text: str) -> Optional[int]:
    try:
        return len(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None
