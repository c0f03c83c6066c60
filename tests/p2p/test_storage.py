"""The platform's storage modules: typed rows, foreign keys enforced, a record settled once."""
from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from p2p_platform.domain.states import RecordStatus
from p2p_platform.storage import records, tenders
from p2p_platform.storage.db import Store


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(str(tmp_path / "platform.sqlite"))
    s.init()
    return s


def test_a_tender_for_a_project_the_platform_does_not_know_is_refused_by_the_schema(store):
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        with store.write() as conn:
            tenders.insert(conn, "REQ_1", "PRO_NOWHERE", "USR_NOBODY", 10000, "2026-01-05T09:00:00")
    assert store.one("SELECT COUNT(*) FROM tenders")[0] == 0


def record(store: Store) -> None:
    with store.write() as conn:
        records.insert(conn, request_no="REQ_1", service="CONFIRM_LOAN", object_type="LOAN", object_id="PRO_1",
                       payload_text='{"requestNo":"REQ_1"}', amount=100, commission=0, user_no="U1", biz_type="",
                       created_at="2026-01-05T09:00:00")


def test_a_record_is_a_frozen_typed_row_and_settles_only_once(store):
    record(store)
    rec = records.get(store.conn(), "REQ_1")
    assert rec is not None and (rec.status, rec.amount, rec.settled) == (RecordStatus.UNSYNCED, 100, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.status = 1  # type: ignore[misc]

    with store.write() as conn:
        first = records.settle(conn, "REQ_1", RecordStatus.SYNCED, "00000", '{"respCode":"00000"}', "t1")
        second = records.settle(conn, "REQ_1", RecordStatus.FAILED, "30042", '{"respCode":"30042"}', "t2")

    settled = records.get(store.conn(), "REQ_1")
    assert (first, second) == (True, False)
    assert settled is not None and (settled.status, settled.resp_code, settled.confirmed_at) == (1, "00000", "t1")
    assert records.unsynced(store.conn()) == [] and records.unsynced_request_nos(store.conn()) == set()


def test_what_a_project_has_taken_is_summed_from_an_index_without_reading_a_row_per_tender(store):
    # Every tender asks it: reading each earlier tender's row made a project of N tenders cost N² row reads.
    marks = ", ".join("?" * len(tenders.TAKING))
    plan = store.all(f"EXPLAIN QUERY PLAN SELECT COALESCE(SUM(amount), 0) FROM tenders WHERE project_no = ?"
                     f" AND status IN ({marks})", ("PRO_1", *(s.value for s in tenders.TAKING)))
    assert any("COVERING INDEX" in row["detail"] for row in plan), [row["detail"] for row in plan]
