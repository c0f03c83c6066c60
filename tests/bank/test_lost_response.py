"""The response of CONFIRM_LOAN is lost after the bank committed.

This is the failure a platform must survive: the money has moved, the platform
does not know it. A retry under the same requestNo returns the original result
and moves nothing; QUERY_TRANSACTION reveals the outcome too.
"""
from __future__ import annotations

import pytest

from bank_depository.protocol import envelope

PROJECT = "P_LOAN"


def ok(bank, service: str, payload: dict) -> dict:
    r = bank.call(service, payload)
    assert r["respCode"] == "00000", r
    return r


@pytest.fixture
def funded(bank):
    """A full project: 1500.00 tendered by two investors, ready to be loaned."""
    borrower = bank.open_account(1, role="B")
    alice, bob = bank.open_account(2), bank.open_account(3)
    bank.recharge(alice, "1000.00")
    bank.recharge(bob, "1000.00")
    ok(bank, "CREATE_PROJECT", {"requestNo": bank.next_no(), "userNo": borrower, "projectNo": PROJECT,
                                "projectAmount": "1500.00", "projectName": "lost response"})
    holds = []
    for user, amount in ((alice, "1000.00"), (bob, "500.00")):
        no = bank.next_no("TND")
        ok(bank, "USER_AUTO_PRE_TRANSACTION", {"requestNo": no, "userNo": user, "bizType": "TENDER",
                                               "projectNo": PROJECT, "amount": amount})
        holds.append({"preRequestNo": no, "amount": amount})
    loan = {"requestNo": "LOAN_0001", "projectNo": PROJECT, "commission": "15.00", "details": holds}
    return {"borrower": borrower, "alice": alice, "bob": bob, "loan": loan}


def lose_confirm_loan(bank, **extra) -> dict:
    resp = bank.client.post("/sim/faults", json={"action": "lose_response", "service": "CONFIRM_LOAN", **extra})
    assert resp.status_code == 201, resp.json
    return resp.json


def query(bank, request_no: str) -> dict:
    return bank.call("QUERY_TRANSACTION", {"requestNo": bank.next_no("Q"), "transactionRequestNo": request_no})


def money(bank, f) -> dict:
    return {who: bank.balances(f[who])[:2] for who in ("borrower", "alice", "bob")}


LOANED = {"borrower": ("1485.00", "0.00"), "alice": ("0.00", "0.00"), "bob": ("500.00", "0.00")}


def test_a_lost_confirm_loan_response_is_recovered_by_a_same_request_no_retry_without_moving_money_twice(bank, funded):
    rule = lose_confirm_loan(bank)
    lost = bank.raw_call("CONFIRM_LOAN", funded["loan"])
    assert lost.status_code == 504 and lost.data == b""
    # the bank committed before the response was lost
    assert money(bank, funded) == LOANED
    after_commit = bank.snapshot()
    [logged] = bank.client.get("/sim/faults").json["log"]
    assert (logged["rule_id"], logged["action"], logged["request_no"]) == (rule["id"], "lose_response", "LOAN_0001")

    retry = bank.raw_call("CONFIRM_LOAN", funded["loan"])
    assert retry.status_code == 200
    result = envelope.verify_response(retry.get_data(as_text=True), bank.keys["bank_public_key"])
    assert (result["requestNo"], result["respCode"], result["status"]) == ("LOAN_0001", "00000", 1)
    assert (result["projectNo"], result["amount"], result["commission"]) == (PROJECT, "1500.00", "15.00")
    assert bank.snapshot() == after_commit
    assert money(bank, funded) == LOANED
    # the stored answer is the original one, byte for byte, however often it is asked for
    assert bank.raw_call("CONFIRM_LOAN", funded["loan"]).data == retry.data
    loan_entries = [e for e in bank.client.get("/sim/entries").json if e["requestNo"] == "LOAN_0001"]
    assert len(loan_entries) == 1
    assert bank.problems() == []


def test_query_transaction_reveals_the_outcome_of_a_lost_confirm_loan(bank, funded):
    lose_confirm_loan(bank, times=-1)
    assert bank.raw_call("CONFIRM_LOAN", funded["loan"]).status_code == 504
    found = query(bank, "LOAN_0001")
    assert (found["respCode"], found["status"], found["transactionStatus"]) == ("00000", 1, "SUCCESS")
    assert found["serviceName"] == "CONFIRM_LOAN"
    assert found["result"]["respCode"] == "00000" and found["result"]["amount"] == "1500.00"
    # while the rule keeps losing responses, retries keep committing nothing new
    before = bank.snapshot()
    for _ in range(3):
        assert bank.raw_call("CONFIRM_LOAN", funded["loan"]).status_code == 504
    assert bank.snapshot() == before
    assert money(bank, funded) == LOANED
    assert len(bank.client.get("/sim/faults").json["log"]) == 4


def test_a_lost_refusal_of_confirm_loan_is_revealed_as_a_failure_and_moves_nothing(bank, funded):
    lose_confirm_loan(bank)
    wrong = dict(funded["loan"], details=[dict(funded["loan"]["details"][0], amount="999.00"),
                                          funded["loan"]["details"][1]])
    before = bank.snapshot()
    assert bank.raw_call("CONFIRM_LOAN", wrong).status_code == 504
    assert bank.snapshot() == before
    found = query(bank, "LOAN_0001")
    assert (found["status"], found["transactionStatus"], found["result"]["respCode"]) == (2, "FAIL", "30012")
    retry = bank.call("CONFIRM_LOAN", wrong)
    assert (retry["respCode"], retry["status"]) == ("30012", 2)
    assert bank.snapshot() == before


def test_a_retry_that_changes_the_payload_after_a_lost_response_is_a_conflict(bank, funded):
    lose_confirm_loan(bank)
    assert bank.raw_call("CONFIRM_LOAN", funded["loan"]).status_code == 504
    after_commit = bank.snapshot()
    changed = bank.call("CONFIRM_LOAN", dict(funded["loan"], commission="0.00"))
    assert (changed["respCode"], changed["status"]) == ("00005", 2)
    assert "commission" in changed["respMsg"]
    assert bank.snapshot() == after_commit


def test_a_confirm_loan_that_never_reached_the_bank_is_unknown_to_query_transaction(bank, funded):
    bank.client.post("/sim/faults", json={"action": "reject", "code": "00001", "service": "CONFIRM_LOAN"})
    refused = bank.call("CONFIRM_LOAN", funded["loan"])
    assert refused["respCode"] == "00001"
    assert query(bank, "LOAN_0001")["respCode"] == "40001"
    assert money(bank, funded)["borrower"] == ("0.00", "0.00")
    ok(bank, "CONFIRM_LOAN", funded["loan"])
    assert money(bank, funded) == LOANED


def test_the_loan_appears_once_in_the_day_s_check_file_after_a_lost_response(bank, funded):
    lose_confirm_loan(bank)
    bank.raw_call("CONFIRM_LOAN", funded["loan"])
    bank.raw_call("CONFIRM_LOAN", funded["loan"])
    got = bank.call("DOWNLOAD_CHECKFILE", {"requestNo": bank.next_no("CF"), "fileDate": "2026-01-05"})
    assert got["content"].count("LOAN_0001") == 1
