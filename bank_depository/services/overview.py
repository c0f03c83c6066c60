"""Read models for the operator console: the bank at a glance, postings with running balances.

Nothing here writes. Amounts are integer fen (the console formats them once,
in one filter); times are the stored ISO instants (CST). The money-by-kind
totals add up to zero because every entry balances and the funding account
carries, negatively, all money that entered the simulation from outside.
"""
from __future__ import annotations

import json
import sqlite3

from ..domain.errors import BankError
from ..protocol import codes, services as svc
from . import verify

#: Account kinds in the order the console lists them.
KINDS = ("available", "frozen", "card", "fee", "funding")


def money_by_kind(conn: sqlite3.Connection) -> dict[str, int]:
    """Fen held per account kind; the values sum to zero on a sound ledger."""
    out = {kind: 0 for kind in KINDS}
    for row in conn.execute("SELECT kind, COALESCE(SUM(balance), 0) total FROM accounts GROUP BY kind"):
        out[row["kind"]] = row["total"]
    return out


def summary(conn: sqlite3.Connection) -> dict:
    """What the overview page shows (besides the clock and the platforms, which the context knows)."""
    counts = {row["state"]: row["n"] for row in
              conn.execute("SELECT state, COUNT(*) n FROM notifications GROUP BY state")}
    problems = verify.verify(conn)
    kinds = money_by_kind(conn)
    return {
        "users": conn.execute("SELECT COUNT(*) FROM users").fetchone()[0],
        "users_by_platform": {r["platform_no"]: r["n"] for r in conn.execute(
            "SELECT platform_no, COUNT(*) n FROM users GROUP BY platform_no")},
        "cards": conn.execute("SELECT COUNT(*) FROM bank_cards").fetchone()[0],
        "projects": conn.execute("SELECT COUNT(*) FROM projects").fetchone()[0],
        "requests": conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0],
        "money": kinds,
        "money_total": sum(kinds.values()),
        "problems": problems,
        "notifications": {state: counts.get(state, 0) for state in ("PENDING", "DELIVERED", "DEAD", "DROPPED")},
    }


def find_users(conn: sqlite3.Connection, query: str = "", limit: int = 500) -> list[dict]:
    """Depository users whose userNo, fullname, card number or mobile contains ``query`` (all when empty)."""
    like = f"%{query.strip()}%"
    rows = conn.execute(
        "SELECT u.platform_no, u.user_no, u.role, u.fullname, u.card_number, u.mobile, u.created_at,"
        " av.balance available, fr.balance frozen, ca.balance card_balance FROM users u"
        " JOIN accounts av ON av.id = u.available_id JOIN accounts fr ON fr.id = u.frozen_id"
        " JOIN bank_cards c ON c.card_number = u.card_number JOIN accounts ca ON ca.id = c.account_id"
        " WHERE u.user_no LIKE ? OR u.fullname LIKE ? OR u.card_number LIKE ? OR u.mobile LIKE ?"
        " ORDER BY u.rowid LIMIT ?", (like, like, like, like, limit))
    return [dict(r) for r in rows]


def user(conn: sqlite3.Connection, platform_no: str, user_no: str) -> dict:
    row = conn.execute(
        "SELECT u.*, av.balance available, fr.balance frozen, ca.balance card_balance, c.bank_name, c.bank_code"
        " FROM users u JOIN accounts av ON av.id = u.available_id JOIN accounts fr ON fr.id = u.frozen_id"
        " JOIN bank_cards c ON c.card_number = u.card_number JOIN accounts ca ON ca.id = c.account_id"
        " WHERE u.platform_no = ? AND u.user_no = ?", (platform_no, user_no)).fetchone()
    if row is None:
        raise BankError(codes.USER_NOT_FOUND, f"no depository account {user_no} on {platform_no}")
    out = dict(row)
    out.pop("password_hash", None)
    return out


