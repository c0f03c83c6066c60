"""Money at the edges of the wire: yuan text in, integer fen inside, yuan text out.

Invariant guarded: no float ever becomes money. An amount is accepted only when
it is exactly representable in fen (at most two decimals), finite, within
bounds, and (unless zero is allowed) strictly positive.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

#: Upper bound of any single amount: 100 billion yuan.
MAX_FEN = 10_000_000_000_000

#: What a yuan amount given as text looks like (the OpenAPI document publishes this pattern).
YUAN_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
_YUAN_TEXT = re.compile(YUAN_PATTERN)
_MAX_YUAN = Decimal(MAX_FEN).scaleb(-2)


class AmountError(ValueError):
    """An amount that cannot be money; ``field`` names where it came from."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_yuan(value: object, field: str = "amount", *, allow_zero: bool = False) -> int:
    """Parse a yuan amount (JSON number, Decimal, int or numeric string) into fen."""
    if isinstance(value, bool) or value is None:
        raise AmountError(field, "is required and must be a yuan amount")
    if isinstance(value, float):
        # A float is only money if its shortest repr is an exact 2-decimal amount.
        value = repr(value)
    if isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        text = value.strip()
        if not _YUAN_TEXT.match(text):
            raise AmountError(field, f"{value!r} is not a yuan amount with at most 2 decimals")
        dec = Decimal(text)
    else:
        raise AmountError(field, f"{value!r} is not a yuan amount")
    try:
        if not dec.is_finite():
            raise AmountError(field, "must be a finite number")
    except InvalidOperation:  # pragma: no cover - defensive
        raise AmountError(field, "is not a number") from None
    if dec.as_tuple().exponent < -2:  # type: ignore[operator]
        raise AmountError(field, f"{value} has more than 2 decimals")
    if dec < 0:
        raise AmountError(field, "must not be negative")
    # Bound before scaling: a huge exponent (1e999999) would overflow the context.
    if dec > _MAX_YUAN:
        raise AmountError(field, f"exceeds the maximum of {format_fen(MAX_FEN)}")
    fen = int(dec * 100)
    if fen == 0 and not allow_zero:
        raise AmountError(field, "must be greater than 0")
    return fen


def format_fen(fen: int) -> str:
    """Integer fen as a yuan string with exactly two decimals, e.g. 10050 -> '100.50'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"
