"""Daily check files (对账文件): one CSV line per balance-changing request of a day.

A request is listed on the business date (bank clock, CST) when it reached
its final successful state. The first two lines are the control totals; then
a header and the lines ordered by finish time and requestNo, so a closed day
gives the same bytes every time. A day without activity is an empty file
with zero totals. Today's file can be read too, but it is marked open.

The file is served two ways with the same bytes, both made by :func:`lines`:

* ``DOWNLOAD_CHECKFILE`` on ``/service``: the whole text in ``respData.content``
  (the signed JSON answer of every service; fine for small days);
* ``POST /checkfile`` (:func:`stream`): the bytes streamed from a SQLite cursor
  in one read snapshot, then one signed trailer line
  ``#SIGNATURE,<fileDate>,<closed 0|1>,<content bytes>,<algorithm>,<signature>``
  whose signature covers the hash of every byte before it (see
  :mod:`bank_depository.protocol.trailer`). Memory stays flat however long
  the day is: the totals come from one aggregate query, lines are written as
  they are read.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
import sqlite3
from dataclasses import dataclass
from typing import Generator, Iterator

from ..domain.errors import BankError, param_error
from ..domain.fields import Payload
from ..protocol import codes, services as svc, trailer
from ..protocol.checkfile import COLUMNS, TOTALS
from ..protocol.money import format_fen
from ..storage import db
from .context import BankContext, Platform

CHUNK_BYTES = 64 * 1024

_MONEY = tuple(sorted(svc.MONEY_SERVICES))
_WHERE = (f" FROM requests WHERE platform_no = ? AND business_date = ? AND status = 1"
          f" AND service_name IN ({', '.join('?' * len(_MONEY))})")


@dataclass(frozen=True)
class Totals:
    count: int
    amount: int
    commission: int


def totals(conn: sqlite3.Connection, platform_no: str, day: dt.date) -> Totals:
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(amount), 0), COALESCE(SUM(commission), 0)" + _WHERE,
                       (platform_no, day.isoformat(), *_MONEY)).fetchone()
    return Totals(row[0], row[1], row[2])


class _Writer:
    """One CSV line at a time, formatted exactly like csv.writer writes a whole file."""

    def __init__(self):
        self._buf = io.StringIO()
        self._csv = csv.writer(self._buf, lineterminator="\n")

    def line(self, row) -> str:
        self._buf.seek(0)
        self._buf.truncate()
        self._csv.writerow(row)
        return self._buf.getvalue()


def lines(conn: sqlite3.Connection, platform_no: str, day: dt.date, t: Totals) -> Generator[str, None, None]:
    """The file's lines (with their newline), header first, read from a cursor.

    ``t`` must come from the same read snapshot (see :func:`snapshot`) so the
    header agrees with the lines.
    """
    w = _Writer()
    yield w.line(TOTALS)
    yield w.line((day.isoformat(), platform_no, t.count, format_fen(t.amount), format_fen(t.commission)))
    yield w.line(COLUMNS)
    cursor = conn.execute("SELECT request_no, service_name, biz_type, user_no, counterparty, amount, commission,"
                          " finished_at" + _WHERE + " ORDER BY finished_at, request_no",
                          (platform_no, day.isoformat(), *_MONEY))
    for r in cursor:
        yield w.line((r[0], r[1], r[2], r[3], r[4], format_fen(r[5]), format_fen(r[6]), "SUCCESS", r[7]))


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: the totals and the lines see the same committed state."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


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
    with snapshot(conn):
        t = totals(conn, platform_no, day)
        content = "".join(lines(conn, platform_no, day, t))
    return content, t.count, t.amount, t.commission


def checked_day(ctx: BankContext, p: Payload) -> tuple[dt.date, bool]:
    """(fileDate, closed) of a request; a day that has not begun is refused."""
    day = parse_day(p.text("fileDate"))
    today = ctx.clock.now().date()
    if day > today:
        raise BankError(codes.CHECKFILE_NOT_READY, f"{day} has not begun (bank date {today})")
    return day, day < today


def download(ctx: BankContext, platform_no: str, p: Payload) -> dict:
    day, closed = checked_day(ctx, p)
    content, count, total, commission = render(ctx.conn(), platform_no, day)
    return {"fileDate": day.isoformat(), "closed": closed, "count": count,
            "totalAmount": format_fen(total), "totalCommission": format_fen(commission), "content": content}


def stream(ctx: BankContext, platform: Platform, p: Payload, *,
           with_trailer: bool = True) -> tuple[dt.date, bool, Iterator[bytes]]:
    """(fileDate, closed, body chunks) of the streamed file; refusals raise before anything is sent.

    ``with_trailer=False`` is the fault injector's cut stream: the file without
    its trailer, which a reader must refuse.
    """
    day, closed = checked_day(ctx, p)
    return day, closed, _chunks(ctx, platform, day, closed, with_trailer)


def _chunks(ctx: BankContext, platform: Platform, day: dt.date, closed: bool, with_trailer: bool) -> Iterator[bytes]:
    # A connection of its own: the read snapshot lives as long as the response, on whatever
    # thread the server drains it from, and is closed when the client stops reading.
    own = ctx.database.path != ":memory:"
    conn = db.connect(ctx.database.path) if own else ctx.conn()
    signer = trailer.Signer(platform.algorithm)
    try:
        buf: list[bytes] = []
        size = 0
        with snapshot(conn):
            rows = lines(conn, platform.platform_no, day, totals(conn, platform.platform_no, day))
            try:
                for text in rows:
                    buf.append(signer.feed(text.encode("utf-8")))
                    size += len(buf[-1])
                    if size >= CHUNK_BYTES:
                        yield b"".join(buf)
                        buf.clear()
                        size = 0
            finally:
                rows.close()  # finalise the cursor before the snapshot ends
        if with_trailer:
            buf.append(signer.trailer(ctx.private_key, day.isoformat(), closed))
        yield b"".join(buf)
    finally:
        if own:
            conn.close()
