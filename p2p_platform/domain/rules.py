"""Tender rules of the transaction center (the original's, applied exactly).

A tender is at least the minimum amount, never more than what remains of the
project, and leaves either nothing or at least the minimum for the next
investor. The investor rate is the project rate minus both commission rates.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Optional

from bank_depository.protocol.money import format_fen


def tender_problem(amount: int, remaining: int, minimum: int) -> Optional[tuple[str, str]]:
    """(code, message) of the first broken rule, or None."""
    if remaining <= 0:
        return "PROJECT_FULL", "the project is fully tendered"
    if amount > remaining:
        return "TENDER_OVER_REMAINING", f"only {format_fen(remaining)} remains, tender is {format_fen(amount)}"
    if amount < minimum and amount != remaining:
        return "TENDER_BELOW_MINIMUM", f"the minimum tender is {format_fen(minimum)}"
    left = remaining - amount
    if 0 < left < minimum:
        return "TENDER_LEAVES_TOO_LITTLE", (f"would leave {format_fen(left)}, less than the minimum"
                                            f" {format_fen(minimum)}; tender {format_fen(remaining)} or at most"
                                            f" {format_fen(remaining - minimum)}")
    return None


def investor_rate(annual_rate: Decimal, borrower_commission: Decimal, investor_commission: Decimal) -> Decimal:
    rate = annual_rate - borrower_commission - investor_commission
    if rate < 0:
        raise ValueError("the commission rates exceed the project's annual rate")
    return rate
