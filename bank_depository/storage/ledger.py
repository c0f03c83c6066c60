"""SQL of the ledger: accounts, entries, postings.

Invariant guarded: an entry is written whole (entry row, all postings,
balance updates) inside the caller's transaction, only if it balances and
leaves no non-funding account negative.
"""
from __future__ import annotations

import sqlite3

from ..domain import ledger
from ..domain.errors import BankError
from ..protocol import codes
from . import db


def ensure_account(conn: sqlite3.Connection, code: str, kind: str, owner: str = "") -> int:
    row = conn.execute("SELECT id FROM accounts WHERE code = ?", (code,)).fetchone()
    if row:
        return int(row[0])
    return db.inserted_id(conn.execute("INSERT INTO accounts (code, kind, owner) VALUES (?, ?, ?)",
                                       (code, kind, owner)))


def balance(conn: sqlite3.Connection, code: str) -> int:
    row = conn.execute("SELECT balance FROM accounts WHERE code = ?", (code,)).fetchone()
    return row[0] if row else 0


def post(conn: sqlite3.Connection, entry: ledger.Entry, now_iso: str) -> int:
    """Write ``entry``; raise BankError(30042/30041) if a balance would go negative."""
    entry.check()
    net = entry.net()
    ids: dict[str, int] = {}
    found = {r["code"]: r for r in conn.execute(  # one statement for all the entry's accounts
        f"SELECT code, id, kind, balance FROM accounts WHERE code IN ({', '.join('?' * len(net))})",
        tuple(net)).fetchall()} if net else {}
    for code, delta in net.items():
        row = found.get(code)
        if row is None:
            raise KeyError(f"no ledger account {code}")
        ids[code] = row["id"]
        if row["kind"] != "funding" and row["balance"] + delta < 0:
            short = codes.BANK_CARD_BALANCE_NOT_ENOUGH if row["kind"] == "card" else codes.BALANCE_NOT_ENOUGH
            raise BankError(short, f"{code} holds {row['balance']} fen, needs {-delta}")
    entry_id = db.inserted_id(conn.execute(
        "INSERT INTO entries (platform_no, request_no, service, biz_type, memo, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (entry.platform_no, entry.request_no, entry.service, entry.biz_type, entry.memo, now_iso),
    ))
    conn.executemany("INSERT INTO postings (entry_id, account_id, amount) VALUES (?, ?, ?)",
                     [(entry_id, ids[code], amount) for code, amount in entry.postings])
    conn.executemany("UPDATE accounts SET balance = balance + ? WHERE id = ?",
                     [(delta, ids[code]) for code, delta in net.items() if delta])
    return entry_id


def ensure_funding(conn: sqlite3.Connection) -> int:
    return ensure_account(conn, ledger.FUNDING, "funding", "outside world")
