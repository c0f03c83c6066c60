"""Claims for sale (债权转让): one row per listing, with the buyer's freeze,
the confirmation and the cancellation requestNos once those steps start."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..domain.states import CLAIM_MOVES, ClaimStatus, guard
from .db import typed_or_none

STEP_COLUMNS = frozenset({"confirm_request_no", "cancel_request_no"})


@dataclass(frozen=True)
class Claim:
    claim_no: str
    project_no: str
    seller: str
    principal: int
    price: int
    fee_rate: str
    fee: int
    status: str
    buyer: Optional[str]
    freeze_request_no: Optional[str]
    confirm_request_no: Optional[str]
    cancel_request_no: Optional[str]
    created_at: str
    sold_at: Optional[str]


def get(conn: sqlite3.Connection, claim_no: str) -> Optional[Claim]:
    return typed_or_none(Claim, conn.execute("SELECT * FROM claims WHERE claim_no = ?", (claim_no,)).fetchone())


def insert(conn: sqlite3.Connection, **row: Any) -> None:
    conn.execute(f"INSERT INTO claims ({', '.join(row)}, status) VALUES ({', '.join('?' * len(row))}, ?)",
                 (*row.values(), ClaimStatus.LISTED.value))


def listed_principal(conn: sqlite3.Connection, project_no: str, seller: str) -> int:
    """What the seller already offers in the project (listed or reserved)."""
    return conn.execute("SELECT COALESCE(SUM(principal), 0) FROM claims WHERE project_no = ? AND seller = ?"
                        " AND status IN (?, ?)", (project_no, seller, ClaimStatus.LISTED.value,
                                                  ClaimStatus.RESERVED.value)).fetchone()[0]


def reserve(conn: sqlite3.Connection, claim_no: str, buyer: str, freeze_request_no: str) -> bool:
    return conn.execute("UPDATE claims SET status = ?, buyer = ?, freeze_request_no = ? WHERE claim_no = ?"
                        " AND status = ?", (ClaimStatus.RESERVED.value, buyer, freeze_request_no, claim_no,
                                            ClaimStatus.LISTED.value)).rowcount == 1


def release(conn: sqlite3.Connection, claim_no: str, freeze_request_no: str) -> None:
    """Back on the market after the bank refused the buyer's freeze."""
    conn.execute("UPDATE claims SET status = ?, buyer = NULL, freeze_request_no = NULL WHERE claim_no = ?"
                 " AND status = ? AND freeze_request_no = ?",
                 (ClaimStatus.LISTED.value, claim_no, ClaimStatus.RESERVED.value, freeze_request_no))


def set_step(conn: sqlite3.Connection, claim_no: str, column: str, request_no: Optional[str]) -> None:
    if column not in STEP_COLUMNS:
        raise ValueError(f"not a step column: {column}")
    conn.execute(f"UPDATE claims SET {column} = ? WHERE claim_no = ?", (request_no, claim_no))


def move(conn: sqlite3.Connection, claim_no: str, target: ClaimStatus, *,
         only_from: Iterable[ClaimStatus] | None = None, sold_at: Optional[str] = None) -> bool:
    allowed = guard(CLAIM_MOVES, target, only_from)
    sets, args = "status = ?", [target.value]
    if sold_at is not None:
        sets += ", sold_at = ?"
        args.append(sold_at)
    marks = ", ".join("?" * len(allowed))
    return conn.execute(f"UPDATE claims SET {sets} WHERE claim_no = ? AND status IN ({marks})",
                        (*args, claim_no, *(s.value for s in allowed))).rowcount == 1


def all_claim_nos(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT claim_no FROM claims ORDER BY created_at, claim_no")]
