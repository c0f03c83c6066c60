"""The original depository's local endpoints (reference §2.9), answered from our ledger.

The original platform calls these without any envelope or signature: the
balance query before a tender, the bank-card counter, the card search, the
trade-password pre-check of the gateway pages and a no-op SMS code. Only
depository accounts of legacy-profile platforms are visible here. The answers
are JSON texts shaped as the original's Jackson writes them (declaration
order, nulls included, BigDecimal amounts as numbers).
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Iterable, Optional

from ..clock import CST
from ..domain import identity
from ..domain.errors import BankError, param_error
from ..protocol import codes, envelope, legacy
from ..protocol.money import format_fen
from ..storage import db, repo
from . import guard

#: The original's balance change types (BalanceChangeCode).
OPENED, INCREASE, DECREASE, FREEZE, UNFREEZE = 0, 1, 2, 3, 4
#: Card search: the original's sortBy names a column; only these are accepted here.
SORTABLE = {"id": "c.rowid", "cardNumber": "c.card_number", "card_number": "c.card_number",
            "bankCode": "c.bank_code", "bank_code": "c.bank_code", "bankName": "c.bank_name",
            "bank_name": "c.bank_name", "userId": "c.customer_id", "user_id": "c.customer_id"}


def _object(pairs: Iterable[tuple[str, str]]) -> str:
    """A JSON object from (key, JSON value text) pairs, in the order given."""
    return "{" + ",".join(f"{envelope.dumps(k)}:{v}" for k, v in pairs) + "}"


def java_time(iso_text: str) -> str:
    """A stored instant as the original's ``yyyy-MM-dd HH:mm:ss`` (China Standard Time)."""
    return dt.datetime.fromisoformat(iso_text).astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def change_type(available_delta: int, frozen_delta: int) -> int:
    """What an entry did to one user's two accounts, in the original's change types."""
    if available_delta < 0 < frozen_delta:
        return FREEZE
    if frozen_delta < 0 < available_delta:
        return UNFREEZE
    if available_delta > 0 or frozen_delta > 0:
        return INCREASE
    return DECREASE


def _legacy_user(conn: sqlite3.Connection, platform_nos: list[str], user_no: str) -> Optional[sqlite3.Row]:
    for platform_no in sorted(platform_nos):
        row = repo.user(conn, platform_no, user_no)
        if row is not None:
            return row
    return None


def balance_details(conn: sqlite3.Connection, platform_nos: list[str], user_no: str) -> str:
    """``GET /balance-details/{userNo}``: the latest state, or ``balance 0`` and the rest null."""
    user = _legacy_user(conn, platform_nos, user_no)
    if user is None:
        return _object([("userNo", "null"), ("changeType", "null"), ("freezeAmount", "null"), ("balance", "0"),
                        ("appCode", "null"), ("createDate", "null")])
    last = conn.execute(
        "SELECT e.created_at, SUM(CASE WHEN p.account_id = ? THEN p.amount ELSE 0 END) available,"
        " SUM(CASE WHEN p.account_id = ? THEN p.amount ELSE 0 END) frozen"
        " FROM postings p JOIN entries e ON e.id = p.entry_id WHERE p.account_id IN (?, ?)"
        " GROUP BY e.id ORDER BY e.id DESC LIMIT 1",
        (user["available_id"], user["frozen_id"], user["available_id"], user["frozen_id"])).fetchone()
    kind, at = (OPENED, user["created_at"]) if last is None else \
        (change_type(last["available"], last["frozen"]), last["created_at"])
    return _object([("userNo", envelope.dumps(user["user_no"])), ("changeType", str(kind)),
                    ("freezeAmount", format_fen(user["frozen"])), ("balance", format_fen(user["available"])),
                    ("appCode", envelope.dumps(user["platform_no"])), ("createDate", envelope.dumps(java_time(at)))])


