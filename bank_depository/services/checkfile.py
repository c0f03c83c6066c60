"""Daily check files (对账文件): one CSV line per balance-changing request of a day.

A request is listed on the business date (bank clock, CST) when it reached
its final successful state. The first two lines are the control totals; then
a header and the lines ordered by finish time and requestNo, so a closed day
gives the same bytes every time. A day without activity is an empty file
with zero totals. Today's file can be read too, but it is marked open.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sqlite3
from typing import Iterator

from ..domain.errors import BankError, param_error
from ..domain.fields import Payload
from ..protocol import codes, services as svc
from ..protocol.money import format_fen
from .context import BankContext

COLUMNS = ("requestNo", "serviceName", "bizType", "userNo", "counterparty", "amount", "commission", "status",
           "finishedAt")
TOTALS = ("fileDate", "platformNo", "count", "totalAmount", "totalCommission")


def _rows(conn: sqlite3.Connection, platform_no: str, day: str) -> Iterator[sqlite3.Row]:
    money = tuple(sorted(svc.MONEY_SERVICES))
    marks = ", ".join("?" * len(money))
    return conn.execute(
        "SELECT request_no, service_name, biz_type, user_no, counterparty, amount, commission, finished_at"
        f" FROM requests WHERE platform_no = ? AND business_date = ? AND status = 1 AND service_name IN ({marks})"
        " ORDER BY finished_at, request_no", (platform_no, day, *money))


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str) -> dt.date:
    """A calendar date written YYYY-MM-DD, and only that (Python 3.11+ would also take 20260105 or 2026-W02-1)."""
    value = str(text).strip()
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise param_error(f"fileDate {text!r} is not a date (YYYY-MM-DD)") from None


def render(conn: sqlite3.Connection, platform_no: str, day: dt.date) -> tuple[str, int, int, int]:
    """(content, count, total amount fen, total commission fen) of one day's file."""
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    count = total = commission = 0
    for r in _rows(conn, platform_no, day.isoformat()):
        count += 1
        total += r["amount"]
        commission += r["commission"]
        writer.writerow((r["request_no"], r["service_name"], r["biz_type"], r["user_no"], r["counterparty"],
                         format_fen(r["amount"]), format_fen(r["commission"]), "SUCCESS", r["finished_at"]))
    head = io.StringIO()
    hw = csv.writer(head, lineterminator="\n")
    hw.writerow(TOTALS)
    hw.writerow((day.isoformat(), platform_no, count, format_fen(total), format_fen(commission)))
    hw.writerow(COLUMNS)
    return head.getvalue() + lines.getvalue(), count, total, commission


def download(ctx: BankContext, platform_no: str, p: Payload) -> dict:
    day = parse_day(p.text("fileDate"))
    today = ctx.clock.now().date()
    if day > today:
        raise BankError(codes.CHECKFILE_NOT_READY, f"{day} has not begun (bank date {today})")
    content, count, total, commission = render(ctx.conn(), platform_no, day)
    return {"fileDate": day.isoformat(), "closed": day < today, "count": count,
            "totalAmount": format_fen(total), "totalCommission": format_fen(commission), "content": content}