def postings(conn: sqlite3.Connection, account_id: int, limit: int = 200) -> list[dict]:
    """The account's latest postings, newest first, each with the counterparties in its entry and the
    balance right after it (a running sum over every posting of the account, so the newest row's
    balance is the account's balance)."""
    rows = conn.execute(
        "SELECT * FROM (SELECT p.id, p.amount, e.id entry_id, e.service, e.request_no, e.biz_type, e.memo,"
        " e.created_at, SUM(p.amount) OVER (ORDER BY p.id) running,"
        " (SELECT group_concat(a2.code, ' ') FROM postings p2 JOIN accounts a2 ON a2.id = p2.account_id"
        "   WHERE p2.entry_id = p.entry_id AND p2.account_id <> p.account_id"
        "   AND (p2.amount < 0) <> (p.amount < 0)) counterparties"
        " FROM postings p JOIN entries e ON e.id = p.entry_id WHERE p.account_id = ?)"
        " ORDER BY id DESC LIMIT ?", (account_id, limit))
    return [dict(r) | {"counterparties": (r["counterparties"] or "").split()} for r in rows]


def account_postings(conn: sqlite3.Connection, platform_no: str, user_no: str, limit: int = 200) -> dict:
    """The user's row and the postings of their available and frozen sub-accounts."""
    u = user(conn, platform_no, user_no)
    return {"user": u, "available": postings(conn, u["available_id"], limit),
            "frozen": postings(conn, u["frozen_id"], limit)}


_PROJECT_SERVICES = (svc.CREATE_PROJECT, svc.MODIFY_PROJECT, svc.CONFIRM_LOAN)


def project(conn: sqlite3.Connection, platform_no: str, project_no: str) -> dict:
    """A project, its holds and its status history (from the successful requests that changed it)."""
    row = conn.execute("SELECT * FROM projects WHERE platform_no = ? AND project_no = ?",
                       (platform_no, project_no)).fetchone()
    if row is None:
        raise BankError(codes.PROJECT_NOT_FOUND, f"no project {project_no} on {platform_no}")
    holds = [dict(h) for h in conn.execute(
        "SELECT * FROM holds WHERE platform_no = ? AND project_no = ? ORDER BY created_at, request_no",
        (platform_no, project_no))]
    history = []
    for r in conn.execute(
            "SELECT request_no, service_name, payload, finished_at FROM requests WHERE platform_no = ?"
            f" AND status = 1 AND service_name IN ({', '.join('?' * len(_PROJECT_SERVICES))})"
            " AND json_extract(payload, '$.projectNo') = ? ORDER BY finished_at, rowid",
            (platform_no, *_PROJECT_SERVICES, project_no)):
        payload = json.loads(r["payload"])
        status = {svc.CREATE_PROJECT: "COLLECTING", svc.CONFIRM_LOAN: "(放款 loaned)"}.get(
            r["service_name"], str(payload.get("projectStatus", "")).upper())
        history.append({"at": r["finished_at"], "service": r["service_name"], "requestNo": r["request_no"],
                        "status": status})
    tendered = sum(h["amount"] for h in holds if h["biz_type"] == "TENDER" and h["state"] in ("FROZEN", "SETTLED"))
    return {"project": dict(row), "holds": holds, "history": history, "tendered": tendered}


def projects(conn: sqlite3.Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(
        "SELECT p.*, COALESCE((SELECT SUM(amount) FROM holds h WHERE h.platform_no = p.platform_no AND"
        " h.project_no = p.project_no AND h.biz_type = 'TENDER' AND h.state IN ('FROZEN', 'SETTLED')), 0) tendered,"
        " (SELECT COUNT(*) FROM holds h WHERE h.platform_no = p.platform_no AND h.project_no = p.project_no) holds"
        " FROM projects p ORDER BY p.created_at, p.project_no")]


def checkfile_days(conn: sqlite3.Connection, platform_no: str) -> list[dict]:
    """Business dates with money movements for a platform, newest first, with their line counts."""
    money = tuple(sorted(svc.MONEY_SERVICES))
    return [dict(r) for r in conn.execute(
        "SELECT business_date day, COUNT(*) n, SUM(amount) amount, SUM(commission) commission FROM requests"
        f" WHERE platform_no = ? AND status = 1 AND service_name IN ({', '.join('?' * len(money))})"
        " AND business_date IS NOT NULL GROUP BY business_date ORDER BY business_date DESC",
        (platform_no, *money))]


def csv_rows(content: str) -> list[list[str]]:
    """A check file's text as rows of cells (for showing it as a table)."""
    import csv
    import io

    return [row for row in csv.reader(io.StringIO(content)) if row]