def card_balance(conn: sqlite3.Connection, card_number: str) -> str:
    """``GET /bank-cards/card-number/{cardNumber}``: the real card's balance."""
    card = repo.card(conn, card_number)
    if card is None:
        raise BankError(codes.CARD_NOT_FOUND)
    return legacy.local_response(format_fen(card["balance"]))


def search_cards(conn: sqlite3.Connection, query: dict, page_no: str, page_size: str, sort_by: str = "",
                 order: str = "") -> str:
    """``POST /bank-cards/q``: cards whose number or bank code contain the given text, one page."""
    try:
        number, size = int(page_no or 1), int(page_size or 10)
    except ValueError:
        raise param_error("pageNo and pageSize must be whole numbers") from None
    # Bounded so the page offset stays a 64-bit SQLite integer.
    if not 1 <= number <= 1_000_000_000 or not 1 <= size <= 1000:
        raise param_error("pageNo is 1 to 1000000000; pageSize is 1 to 1000")
    where, args = [], []
    for key, column in (("cardNumber", "c.card_number"), ("bankCode", "c.bank_code")):
        value = query.get(key)
        if isinstance(value, str) and value.strip():
            where.append(f"instr({column}, ?) > 0")
            args.append(value.strip())
    if sort_by and sort_by not in SORTABLE:
        raise param_error(f"sortBy must be one of {', '.join(sorted(SORTABLE))}")
    direction = "DESC" if str(order).lower() == "desc" else "ASC"
    sql_where = (" WHERE " + " AND ".join(where)) if where else ""
    total = conn.execute("SELECT COUNT(*) FROM bank_cards c" + sql_where, args).fetchone()[0]
    rows = conn.execute(
        "SELECT c.rowid id, c.customer_id, c.bank_code, c.bank_name, c.card_number FROM bank_cards c" + sql_where
        + f" ORDER BY {SORTABLE.get(sort_by, 'c.rowid')} {direction}, c.rowid LIMIT ? OFFSET ?",
        [*args, size, (number - 1) * size]).fetchall()
    # Jackson writes the original's Long ids as strings (WebConfig's ToStringSerializer).
    content = "[" + ",".join(_object([
        ("id", envelope.dumps(str(r["id"]))), ("userId", envelope.dumps(str(r["customer_id"]))),
        ("bankCode", envelope.dumps(r["bank_code"])), ("bankName", envelope.dumps(r["bank_name"])),
        ("cardNumber", envelope.dumps(r["card_number"])), ("password", "null")]) for r in rows) + "]"
    # PageVO.isFirst() is !(pageNo > 0) while pages count from 1: false on every page, as the original says.
    # PageVO.total is a Java long: that ToStringSerializer writes it as a string too; the ints stay numbers.
    page = _object([("content", content), ("total", envelope.dumps(str(total))), ("pageNo", str(number)),
                    ("pageSize", str(size)),
                    ("first", "false"), ("totalPage", str(-(-total // size))), ("contentSize", str(len(rows)))])
    return legacy.local_response(page)


def verify_password(conn: sqlite3.Connection, platform_nos: list[str], data: dict, now_iso: str) -> str:
    """``POST /users/password``: ``result`` 1 when the trade password is right, else 0.

    The same lockout as the gateway pages: a locked password is refused (PASSWORD_LOCKED) without
    being checked; a wrong one counts (the fifth locks). The hash is checked before the write lock.
    """
    user = _legacy_user(conn, platform_nos, str(data.get("userNo") or ""))
    if user is None:
        return legacy.local_response("0")
    pn, user_no = user["platform_no"], user["user_no"]
    if guard.state(conn, pn, user_no).locked:
        raise guard.locked_error()
    ok = identity.check_password(str(data.get("password") or ""), user["password_hash"])
    with db.transaction(conn):
        if guard.state(conn, pn, user_no).locked:
            raise guard.locked_error()
        if ok:
            guard.reset(conn, pn, user_no)
        else:
            guard.record_failure(conn, pn, user_no, now_iso)
    return legacy.local_response("1" if ok else "0")
