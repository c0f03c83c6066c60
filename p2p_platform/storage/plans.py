"""Repayment plans (the borrower's, per period), the investors' receivable
plans (their shares of each period), and the local outbox that carries a
period's CONFIRM_REPAYMENT until the bank answers."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterable, Optional

from ..domain.states import PLAN_MOVES, OutboxState, PlanStatus, ProjectStatus, guard
from .db import typed, typed_or_none


@dataclass(frozen=True)
class Plan:
    id: int
    project_no: str
    period: int
    due_date: str
    principal: int
    interest: int
    platform_fee: int
    amount: int
    status: str
    freeze_request_no: Optional[str]
    confirm_request_no: Optional[str]
    paid_at: Optional[str]

    @property
    def label(self) -> str:
        return f"{self.project_no}#{self.period}"


@dataclass(frozen=True)
class Receivable:
    id: int
    plan_id: int
    project_no: str
    tender_request_no: str
    user_no: str
    period: int
    due_date: str
    principal: int
    interest: int
    commission: int
    status: str
    paid_at: Optional[str]


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    kind: str
    ref: str
    request_no: str
    state: str
    attempts: int
    last_error: str
    created_at: str
    done_at: Optional[str]


# -- plans ---------------------------------------------------------------------------------------
def insert_plan(conn: sqlite3.Connection, project_no: str, period: int, due_date: str, principal: int,
                interest: int, platform_fee: int, amount: int) -> int:
    cur = conn.execute("INSERT INTO repayment_plans (project_no, period, due_date, principal, interest, platform_fee,"
                       " amount) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (project_no, period, due_date, principal, interest, platform_fee, amount))
    return int(cur.lastrowid or 0)


def get(conn: sqlite3.Connection, plan_id: int) -> Optional[Plan]:
    return typed_or_none(Plan, conn.execute("SELECT * FROM repayment_plans WHERE id = ?", (plan_id,)).fetchone())


def of_project(conn: sqlite3.Connection, project_no: str) -> list[Plan]:
    return [typed(Plan, r) for r in conn.execute("SELECT * FROM repayment_plans WHERE project_no = ? ORDER BY period",
                                                 (project_no,))]


def due(conn: sqlite3.Connection, today: str) -> list[Plan]:
    """Unpaid plans due on or before ``today`` of projects being repaid, oldest first."""
    return [typed(Plan, r) for r in conn.execute(
        "SELECT r.* FROM repayment_plans r JOIN projects p ON p.project_no = r.project_no"
        " WHERE r.status = ? AND r.due_date <= ? AND p.status = ? ORDER BY r.due_date, r.project_no, r.period",
        (PlanStatus.UNPAID.value, today, ProjectStatus.REPAYING.value))]


def all_paid(conn: sqlite3.Connection, project_no: str) -> bool:
    return conn.execute("SELECT 1 FROM repayment_plans WHERE project_no = ? AND status <> ?",
                        (project_no, PlanStatus.PAID.value)).fetchone() is None


def overdue_exists(conn: sqlite3.Connection, project_no: str, today: str) -> bool:
    return conn.execute("SELECT 1 FROM repayment_plans WHERE project_no = ? AND status <> ? AND due_date < ?",
                        (project_no, PlanStatus.PAID.value, today)).fetchone() is not None


def settling_exists(conn: sqlite3.Connection, project_no: str) -> bool:
    return conn.execute("SELECT 1 FROM repayment_plans WHERE project_no = ? AND status = ?",
                        (project_no, PlanStatus.FROZEN.value)).fetchone() is not None


def set_freeze_request_no(conn: sqlite3.Connection, plan_id: int, request_no: Optional[str],
                          only_if: Optional[str] = None) -> None:
    """Remember the period's freeze requestNo, or forget it (None) when ``only_if`` is still the one stored."""
    if only_if is None:
        conn.execute("UPDATE repayment_plans SET freeze_request_no = ? WHERE id = ?", (request_no, plan_id))
    else:
        conn.execute("UPDATE repayment_plans SET freeze_request_no = ? WHERE id = ? AND freeze_request_no = ?",
                     (request_no, plan_id, only_if))


