"""The unit of work one request runs in: connection, who asked, when, what to record."""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..clock import iso
from ..domain import ledger
from ..protocol import profiles
from ..storage import ledger as ledger_sql


@dataclass
class Tx:
    conn: sqlite3.Connection
    platform_no: str
    request_no: str
    service: str
    now: dt.datetime
    password_iterations: int = 120_000
    #: The platform's wire profile: its role and project-status policies apply to this request.
    profile: profiles.WireProfile = profiles.MODERN
    #: What the check file needs about this request (biz_type, user_no, counterparty, amount, commission).
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def now_iso(self) -> str:
        """``now`` as the ISO text every row of the request stores (written once per request)."""
        known = self.__dict__.get("_now_iso")
        if known is None or known[0] is not self.now:
            known = self.__dict__["_now_iso"] = (self.now, iso(self.now))
        return known[1]

    def entry(self, biz_type: str = "", memo: str = "") -> ledger.Entry:
        return ledger.Entry(self.service, self.platform_no, self.request_no, biz_type, memo)

    def post(self, entry: ledger.Entry) -> int:
        return ledger_sql.post(self.conn, entry, self.now_iso)

    def note(self, **values: Any) -> None:
        self.record.update(values)
