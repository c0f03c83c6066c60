"""Recharges and withdrawals (one row per gateway request, PENDING until the
bank's outcome), and the bank notifications seen (deduplicated by service and
requestNo, with how many copies arrived)."""
from __future__ import annotations

import sqlite3

from ..domain.states import PaymentStatus

TABLES = {"RECHARGE": "recharges", "WITHDRAW": "withdrawals"}


def insert_recharge(conn: sqlite3.Connection, request_no: str, user_no: str, amount: int, created_at: str) -> None:
    conn.execute("INSERT INTO recharges (request_no, user_no, amount, created_at) VALUES (?, ?, ?, ?)",
                 (request_no, user_no, amount, created_at))


def insert_withdrawal(conn: sqlite3.Connection, request_no: str, user_no: str, amount: int, commission: int,
                      created_at: str) -> None:
    conn.execute("INSERT INTO withdrawals (request_no, user_no, amount, commission, created_at)"
                 " VALUES (?, ?, ?, ?, ?)", (request_no, user_no, amount, commission, created_at))


def finish(conn: sqlite3.Connection, kind: str, request_no: str, target: PaymentStatus, finished_at: str) -> None:
    """A PENDING recharge or withdrawal (``kind`` RECHARGE or WITHDRAW) becomes SUCCESS or FAIL."""
    conn.execute(f"UPDATE {TABLES[kind]} SET status = ?, finished_at = ? WHERE request_no = ? AND status = ?",
                 (target.value, finished_at, request_no, PaymentStatus.PENDING.value))


def first_sight(conn: sqlite3.Connection, service: str, request_no: str, received_at: str) -> bool:
    """Count one copy of a notification; True only for the first copy."""
    if conn.execute("UPDATE notifications_seen SET times = times + 1 WHERE service_name = ? AND request_no = ?",
                    (service, request_no)).rowcount:
        return False
    conn.execute("INSERT INTO notifications_seen (service_name, request_no, received_at) VALUES (?, ?, ?)",
                 (service, request_no, received_at))
    return True
