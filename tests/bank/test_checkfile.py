"""Daily check files (对账文件): exactly the day's balance-changing requests, with control totals.

A scripted business day touches every kind of movement; the file for it must
list each successful movement once, nothing else, in a stable order, and be
the same bytes whenever the closed day is asked for again.
"""
from __future__ import annotations

import csv
import io

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import envelope, signing
from bank_depository.services.checkfile import COLUMNS, TOTALS
from tests.conftest import PLATFORM_NO, BankDriver, bank_config, make_id_number

DAY = "2026-01-06"


# -- helpers --------------------------------------------------------------------------------------------
def tick(bank, seconds: int = 1) -> None:
    assert bank.client.post("/sim/clock", json={"advance_seconds": seconds}).status_code == 200


def ok(bank, service: str, payload: dict) -> dict:
    r = bank.call(service, payload)
    assert r["respCode"] == "00000", r
    return r


def last_no(bank) -> str:
    return f"REQ_{bank.seq:06d}"


def checkfile(bank, day: str) -> dict:
    return bank.call("DOWNLOAD_CHECKFILE", {"requestNo": bank.next_no("CF"), "fileDate": day})


def parse(content: str) -> tuple[dict, list[dict]]:
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0] == list(TOTALS) and rows[2] == list(COLUMNS)
    totals = dict(zip(TOTALS, rows[1]))
    return totals, [dict(zip(COLUMNS, r)) for r in rows[3:]]


def script_day(bank) -> list[tuple]:
    """One business day with every kind of movement, some refusals and some non-movements.

    Returns the expected check-file lines (requestNo, serviceName, bizType, userNo, counterparty, amount,
    commission) in the order they happened.
    """
    borrower = bank.open_account(1, role="B", balance="1000.00")
    alice = bank.open_account(2, balance="9000.00")
    bob = bank.open_account(3, balance="9000.00")
    bank.recharge(borrower, "500.00")
    early = last_no(bank)
    bank.client.post("/sim/clock", json={"set": f"{DAY}T08:00:00+08:00"})
    expected = []

    def step(row):
        expected.append(row)
        tick(bank)

    bank.recharge(alice, "5000.00")
    step((last_no(bank), "RECHARGE", "", alice, "", "5000.00", "0.00"))
    bank.recharge(bob, "3000.00")
    step((last_no(bank), "RECHARGE", "", bob, "", "3000.00", "0.00"))
    bank.recharge(bob, "99999.00")  # refused: the card is short
    tick(bank)
    bank.withdraw(alice, "100.00", commission="1.00")
    step((last_no(bank), "WITHDRAW", "", alice, "", "100.00", "1.00"))
    bank.recharge(alice, "1.00", password="999999")  # wrong password: not final, nothing moves
    tick(bank)
    for project_no, amount in (("P1", "2000.00"), ("P2", "1000.00")):
        ok(bank, "CREATE_PROJECT", {"requestNo": bank.next_no(), "userNo": borrower, "projectNo": project_no,
                                    "projectAmount": amount, "projectName": project_no})
        tick(bank)
    tenders = {}
    for user, project_no, amount in ((alice, "P1", "1200.00"), (bob, "P1", "800.00"), (bob, "P2", "500.00")):
        no = bank.next_no("TND")
        ok(bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": no, "userNo": user, "bizType": "TENDER",
                                               "projectNo": project_no, "amount": amount})
        tenders[(user, project_no)] = no
        step((no, "USER_AUTO_PRE_TRANSACTION", "TENDER", user, project_no, amount, "0.00"))
    refused = bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": bank.next_no("TND"), "userNo": alice,
                                                      "bizType": "TENDER", "projectNo": "P1", "amount": "1.00"})
    assert refused["respCode"] == "30023"
    tick(bank)
    cancel_no = bank.next_no("CAN")
    ok(bank, "CANCEL_PRE_TRANSACTION", {"requestNo": cancel_no, "preRequestNo": tenders[(bob, "P2")]})
    step((cancel_no, "CANCEL_PRE_TRANSACTION", "TENDER", bob, tenders[(bob, "P2")], "500.00", "0.00"))
    loan_no = bank.next_no("LOAN")
    ok(bank, "CONFIRM_LOAN", {"requestNo": loan_no, "projectNo": "P1", "commission": "20.00", "details": [
        {"preRequestNo": tenders[(alice, "P1")], "amount": "1200.00"},
        {"preRequestNo": tenders[(bob, "P1")], "amount": "800.00"}]})
    step((loan_no, "CONFIRM_LOAN", "LOAN", borrower, "P1", "2000.00", "20.00"))
    ok(bank, "MODIFY_PROJECT", {"requestNo": bank.next_no(), "projectNo": "P1", "projectStatus": "REPAYING"})
    tick(bank)
    ok(bank, "QUERY_USER", {"requestNo": bank.next_no("Q"), "userNo": alice})
    hold_no = bank.next_no("RPF")
    ok(bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": hold_no, "userNo": borrower, "bizType": "REPAYMENT",
                                           "projectNo": "P1", "amount": "105.00"})
    step((hold_no, "USER_AUTO_PRE_TRANSACTION", "REPAYMENT", borrower, "P1", "105.00", "0.00"))
    repay_no = bank.next_no("RPY")
    ok(bank, "CONFIRM_REPAYMENT", {"requestNo": repay_no, "projectNo": "P1", "preRequestNo": hold_no,
                                   "commission": "0.00", "details": [
                                       {"userNo": alice, "amount": "60.00", "interest": "3.00"},
                                       {"userNo": bob, "amount": "40.00", "interest": "2.00",
                                        "commission": "0.50"}]})
    step((repay_no, "CONFIRM_REPAYMENT", "REPAYMENT", borrower, "P1", "105.00", "0.50"))
    buy_no = bank.next_no("CAF")
    ok(bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": buy_no, "userNo": bob, "bizType": "CREDIT_ASSIGNMENT",
                                           "projectNo": "P1", "amount": "300.00"})
    step((buy_no, "USER_AUTO_PRE_TRANSACTION", "CREDIT_ASSIGNMENT", bob, "P1", "300.00", "0.00"))
    sell_no = bank.next_no("CA")
    ok(bank, "CONFIRM_CREDIT_ASSIGNMENT", {"requestNo": sell_no, "projectNo": "P1", "preRequestNo": buy_no,
                                           "sellerUserNo": alice, "claimAmount": "300.00", "commission": "3.00"})
    step((sell_no, "CONFIRM_CREDIT_ASSIGNMENT", "CREDIT_ASSIGNMENT", bob, alice, "300.00", "3.00"))
    assert early not in [row[0] for row in expected]
    return expected


