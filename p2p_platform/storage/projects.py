"""Projects (标的) as the platform keeps them; one row per project, with the
requestNo of each bank step it has taken (so a step resumes, never restarts)."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..domain.states import PROJECT_MOVES, ProjectStatus, guard
from .db import typed, typed_or_none

# the columns that remember a bank step's requestNo
STEP_COLUMNS = frozenset({"create_request_no", "loan_request_no", "modify_request_no", "finish_request_no",
                          "miscarry_request_no"})


@dataclass(frozen=True)
class Project:
    project_no: str
    name: str
    borrower: str
    amount: int
    annual_rate: str
    periods: int
    method: str
    status: str
    borrower_commission_rate: str
    investor_commission_rate: str
    create_request_no: Optional[str]
    loan_request_no: Optional[str]
    loan_commission: int
    modify_request_no: Optional[str]
    finish_request_no: Optional[str]
    miscarry_request_no: Optional[str]
    loan_date: Optional[str]
    created_at: str
    approved_at: Optional[str]


def get(conn: sqlite3.Connection, key: str) -> Optional[Project]:
    """By projectNo or by name."""
    return typed_or_none(Project, conn.execute("SELECT * FROM projects WHERE project_no = ? OR name = ?",
                                               (key, key)).fetchone())


def name_taken(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone() is not None


def insert(conn: sqlite3.Connection, **row: Any) -> None:
    columns = ", ".join(row)
    conn.execute(f"INSERT INTO projects ({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def set_step(conn: sqlite3.Connection, project_no: str, column: str, request_no: Optional[str],
             **extra: Any) -> None:
    """Remember (or forget, with None) the requestNo of one of the project's bank steps."""
    if column not in STEP_COLUMNS or not set(extra) <= {"loan_commission"}:
        raise ValueError(f"not a step column: {column}")
    sets = ", ".join(f"{c} = ?" for c in (column, *extra))
    conn.execute(f"UPDATE projects SET {sets} WHERE project_no = ?", (request_no, *extra.values(), project_no))


def move(conn: sqlite3.Connection, project_no: str, target: ProjectStatus, *,
         only_from: Iterable[ProjectStatus] | None = None, **extra: Any) -> bool:
    """Move the project to ``target`` if it is in a state the table allows (or ``only_from``); True if it moved."""
    allowed = guard(PROJECT_MOVES, target, only_from)
    if not set(extra) <= {"approved_at", "loan_date"}:
        raise ValueError(f"unexpected columns {sorted(extra)}")
    sets = ", ".join(["status = ?"] + [f"{c} = ?" for c in extra])
    marks = ", ".join("?" * len(allowed))
    return conn.execute(f"UPDATE projects SET {sets} WHERE project_no = ? AND status IN ({marks})",
                        (target.value, *extra.values(), project_no, *(s.value for s in allowed))).rowcount == 1


def with_status(conn: sqlite3.Connection, *statuses: ProjectStatus) -> list[Project]:
    marks = ", ".join("?" * len(statuses))
    return [typed(Project, r) for r in conn.execute(
        f"SELECT * FROM projects WHERE status IN ({marks}) ORDER BY created_at, project_no",
        tuple(s.value for s in statuses))]


def collecting_since_before(conn: sqlite3.Connection, limit: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT project_no FROM projects WHERE status = ? AND approved_at < ?",
                                       (ProjectStatus.COLLECTING.value, limit))]


def all_project_nos(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT project_no FROM projects ORDER BY created_at, name")]
