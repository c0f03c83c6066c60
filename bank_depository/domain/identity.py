"""Who a customer is: ID numbers (GB 11643-1999), mobiles, masks, trade passwords.

Trade passwords are stored only as salted PBKDF2-SHA256 hashes whose work
factor is part of the stored text, so it can be tuned without migrations.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from ..protocol.catalogue import MOBILE_PATTERN

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_MOBILE = re.compile(MOBILE_PATTERN)
DEFAULT_ITERATIONS = 120_000


def id_number_problem(id_number: str) -> str | None:
    """Why an 18-character resident ID number is invalid, or None when it is valid."""
    text = str(id_number or "").strip().upper()
    if not re.fullmatch(r"[0-9]{17}[0-9X]", text):
        return "ID number must be 17 digits and a check character"
    try:
        dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return "ID number has an impossible birth date"
    total = sum(int(d) * w for d, w in zip(text[:17], _WEIGHTS))
    if _CHECK[total % 11] != text[17]:
        return "ID number check character is wrong (GB 11643)"
    return None


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of 17 digits (for generating test identities)."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def luhn_check_digit(digits: str) -> str:
    """The Luhn (ISO/IEC 7812) check digit to append to ``digits``."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def sample_identity(index: int, tag: int, *, luhn: bool = False) -> dict[str, str]:
    """A valid, deterministic test identity: ``idNumber`` (GB 11643 check character), ``mobile``, ``cardNumber``.

    ``tag`` separates runs (another tag, other numbers); ``index`` separates people of a run. With
    ``luhn`` the card number is 16 digits ending in its Luhn check digit, like a real card.
    """
    day = 1 + (index - 1) % 28
    month = 1 + ((index - 1) // 28) % 12
    first17 = f"{110101 + tag % 89999:06d}19{80 + (index // 336) % 20:02d}{month:02d}{day:02d}{index % 1000:03d}"
    card = f"6222{tag % 10**6:06d}{index:06d}"
    if luhn:
        card = f"6222{tag % 10**5:05d}{index % 10**6:06d}"
        card += luhn_check_digit(card)
    return {"idNumber": first17 + id_check_char(first17), "mobile": f"139{(tag * 100000 + index) % 10**8:08d}",
            "cardNumber": card}


def mobile_problem(mobile: str) -> str | None:
    if not _MOBILE.match(str(mobile or "").strip()):
        return "mobile must be an 11-digit mainland number starting with 13-19"
    return None


def mask_mobile(mobile: str) -> str:
    m = str(mobile)
    return m[:3] + "****" + m[-4:] if len(m) >= 7 else "****"


def mask_card(card_number: str) -> str:
    c = str(card_number)
    return "*" * max(len(c) - 4, 0) + c[-4:] if len(c) > 4 else c


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("ascii"), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", str(password).encode("utf-8"), salt.encode("ascii"),
                                    int(iterations))
    return hmac.compare_digest(candidate.hex(), digest)


def password_problem(password: str) -> str | None:
    if not isinstance(password, str) or not (6 <= len(password) <= 32):
        return "trade password must be 6 to 32 characters"
    return None
