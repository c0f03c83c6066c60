"""The bank's clock: shown and moved through ``/sim/clock``, never backwards, persisted.

Hold and request timestamps, business dates and check-file dates all read it.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bank_depository.app import create_app
from bank_depository.clock import ClockError, FixedClock, PersistentClock, iso, parse_instant
from bank_depository.storage import db
from tests.conftest import START, BankDriver, bank_config, cst


def now_of(bank) -> dt.datetime:
    resp = bank.client.get("/sim/clock")
    assert resp.status_code == 200
    return dt.datetime.fromisoformat(resp.json["now"])


def move(bank, **body):
    return bank.client.post("/sim/clock", json=body)


# -- the HTTP surface -----------------------------------------------------------------------------------
def test_the_clock_starts_where_the_configuration_says_and_is_shown_in_china_time(bank):
    now = now_of(bank)
    assert now == cst(2026, 1, 5, 9, 0)
    assert now.utcoffset() == dt.timedelta(hours=8)


def test_a_frozen_clock_stands_still_between_calls(bank):
    assert now_of(bank) == now_of(bank)


def test_advancing_moves_the_clock_forward_by_exactly_that_many_seconds(bank):
    resp = move(bank, advance_seconds=90)
    assert resp.status_code == 200
    assert dt.datetime.fromisoformat(resp.json["now"]) == cst(2026, 1, 5, 9, 1, 30)
    assert now_of(bank) == cst(2026, 1, 5, 9, 1, 30)
    assert move(bank, advance_seconds=0.5).status_code == 200
    assert now_of(bank) == cst(2026, 1, 5, 9, 1, 30, 500000)


def test_setting_the_clock_accepts_any_offset_and_answers_in_china_time(bank):
    resp = move(bank, set="2026-01-06T01:30:00Z")
    assert resp.status_code == 200
    assert resp.json["now"].startswith("2026-01-06T09:30:00")
    assert now_of(bank) == cst(2026, 1, 6, 9, 30)
    move(bank, set="2026-01-07T08:00:00")  # no offset: China time
    assert now_of(bank) == cst(2026, 1, 7, 8, 0)


def test_setting_the_clock_to_now_is_allowed(bank):
    assert move(bank, set=START).status_code == 200
    assert now_of(bank) == cst(2026, 1, 5, 9, 0)


@pytest.mark.parametrize("body", [{"set": "2026-01-05T08:59:59+08:00"}, {"set": "2020-01-01"},
                                  {"advance_seconds": -1}])
def test_the_clock_never_goes_backwards_and_says_so(bank, body):
    resp = move(bank, **body)
    assert resp.status_code == 400
    assert "back" in resp.json["error"]["message"]  # "never goes backwards" / "cannot set the clock back"
    assert now_of(bank) == cst(2026, 1, 5, 9, 0)


@pytest.mark.parametrize("body, word", [
    ({"set": "next tuesday"}, "ISO-8601"), ({"advance_seconds": "10"}, "advance_seconds"),
    ({"advance_seconds": True}, "advance_seconds"), ({}, "advance_seconds"),
    ({"advance_seconds": float("nan")}, "advance_seconds"), ({"advance_seconds": float("inf")}, "advance_seconds"),
    ({"advance_seconds": 1e20}, "advance_seconds"), ({"set": "9999-12-31T23:59:59-12:00"}, "calendar"),
])
def test_a_malformed_clock_move_is_a_400_that_names_the_problem(bank, body, word):
    resp = bank.client.post("/sim/clock", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 400
    assert word in resp.json["error"]["message"]
    assert now_of(bank) == cst(2026, 1, 5, 9, 0)


def test_a_clock_body_that_is_not_a_json_object_is_refused(bank):
    resp = bank.client.post("/sim/clock", data="advance", content_type="text/plain")
    assert resp.status_code == 400 and resp.json["error"]["message"]


# -- persisted ------------------------------------------------------------------------------------------
def test_the_clock_is_kept_across_a_restart(tmp_path, keys):
    first = create_app(bank_config(tmp_path, keys))
    BankDriver(first, keys).client.post("/sim/clock", json={"advance_seconds": 3 * 86400})
    first.extensions["wanxin.bank"].database.close()
    # the configured start applies to a fresh database only
    second = create_app(bank_config(tmp_path, keys))
    try:
        again = BankDriver(second, keys)
        assert now_of(again) == cst(2026, 1, 8, 9, 0)
        assert again.client.post("/sim/clock", json={"set": START}).status_code == 400
    finally:
        second.extensions["wanxin.bank"].database.close()


def test_a_running_clock_follows_system_time_and_keeps_its_offset_persisted(tmp_path):
    path = tmp_path / "clock.sqlite"
    database = db.Database(path)
    db.init_schema(database.conn())
    system = [cst(2030, 6, 1, 12, 0)]
    clock = PersistentClock(database.conn, system=lambda: system[0])
    assert clock.now() == cst(2030, 6, 1, 12, 0)
    system[0] += dt.timedelta(seconds=5)
    assert clock.now() == cst(2030, 6, 1, 12, 0, 5)
    clock.advance(3600)
    assert clock.now() == cst(2030, 6, 1, 13, 0, 5)
    system[0] += dt.timedelta(seconds=10)
    assert clock.now() == cst(2030, 6, 1, 13, 0, 15)
    database.close()
    reopened = db.Database(path)
    try:
        assert PersistentClock(reopened.conn, system=lambda: system[0]).now() == cst(2030, 6, 1, 13, 0, 15)
        with pytest.raises(ClockError):
            PersistentClock(reopened.conn, system=lambda: system[0]).set(cst(2030, 6, 1, 12, 0))
    finally:
        reopened.close()


def test_a_fixed_clock_moves_only_forward_and_only_when_told():
    clock = FixedClock(cst(2026, 1, 5, 9, 0))
    assert clock.now() == clock.now() == cst(2026, 1, 5, 9, 0)
    assert clock.advance(60) == cst(2026, 1, 5, 9, 1)
    assert clock.set(cst(2026, 2, 1)) == cst(2026, 2, 1)
    with pytest.raises(ClockError):
        clock.advance(-1)
    with pytest.raises(ClockError):
        clock.set(cst(2026, 1, 31))
    assert clock.now() == cst(2026, 2, 1)


def test_instants_parse_and_print_in_china_time():
    assert parse_instant("2026-01-05T01:00:00Z") == cst(2026, 1, 5, 9, 0)
    assert parse_instant("2026-01-05T09:00:00").tzinfo is not None
    assert iso(dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.timezone.utc)) == "2026-01-05T09:00:00.000000+08:00"
    with pytest.raises(ClockError):
        parse_instant("yesterday")


# -- what follows the clock -----------------------------------------------------------------------------
def _tender_setup(bank):
    borrower = bank.open_account(1, role="B")
    investor = bank.open_account(2)
    bank.recharge(investor, "1000.00")
    r = bank.call("CREATE_PROJECT", {"requestNo": bank.next_no(), "userNo": borrower, "projectNo": "P1",
                                     "projectAmount": "1000.00", "projectName": "clock"})
    assert r["respCode"] == "00000", r
    return borrower, investor


def test_holds_and_requests_are_stamped_with_the_bank_s_clock(bank):
    _, investor = _tender_setup(bank)
    move(bank, set="2026-03-01T10:20:30+08:00")
    no = bank.next_no()
    r = bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": no, "userNo": investor, "bizType": "TENDER",
                                                "projectNo": "P1", "amount": "100.00"})
    assert r["respCode"] == "00000", r
    [hold] = bank.client.get("/sim/holds", query_string={"userNo": investor}).json
    assert parse_instant(hold["createdAt"]) == cst(2026, 3, 1, 10, 20, 30)
    [req] = bank.client.get(f"/sim/requests/{no}").json
    assert parse_instant(req["createdAt"]) == parse_instant(req["finishedAt"]) == cst(2026, 3, 1, 10, 20, 30)
    [entry] = [e for e in bank.client.get("/sim/entries").json if e["requestNo"] == no]
    assert parse_instant(entry["at"]) == cst(2026, 3, 1, 10, 20, 30)
    business_date = bank.ctx.conn().execute("SELECT business_date FROM requests WHERE request_no = ?",
                                            (no,)).fetchone()[0]
    assert business_date == "2026-03-01"


def test_a_gateway_request_is_finished_at_the_clock_time_of_its_confirmation(bank):
    user = bank.open_account(1)
    no = bank.next_no()
    payload = {"requestNo": no, "userNo": user, "amount": "10.00", "callbackUrl": "http://platform.test/cb"}
    page = bank.remember(bank.client.get("/gateway", query_string=bank.signed("RECHARGE", payload)), no)
    assert page.status_code == 200
    move(bank, advance_seconds=120)
    done = bank.client.post("/gateway/confirm", data=bank.confirm_form(no, platformNo="wanxinp2p",
                                                                       serviceName="RECHARGE", password="123456"))
    assert done.status_code == 302
    [req] = bank.client.get(f"/sim/requests/{no}").json
    assert parse_instant(req["createdAt"]) == cst(2026, 1, 5, 9, 0)
    assert parse_instant(req["finishedAt"]) == cst(2026, 1, 5, 9, 2)


def test_the_business_date_is_the_china_date_even_when_the_clock_is_set_in_utc(bank):
    user = bank.open_account(1)
    bank.client.post("/sim/clock", json={"set": "2026-01-05T16:30:00Z"})  # 00:30 on the 6th in Beijing
    bank.recharge(user, "10.00")
    no = f"REQ_{bank.seq:06d}"
    day = bank.ctx.conn().execute("SELECT business_date FROM requests WHERE request_no = ?", (no,)).fetchone()[0]
    assert day == "2026-01-06"
    file6 = bank.call("DOWNLOAD_CHECKFILE", {"requestNo": bank.next_no(), "fileDate": "2026-01-06"})
    assert file6["count"] == 1 and no in file6["content"]
    file5 = bank.call("DOWNLOAD_CHECKFILE", {"requestNo": bank.next_no(), "fileDate": "2026-01-05"})
    assert file5["count"] == 0


def test_the_check_file_date_follows_the_clock_across_midnight(bank):
    user = bank.open_account(1)
    bank.client.post("/sim/clock", json={"set": "2026-01-05T23:59:59+08:00"})
    bank.recharge(user, "1.00")
    late = f"REQ_{bank.seq:06d}"
    move(bank, advance_seconds=1)
    bank.recharge(user, "2.00")
    early = f"REQ_{bank.seq:06d}"
    day5 = bank.call("DOWNLOAD_CHECKFILE", {"requestNo": bank.next_no(), "fileDate": "2026-01-05"})
    day6 = bank.call("DOWNLOAD_CHECKFILE", {"requestNo": bank.next_no(), "fileDate": "2026-01-06"})
    assert (day5["count"], day5["totalAmount"]) == (1, "1.00") and late in day5["content"]
    assert (day6["count"], day6["totalAmount"]) == (1, "2.00") and early in day6["content"]
    assert day5["closed"] is True and day6["closed"] is False


def test_a_clock_moved_by_one_app_is_seen_by_another_on_the_same_database(tmp_path, keys):
    first = create_app(bank_config(tmp_path, keys))
    second = create_app(bank_config(tmp_path, keys))
    try:
        a, b = BankDriver(first, keys), BankDriver(second, keys)
        move(a, advance_seconds=600)
        assert now_of(b) == cst(2026, 1, 5, 9, 10)
    finally:
        first.extensions["wanxin.bank"].database.close()
        second.extensions["wanxin.bank"].database.close()


def test_nothing_in_the_bank_reads_the_system_time_outside_the_clock():
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parents[2] / "bank_depository"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if p.name != "clock.py"
                 and re.search(r"\b(datetime|dt)\.(now|utcnow|today)\(|\bdate\.today\(|time\.time\(",
                               p.read_text(encoding="utf-8"))]
    assert offenders == []
