"""The depository agent's transaction records (``depository_records``): one row
per outbound requestNo, written unsynced before the bank is called and settled
(synced or failed) exactly once, from a verified answer."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from ..domain.states import RecordStatus
from .db import typed, typed_or_none


@dataclass(frozen=True)
class Record:
    request_no: str
    service_name: str
    object_type: str
    object_id: str
    payload: str
    status: int
    resp_code: str
    resp_data: Optional[str]
    attempts: int
    last_error: str
    amount: int
    commission: int
    user_no: str
    biz_type: str
    created_at: str
    confirmed_at: Optional[str]

    @property
    def settled(self) -> bool:
        return self.status != RecordStatus.UNSYNCED and bool(self.resp_data)

    def answer(self) -> dict[str, Any]:
        return json.loads(self.resp_data or "{}")

    def payload_data(self) -> dict[str, Any]:
        return json.loads(self.payload)


def insert(conn: sqlite3.Connection, *, request_no: str, service: str, object_type: str, object_id: str,
           payload_text: str, amount: int, commission: int, user_no: str, biz_type: str, created_at: str) -> None:
    conn.execute(
        "INSERT INTO depository_records (request_no, service_name, object_type, object_id, payload, amount,"
        " commission, user_no, biz_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (request_no, service, object_type, object_id, payload_text, amount, commission, user_no, biz_type, created_at))


def get(conn: sqlite3.Connection, request_no: str) -> Optional[Record]:
    return typed_or_none(Record, conn.execute("SELECT * FROM depository_records WHERE request_no = ?",
                                              (request_no,)).fetchone())


def settle(conn: sqlite3.Connection, request_no: str, status: RecordStatus, resp_code: str, resp_data: str,
           confirmed_at: str) -> bool:
    """Settle an unsynced record; False when it was settled already (nothing changes then)."""
    return conn.execute("UPDATE depository_records SET status = ?, resp_code = ?, resp_data = ?, confirmed_at = ?"
                        " WHERE request_no = ? AND status = ?",
                        (int(status), resp_code, resp_data, confirmed_at, request_no,
                         int(RecordStatus.UNSYNCED))).rowcount == 1


def note_attempt(conn: sqlite3.Connection, request_no: str, error: str) -> None:
    conn.execute("UPDATE depository_records SET attempts = attempts + 1, last_error = ? WHERE request_no = ?",
                 (error, request_no))


def any_for_user(conn: sqlite3.Connection, user_no: str) -> bool:
    return conn.execute("SELECT 1 FROM depository_records WHERE user_no = ? LIMIT 1", (user_no,)).fetchone() is not None


def unsynced(conn: sqlite3.Connection) -> list[Record]:
    """Every record whose outcome the platform does not know yet, oldest first."""
    return [typed(Record, r) for r in conn.execute(
        "SELECT * FROM depository_records WHERE status = ? ORDER BY created_at, request_no",
        (int(RecordStatus.UNSYNCED),))]


def unsynced_request_nos(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT request_no FROM depository_records WHERE status = ?",
                                       (int(RecordStatus.UNSYNCED),))}


def synced_movements(conn: sqlite3.Connection) -> Iterator[tuple[str, str, int, int, str]]:
    """(service, userNo, amount, commission, payload) of every synced record, from a cursor."""
    return iter(conn.execute("SELECT service_name, user_no, amount, commission, payload FROM depository_records"
                             " WHERE status = ?", (int(RecordStatus.SYNCED),)))


def synced_hold(conn: sqlite3.Connection, request_no: str, service: str) -> Optional[tuple[str, int]]:
    """(userNo, amount) of a synced freeze, or None when the platform never synced it."""
    row = conn.execute("SELECT user_no, amount FROM depository_records WHERE request_no = ? AND status = ?"
                       " AND service_name = ?", (request_no, int(RecordStatus.SYNCED), service)).fetchone()
    return None if row is None else (row[0], row[1])


def listed(conn: sqlite3.Connection, status: Optional[int] = None) -> list[Record]:
    """Every record (or those with ``status``), oldest first."""
    where, args = ("", ()) if status is None else (" WHERE status = ?", (status,))
    return [typed(Record, r) for r in conn.execute(
        f"SELECT * FROM depository_records{where} ORDER BY created_at, request_no", args)]
