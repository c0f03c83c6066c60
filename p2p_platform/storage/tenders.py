"""Tenders (投标): one row per investor's freeze request on a project.

What a project has taken is the sum of its PENDING, FROZEN and LOANED tenders:
a tender whose outcome is still unknown keeps its share reserved."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterable, Optional

from ..domain.states import TENDER_MOVES, TenderStatus, guard
from .db import typed, typed_or_none

TAKING = (TenderStatus.PENDING, TenderStatus.FROZEN, TenderStatus.LOANED)


@dataclass(frozen=True)
class Tender:
    request_no: str
    project_no: str
    user_no: str
    amount: int
    status: str
    cancel_request_no: Optional[str]
    created_at: str


def get(conn: sqlite3.Connection, request_no: str) -> Optional[Tender]:
    return typed_or_none(Tender, conn.execute("SELECT * FROM tenders WHERE request_no = ?", (request_no,)).fetchone())


def insert(conn: sqlite3.Connection, request_no: str, project_no: str, user_no: str, amount: int,
           created_at: str) -> None:
    conn.execute("INSERT INTO tenders (request_no, project_no, user_no, amount, status, created_at)"
                 " VALUES (?, ?, ?, ?, ?, ?)",
                 (request_no, project_no, user_no, amount, TenderStatus.PENDING.value, created_at))


def of_project(conn: sqlite3.Connection, project_no: str, *statuses: TenderStatus,
               by_time: bool = False) -> list[Tender]:
    """The project's tenders (in the given states, or all), by requestNo or by creation time."""
    where, args = "project_no = ?", [project_no]
    if statuses:
        where += f" AND status IN ({', '.join('?' * len(statuses))})"
        args += [s.value for s in statuses]
    order = "created_at, request_no" if by_time else "request_no"
    return [typed(Tender, r) for r in conn.execute(f"SELECT * FROM tenders WHERE {where} ORDER BY {order}", args)]


def taken(conn: sqlite3.Connection, project_no: str) -> int:
    marks = ", ".join("?" * len(TAKING))
    return conn.execute(f"SELECT COALESCE(SUM(amount), 0) FROM tenders WHERE project_no = ? AND status IN ({marks})",
                        (project_no, *(s.value for s in TAKING))).fetchone()[0]


def any_pending(conn: sqlite3.Connection, project_no: str) -> bool:
    return conn.execute("SELECT 1 FROM tenders WHERE project_no = ? AND status = ?",
                        (project_no, TenderStatus.PENDING.value)).fetchone() is not None


def move(conn: sqlite3.Connection, request_no: str, target: TenderStatus, *,
         only_from: Iterable[TenderStatus] | None = None) -> bool:
    allowed = guard(TENDER_MOVES, target, only_from)
    marks = ", ".join("?" * len(allowed))
    return conn.execute(f"UPDATE tenders SET status = ? WHERE request_no = ? AND status IN ({marks})",
                        (target.value, request_no, *(s.value for s in allowed))).rowcount == 1


def move_all(conn: sqlite3.Connection, project_no: str, source: TenderStatus, target: TenderStatus) -> None:
    if target not in TENDER_MOVES[source]:
        raise ValueError(f"tender {source.value} -> {target.value} is not allowed")
    conn.execute("UPDATE tenders SET status = ? WHERE project_no = ? AND status = ?",
                 (target.value, project_no, source.value))


def set_cancel_request_no(conn: sqlite3.Connection, request_no: str, cancel_request_no: str) -> None:
    conn.execute("UPDATE tenders SET cancel_request_no = ? WHERE request_no = ?", (cancel_request_no, request_no))


def cancel_request_nos(conn: sqlite3.Connection, project_no: str) -> list[Optional[str]]:
    return [r[0] for r in conn.execute("SELECT cancel_request_no FROM tenders WHERE project_no = ?", (project_no,))]
