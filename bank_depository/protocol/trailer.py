"""A streamed file closed by one signed trailer line, so neither side holds the file.

The streamed check file (``POST /checkfile``) is the file's exact bytes —
the same bytes as ``respData.content`` of ``DOWNLOAD_CHECKFILE`` — followed by
one last line::

    #SIGNATURE,<fileDate>,<closed 0|1>,<content bytes>,<algorithm>,<signature>\\n

``<content bytes>`` is the number of bytes before the trailer, ``<algorithm>``
the platform's signature algorithm (``SHA256withRSA``, or ``SHA1withRSA`` for a
legacy platform), and ``<signature>`` the Base64 RSASSA-PKCS1-v1_5 signature
over the hash of **every byte before it**: the file's bytes and the trailer's
own prefix up to and including the last comma. Both sides hash incrementally
and sign or verify the digest (cryptography's ``Prehashed``), so the result is
exactly ``signing.sign(key, body_up_to_the_signature, algorithm)``: the date,
the closed flag and the byte count are covered as well.

Invariant guarded: a reader accepts the file only when the trailer is the last
line, ends with its newline, names the date asked for and the algorithm agreed,
counts exactly the bytes received, and its signature verifies. A cut stream,
a changed byte, or a missing trailer is refused.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from . import signing

MARKER = "#SIGNATURE"
_DIGESTS = {signing.SHA256: (hashlib.sha256, hashes.SHA256), signing.SHA1: (hashlib.sha1, hashes.SHA1)}


class TrailerError(ValueError):
    """The stream is not a complete file with a trailer that verifies."""


def _digest(algorithm: str) -> tuple[Callable[[], Any], type[hashes.HashAlgorithm]]:
    try:
        return _DIGESTS[algorithm]
    except KeyError:
        raise TrailerError(f"unknown signature algorithm {algorithm!r}") from None


class _Hashing:
    def __init__(self, algorithm: str):
        self.algorithm = algorithm
        self._new, self._prehashed = _digest(algorithm)
        self._hash = self._new()
        self.size = 0

    def feed(self, data: bytes) -> bytes:
        self._hash.update(data)
        self.size += len(data)
        return data

    def _digest_with(self, prefix: bytes) -> bytes:
        h = self._hash.copy()
        h.update(prefix)
        digest: bytes = h.digest()
        return digest


def _prefix(file_date: str, closed: bool, size: int, algorithm: str) -> bytes:
    return f"{MARKER},{file_date},{int(closed)},{size},{algorithm},".encode("ascii")


class Signer(_Hashing):
    """Feed the file's bytes as they are written; then ``trailer()`` closes the stream."""

    def trailer(self, key: signing.PrivateKey, file_date: str, closed: bool) -> bytes:
        prefix = _prefix(file_date, closed, self.size, self.algorithm)
        raw = key.sign(self._digest_with(prefix), padding.PKCS1v15(), utils.Prehashed(self._prehashed()))
        return prefix + base64.b64encode(raw) + b"\n"


@dataclass(frozen=True)
class Verified:
    file_date: str
    closed: bool
    size: int


class Verifier(_Hashing):
    """Feed the bytes received before the last line; then ``check()`` the last line."""

    def check(self, line: bytes, key: signing.PublicKey, file_date: str) -> Verified:
        if not line.endswith(b"\n"):
            raise TrailerError("the stream ended without its trailer (cut short)")
        prefix, _, signature = line[:-1].rpartition(b",")
        try:
            marker, day, closed, size, algorithm = prefix.decode("ascii").split(",")
            size_n = int(size)
        except (UnicodeDecodeError, ValueError):
            raise TrailerError("the last line is not a signature trailer (stream cut short?)") from None
        if marker != MARKER:
            raise TrailerError("the last line is not a signature trailer (stream cut short?)")
        if day != file_date:
            raise TrailerError(f"the trailer is for {day}, not {file_date}")
        if algorithm != self.algorithm:
            raise TrailerError(f"the trailer names {algorithm!r}, expected {self.algorithm!r}")
        if closed not in ("0", "1"):
            raise TrailerError(f"the trailer's closed flag is {closed!r}, not 0 or 1")
        if size_n != self.size:
            raise TrailerError(f"the trailer covers {size_n} bytes, {self.size} arrived")
        try:
            raw = base64.b64decode(signature, validate=True)
            key.verify(raw, self._digest_with(prefix + b","), padding.PKCS1v15(),
                       utils.Prehashed(self._prehashed()))
        except (binascii.Error, ValueError, InvalidSignature):
            raise TrailerError("the trailer's signature does not verify") from None
        return Verified(day, closed == "1", size_n)
