"""Ledger verification: every broken invariant of DESIGN §3, or nothing when sound.

Checked: every entry's postings sum to zero; all postings sum to zero; every
cached balance equals the sum of its postings; no non-funding balance is
negative; each user's frozen equals the remaining of their open holds; a
project's tender holds never exceed its amount; a hold's remaining is
consistent with its state; every successful money-moving request has exactly
one entry and no entry lacks its successful request.
"""
from __future__ import annotations

import sqlite3

from ..storage import requests as requests_sql


def _problems(conn: sqlite3.Connection, invariant: str, sql: str, fmt) -> list[dict]:
    return [{"invariant": invariant, "detail": fmt(row)} for row in conn.execute(sql).fetchall()]


def verify(conn: sqlite3.Connection) -> list[dict]:
    out: list[dict] = []
    out += _problems(conn, "entry_balances",
                     "SELECT entry_id, SUM(amount) s FROM postings GROUP BY entry_id HAVING s <> 0",
                     lambda r: f"entry {r['entry_id']} sums to {r['s']}")
    out += _problems(conn, "ledger_balances",
                     "SELECT COALESCE(SUM(amount), 0) s FROM postings HAVING s <> 0",
                     lambda r: f"all postings sum to {r['s']}")
    out += _problems(conn, "balance_equals_postings",
                     "SELECT a.code, a.balance, COALESCE(SUM(p.amount), 0) s FROM accounts a"
                     " LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id HAVING a.balance <> s",
                     lambda r: f"{r['code']} balance {r['balance']} but postings sum to {r['s']}")
    out += _problems(conn, "non_negative",
                     "SELECT code, balance FROM accounts WHERE kind <> 'funding' AND balance < 0",
                     lambda r: f"{r['code']} is {r['balance']}")
    out += _problems(conn, "frozen_equals_open_holds",
                     "SELECT u.platform_no, u.user_no, f.balance frozen, COALESCE(h.s, 0) held FROM users u"
                     " JOIN accounts f ON f.id = u.frozen_id LEFT JOIN (SELECT platform_no, user_no, SUM(remaining) s"
                     " FROM holds WHERE state = 'FROZEN' GROUP BY platform_no, user_no) h"
                     " ON h.platform_no = u.platform_no AND h.user_no = u.user_no WHERE f.balance <> COALESCE(h.s, 0)",
                     lambda r: f"{r['user_no']} frozen {r['frozen']} but open holds {r['held']}")
    out += _problems(conn, "project_not_oversubscribed",
                     "SELECT p.project_no, p.amount, SUM(h.amount) s FROM projects p JOIN holds h"
                     " ON h.platform_no = p.platform_no AND h.project_no = p.project_no AND h.biz_type = 'TENDER'"
                     " AND h.state IN ('FROZEN', 'SETTLED') GROUP BY p.platform_no, p.project_no HAVING s > p.amount",
                     lambda r: f"{r['project_no']} amount {r['amount']} but tenders {r['s']}")
    out += _problems(conn, "hold_state",
                     "SELECT request_no, state, remaining, amount FROM holds WHERE"
                     " (state = 'FROZEN' AND remaining <> amount) OR (state <> 'FROZEN' AND remaining <> 0)",
                     lambda r: f"hold {r['request_no']} {r['state']} remaining {r['remaining']}")
    out += [{"invariant": "one_entry_per_success",
             "detail": f"{r['service_name']} {r['request_no']} has {r['n']} entries"}
            for r in requests_sql.successes_without_one_entry(conn)]
    out += [{"invariant": "entry_has_request",
             "detail": f"entry {r['id']} ({r['service']} {r['request_no']}) has no successful request"}
            for r in requests_sql.entries_without_success(conn)]
    out += _problems(conn, "claims_non_negative",
                     "SELECT project_no, user_no, principal FROM claims WHERE principal < 0",
                     lambda r: f"{r['user_no']} claim on {r['project_no']} is {r['principal']}")
    return out