# -- the scripted day -----------------------------------------------------------------------------------
def test_the_check_file_lists_exactly_the_day_s_movements_with_correct_totals(bank):
    expected = script_day(bank)
    got = checkfile(bank, DAY)
    assert (got["respCode"], got["status"], got["fileDate"]) == ("00000", 1, DAY)
    totals, lines = parse(got["content"])
    assert [(r["requestNo"], r["serviceName"], r["bizType"], r["userNo"], r["counterparty"], r["amount"],
             r["commission"]) for r in lines] == expected
    assert {r["status"] for r in lines} == {"SUCCESS"}
    assert all(r["finishedAt"].startswith(DAY) for r in lines)
    assert [r["finishedAt"] for r in lines] == sorted(r["finishedAt"] for r in lines)
    amount = sum(int(row[5].replace(".", "")) for row in expected)
    commission = sum(int(row[6].replace(".", "")) for row in expected)
    assert got["count"] == len(expected) == 12
    assert got["totalAmount"] == f"{amount // 100}.{amount % 100:02d}" == "13910.00"
    assert got["totalCommission"] == f"{commission // 100}.{commission % 100:02d}" == "24.50"
    assert totals == {"fileDate": DAY, "platformNo": PLATFORM_NO, "count": "12", "totalAmount": "13910.00",
                      "totalCommission": "24.50"}


def test_the_day_before_holds_only_its_own_movements(bank):
    script_day(bank)
    got = checkfile(bank, "2026-01-05")
    _, lines = parse(got["content"])
    assert [(r["serviceName"], r["amount"]) for r in lines] == [("RECHARGE", "500.00")]
    assert (got["count"], got["totalAmount"]) == (1, "500.00")


def test_a_closed_day_gives_the_same_bytes_every_time(bank):
    script_day(bank)
    open_day = checkfile(bank, DAY)
    assert open_day["closed"] is False
    tick(bank, 86400)
    first = checkfile(bank, DAY)
    second = checkfile(bank, DAY)
    assert first["closed"] is True
    assert first["content"].encode("utf-8") == second["content"].encode("utf-8") == open_day["content"].encode()
    # activity on a later day never changes a closed day
    user = "USR_0002"
    bank.recharge(user, "7.00")
    ok(bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": bank.next_no("TND"), "userNo": user, "bizType": "TENDER",
                                           "projectNo": "P2", "amount": "7.00"})
    third = checkfile(bank, DAY)
    assert third["content"] == first["content"]
    assert {k: third[k] for k in ("count", "totalAmount")} == {k: first[k] for k in ("count", "totalAmount")}
    assert checkfile(bank, "2026-01-07")["count"] == 2


def test_the_simulator_serves_the_same_text_as_the_signed_service(bank):
    script_day(bank)
    tick(bank, 86400)
    resp = bank.client.get("/sim/checkfile", query_string={"date": DAY})
    assert resp.status_code == 200 and resp.content_type.startswith("text/csv")
    assert resp.get_data(as_text=True) == checkfile(bank, DAY)["content"]


