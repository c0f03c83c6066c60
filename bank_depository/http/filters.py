"""How the bank's HTML pages write money, times and account codes (one place, every template).

``yuan`` takes integer fen or a yuan string and writes ``¥12,345.67``; ``cst``
writes a stored ISO instant in the bank's zone (China Standard Time, the
clock's ``CST``); nothing here touches the database.
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from flask import Flask

from ..clock import CST, ClockError, parse_instant
from ..domain.identity import mask_card


def fen_of(value: object) -> int | None:
    """Integer fen of ``value`` (int = fen, str/Decimal = yuan); None when it is not an amount."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    try:
        dec = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        return None
    if not dec.is_finite():
        return None
    return int((dec * 100).to_integral_value())


def yuan(value: object) -> str:
    fen = fen_of(value)
    if fen is None:
        return "" if value is None else str(value)
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}¥{whole:,}.{cents:02d}"


def cst(value: object, seconds: bool = True) -> str:
    if not value:
        return ""
    try:
        instant = parse_instant(str(value))
    except ClockError:
        return str(value)
    return instant.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


_KIND = {"available": "可用", "frozen": "冻结"}


def account_label(code: str) -> str:
    """A ledger account code as a person reads it: ``U1 可用``, ``卡 ****0001``, ``平台手续费``, ``外部资金``."""
    parts = str(code).split(":")
    if parts[0] == "user" and len(parts) == 4:
        return f"{parts[2]} {_KIND.get(parts[3], parts[3])}"
    if parts[0] == "card" and len(parts) == 2:
        return f"卡 {mask_card(parts[1])}"
    if parts[0] == "fee":
        return f"平台手续费 {parts[1] if len(parts) > 1 else ''}".strip()
    if code == "funding":
        return "外部资金 funding"
    return str(code)


def pretty(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, default=str)


def install(app: Flask) -> None:
    app.add_template_filter(yuan, "yuan")
    app.add_template_filter(cst, "cst")
    app.add_template_filter(account_label, "account_label")
    app.add_template_filter(mask_card, "mask_card")
    app.add_template_filter(pretty, "pretty")
