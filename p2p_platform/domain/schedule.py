"""Repayment schedules and the platform's commission split, in whole fen.

Pure functions: no I/O, no clock, no floats. The invariants guarded here:

* the principals of a schedule sum exactly to the loan; the remainder left by
  rounding goes to the last period;
* every principal, interest, commission and fee is a non-negative integer;
* each tender's principals over the plan sum exactly to the tender amount;
* per period, what the borrower pays equals what the investors receive plus
  what the platform keeps, to the fen.

All rounding goes through ``round_half_up_fen``.
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

METHODS = ("equal_installment", "equal_principal", "interest_first", "bullet")
MAX_PERIODS = 360

_CONTEXT = Context(prec=50)
_ONE = Decimal(1)
_MONTHS_PER_YEAR = 12


def round_half_up_fen(value: Decimal) -> int:
    """Round an exact amount of fen to a whole fen, halves away from zero."""
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP, context=_CONTEXT))


@dataclass(frozen=True)
class Period:
    period: int
    month_offset: int
    principal: int
    interest: int

    @property
    def amount(self) -> int:
        return self.principal + self.interest


@dataclass(frozen=True)
class InvestorShare:
    period: int
    month_offset: int
    principal: int
    interest: int
    commission: int


@dataclass(frozen=True)
class PlanPeriod:
    period: int
    month_offset: int
    principal: int
    interest: int
    platform_fee: int
    investors: tuple[InvestorShare, ...]

    @property
    def amount(self) -> int:
        return self.principal + self.interest


def schedule(principal: int, annual_rate: Decimal, periods: int, method: str) -> list[Period]:
    """The borrower's schedule for a loan of ``principal`` fen.

    ``bullet`` returns a single period numbered 1 that falls due ``periods``
    months after the loan; every other method has ``month_offset == period``.
    """
    _check_amount("principal", principal)
    _check_rate("annual_rate", annual_rate)
    if annual_rate >= 1:
        raise ValueError(f"annual_rate must be below 1, got {annual_rate}")
    if not _is_int(periods) or not 1 <= periods <= MAX_PERIODS:
        raise ValueError(f"periods must be an integer from 1 to {MAX_PERIODS}, got {periods!r}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    with localcontext(_CONTEXT):
        if method == "bullet":
            interest = round_half_up_fen(principal * annual_rate * periods / _MONTHS_PER_YEAR)
            return [Period(1, periods, principal, interest)]
        if method == "equal_installment":
            return _equal_installment(principal, annual_rate, periods)
        rows = []
        remaining = principal
        for k in range(1, periods + 1):
            if method == "equal_principal":
                part = principal // periods if k < periods else remaining
            else:
                part = principal if k == periods else 0
            rows.append(Period(k, k, part, _monthly_interest(remaining, annual_rate)))
            remaining -= part
        return rows


def _monthly_interest(remaining: int, annual_rate: Decimal) -> int:
    # Divide last: annual_rate / 12 rarely terminates, and a truncated monthly
    # rate would turn an exact half fen into 0.4999... and round it down.
    return round_half_up_fen(remaining * annual_rate / _MONTHS_PER_YEAR)


def _equal_installment(principal: int, annual_rate: Decimal, periods: int) -> list[Period]:
    r = annual_rate / _MONTHS_PER_YEAR
    if r == 0:
        payment = round_half_up_fen(Decimal(principal) / periods)
    else:
        growth = (1 + r) ** periods
        payment = round_half_up_fen(principal * r * growth / (growth - 1))
    rows = []
    remaining = principal
    for k in range(1, periods + 1):
        interest = _monthly_interest(remaining, annual_rate)
        # Tiny loans round the payment up enough to repay early; never overshoot.
        part = remaining if k == periods else min(payment - interest, remaining)
        rows.append(Period(k, k, part, interest))
        remaining -= part
    return rows


def split_largest_remainder(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` exactly (Hamilton's method).

    Each part is the floor of its quota; the units left over go to the largest
    remainders, ties to the lower index.
    """
    if not _is_int(total) or total < 0:
        raise ValueError(f"total must be a non-negative integer, got {total!r}")
    if not weights:
        raise ValueError("weights must not be empty")
    if any(not _is_int(w) or w < 0 for w in weights):
        raise ValueError(f"weights must be non-negative integers, got {weights!r}")
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total:
            raise ValueError("cannot split a positive total over zero weights")
        return [0] * len(weights)
    quotients = [divmod(total * w, weight_sum) for w in weights]
    parts = [q for q, _ in quotients]
    order = sorted(range(len(weights)), key=lambda i: (-quotients[i][1], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def repayment_plan(
    tenders: list[int],
    annual_rate: Decimal,
    periods: int,
    method: str,
    borrower_commission_rate: Decimal,
    investor_commission_rate: Decimal,
) -> list[PlanPeriod]:
    """The borrower's schedule split into each tender's receivable and the platform's cut.

    Investors earn ``annual_rate - borrower_commission_rate -
    investor_commission_rate``; the investor commission is taken from each
    investor's gross interest, and the rest of the borrower's interest is the
    period's ``platform_fee``.
    """
    if not tenders:
        raise ValueError("tenders must not be empty")
    for amount in tenders:
        _check_amount("tender", amount)
    _check_rate("borrower_commission_rate", borrower_commission_rate)
    _check_rate("investor_commission_rate", investor_commission_rate)
    borrower = schedule(sum(tenders), annual_rate, periods, method)
    investor_rate = annual_rate - borrower_commission_rate - investor_commission_rate
    if investor_rate < 0:
        raise ValueError(
            f"commission rates {borrower_commission_rate} + {investor_commission_rate}"
            f" exceed the annual rate {annual_rate}"
        )
    plan = []
    allocated = [0] * len(tenders)
    cumulative = 0
    for row in borrower:
        cumulative += row.principal
        principals = _principal_shares(cumulative, row.principal, tenders, allocated)
        allocated = [a + p for a, p in zip(allocated, principals)]
        shares = []
        for principal, gross in zip(principals, split_largest_remainder(row.interest, tenders)):
            interest, commission = _net_of_commission(
                gross, annual_rate, investor_rate, investor_commission_rate
            )
            shares.append(InvestorShare(row.period, row.month_offset, principal, interest, commission))
        fee = row.interest - sum(s.interest + s.commission for s in shares)
        assert fee >= 0, "investor shares exceed the borrower's interest"
        plan.append(
            PlanPeriod(row.period, row.month_offset, row.principal, row.interest, fee, tuple(shares))
        )
    return plan


def _principal_shares(
    cumulative: int, increment: int, tenders: list[int], allocated: list[int]
) -> list[int]:
    # Splitting the cumulative principal keeps every tender's total exact, but
    # largest remainder is not monotone in the total (the Alabama paradox), so
    # a tender already ahead of its target takes nothing and the increment is
    # shared among those behind. No tender ever passes its own amount, so the
    # last period lands every tender exactly on it.
    target = split_largest_remainder(cumulative, tenders)
    behind = [max(0, t - a) for t, a in zip(target, allocated)]
    return split_largest_remainder(increment, behind)


def _net_of_commission(
    gross: int, annual_rate: Decimal, investor_rate: Decimal, commission_rate: Decimal
) -> tuple[int, int]:
    if annual_rate == 0:
        return 0, 0
    with localcontext(_CONTEXT):
        interest = round_half_up_fen(gross * investor_rate / annual_rate)
        commission = round_half_up_fen(gross * commission_rate / annual_rate)
    # Two halves rounded up could take one fen more than the gross share.
    return interest, min(commission, gross - interest)


def due_date(loan_date: datetime.date, month_offset: int) -> datetime.date:
    """``loan_date`` plus whole calendar months, clamped to the month's last day."""
    if not _is_int(month_offset) or month_offset < 0:
        raise ValueError(f"month_offset must be a non-negative integer, got {month_offset!r}")
    year, month0 = divmod(loan_date.year * 12 + loan_date.month - 1 + month_offset, 12)
    month = month0 + 1
    day = min(loan_date.day, calendar.monthrange(year, month)[1])
    return datetime.date(year, month, day)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_amount(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer number of fen, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def _check_rate(name: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise ValueError(f"{name} must be a decimal.Decimal, got {type(value).__name__} {value!r}")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a finite rate >= 0, got {value}")
