"""Read-only direct services: QUERY_TRANSACTION and QUERY_USER."""
from __future__ import annotations

import sqlite3

from ..domain.errors import BankError
from ..domain.fields import Payload
from ..domain.identity import mask_card, mask_mobile
from ..protocol import codes, envelope
from ..protocol.money import format_fen
from ..storage import repo, requests as requests_sql

_TRANSACTION_STATUS = {0: "PROCESSING", 1: "SUCCESS", 2: "FAIL"}


def query_transaction(conn: sqlite3.Connection, platform_no: str, p: Payload) -> dict:
    wanted = p.get("transactionRequestNo")
    row = requests_sql.get(conn, platform_no, wanted)
    if row is None:
        raise BankError(codes.TRANSACTION_NOT_FOUND, f"no request {wanted}")
    out = {
        "transactionRequestNo": wanted,
        "serviceName": row.service_name,
        "status": row.status,
        "transactionStatus": _TRANSACTION_STATUS[row.status],
    }
    if row.resp_data:
        out["result"] = envelope.loads(row.resp_data)
    return out


def query_user(conn: sqlite3.Connection, platform_no: str, p: Payload) -> dict:
    user_no = p.get("userNo")
    row = repo.user(conn, platform_no, user_no)
    if row is None:
        raise BankError(codes.USER_NOT_FOUND, f"no depository account {user_no}")
    return {
        "userNo": user_no,
        "role": row["role"],
        "balance": format_fen(row["available"]),
        "freezeAmount": format_fen(row["frozen"]),
        "cardNumber": mask_card(row["card_number"]),
        "bankCode": row["bank_code"],
        "bankName": row["bank_name"],
        "mobile": mask_mobile(row["mobile"]),
    }
