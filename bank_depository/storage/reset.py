"""Removing a platform's sandbox data (or everyone's) without leaving the ledger unsound.

A reset is not a correction, so it does not append reversing entries: the
platform's users, cards and accounts are gone, and an account that no longer
exists can hold no postings. What is removed instead is every *whole* entry
that touched the platform: its own entries (tagged with its platformNo) and
the counter entries on its users' cards (card opening balances, cash
deposits). Each removed entry summed to zero, so the ledger still does; the
cached balance of every surviving account such an entry touched (the funding
account) is recomputed from its remaining postings. ``verify`` holds after
either kind of reset. Cards registered at the counter but never bound to a
depository account belong to no platform and survive a per-platform reset.
"""
from __future__ import annotations

import sqlite3
from typing import Optional

from ..domain import ledger
from . import request_log, requests as requests_sql

#: Every table a full reset empties, children first (platforms and meta stay).
_ALL = ("notification_attempts", "notifications", "request_log", "fault_log", "fault_rules", "claims", "holds",
        "projects", "requests", "users", "postings", "entries", "bank_cards", "bank_customers", "accounts")


def everything(conn: sqlite3.Connection) -> dict[str, int]:
    """Inside the caller's transaction: every row of every sandbox table."""
    return {table: conn.execute(f"DELETE FROM {table}").rowcount for table in _ALL}


def platform(conn: sqlite3.Connection, platform_no: str) -> dict[str, int]:
    """Inside the caller's transaction: one platform's users, cards, accounts, entries, holds, claims,
    projects, requests, notifications and request log (fault rules are the FaultBook's)."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS reset_accounts (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS reset_entries (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS reset_cards (card_number TEXT PRIMARY KEY, customer_id INTEGER)")
    for temp in ("reset_accounts", "reset_entries", "reset_cards"):
        conn.execute(f"DELETE FROM temp.{temp}")
    try:
        conn.execute("INSERT INTO temp.reset_cards SELECT c.card_number, c.customer_id FROM bank_cards c"
                     " JOIN users u ON u.card_number = c.card_number WHERE u.platform_no = ?", (platform_no,))
        conn.execute("INSERT OR IGNORE INTO temp.reset_accounts SELECT available_id FROM users WHERE platform_no = ?"
                     " UNION SELECT frozen_id FROM users WHERE platform_no = ?"
                     " UNION SELECT account_id FROM bank_cards WHERE card_number IN"
                     " (SELECT card_number FROM temp.reset_cards)"
                     " UNION SELECT id FROM accounts WHERE code = ?",
                     (platform_no, platform_no, ledger.fee(platform_no)))
        conn.execute("INSERT OR IGNORE INTO temp.reset_entries SELECT id FROM entries WHERE platform_no = ?"
                     " UNION SELECT entry_id FROM postings WHERE account_id IN (SELECT id FROM temp.reset_accounts)",
                     (platform_no,))
        touched = [r[0] for r in conn.execute(
            "SELECT DISTINCT account_id FROM postings WHERE entry_id IN (SELECT id FROM temp.reset_entries)"
            " AND account_id NOT IN (SELECT id FROM temp.reset_accounts)")]
        out: dict[str, int] = {}
        out["postings"] = conn.execute(
            "DELETE FROM postings WHERE entry_id IN (SELECT id FROM temp.reset_entries)").rowcount
        out["entries"] = conn.execute("DELETE FROM entries WHERE id IN (SELECT id FROM temp.reset_entries)").rowcount
        conn.executemany("UPDATE accounts SET balance = (SELECT COALESCE(SUM(amount), 0) FROM postings"
                         " WHERE account_id = accounts.id) WHERE id = ?", [(i,) for i in touched])
        out["notifications"] = _notifications(conn, platform_no)
        for table in ("claims", "holds", "projects", "users"):
            out[table] = conn.execute(f"DELETE FROM {table} WHERE platform_no = ?", (platform_no,)).rowcount
        out["requests"] = requests_sql.delete_platform(conn, platform_no)
        out["request_log"] = request_log.delete_platform(conn, platform_no)
        out["bank_cards"] = conn.execute(
            "DELETE FROM bank_cards WHERE card_number IN (SELECT card_number FROM temp.reset_cards)").rowcount
        out["bank_customers"] = conn.execute(
            "DELETE FROM bank_customers WHERE id IN (SELECT customer_id FROM temp.reset_cards)"
            " AND id NOT IN (SELECT customer_id FROM bank_cards)").rowcount
        out["accounts"] = conn.execute(
            "DELETE FROM accounts WHERE id IN (SELECT id FROM temp.reset_accounts)").rowcount
        return out
    finally:
        for temp in ("reset_accounts", "reset_entries", "reset_cards"):
            conn.execute(f"DELETE FROM temp.{temp}")


def card(conn: sqlite3.Connection, card_number: str) -> dict[str, int]:
    """Inside the caller's transaction: a card no account is bound to, with its counter entries (they
    touch only the card and the funding account), its ledger account and a customer left without cards."""
    row = conn.execute("SELECT account_id, customer_id FROM bank_cards WHERE card_number = ?",
                       (card_number,)).fetchone()
    if row is None:
        return {}
    account_id, customer_id = row[0], row[1]
    entries = [r[0] for r in conn.execute("SELECT DISTINCT entry_id FROM postings WHERE account_id = ?",
                                          (account_id,))]
    touched = {r[0] for e in entries for r in conn.execute(
        "SELECT account_id FROM postings WHERE entry_id = ?", (e,))} - {account_id}
    out = {"postings": 0, "entries": 0}
    for e in entries:
        out["postings"] += conn.execute("DELETE FROM postings WHERE entry_id = ?", (e,)).rowcount
        out["entries"] += conn.execute("DELETE FROM entries WHERE id = ?", (e,)).rowcount
    conn.executemany("UPDATE accounts SET balance = (SELECT COALESCE(SUM(amount), 0) FROM postings"
                     " WHERE account_id = accounts.id) WHERE id = ?", [(i,) for i in touched])
    out["bank_cards"] = conn.execute("DELETE FROM bank_cards WHERE card_number = ?", (card_number,)).rowcount
    out["bank_customers"] = conn.execute("DELETE FROM bank_customers WHERE id = ? AND id NOT IN"
                                         " (SELECT customer_id FROM bank_cards)", (customer_id,)).rowcount
    out["accounts"] = conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,)).rowcount
    return out


def _notifications(conn: sqlite3.Connection, platform_no: Optional[str]) -> int:
    conn.execute("DELETE FROM notification_attempts WHERE notification_id IN"
                 " (SELECT id FROM notifications WHERE platform_no = ?)", (platform_no,))
    return conn.execute("DELETE FROM notifications WHERE platform_no = ?", (platform_no,)).rowcount