def test_a_day_without_activity_is_an_empty_file_with_zero_totals(bank):
    bank.client.post("/sim/clock", json={"advance_seconds": 3 * 86400})
    got = checkfile(bank, "2026-01-06")
    assert (got["respCode"], got["count"], got["totalAmount"], got["totalCommission"]) == ("00000", 0, "0.00", "0.00")
    totals, lines = parse(got["content"])
    assert lines == []
    assert totals == {"fileDate": "2026-01-06", "platformNo": PLATFORM_NO, "count": "0", "totalAmount": "0.00",
                      "totalCommission": "0.00"}
    assert checkfile(bank, "2020-01-01")["count"] == 0


def test_a_future_date_is_refused_and_today_is_served_open(bank):
    tomorrow = checkfile(bank, "2026-01-06")
    assert (tomorrow["respCode"], tomorrow["status"]) == ("40002", 2)
    assert "content" not in tomorrow
    today = checkfile(bank, "2026-01-05")
    assert (today["respCode"], today["closed"]) == ("00000", False)


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "", "20260105", "2026-W02-1", "2026-01-05T00:00"])
def test_a_malformed_file_date_is_a_parameter_error(bank, day):
    got = bank.call("DOWNLOAD_CHECKFILE", {"requestNo": bank.next_no("CF"), "fileDate": day})
    assert (got["respCode"], got["status"]) == ("00003", 2)
    assert "fileDate" in got["respMsg"]


def test_the_check_file_is_signed_like_every_service_response(bank, keys):
    user = bank.open_account(1)
    bank.recharge(user, "12.34")
    raw = bank.raw_call("DOWNLOAD_CHECKFILE", {"requestNo": "CF_1", "fileDate": "2026-01-05"})
    assert raw.status_code == 200 and raw.content_type.startswith("application/json")
    body = raw.get_data(as_text=True)
    data = envelope.verify_response(body, keys["bank_public_key"])
    assert (data["requestNo"], data["count"], data["totalAmount"]) == ("CF_1", 1, "12.34")
    assert {"fileDate", "count", "totalAmount", "content"} <= set(data)
    forged = body.replace("12.34", "99.99")
    with pytest.raises(envelope.ResponseSignatureError):
        envelope.verify_response(forged, keys["bank_public_key"])


def test_asking_for_a_check_file_is_not_a_request_of_the_day(bank):
    user = bank.open_account(1)
    bank.recharge(user, "1.00")
    first = checkfile(bank, "2026-01-05")
    second = checkfile(bank, "2026-01-05")
    assert first["content"] == second["content"] and first["count"] == 1


def test_each_platform_gets_only_its_own_lines(tmp_path, keys):
    other_priv, other_pub = signing.generate_key_pair()
    cfg = bank_config(tmp_path, keys)
    cfg["PLATFORMS"] = cfg["PLATFORMS"] + [{"platform_no": "otherp2p", "public_key": other_pub.decode(),
                                            "notify_url": "http://other.test/notify"}]
    app = create_app(cfg)
    try:
        bank = BankDriver(app, keys)
        mine = bank.open_account(1)
        bank.recharge(mine, "10.00")
        other_key = signing.load_private_key(other_priv)
        card = bank.card(2)
        register = {"requestNo": "O_1", "userNo": "OTHER_1", "fullname": card["fullname"],
                    "idNumber": make_id_number(2), "mobile": card["mobile"], "cardNumber": card["cardNumber"],
                    "role": "I", "callbackUrl": "http://other.test/cb"}
        for service, payload in (("PERSONAL_REGISTER", register),
                                 ("RECHARGE", {"requestNo": "O_2", "userNo": "OTHER_1", "amount": "99.00",
                                               "callbackUrl": "http://other.test/cb"})):
            page = bank.remember(bank.client.get("/gateway", query_string=bank.signed(
                service, payload, key=other_key, platform_no="otherp2p")), payload["requestNo"])
            assert page.status_code == 200, page.data
            form = bank.confirm_form(payload["requestNo"], platformNo="otherp2p", serviceName=service,
                                     password="123456", confirmPassword="123456")
            assert bank.client.post("/gateway/confirm", data=form).status_code == 302
        assert bank.balances("OTHER_1")[0] == "99.00"
        got = checkfile(bank, "2026-01-05")
        _, lines = parse(got["content"])
        assert [(r["userNo"], r["amount"]) for r in lines] == [(mine, "10.00")]
        theirs = bank.call("DOWNLOAD_CHECKFILE", {"requestNo": "O_3", "fileDate": "2026-01-05"},
                           key=other_key, platform_no="otherp2p")
        _, lines = parse(theirs["content"])
        assert [(r["requestNo"], r["amount"]) for r in lines] == [("O_2", "99.00")]
        assert bank.problems() == []
    finally:
        app.extensions["wanxin.bank"].database.close()
