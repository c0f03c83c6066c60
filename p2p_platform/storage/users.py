"""Platform users: who they are and how far their depository account has got
(NEW, OPENING, OPEN, FAILED). Balances are never stored here: the bank has them."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Optional

from ..domain.states import UserStatus
from .db import typed_or_none


@dataclass(frozen=True)
class User:
    user_no: str
    username: str
    role: str
    fullname: str
    id_number: str
    mobile: str
    card_number: str
    status: str
    open_request_no: Optional[str]
    created_at: str


def get(conn: sqlite3.Connection, key: str) -> Optional[User]:
    """By userNo or by username."""
    return typed_or_none(User, conn.execute("SELECT * FROM users WHERE user_no = ? OR username = ?",
                                            (key, key)).fetchone())


def username_taken(conn: sqlite3.Connection, username: str) -> bool:
    return conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone() is not None


def insert(conn: sqlite3.Connection, user_no: str, username: str, role: str, fullname: str, id_number: str,
           mobile: str, card_number: str, created_at: str) -> None:
    conn.execute("INSERT INTO users (user_no, username, role, fullname, id_number, mobile, card_number, created_at)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (user_no, username, role, fullname, id_number, mobile, card_number, created_at))


def delete(conn: sqlite3.Connection, user_no: str) -> None:
    conn.execute("DELETE FROM users WHERE user_no = ?", (user_no,))


def start_opening(conn: sqlite3.Connection, user_no: str, request_no: str) -> None:
    conn.execute("UPDATE users SET status = ?, open_request_no = ? WHERE user_no = ?",
                 (UserStatus.OPENING.value, request_no, user_no))


def finish_opening(conn: sqlite3.Connection, user_no: str, request_no: str, target: UserStatus) -> None:
    """OPENING -> OPEN or FAILED, only for the attempt ``request_no`` (a later attempt is not overwritten)."""
    conn.execute("UPDATE users SET status = ? WHERE user_no = ? AND open_request_no = ? AND status = ?",
                 (target.value, user_no, request_no, UserStatus.OPENING.value))


def open_user_nos(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT user_no FROM users WHERE status = ? ORDER BY user_no",
                                       (UserStatus.OPEN.value,))]


def all_user_nos(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT user_no FROM users ORDER BY created_at, username")]