def move(conn: sqlite3.Connection, plan_id: int, target: PlanStatus, *, only_from: Iterable[PlanStatus] | None = None,
         confirm_request_no: Optional[str] = None, paid_at: Optional[str] = None) -> bool:
    allowed = guard(PLAN_MOVES, target, only_from)
    sets, args = ["status = ?"], [target.value]
    if confirm_request_no is not None:
        sets.append("confirm_request_no = ?")
        args.append(confirm_request_no)
    if paid_at is not None:
        sets.append("paid_at = ?")
        args.append(paid_at)
    marks = ", ".join("?" * len(allowed))
    return conn.execute(f"UPDATE repayment_plans SET {', '.join(sets)} WHERE id = ? AND status IN ({marks})",
                        (*args, plan_id, *(s.value for s in allowed))).rowcount == 1


# -- receivables ---------------------------------------------------------------------------------
def insert_receivables(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Rows of (plan_id, project_no, tender_request_no, user_no, period, due_date, principal, interest, commission)."""
    conn.executemany("INSERT INTO receivable_plans (plan_id, project_no, tender_request_no, user_no, period, due_date,"
                     " principal, interest, commission) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def receivables(conn: sqlite3.Connection, plan_id: int) -> list[Receivable]:
    return [typed(Receivable, r) for r in conn.execute("SELECT * FROM receivable_plans WHERE plan_id = ? ORDER BY id",
                                                       (plan_id,))]


def unpaid_receivables(conn: sqlite3.Connection, project_no: str, user_no: str) -> list[Receivable]:
    """The user's shares of the project's periods that are not being or been repaid, in period order."""
    return [typed(Receivable, r) for r in conn.execute(
        "SELECT r.* FROM receivable_plans r JOIN repayment_plans p ON p.id = r.plan_id"
        " WHERE r.project_no = ? AND r.user_no = ? AND p.status = ? ORDER BY r.period, r.id",
        (project_no, user_no, PlanStatus.UNPAID.value))]


def pay_receivables(conn: sqlite3.Connection, plan_id: int, paid_at: str) -> None:
    conn.execute("UPDATE receivable_plans SET status = ?, paid_at = ? WHERE plan_id = ?",
                 (PlanStatus.PAID.value, paid_at, plan_id))


def give_receivable(conn: sqlite3.Connection, receivable_id: int, user_no: str) -> None:
    conn.execute("UPDATE receivable_plans SET user_no = ? WHERE id = ?", (user_no, receivable_id))


def split_receivable(conn: sqlite3.Connection, row: Receivable, user_no: str, principal: int, interest: int,
                     commission: int) -> None:
    """Move part of a share to ``user_no``: the row keeps the rest, a new row holds the part."""
    conn.execute("UPDATE receivable_plans SET principal = principal - ?, interest = interest - ?,"
                 " commission = commission - ? WHERE id = ?", (principal, interest, commission, row.id))
    insert_receivables(conn, [(row.plan_id, row.project_no, row.tender_request_no, user_no, row.period, row.due_date,
                               principal, interest, commission)])


# -- outbox --------------------------------------------------------------------------------------
def enqueue(conn: sqlite3.Connection, kind: str, ref: str, request_no: str, created_at: str) -> None:
    conn.execute("INSERT INTO outbox (kind, ref, request_no, created_at) VALUES (?, ?, ?, ?)",
                 (kind, ref, request_no, created_at))


def pending_messages(conn: sqlite3.Connection) -> list[OutboxMessage]:
    return [typed(OutboxMessage, r) for r in conn.execute("SELECT * FROM outbox WHERE state = ? ORDER BY id",
                                                          (OutboxState.PENDING.value,))]


def message_attempted(conn: sqlite3.Connection, message_id: int, error: str) -> None:
    conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, message_id))


def message_done(conn: sqlite3.Connection, request_no: str, done_at: str) -> None:
    conn.execute("UPDATE outbox SET state = ?, attempts = attempts + 1, done_at = ? WHERE request_no = ? AND state = ?",
                 (OutboxState.DONE.value, done_at, request_no, OutboxState.PENDING.value))


def message_failed(conn: sqlite3.Connection, request_no: str, error: str) -> None:
    conn.execute("UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ? WHERE request_no = ?"
                 " AND state = ?", (OutboxState.FAILED.value, error, request_no, OutboxState.PENDING.value))
