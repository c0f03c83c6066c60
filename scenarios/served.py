"""What a scenario run needs so that it reproduces on servers started elsewhere.

In process, every run gets a fresh bank and platform whose clocks start at the
scenario's ``start:`` (default :data:`DEFAULT_START`) with its ``config:``. A
served pair is shared and its clocks never go back, so a run there:

* applies its effective ``config:`` to the built-in platform (``/sim/config``)
  and puts the served values back at its end, or refuses before any step,
  naming each difference it could not apply (:func:`config_differences`);
  while it runs the platform's daily job is ``manual`` (it runs at
  ``run_daily`` / ``run_repayments``, as in process);
* sets both clocks to ``start:``, or refuses when a clock is already past it;
  without ``start:``, a scenario that moves the clock starts at the next date
  after the clocks whose calendar (days of the month, month lengths, leap
  days) matches the default start's for as many days as it moves
  (:func:`calendar_start`), so due dates fall on the same steps as in process.

No I/O here: the runner makes the calls.
"""
from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Optional

from bank_depository.protocol import clockrange
from bank_depository.protocol.money import AmountError, parse_yuan

from . import spec
from .harness import DEFAULT_START  # where an in-process run's clocks start without start:

#: scenario ``config:`` key -> the platform's ``/sim/config`` field
WIRE_CONFIG = {"borrower_commission_rate": "borrowerCommissionRate",
               "investor_commission_rate": "investorCommissionRate",
               "min_tender": "minTender", "withdraw_commission": "withdrawCommission"}


#: the platform's ``/sim/config`` field for its daily job, and the mode a run sets while it runs
DAILY_JOB, MANUAL = "dailyJob", "manual"


class Refusal(Exception):
    """The run cannot reproduce on these servers; it stops before its first step."""


def _same(key: str, a: Any, b: Any) -> bool:
    try:
        if spec.CONFIG_KEYS[key] == "rate":
            return Decimal(str(a)) == Decimal(str(b))
        return parse_yuan(str(a), key, allow_zero=True) == parse_yuan(str(b), key, allow_zero=True)
    except (InvalidOperation, AmountError):
        return str(a) == str(b)


def config_differences(served: dict, wanted: dict) -> dict[str, tuple[str, str]]:
    """scenario key -> (served value, scenario value) where the platform's ``config`` differs."""
    out = {}
    for key, wire in WIRE_CONFIG.items():
        have = served.get(wire)
        if have is None or not _same(key, have, wanted[key]):
            out[key] = ("?" if have is None else str(have), str(wanted[key]))
    return out


def describe(differences: dict[str, tuple[str, str]]) -> str:
    return "; ".join(f"{key}: served {have}, scenario {want}" for key, (have, want) in differences.items())


def days_moved(steps: Iterable[spec.Step]) -> Optional[int]:
    """How many days the scenario's ``advance_days`` steps move in all (wrapped steps too); None when
    it never moves the clock."""
    total, moves = 0, False
    for step in steps:
        inner = step.arg.get("step") if step.name in ("expect_error", "expect_unknown") and \
            isinstance(step.arg, dict) else None
        for s in ([inner] if isinstance(inner, spec.Step) else []) + [step]:
            if s.name == "advance_days" and isinstance(s.arg, int):
                total, moves = total + s.arg, True
    return total if moves else None


def _calendar(start: dt.date, days: int) -> list[tuple[int, int]]:
    """(day of month, days in that month) of each of the ``days`` days after ``start``: what decides
    on which of them a due date ``start + k months`` (clamped to the month's end) falls."""
    out = []
    for t in range(days + 1):
        d = start + dt.timedelta(days=t)
        out.append((d.day, calendar.monthrange(d.year, d.month)[1]))
    return out


def calendar_start(scenario_start: dt.datetime, not_before: dt.datetime, days: int) -> Optional[dt.datetime]:
    """The first instant at or after ``not_before``, at the time of day and on the day of the month of
    ``scenario_start``, whose next ``days`` days fall on the same days of months of the same lengths as
    the scenario's own (so every due date falls on the same step); None when there is none inside the
    clock's range."""
    if scenario_start >= not_before:
        return scenario_start
    want = _calendar(scenario_start.date(), days)
    year, month = not_before.year, not_before.month
    while year <= clockrange.LATEST.year:
        try:
            candidate = scenario_start.replace(year=year, month=month)
        except ValueError:  # no such day in that month
            candidate = None
        if candidate is not None and candidate >= not_before:
            if clockrange.problem(candidate + dt.timedelta(days=days)) is not None:
                return None
            if _calendar(candidate.date(), days) == want:
                return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def start_of(scenario: spec.Scenario) -> dt.datetime:
    return dt.datetime.fromisoformat(scenario.start or DEFAULT_START)
