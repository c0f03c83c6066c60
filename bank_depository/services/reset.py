"""``POST /sim/reset``: a platform's sandbox (or the whole bank's) back to empty.

One transaction: the platform's users, cards, accounts and the entries that
touched them, projects, holds, claims, requests, notifications, request log
and the fault rules that name it (``platformNo``) are removed, and the
ledger stays sound (see :mod:`bank_depository.storage.reset`). Registered
platforms stay registered. The clock is the bank's, one for every platform:
a full reset puts it back where the configuration starts it; a per-platform
reset leaves it, so the other platforms are untouched.
"""
from __future__ import annotations

from typing import Optional

from ..clock import PersistentClock, iso, parse_instant
from ..domain.errors import NotFound, param_error
from ..storage import db, reset as reset_sql
from .context import BankContext


def reset(ctx: BankContext, data: dict) -> dict:
    unknown = sorted(set(data) - {"platformNo"})
    if unknown:
        raise param_error(f"unknown field(s) {', '.join(unknown)}; give {{\"platformNo\": NO}} or {{}}")
    platform_no: Optional[str] = data.get("platformNo")
    if platform_no is not None:
        if not isinstance(platform_no, str) or ctx.platform(platform_no) is None:
            raise NotFound(f"no platform {platform_no!r}; registered: {', '.join(sorted(ctx.platforms))}")
    conn = ctx.conn()
    with db.transaction(conn):
        if platform_no is None:
            removed = reset_sql.everything(conn)
            if isinstance(ctx.clock, PersistentClock):
                start, frozen = ctx.clock_start
                ctx.clock.restart(conn, parse_instant(start) if start else None, frozen)
        else:
            removed = reset_sql.platform(conn, platform_no)
            if ctx.faults is not None:
                removed["fault_rules"] = ctx.faults.delete_platform(conn, platform_no)
    return {"platformNo": platform_no, "removed": {k: v for k, v in removed.items() if v},
            "now": iso(ctx.clock.now())}
