"""Double-entry postings: every entry is a list of (account, amount) summing to zero.

An amount is in fen; positive increases the account's balance. Only the
funding account (money entering the simulation from outside) may go
negative. This module builds and checks entries; storage writes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

FUNDING = "funding"


def available(platform_no: str, user_no: str) -> str:
    return f"user:{platform_no}:{user_no}:available"


def frozen(platform_no: str, user_no: str) -> str:
    return f"user:{platform_no}:{user_no}:frozen"


def card(card_number: str) -> str:
    return f"card:{card_number}"


def fee(platform_no: str) -> str:
    return f"fee:{platform_no}"


@dataclass
class Entry:
    service: str
    platform_no: str = ""
    request_no: str = ""
    biz_type: str = ""
    memo: str = ""
    postings: list[tuple[str, int]] = field(default_factory=list)

    def move(self, source: str, target: str, amount: int) -> "Entry":
        """Debit ``source`` and credit ``target`` with ``amount`` fen (no-op for 0)."""
        if amount < 0:
            raise ValueError("a transfer amount is never negative")
        if amount:
            self.postings.append((source, -amount))
            self.postings.append((target, amount))
        return self

    def net(self) -> dict[str, int]:
        """Postings folded per account (what each balance changes by)."""
        out: dict[str, int] = {}
        for account, amount in self.postings:
            out[account] = out.get(account, 0) + amount
        return out

    def check(self) -> None:
        if sum(a for _, a in self.postings) != 0:
            raise ValueError(f"entry for {self.service} {self.request_no} does not balance")
