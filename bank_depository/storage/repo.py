"""SQL for customers, cards, depository users, projects, holds and claims."""
from __future__ import annotations

import sqlite3
from typing import Optional

Row = sqlite3.Row


def customer_by_id_number(conn, id_number: str) -> Optional[Row]:
    return conn.execute("SELECT * FROM bank_customers WHERE id_number = ?", (id_number,)).fetchone()


def card(conn, card_number: str) -> Optional[Row]:
    return conn.execute(
        "SELECT c.*, a.balance AS balance, k.fullname, k.id_number, k.mobile AS customer_mobile"
        " FROM bank_cards c JOIN accounts a ON a.id = c.account_id"
        " JOIN bank_customers k ON k.id = c.customer_id WHERE c.card_number = ?",
        (card_number,)).fetchone()


def user(conn, platform_no: str, user_no: str) -> Optional[Row]:
    return conn.execute(
        "SELECT u.*, av.balance AS available, fr.balance AS frozen, c.bank_code, c.bank_name,"
        " ca.balance AS card_balance"
        " FROM users u JOIN accounts av ON av.id = u.available_id JOIN accounts fr ON fr.id = u.frozen_id"
        " JOIN bank_cards c ON c.card_number = u.card_number JOIN accounts ca ON ca.id = c.account_id"
        " WHERE u.platform_no = ? AND u.user_no = ?", (platform_no, user_no)).fetchone()


def user_by_card(conn, card_number: str) -> Optional[Row]:
    return conn.execute("SELECT * FROM users WHERE card_number = ?", (card_number,)).fetchone()


def user_by_id_number(conn, platform_no: str, id_number: str) -> Optional[Row]:
    return conn.execute("SELECT * FROM users WHERE platform_no = ? AND id_number = ?",
                        (platform_no, id_number)).fetchone()


def project(conn, platform_no: str, project_no: str) -> Optional[Row]:
    return conn.execute("SELECT * FROM projects WHERE platform_no = ? AND project_no = ?",
                        (platform_no, project_no)).fetchone()


def tendered_total(conn, platform_no: str, project_no: str) -> int:
    """Fen committed to a project: open and settled tender holds."""
    return conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE platform_no = ? AND project_no = ?"
        " AND biz_type = 'TENDER' AND state IN ('FROZEN', 'SETTLED')",
        (platform_no, project_no)).fetchone()[0]


def open_holds_count(conn, platform_no: str, project_no: str) -> int:
    return conn.execute(
        "SELECT COUNT(*) FROM holds WHERE platform_no = ? AND project_no = ? AND state = 'FROZEN'",
        (platform_no, project_no)).fetchone()[0]


def hold(conn, platform_no: str, request_no: str) -> Optional[Row]:
    return conn.execute("SELECT * FROM holds WHERE platform_no = ? AND request_no = ?",
                        (platform_no, request_no)).fetchone()


def insert_hold(conn, *, platform_no, request_no, user_no, project_no, biz_type, amount, now) -> None:
    conn.execute(
        "INSERT INTO holds (platform_no, request_no, user_no, project_no, biz_type, amount, remaining,"
        " state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'FROZEN', ?)",
        (platform_no, request_no, user_no, project_no, biz_type, amount, amount, now))


def close_hold(conn, platform_no: str, request_no: str, state: str, by: str, now: str) -> None:
    conn.execute("UPDATE holds SET remaining = 0, state = ?, settled_by = ?, finished_at = ?"
                 " WHERE platform_no = ? AND request_no = ?", (state, by, now, platform_no, request_no))


def claim_principal(conn, platform_no: str, project_no: str, user_no: str) -> int:
    row = conn.execute("SELECT principal FROM claims WHERE platform_no = ? AND project_no = ? AND user_no = ?",
                       (platform_no, project_no, user_no)).fetchone()
    return row[0] if row else 0


def add_claim(conn, platform_no: str, project_no: str, user_no: str, delta: int) -> None:
    if delta < 0:
        conn.execute("UPDATE claims SET principal = principal + ? WHERE platform_no = ? AND project_no = ?"
                     " AND user_no = ?", (delta, platform_no, project_no, user_no))
        return
    conn.execute(
        "INSERT INTO claims (platform_no, project_no, user_no, principal) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (platform_no, project_no, user_no) DO UPDATE SET principal = principal + excluded.principal",
        (platform_no, project_no, user_no, delta))


def platform(conn, platform_no: str) -> Optional[Row]:
    return conn.execute("SELECT * FROM platforms WHERE platform_no = ?", (platform_no,)).fetchone()
