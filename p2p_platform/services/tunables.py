"""The platform's business settings an operator may change while it runs (``/sim/config``).

Commission rates, the minimum tender and the withdrawal fee are set at start
(``BORROWER_COMMISSION_RATE`` …); a scenario run against a served platform
applies its own ``config:`` here and puts the previous values back at its end.
``dailyJob`` says whether a served platform runs its daily job by itself once
per business date (``auto``) or only when ``POST /api/jobs/daily`` asks
(``manual``): a scenario run sets ``manual`` while it runs, so the job runs
where its steps say, as in process, and not whenever a background thread
notices the moved clock.
A change is kept in ``meta`` (``config.<key>``), so every worker process and a
restart see it; a value equal to the one the platform started with removes the
row. Invariant guarded: a change is whole and valid or refused (nothing
written), and a project keeps the rates it was created with.
"""
from __future__ import annotations

import dataclasses
import sqlite3
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from bank_depository.protocol.money import AmountError, format_fen, parse_yuan

from ..domain.errors import bad
from ..storage import meta
from .context import PlatformContext, Settings

#: wire name -> Settings field
KEYS = {"borrowerCommissionRate": "borrower_commission_rate", "investorCommissionRate": "investor_commission_rate",
        "minTender": "min_tender", "withdrawCommission": "withdraw_commission", "dailyJob": "daily_job"}
RATES = ("borrower_commission_rate", "investor_commission_rate")
DAILY_JOB_MODES = ("auto", "manual")
_PREFIX = "config."


def current(ctx: PlatformContext, conn: Optional[sqlite3.Connection] = None) -> Settings:
    """The settings in force: the start-up ones with the stored changes applied."""
    rows = (conn or ctx.store.conn()).execute(
        "SELECT key, value FROM meta WHERE key >= ? AND key < ?", (_PREFIX, _PREFIX[:-1] + "/")).fetchall()
    if not rows:
        return ctx.settings
    changed: dict[str, Any] = {}
    for key, value in rows:
        name = key[len(_PREFIX):]
        if name in RATES:
            changed[name] = Decimal(value)
        elif name == "daily_job":
            changed[name] = value
        elif name in KEYS.values():
            changed[name] = int(value)
    return dataclasses.replace(ctx.settings, **changed)


def view(settings: Settings) -> dict:
    return {wire: (str(getattr(settings, name)) if name in RATES or name == "daily_job"
                   else format_fen(getattr(settings, name)))
            for wire, name in KEYS.items()}


def show(ctx: PlatformContext) -> dict:
    return {"config": view(current(ctx)), "started": view(ctx.settings)}


def _parse(wire: str, value: Any) -> Any:
    name = KEYS[wire]
    if not isinstance(value, str):
        raise bad(f"{wire} must be text (quote it: \"{value}\")")
    if name == "daily_job":
        if value not in DAILY_JOB_MODES:
            raise bad(f"{wire} must be one of {', '.join(DAILY_JOB_MODES)}, got {value!r}")
        return value
    if name in RATES:
        try:
            rate = Decimal(value)
        except InvalidOperation:
            raise bad(f"{wire} must be a decimal rate, got {value!r}") from None
        if not rate.is_finite() or not 0 <= rate < 1:
            raise bad(f"{wire} must be a rate from 0 to below 1, got {value!r}")
        return rate
    try:
        return parse_yuan(value, wire, allow_zero=name == "withdraw_commission")
    except AmountError as exc:
        raise bad(str(exc)) from None


def update(ctx: PlatformContext, data: dict) -> dict:
    """``POST /sim/config``: change some settings, all or none; the settings in force after."""
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise bad(f"unknown config key(s) {', '.join(unknown)}; allowed: {', '.join(KEYS)}")
    parsed = {KEYS[wire]: _parse(wire, value) for wire, value in data.items()}
    with ctx.store.write() as conn:
        after = dataclasses.replace(current(ctx, conn), **parsed)
        if after.borrower_commission_rate + after.investor_commission_rate >= 1:
            raise bad("borrowerCommissionRate + investorCommissionRate must stay below 1")
        for name, value in parsed.items():
            if value == getattr(ctx.settings, name):
                conn.execute("DELETE FROM meta WHERE key = ?", (_PREFIX + name,))
            else:
                meta.put(conn, _PREFIX + name, str(value))
    return show(ctx)
