"""Read models for people and tools: accounts, holds, projects, requests, entries.

Amounts are yuan strings with two decimals; nothing here writes.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Optional

from ..domain.errors import BankError, param_error
from ..protocol import codes, envelope
from ..protocol.money import format_fen
from ..storage import request_log as request_log_sql, requests as requests_sql


def _user_row(r) -> dict:
    return {"platformNo": r["platform_no"], "userNo": r["user_no"], "role": r["role"], "fullname": r["fullname"],
            "available": format_fen(r["available"]), "frozen": format_fen(r["frozen"]),
            "card": format_fen(r["card_balance"]), "cardNumber": r["card_number"], "createdAt": r["created_at"]}


_USERS = ("SELECT u.*, av.balance available, fr.balance frozen, ca.balance card_balance FROM users u"
          " JOIN accounts av ON av.id = u.available_id JOIN accounts fr ON fr.id = u.frozen_id"
          " JOIN bank_cards c ON c.card_number = u.card_number JOIN accounts ca ON ca.id = c.account_id")


def accounts(conn: sqlite3.Connection, platform_no: str = "") -> dict:
    """Users (one platform's, or every one's), the platform and funding accounts, and the cards."""
    where, args = (" WHERE u.platform_no = ?", (platform_no,)) if platform_no else ("", ())
    users = [_user_row(r) for r in conn.execute(_USERS + where + " ORDER BY u.rowid", args)]
    others = [{"code": r["code"], "kind": r["kind"], "balance": format_fen(r["balance"])}
              for r in conn.execute("SELECT * FROM accounts WHERE kind IN ('fee', 'funding') ORDER BY code")]
    cards = [{"cardNumber": r["card_number"], "fullname": r["fullname"], "bankCode": r["bank_code"],
              "balance": format_fen(r["balance"]), "bound": bool(r["bound"])}
             for r in conn.execute("SELECT c.card_number, c.bank_code, k.fullname, a.balance,"
                                   " EXISTS (SELECT 1 FROM users u WHERE u.card_number = c.card_number) bound"
                                   " FROM bank_cards c JOIN bank_customers k ON k.id = c.customer_id"
                                   " JOIN accounts a ON a.id = c.account_id ORDER BY c.created_at, c.card_number")]
    return {"users": users, "platformAccounts": others, "cards": cards}


def account(conn: sqlite3.Connection, user_no: str, platform_no: Optional[str] = None, limit: int = 20) -> dict:
    sql = _USERS + " WHERE u.user_no = ?" + (" AND u.platform_no = ?" if platform_no else "")
    rows = conn.execute(sql, (user_no, platform_no) if platform_no else (user_no,)).fetchall()
    if not rows:
        raise BankError(codes.USER_NOT_FOUND, f"no depository account {user_no}")
    if len(rows) > 1:
        raise param_error(f"userNo {user_no} has an account on platforms "
                          f"{', '.join(r['platform_no'] for r in rows)}: give platformNo")
    row = rows[0]
    out = _user_row(row)
    out["holds"] = holds(conn, user_no=user_no, platform_no=row["platform_no"])
    out["entries"] = [
        {"entryId": r["entry_id"], "at": r["created_at"], "service": r["service"], "requestNo": r["request_no"],
         "bizType": r["biz_type"], "account": r["kind"], "amount": format_fen(r["amount"])}
        for r in conn.execute(
            "SELECT e.id entry_id, e.created_at, e.service, e.request_no, e.biz_type, a.kind, p.amount"
            " FROM postings p JOIN entries e ON e.id = p.entry_id JOIN accounts a ON a.id = p.account_id"
            " WHERE a.id IN (?, ?) ORDER BY p.id DESC LIMIT ?", (row["available_id"], row["frozen_id"], limit))]
    return out


def holds(conn: sqlite3.Connection, *, user_no: str = "", project_no: str = "", state: str = "",
          platform_no: str = "") -> list[dict]:
    where, args = [], []
    for col, value in (("user_no", user_no), ("project_no", project_no), ("state", state),
                       ("platform_no", platform_no)):
        if value:
            where.append(f"{col} = ?")
            args.append(value)
    sql = ("SELECT * FROM holds" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY created_at, request_no")
    return [{"requestNo": r["request_no"], "userNo": r["user_no"], "projectNo": r["project_no"],
             "bizType": r["biz_type"], "amount": format_fen(r["amount"]), "remaining": format_fen(r["remaining"]),
             "state": r["state"], "settledBy": r["settled_by"], "createdAt": r["created_at"]}
            for r in conn.execute(sql, args)]


def projects(conn: sqlite3.Connection, platform_no: str = "") -> list[dict]:
    where, args = (" WHERE p.platform_no = ?", (platform_no,)) if platform_no else ("", ())
    rows = conn.execute(
        "SELECT p.*, COALESCE((SELECT SUM(amount) FROM holds h WHERE h.platform_no = p.platform_no AND"
        " h.project_no = p.project_no AND h.biz_type = 'TENDER' AND h.state IN ('FROZEN', 'SETTLED')), 0) tendered"
        " FROM projects p" + where + " ORDER BY p.created_at, p.project_no", args)
    return [{"platformNo": r["platform_no"], "projectNo": r["project_no"], "userNo": r["user_no"], "name": r["name"],
             "amount": format_fen(r["amount"]), "tendered": format_fen(r["tendered"]), "status": r["status"],
             "loanRequestNo": r["loan_request_no"], "annualRate": r["annual_rate"], "period": r["period"]}
            for r in rows]


def _payload_view(text: str):
    """The payload as an object, or (a refused, malformed one) its text as it arrived."""
    try:
        return envelope.parse_payload(text)
    except ValueError:
        return text


def request(conn: sqlite3.Connection, request_no: str, platform_no: str = "") -> list[dict]:
    rows = requests_sql.by_request_no(conn, request_no, platform_no)
    if not rows:
        raise BankError(codes.TRANSACTION_NOT_FOUND, f"no request {request_no}")
    return [{"platformNo": r.platform_no, "requestNo": r.request_no, "serviceName": r.service_name,
             "status": r.status, "respCode": r.resp_code, "payload": _payload_view(r.payload),
             "respData": envelope.loads(r.resp_data) if r.resp_data else None,
             "createdAt": r.created_at, "finishedAt": r.finished_at} for r in rows]


def entries(conn: sqlite3.Connection, limit: int = 100) -> list[dict]:
    out = []
    for e in conn.execute("SELECT * FROM entries ORDER BY id DESC LIMIT ?", (limit,)).fetchall():
        postings = [{"account": p["code"], "amount": format_fen(p["amount"])} for p in conn.execute(
            "SELECT a.code, p.amount FROM postings p JOIN accounts a ON a.id = p.account_id WHERE p.entry_id = ?"
            " ORDER BY p.id", (e["id"],))]
        out.append({"id": e["id"], "service": e["service"], "requestNo": e["request_no"], "bizType": e["biz_type"],
                    "memo": e["memo"], "at": e["created_at"], "postings": postings})
    return out


def notifications(conn: sqlite3.Connection, state: str = "", limit: int = 200, platform_no: str = "") -> list[dict]:
    where = [(c, v) for c, v in (("state", state), ("platform_no", platform_no)) if v]
    sql = ("SELECT * FROM notifications" + (" WHERE " + " AND ".join(f"{c} = ?" for c, _ in where) if where else "")
           + " ORDER BY id DESC LIMIT ?")
    out = []
    for n in conn.execute(sql, (*[v for _, v in where], limit)).fetchall():
        attempts = [dict(a) for a in conn.execute(
            "SELECT attempted_at, http_status, error, body FROM notification_attempts WHERE notification_id = ?"
            " ORDER BY id", (n["id"],))]
        out.append({"id": n["id"], "platformNo": n["platform_no"], "serviceName": n["service_name"],
                    "requestNo": n["request_no"], "state": n["state"], "attempts": n["attempts"],
                    "nextAttemptAt": n["next_attempt_at"], "createdAt": n["created_at"],
                    "deliveredAt": n["delivered_at"], "payload": json.loads(n["payload"]), "history": attempts})
    return out


def request_log(conn: sqlite3.Connection, *, platform_no: str = "", query: str = "", outcome: str = "",
                limit: int = 200) -> list[dict]:
    """The latest requests the bank holds, newest first, each with its answer's code and message.

    ``query`` matches requestNo, serviceName or userNo; ``outcome`` is ``ok``, ``refused`` or
    ``pending``. The console's request-log page reads only this function.
    """
    where: list[str] = []
    args: list[object] = []
    if platform_no:
        where.append("platform_no = ?")
        args.append(platform_no)
    if query:
        where.append("(request_no LIKE ? OR service_name LIKE ? OR user_no LIKE ?)")
        args += [f"%{query}%"] * 3
    status = {"ok": codes.STATUS_SUCCESS, "refused": codes.STATUS_FAILURE, "pending": codes.STATUS_PROCESSING}
    if outcome in status:
        where.append("status = ?")
        args.append(status[outcome])
    sql = ("SELECT * FROM requests" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY created_at DESC, rowid DESC LIMIT ?")
    out = []
    for r in conn.execute(sql, (*args, limit)):
        resp = envelope.loads(r["resp_data"]) if r["resp_data"] else {}
        out.append({"platformNo": r["platform_no"], "requestNo": r["request_no"], "serviceName": r["service_name"],
                    "status": r["status"], "respCode": r["resp_code"], "respMsg": str(resp.get("respMsg", "")),
                    "bizType": r["biz_type"], "userNo": r["user_no"], "amount": r["amount"],
                    "commission": r["commission"], "createdAt": r["created_at"], "finishedAt": r["finished_at"],
                    "payload": json.loads(r["payload"]), "respData": resp or None})
    return out


def protocol_log(conn: sqlite3.Connection, *, platform_no: str = "", outcome: str = "", limit: int = 200) -> list[dict]:
    """The request log (every call that reached ``/service``, ``/gateway``, ``/gateway/confirm``,
    ``/checkfile`` and the legacy routes), newest first; ``outcome`` is ``accepted`` or ``refused``."""
    return list(reversed(request_log_sql.query(conn, platform_no=platform_no, outcome=outcome, limit=limit)))
