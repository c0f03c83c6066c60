"""The ledger storage reads an entry's accounts in one statement and still refuses an overdraft."""
from __future__ import annotations

import pytest

from bank_depository.storage import db


def test_a_ledger_entry_reads_all_its_accounts_in_one_statement_and_still_refuses_an_overdraft(tmp_path):
    from bank_depository.domain import ledger as ledger_domain
    from bank_depository.domain.errors import BankError
    from bank_depository.storage import ledger

    conn = db.connect(tmp_path / "bank.sqlite")
    db.init_schema(conn)
    with db.transaction(conn):
        a = ledger.ensure_account(conn, "user:p:A:available", "available", "A")
        ledger.ensure_account(conn, "user:p:A:frozen", "frozen", "A")
        conn.execute("UPDATE accounts SET balance = 500 WHERE id = ?", (a,))
    reads: list[str] = []
    conn.set_trace_callback(lambda sql: reads.append(sql) if sql.startswith("SELECT") else None)
    entry = ledger_domain.Entry("USER_AUTO_PRE_TRANSACTION", "p", "R1", "TENDER", "")
    entry.move("user:p:A:available", "user:p:A:frozen", 300)
    with db.transaction(conn):
        ledger.post(conn, entry, "2026-01-05T09:00:00.000000+08:00")
    assert len(reads) == 1
    too_much = ledger_domain.Entry("USER_AUTO_PRE_TRANSACTION", "p", "R2", "TENDER", "")
    too_much.move("user:p:A:available", "user:p:A:frozen", 300)
    with pytest.raises(BankError):
        with db.transaction(conn):
            ledger.post(conn, too_much, "2026-01-05T09:00:00.000000+08:00")
    conn.set_trace_callback(None)
    assert [ledger.balance(conn, c) for c in ("user:p:A:available", "user:p:A:frozen")] == [200, 300]
    conn.close()
