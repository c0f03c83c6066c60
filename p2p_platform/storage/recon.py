"""Reconciliation's SQL: the bank's check-file lines in a scratch SQLite file
ATTACHed as ``recon`` (no journal, no fsync: it is thrown away), the joins
that match them against the platform's synced records, and the stored reports.
The matching runs in SQLite, so memory does not grow with the number of lines.
"""
from __future__ import annotations

import contextlib
import sqlite3
from typing import Iterator, Optional, Sequence

from ..domain.states import RecordStatus

SYNCED, UNSYNCED, FAILED = int(RecordStatus.SYNCED), int(RecordStatus.UNSYNCED), int(RecordStatus.FAILED)


@contextlib.contextmanager
def scratch(conn: sqlite3.Connection, path: str) -> Iterator[None]:
    """``recon.lines`` in the throw-away file at ``path`` for the duration."""
    conn.execute("ATTACH DATABASE ? AS recon", (path,))
    try:
        conn.execute("PRAGMA recon.journal_mode = OFF")
        conn.execute("PRAGMA recon.synchronous = OFF")
        conn.execute("CREATE TABLE recon.lines (request_no TEXT, service TEXT, biz_type TEXT, user_no TEXT,"
                     " amount INTEGER, commission INTEGER)")
        yield
    finally:
        conn.execute("DETACH DATABASE recon")


def insert_lines(conn: sqlite3.Connection, batch: list[tuple]) -> None:
    """One batch into the scratch table, as one transaction of the scratch file only (the
    platform's own tables are not touched, and nothing is held open while the socket is read)."""
    conn.execute("BEGIN")
    try:
        conn.executemany("INSERT INTO recon.lines VALUES (?, ?, ?, ?, ?, ?)", batch)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    batch.clear()


def index_lines(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX recon.lines_no ON lines (request_no)")


def duplicates(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(requestNo, times) listed more than once by the bank."""
    return [tuple(r) for r in conn.execute(
        "SELECT request_no, COUNT(*) n FROM recon.lines GROUP BY request_no HAVING n > 1")]


def unknown_to_platform(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(requestNo, service, userNo) of the bank's lines the platform has no record of."""
    return [tuple(r) for r in conn.execute(
        "SELECT l.request_no, l.service, l.user_no FROM recon.lines l LEFT JOIN main.depository_records d"
        " ON d.request_no = l.request_no WHERE d.request_no IS NULL")]


def not_synced_here(conn: sqlite3.Connection) -> list[tuple[str, str, str, int]]:
    """(requestNo, service, userNo, record status) of the bank's lines the platform has not synced."""
    return [tuple(r) for r in conn.execute(
        "SELECT l.request_no, l.service, d.user_no, d.status FROM recon.lines l"
        " JOIN main.depository_records d ON d.request_no = l.request_no WHERE d.status <> ?", (SYNCED,))]


def amounts_differ(conn: sqlite3.Connection) -> list[tuple[str, str, str, int, int, int, int]]:
    """(requestNo, service, userNo, bank amount, platform amount, bank commission, platform commission)."""
    return [tuple(r) for r in conn.execute(
        "SELECT l.request_no, l.service, d.user_no, l.amount, d.amount, l.commission, d.commission"
        " FROM recon.lines l JOIN main.depository_records d ON d.request_no = l.request_no"
        " WHERE d.status = ? AND (l.amount <> d.amount OR l.commission <> d.commission)", (SYNCED,))]


def synced_not_in_file(conn: sqlite3.Connection, services: Sequence[str], day: str) -> list[tuple[str, str, str]]:
    """(requestNo, service, userNo) the platform synced on ``day`` that the bank's file does not list."""
    marks = ", ".join("?" * len(services))
    return [tuple(r) for r in conn.execute(
        f"SELECT d.request_no, d.service_name, d.user_no FROM main.depository_records d LEFT JOIN"
        f" recon.lines l ON l.request_no = d.request_no WHERE d.status = ? AND d.service_name IN"
        f" ({marks}) AND substr(d.confirmed_at, 1, 10) = ? AND l.request_no IS NULL", (SYNCED, *services, day))]


def synced_totals(conn: sqlite3.Connection, services: Sequence[str], day: str) -> tuple[int, int]:
    """(count, total amount) of the platform's movements synced on ``day``."""
    marks = ", ".join("?" * len(services))
    row = conn.execute(f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM main.depository_records WHERE status = ?"
                       f" AND service_name IN ({marks}) AND substr(confirmed_at, 1, 10) = ?",
                       (SYNCED, *services, day)).fetchone()
    return int(row[0]), int(row[1])


def save_report(conn: sqlite3.Connection, day: str, created_at: str, clean: bool, report_json: str) -> None:
    conn.execute("INSERT OR REPLACE INTO reconciliations (business_date, created_at, clean, report)"
                 " VALUES (?, ?, ?, ?)", (day, created_at, int(clean), report_json))


def load_report(conn: sqlite3.Connection, day: str) -> Optional[str]:
    row = conn.execute("SELECT report FROM reconciliations WHERE business_date = ?", (day,)).fetchone()
    return None if row is None else str(row[0])
