"""RSA keys and RSASSA-PKCS1-v1_5 signatures, as both sides of the wire use them.

Keys load from PEM or from the original Java project's bare Base64 DER
(PKCS#8 private, X.509 SubjectPublicKeyInfo public). The hash is a
per-platform setting: ``SHA256withRSA`` (default) or ``SHA1withRSA``.
Keys shorter than 2048 bits are refused unless the caller opts in (the
original's 512-bit demo keys exist only for the legacy profile).
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import TypeVar, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SHA256 = "SHA256withRSA"
SHA1 = "SHA1withRSA"
ALGORITHMS = {SHA256: hashes.SHA256, SHA1: hashes.SHA1}
MIN_BITS = 2048

PrivateKey = rsa.RSAPrivateKey
PublicKey = rsa.RSAPublicKey


class KeyError_(ValueError):
    """A key that cannot be loaded or is too weak."""


def _hash(algorithm: str) -> hashes.HashAlgorithm:
    try:
        return ALGORITHMS[algorithm]()
    except KeyError:
        raise KeyError_(f"unknown signature algorithm {algorithm!r}; use one of {sorted(ALGORITHMS)}") from None


def _raw(material: Union[str, bytes, Path]) -> bytes:
    if isinstance(material, Path):
        return material.read_bytes()
    if isinstance(material, str):
        return material.encode("ascii", "replace")
    return material


def _bare_der(raw: bytes) -> bytes:
    """DER from bare Base64, which Java tools often wrap at 64 or 76 columns."""
    return base64.b64decode(b"".join(raw.split()), validate=True)


def key_text(value: Union[str, bytes, Path]) -> str:
    """Key material as text: a Path (or a string naming an existing file) is read;
    PEM text and bare Base64 DER are returned as they are."""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if isinstance(value, Path):
        return value.read_text(encoding="utf-8")
    text = str(value)
    if text.lstrip().startswith("-----") or "\n" in text.strip():
        return text
    try:
        if Path(text).is_file():
            return Path(text).read_text(encoding="utf-8")
    except OSError:  # e.g. a Base64 key longer than a file name may be
        pass
    return text


_Key = TypeVar("_Key", rsa.RSAPrivateKey, rsa.RSAPublicKey)


def _check_bits(key: _Key, allow_weak: bool) -> _Key:
    if key.key_size < MIN_BITS and not allow_weak:
        raise KeyError_(f"RSA key of {key.key_size} bits is too weak (need {MIN_BITS}); "
                        "weak keys are accepted only by the legacy profile")
    return key


def load_private_key(material: Union[str, bytes, Path], *, allow_weak: bool = False) -> PrivateKey:
    """A private key from PEM text/file or bare Base64 PKCS#8 DER."""
    raw = _raw(material).strip()
    try:
        if raw.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(raw, password=None)
        else:
            key = serialization.load_der_private_key(_bare_der(raw), password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise KeyError_(f"cannot load private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyError_("not an RSA private key")
    return _check_bits(key, allow_weak)


def load_public_key(material: Union[str, bytes, Path], *, allow_weak: bool = False) -> PublicKey:
    """A public key from PEM text/file or bare Base64 X.509 SubjectPublicKeyInfo DER."""
    raw = _raw(material).strip()
    try:
        if raw.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(raw)
        else:
            key = serialization.load_der_public_key(_bare_der(raw))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise KeyError_(f"cannot load public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyError_("not an RSA public key")
    return _check_bits(key, allow_weak)


def generate_key_pair(bits: int = 2048) -> tuple[bytes, bytes]:
    """A new (private PEM, public PEM) pair."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_pem, public_pem


def sign(key: PrivateKey, data: bytes, algorithm: str = SHA256) -> str:
    """Base64 (padded) of the PKCS#1 v1.5 signature of ``data``."""
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), _hash(algorithm))).decode("ascii")


def verify(key: PublicKey, data: bytes, signature: str, algorithm: str = SHA256) -> bool:
    """True when ``signature`` (Base64) is a valid signature of ``data``; never raises on bad input."""
    try:
        raw_sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    try:
        key.verify(raw_sig, data, padding.PKCS1v15(), _hash(algorithm))
    except InvalidSignature:
        return False
    return True
