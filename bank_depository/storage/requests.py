"""The ``requests`` table: one row per (platformNo, requestNo) the bank accepted.

It is at once the idempotency record (what was asked, what was answered), the
state of a gateway request waiting for its user, and the source of the check
file. Every read and write of the table lives here and returns typed rows, so
a query can never forget the platform: every function but the operator's
:func:`by_request_no` takes ``platform_no``.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Generator, Optional

from ..protocol import services as svc

_MONEY = tuple(sorted(svc.MONEY_SERVICES))
_DAY_WHERE = (f" FROM requests WHERE platform_no = ? AND business_date = ? AND status = 1"
              f" AND service_name IN ({', '.join('?' * len(_MONEY))})")


@dataclass(frozen=True)
class RequestRow:
    platform_no: str
    request_no: str
    service_name: str
    payload: str             # the exact JSON text the platform signed
    status: int              # 0 processing, 1 success, 2 failure
    resp_code: str
    resp_data: Optional[str]  # the exact respData text answered (None: a gateway request still waiting)
    biz_type: str
    user_no: str
    counterparty: str
    amount: int
    commission: int
    created_at: str
    finished_at: Optional[str]
    business_date: Optional[str]


_COLUMNS = ("platform_no, request_no, service_name, payload, status, resp_code, resp_data, biz_type, user_no,"
            " counterparty, amount, commission, created_at, finished_at, business_date")


def _row(r: Optional[sqlite3.Row]) -> Optional[RequestRow]:
    return None if r is None else RequestRow(*tuple(r))


def get(conn: sqlite3.Connection, platform_no: str, request_no: str) -> Optional[RequestRow]:
    return _row(conn.execute(f"SELECT {_COLUMNS} FROM requests WHERE platform_no = ? AND request_no = ?",
                             (platform_no, request_no)).fetchone())


def by_request_no(conn: sqlite3.Connection, request_no: str, platform_no: str = "") -> list[RequestRow]:
    """Every platform's row under ``request_no`` (the operator's view), or one platform's."""
    sql = f"SELECT {_COLUMNS} FROM requests WHERE request_no = ?" + (" AND platform_no = ?" if platform_no else "")
    args = (request_no, platform_no) if platform_no else (request_no,)
    return [RequestRow(*tuple(r)) for r in conn.execute(sql + " ORDER BY platform_no", args)]


def save(conn: sqlite3.Connection, *, platform_no: str, request_no: str, service_name: str, payload: str,
         status: int, resp_code: str, resp_data: Optional[str], now_iso: str, business_date: Optional[str],
         biz_type: str = "", user_no: str = "", counterparty: str = "", amount: int = 0,
         commission: int = 0) -> None:
    """Insert the row, or finish a processing one (a gateway request confirmed or refused)."""
    finished = now_iso if business_date else None
    conn.execute(
        f"INSERT INTO requests ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (platform_no, request_no) DO UPDATE SET status = excluded.status,"
        " resp_code = excluded.resp_code, resp_data = excluded.resp_data, biz_type = excluded.biz_type,"
        " user_no = excluded.user_no, counterparty = excluded.counterparty, amount = excluded.amount,"
        " commission = excluded.commission, finished_at = excluded.finished_at,"
        " business_date = excluded.business_date",
        (platform_no, request_no, service_name, payload, status, resp_code, resp_data, biz_type, user_no,
         counterparty, amount, commission, now_iso, finished, business_date))


# -- the check file -------------------------------------------------------------
def day_totals(conn: sqlite3.Connection, platform_no: str, day: dt.date) -> tuple[int, int, int]:
    """(count, amount fen, commission fen) of a platform's successful money movements of a business date."""
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(amount), 0), COALESCE(SUM(commission), 0)" + _DAY_WHERE,
                       (platform_no, day.isoformat(), *_MONEY)).fetchone()
    return row[0], row[1], row[2]


def day_lines(conn: sqlite3.Connection, platform_no: str, day: dt.date) -> Generator[tuple, None, None]:
    """(requestNo, service, bizType, userNo, counterparty, amount, commission, finishedAt), in file order,
    from a cursor (the caller closes the generator to finalise it)."""
    cursor = conn.execute("SELECT request_no, service_name, biz_type, user_no, counterparty, amount, commission,"
                          " finished_at" + _DAY_WHERE + " ORDER BY finished_at, request_no",
                          (platform_no, day.isoformat(), *_MONEY))
    try:
        yield from cursor
    finally:
        cursor.close()


# -- ledger invariants ------------------------------------------------------------
def successes_without_one_entry(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Successful money-moving requests that have no entry or more than one."""
    money = ", ".join(f"'{s}'" for s in _MONEY)
    return conn.execute(
        "SELECT r.request_no, r.service_name, COUNT(e.id) n FROM requests r LEFT JOIN entries e"
        " ON e.platform_no = r.platform_no AND e.request_no = r.request_no"
        f" WHERE r.status = 1 AND r.service_name IN ({money}) GROUP BY r.platform_no, r.request_no"
        " HAVING n <> 1").fetchall()


def entries_without_success(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Money-moving entries that no successful request accounts for."""
    money = ", ".join(f"'{s}'" for s in _MONEY)
    return conn.execute(
        "SELECT e.id, e.service, e.request_no FROM entries e LEFT JOIN requests r"
        " ON r.platform_no = e.platform_no AND r.request_no = e.request_no AND r.status = 1"
        f" WHERE e.service IN ({money}) AND r.request_no IS NULL").fetchall()


def delete_platform(conn: sqlite3.Connection, platform_no: Optional[str]) -> int:
    """Forget a platform's requests (None: every platform's); the caller removes their entries too."""
    if platform_no is None:
        return conn.execute("DELETE FROM requests").rowcount
    return conn.execute("DELETE FROM requests WHERE platform_no = ?", (platform_no,)).rowcount
