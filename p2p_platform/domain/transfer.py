"""Splitting a seller's receivables when part of a claim is sold (债权转让).

Pure and exact in fen. Invariants guarded: the buyer receives exactly the
principal sold; for every row, buyer part + seller part == the original row
(principal, interest and commission alike), so the borrower's plan and the
per-period identity (borrower pays = investors receive + platform fees) are
untouched; no part is negative; selling everything moves whole rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .schedule import round_half_up_fen, split_largest_remainder


@dataclass(frozen=True)
class Row:
    principal: int
    interest: int
    commission: int


def buyer_parts(rows: list[Row], sold: int) -> list[Row]:
    """The buyer's part of each unpaid receivable row for ``sold`` fen of principal."""
    held = sum(r.principal for r in rows)
    if not 0 < sold <= held:
        raise ValueError(f"can sell between 0.01 and the {held} fen of principal held, not {sold}")
    if sold == held:
        return list(rows)
    principals = split_largest_remainder(sold, [r.principal for r in rows])
    share = Decimal(sold) / Decimal(held)
    return [Row(p, min(r.interest, round_half_up_fen(r.interest * share)),
                min(r.commission, round_half_up_fen(r.commission * share)))
            for r, p in zip(rows, principals)]
