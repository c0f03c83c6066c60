"""The ``request_log`` table: what reached the protocol's endpoints and what the bank answered.

Written by the HTTP edge: inside the request's own business transaction when
it has one (:func:`insert`, just before COMMIT, so a request takes the write
lock once), else after the answer in its own short transaction (:func:`write`);
read by ``/sim/requests``.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Optional

from . import db


@dataclass(frozen=True)
class LogEntry:
    at: str
    endpoint: str
    platform_no: str
    service_name: str
    request_no: str
    resp_code: str
    http_status: int
    duration_ms: int
    fault_rule_id: Optional[int] = None
    fault_action: str = ""
    detail: str = ""
    diagnosis: Optional[dict] = None

    @property
    def outcome(self) -> str:
        return "accepted" if self.resp_code == "00000" else "refused"


#: How many rows the log keeps; older ones are pruned now and then, so a long soak stays bounded.
KEEP = 200_000
_PRUNE_EVERY = 1000


def write(conn: sqlite3.Connection, e: LogEntry, keep: int = KEEP) -> int:
    """:func:`insert` in its own write transaction."""
    with db.transaction(conn):
        return insert(conn, e, keep)


def insert(conn: sqlite3.Connection, e: LogEntry, keep: int = KEEP) -> int:
    """One log row, in the caller's open transaction."""
    row_id = conn.execute(
        "INSERT INTO request_log (at, endpoint, platform_no, service_name, request_no, resp_code, outcome,"
        " http_status, duration_ms, fault_rule_id, fault_action, detail, diagnosis)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.at, e.endpoint, e.platform_no, e.service_name, e.request_no, e.resp_code, e.outcome, e.http_status,
         e.duration_ms, e.fault_rule_id, e.fault_action, e.detail[:2000],
         json.dumps(e.diagnosis, ensure_ascii=False) if e.diagnosis else None)).lastrowid or 0
    if row_id % _PRUNE_EVERY == 0:
        conn.execute("DELETE FROM request_log WHERE id <= ?", (row_id - keep,))
    return row_id


def query(conn: sqlite3.Connection, *, platform_no: str = "", outcome: str = "", since: str = "",
          after_id: int = 0, request_no: str = "", limit: int = 200) -> list[dict]:
    """Newest last; ``since`` is an ISO instant of the bank clock, ``after_id`` a log id (for following)."""
    where: list[str] = ["id > ?"]
    args: list[object] = [after_id]
    for col, op, value in (("platform_no", "=", platform_no), ("outcome", "=", outcome), ("at", ">=", since),
                           ("request_no", "=", request_no)):
        if value:
            where.append(f"{col} {op} ?")
            args.append(value)
    rows = conn.execute("SELECT * FROM (SELECT * FROM request_log WHERE " + " AND ".join(where)
                        + " ORDER BY id DESC LIMIT ?) ORDER BY id", (*args, limit)).fetchall()
    return [_view(r) for r in rows]


def _view(r: sqlite3.Row) -> dict:
    return {"id": r["id"], "at": r["at"], "endpoint": r["endpoint"], "platformNo": r["platform_no"],
            "serviceName": r["service_name"], "requestNo": r["request_no"], "respCode": r["resp_code"],
            "outcome": r["outcome"], "httpStatus": r["http_status"], "durationMs": r["duration_ms"],
            "fault": ({"ruleId": r["fault_rule_id"], "action": r["fault_action"]}
                      if r["fault_rule_id"] is not None else None),
            "detail": r["detail"], "diagnosis": json.loads(r["diagnosis"]) if r["diagnosis"] else None}


def delete_platform(conn: sqlite3.Connection, platform_no: Optional[str]) -> int:
    if platform_no is None:
        return conn.execute("DELETE FROM request_log").rowcount
    return conn.execute("DELETE FROM request_log WHERE platform_no = ?", (platform_no,)).rowcount
