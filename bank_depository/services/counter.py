"""The bank counter: real bank customers and their cards, outside the protocol.

A card's opening balance (and any later counter deposit) enters through the
funding account, so the ledger still sums to zero.
"""
from __future__ import annotations

import re

from ..domain import identity, ledger
from ..domain.errors import BankError, param_error
from ..domain.fields import Payload
from ..protocol import codes
from ..protocol.money import format_fen
from ..storage import db, ledger as ledger_sql, repo, reset as reset_sql
from .context import BankContext
from .tx import Tx

BANKS = {"ICBC": "中国工商银行", "ABC": "中国农业银行", "BOC": "中国银行", "CCB": "中国建设银行",
         "COMM": "交通银行", "CMB": "招商银行", "PSBC": "中国邮政储蓄银行", "CIB": "兴业银行"}


def register_card(ctx: BankContext, data: dict) -> dict:
    p = Payload(data)
    fullname, id_number, mobile = p.text("fullname"), p.text("idNumber").upper(), p.text("mobile")
    card_number = p.text("cardNumber")
    bank_code = p.text("bankCode", default="ICBC").upper()
    balance = p.amount("balance", allow_zero=True, default=0)
    for problem in (identity.id_number_problem(id_number), identity.mobile_problem(mobile)):
        if problem:
            raise param_error(problem)
    if not re.fullmatch(r"[0-9]{12,19}", card_number):
        raise param_error("cardNumber must be 12 to 19 digits")
    if bank_code not in BANKS:
        raise param_error(f"bankCode must be one of {', '.join(sorted(BANKS))}")
    conn = ctx.conn()
    with db.transaction(conn):
        now = ctx.clock.now()
        if repo.card(conn, card_number):
            raise BankError(codes.CARD_EXISTS, f"card {card_number} already exists")
        customer = repo.customer_by_id_number(conn, id_number)
        if customer is None:
            customer_id = conn.execute(
                "INSERT INTO bank_customers (fullname, id_number, mobile, created_at) VALUES (?, ?, ?, ?)",
                (fullname, id_number, mobile, now.isoformat())).lastrowid
        elif customer["fullname"] != fullname:
            raise BankError(codes.IDENTITY_MISMATCH, "this ID number belongs to a customer with another name")
        else:
            customer_id = customer["id"]
        ledger_sql.ensure_funding(conn)
        account_id = ledger_sql.ensure_account(conn, ledger.card(card_number), "card", card_number)
        conn.execute("INSERT INTO bank_cards (card_number, customer_id, bank_code, bank_name, account_id, created_at)"
                     " VALUES (?, ?, ?, ?, ?, ?)", (card_number, customer_id, bank_code, BANKS[bank_code],
                                                   account_id, now.isoformat()))
        if balance:
            tx = Tx(conn, "", f"CARD-OPEN:{card_number}", "COUNTER_DEPOSIT", now)
            tx.post(tx.entry(memo="card opening balance").move(ledger.FUNDING, ledger.card(card_number), balance))
    return {"cardNumber": card_number, "bankCode": bank_code, "bankName": BANKS[bank_code],
            "fullname": fullname, "balance": format_fen(balance)}


def deposit(ctx: BankContext, card_number: str, data: dict) -> dict:
    """Cash in at the counter: money from outside onto a card."""
    amount = Payload(data).amount("amount")
    conn = ctx.conn()
    with db.transaction(conn):
        if repo.card(conn, card_number) is None:
            raise BankError(codes.CARD_NOT_FOUND, f"no card {card_number}")
        now = ctx.clock.now()
        seq = conn.execute("SELECT COUNT(*) FROM entries WHERE service = 'COUNTER_DEPOSIT'").fetchone()[0]
        tx = Tx(conn, "", f"COUNTER:{card_number}:{seq + 1}", "COUNTER_DEPOSIT", now)
        tx.post(tx.entry(memo="counter deposit").move(ledger.FUNDING, ledger.card(card_number), amount))
        balance = ledger_sql.balance(conn, ledger.card(card_number))
    return {"cardNumber": card_number, "amount": format_fen(amount), "balance": format_fen(balance)}


def remove_card(ctx: BankContext, card_number: str) -> dict:
    """``DELETE /sim/bank-cards/<card>``: undo a counter registration (a scenario's failed setup).

    Only a card no depository account is bound to: its counter entries go whole (each summed to zero, so
    the ledger stays sound), then the card, its account and a customer left without cards."""
    conn = ctx.conn()
    with db.transaction(conn):
        if repo.card(conn, card_number) is None:
            raise BankError(codes.CARD_NOT_FOUND, f"no card {card_number}")
        bound = conn.execute("SELECT platform_no, user_no FROM users WHERE card_number = ?", (card_number,)).fetchone()
        if bound is not None:
            raise BankError(codes.CARD_ALREADY_BOUND, f"card {card_number} is bound to {bound['user_no']} of"
                            f" {bound['platform_no']}: reset that platform to remove it")
        removed = reset_sql.card(conn, card_number)
    return {"cardNumber": card_number, "removed": {k: v for k, v in removed.items() if v}}
