"""The unchanged original course platform through the whole lifecycle on the legacy profile (issue 13).

Each request is the one the original platform makes (reference §5): its field
names, its fastjson text (alphabetical keys, BigDecimal amounts as numbers with
their scale), the role ``I`` its only open-account page sends for everyone, the
MODIFY_PROJECT its agent never lets through, and its period-1 CONFIRM_REPAYMENT
of a 3-period 等额本息 loan of 10,000.00 at 15 % (borrower plan 3417.01 =
3292.02 principal + 124.99 interest, platform commission 41.66; tenders of
6,000.00 and 4,000.00 at the investors' 10 %).
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import envelope, fastjson, signing
from tests.bank.legacy_driver import (BANK_KEY, CONTEXT, FRONT, MODERN_NO, PLATFORM_NO, LegacyDriver, close,
                                      legacy_config, location, query, verified)
from tests.conftest import page_token

PROJECT = "PRO_0001"


@pytest.fixture
def bank(tmp_path, keys):
    app = create_app(legacy_config(tmp_path, keys))  # a modern platform shares the bank
    driver = LegacyDriver(app)
    yield driver
    assert driver.problems() == []
    close(app)


def original_text(payload: dict) -> str:
    """The platform's ``JSON.toJSONString(dto)``: keys sorted, nulls dropped, BigDecimal with its scale."""
    def bean(value):
        if isinstance(value, dict):
            return {k: bean(value[k]) for k in sorted(value)}
        if isinstance(value, list):
            return [bean(v) for v in value]
        return value
    return fastjson.dumps(bean(payload))


def send_body(bank: LegacyDriver, service: str, payload: dict) -> str:
    """One direct call as the original's agent sends it (GET, URLEncoder, SHA1withRSA); the body."""
    return bank.body(service, payload, payload_text=original_text(payload))


def send(bank: LegacyDriver, service: str, payload: dict) -> dict:
    """:func:`send_body`'s verified respData."""
    return verified(send_body(bank, service, payload))


def project_status(bank: LegacyDriver) -> str:
    [status] = [p["status"] for p in bank.client.get("/sim/projects").json if p["projectNo"] == PROJECT]
    return status


def yuan(text: str) -> Decimal:
    return Decimal(text)


def opened(bank: LegacyDriver, service: str, payload: dict) -> None:
    """The original front end opens the bank's page (the form it posts carries the page's one-time token)."""
    page = bank.client.get(f"{CONTEXT}/gateway?" + query(service, payload, payload_text=original_text(payload)))
    assert page.status_code == 200
    bank.tokens[payload["requestNo"]] = page_token(page)


def open_original_account(bank: LegacyDriver, seq: int) -> str:
    """The course front end's open-account page: role I for every user, borrowers included."""
    card = bank.card(seq, "10000.00")
    payload = bank.register_payload(seq, card, "I", id=seq, username=f"user{seq}")
    opened(bank, "PERSONAL_REGISTER", payload)
    done = bank.client.post(f"{CONTEXT}/trans/users?requestNo={payload['requestNo']}",
                            data=bank.form(payload["requestNo"], appCode=PLATFORM_NO, prePassword="123456",
                                           password="123456"))
    assert location(done) == f"{FRONT}?st=1&code=0"
    return payload["userNo"]


def recharge(bank: LegacyDriver, user_no: str, amount: str) -> None:
    payload = {"amount": yuan(amount), "callbackUrl": f"{FRONT}?st=2", "id": 7, "requestNo": bank.next_no(),
               "userNo": user_no}
    opened(bank, "RECHARGE", payload)
    done = bank.client.post(f"{CONTEXT}/trans/recharge-details", data=bank.form(
        payload["requestNo"], requestNo=payload["requestNo"], appCode=PLATFORM_NO, password="123456"))
    assert location(done) == f"{FRONT}?st=2&code=0"


def loaned_project(bank: LegacyDriver) -> dict:
    """Open accounts, recharge, create the project, tender until full and confirm the loan, as the original does."""
    borrower, ivy, ian = (open_original_account(bank, n) for n in (1, 2, 3))
    recharge(bank, ivy, "6000.00")
    recharge(bank, ian, "4000.00")
    created = send(bank, "CREATE_PROJECT", {
        "annualRate": Decimal("0.15"), "id": 11, "isAssignment": 0, "projectAmount": Decimal("10000.00"),
        "projectDesc": "用户1先生第1次借款", "projectName": "用户1先生第1次借款", "projectNo": PROJECT,
        "projectPeriod": 90, "projectType": "NEW", "repaymentWay": "FIXED_REPAYMENT", "requestNo": bank.next_no(),
        "userNo": borrower})
    assert created["respCode"] == "00000", created
    tenders = []
    for user_no, amount in ((ivy, "6000.00"), (ian, "4000.00")):
        request_no = bank.next_no()
        frozen = send(bank, "USER_AUTO_PRE_TRANSACTION", {"amount": yuan(amount), "bizType": "TENDER", "id": 21,
                                                          "projectNo": PROJECT, "requestNo": request_no,
                                                          "userNo": user_no})
        assert (frozen["respCode"], frozen["bizType"]) == ("00000", "TENDER"), frozen
        tenders.append({"amount": yuan(amount), "preRequestNo": request_no})
    loan_request_no = bank.next_no()
    loan_body = send_body(bank, "CONFIRM_LOAN", {"commission": Decimal("0"), "details": tenders, "id": 31,
                                                 "projectNo": PROJECT, "requestNo": loan_request_no})
    assert verified(loan_body)["respCode"] == "00000", loan_body
    return {"borrower": borrower, "ivy": ivy, "ian": ian, "loan": loan_request_no, "loan_body": loan_body}


def freeze_period_1(bank: LegacyDriver, borrower: str) -> str:
    request_no = bank.next_no()
    frozen = send(bank, "USER_AUTO_PRE_TRANSACTION", {"amount": Decimal("3417.01"), "bizType": "REPAYMENT", "id": 41,
                                                      "projectNo": PROJECT, "requestNo": request_no,
                                                      "userNo": borrower})
    assert frozen["respCode"] == "00000", frozen
    return request_no


def confirm_period_1(bank: LegacyDriver, pre: str, details: list[dict]) -> dict:
    return send(bank, "CONFIRM_REPAYMENT", {"amount": Decimal("3417.01"), "commission": Decimal("41.66"),
                                            "details": details, "id": 41, "preRequestNo": pre,
                                            "projectNo": PROJECT, "requestNo": bank.next_no()})


def test_the_original_platforms_request_sequence_runs_the_whole_lifecycle_and_the_ledger_stays_sound(bank):
    p = loaned_project(bank)
    # The original's agent short-circuits MODIFY_PROJECT (it reuses the CONFIRM_LOAN requestNo): nothing is sent,
    # and the bank's project is still COLLECTING when the first repayment is frozen.
    assert project_status(bank) == "COLLECTING"
    pre = freeze_period_1(bank, p["borrower"])
    assert bank.balances(p["borrower"])[:2] == ("6582.99", "3417.01")
    # Principal 3292.02 and interest 83.33 to the investors, 41.66 to the platform: 3417.01, the hold.
    done = confirm_period_1(bank, pre, [
        {"amount": Decimal("1975.21"), "commission": Decimal("15.00"), "interest": Decimal("50.00"),
         "userNo": p["ivy"]},
        {"amount": Decimal("1316.81"), "commission": Decimal("10.00"), "interest": Decimal("33.33"),
         "userNo": p["ian"]}])
    assert done["respCode"] == "00000", done
    assert bank.balances(p["borrower"])[:2] == ("6582.99", "0.00")
    assert bank.balances(p["ivy"])[:2] == ("2010.21", "0.00")  # 1975.21 + 50.00 - 15.00
    assert bank.balances(p["ian"])[:2] == ("1340.14", "0.00")  # 1316.81 + 33.33 - 10.00
    # A MODIFY_PROJECT that does arrive later (with a requestNo of its own) is still accepted.
    modified = send(bank, "MODIFY_PROJECT", {"id": 11, "projectNo": PROJECT, "projectStatus": "REPAYING",
                                             "requestNo": bank.next_no()})
    assert modified["respCode"] == "00000", modified
    assert project_status(bank) == "REPAYING"
    assert bank.problems() == []


def test_the_originals_inconsistent_confirm_repayment_is_refused_with_its_numbers_and_nothing_moves(bank):
    p = loaned_project(bank)
    pre = freeze_period_1(bank, p["borrower"])
    before = [bank.balances(u) for u in (p["borrower"], p["ivy"], p["ian"])]
    # The original's period-1 details: per-tender receivable plans at 10 %, their own rounding.
    refused = confirm_period_1(bank, pre, [
        {"amount": Decimal("1983.43"), "commission": Decimal("15.00"), "interest": Decimal("49.99"),
         "userNo": p["ivy"]},
        {"amount": Decimal("1322.28"), "commission": Decimal("10.00"), "interest": Decimal("33.33"),
         "userNo": p["ian"]}])
    assert refused["respCode"] == "30012" and refused["status"] == 1
    assert refused["respMsg"].endswith(
        f"details add up to 3430.69 but hold {pre} froze 3417.01 (+13.68):"
        " Σ(amount+interest)+commission must equal the hold")
    assert [bank.balances(u) for u in (p["borrower"], p["ivy"], p["ian"])] == before
    [hold] = [h for h in bank.client.get(f"/sim/holds?userNo={p['borrower']}").json if h["requestNo"] == pre]
    assert (hold["state"], hold["remaining"]) == ("FROZEN", "3417.01")


def test_a_repayment_naming_a_fen_more_principal_than_the_claim_is_refused_with_both_numbers(bank):
    # The original's per-tender principals can sum to a fen more than the tender (4000.01 against 4000.00).
    borrower, ivy = open_original_account(bank, 1), open_original_account(bank, 2)
    recharge(bank, ivy, "100.00")
    recharge(bank, borrower, "1.00")
    send(bank, "CREATE_PROJECT", {"projectAmount": Decimal("100.00"), "projectNo": PROJECT,
                                  "requestNo": bank.next_no(), "userNo": borrower})
    tender = bank.next_no()
    send(bank, "USER_AUTO_PRE_TRANSACTION", {"amount": Decimal("100.00"), "bizType": "TENDER", "projectNo": PROJECT,
                                             "requestNo": tender, "userNo": ivy})
    send(bank, "CONFIRM_LOAN", {"commission": Decimal("0"), "details": [{"amount": Decimal("100.00"),
                                                                         "preRequestNo": tender}],
                                "projectNo": PROJECT, "requestNo": bank.next_no()})
    pre = bank.next_no()
    assert send(bank, "USER_AUTO_PRE_TRANSACTION", {"amount": Decimal("100.01"), "bizType": "REPAYMENT",
                                                    "projectNo": PROJECT, "requestNo": pre,
                                                    "userNo": borrower})["respCode"] == "00000"
    refused = send(bank, "CONFIRM_REPAYMENT", {"amount": Decimal("100.01"), "commission": Decimal("0"),
                                               "details": [{"amount": Decimal("100.01"), "interest": Decimal("0"),
                                                            "userNo": ivy}],
                                               "preRequestNo": pre, "projectNo": PROJECT,
                                               "requestNo": bank.next_no()})
    assert refused["respCode"] == "30030"
    assert refused["respMsg"].endswith(f"{ivy}: principal repaid 100.01 but the claim left on {PROJECT} is 100.00"
                                       " (+0.01): Σ amount of an investor must not exceed its claim left")
    assert bank.balances(borrower)[:2] == ("0.99", "100.01") and bank.balances(ivy)[:2] == ("0.00", "0.00")


def test_the_modify_project_sent_with_the_confirm_loans_request_no_answers_that_stored_response_and_changes_nothing(
        bank):
    p = loaned_project(bank)
    replay = send_body(bank, "MODIFY_PROJECT", {"id": 11, "projectNo": PROJECT, "projectStatus": "REPAYING",
                                                "requestNo": p["loan"]})
    assert replay == p["loan_body"]  # the CONFIRM_LOAN answer, byte for byte, as the original's interceptor replays
    assert project_status(bank) == "COLLECTING"


def test_a_legacy_user_is_recorded_with_role_b_as_the_original_and_may_both_borrow_and_lend(bank):
    p = loaned_project(bank)  # the borrower and both investors all registered with role I
    for user_no in (p["borrower"], p["ivy"]):
        assert bank.client.get(f"/sim/accounts/{user_no}").json["role"] == "B"
        assert send(bank, "QUERY_USER", {"requestNo": bank.next_no(), "userNo": user_no})["role"] == "B"
    # The investor borrows too, and the borrower lends on the investor's project.
    created = send(bank, "CREATE_PROJECT", {"projectAmount": Decimal("1000.00"), "projectNo": "PRO_0002",
                                            "requestNo": bank.next_no(), "userNo": p["ivy"]})
    assert created["respCode"] == "00000", created
    tender = send(bank, "USER_AUTO_PRE_TRANSACTION", {"amount": Decimal("100.00"), "bizType": "TENDER",
                                                      "projectNo": "PRO_0002", "requestNo": bank.next_no(),
                                                      "userNo": p["borrower"]})
    assert tender["respCode"] == "00000", tender


def test_a_modern_platform_on_the_same_bank_still_gets_a_conflict_for_a_request_no_reused_by_another_service(
        bank, keys):
    def modern(service: str, payload: dict) -> dict:
        fields = envelope.sign_request(service, MODERN_NO, payload, keys["platform_private_key"]).fields()
        return envelope.verify_response(bank.client.post("/service", data=fields).get_data(as_text=True), BANK_KEY,
                                        signing.SHA256)
    first = modern("CREATE_PROJECT", {"requestNo": "REQ_M1", "userNo": "USR_NONE", "projectNo": "PRO_M",
                                      "projectAmount": "100.00"})
    assert first["respCode"] == "600201"
    again = modern("MODIFY_PROJECT", {"requestNo": "REQ_M1", "projectNo": "PRO_M", "projectStatus": "REPAYING"})
    assert again["respCode"] == "00005" and "serviceName" in again["respMsg"]


# -- the original's local endpoints -------------------------------------------------------------------------
def test_the_originals_cancel_pre_freeze_is_an_empty_200_that_moves_nothing_while_cancel_pre_transaction_works(bank):
    ivy = open_original_account(bank, 2)
    recharge(bank, ivy, "500.00")
    send(bank, "CREATE_PROJECT", {"projectAmount": Decimal("1000.00"), "projectNo": PROJECT,
                                  "requestNo": bank.next_no(), "userNo": ivy})
    pre = bank.next_no()
    send(bank, "USER_AUTO_PRE_TRANSACTION", {"amount": Decimal("300.00"), "bizType": "TENDER", "projectNo": PROJECT,
                                             "requestNo": pre, "userNo": ivy})
    stub = bank.client.get(f"{CONTEXT}/l/cancel-pre-freeze?requestNo=REQ_C1&preRequestNo={pre}&amount=300.00")
    assert (stub.status_code, stub.get_data(), stub.headers.get("Content-Type")) == (200, b"", None)
    assert bank.balances(ivy)[:2] == ("200.00", "300.00")
    missing = bank.client.get(f"{CONTEXT}/l/cancel-pre-freeze?requestNo=REQ_C1")
    assert '"respCode":"99999"' in missing.get_data(as_text=True)
    cancelled = send(bank, "CANCEL_PRE_TRANSACTION", {"preRequestNo": pre, "requestNo": bank.next_no()})
    assert cancelled["respCode"] == "00000"
    assert bank.balances(ivy)[:2] == ("500.00", "0.00")


def test_a_finished_register_or_recharge_form_posted_again_answers_the_stored_response_signed_as_the_original(bank):
    ivy = open_original_account(bank, 2)
    request_no, first = bank.recharge(ivy, "100.00")
    assert location(first).endswith("&code=0")
    again = bank.client.post(f"{CONTEXT}/trans/recharge-details", data=bank.form(
        request_no, requestNo=request_no, appCode=PLATFORM_NO, password="123456"))
    assert again.status_code == 200 and again.content_type == "application/json;charset=UTF-8"
    body = again.get_data(as_text=True)
    stored = (f'{{"requestNo":"{request_no}","respCode":"00000","respMsg":"成功","status":1,'
              '"transactionStatus":"SUCCESS"}')
    data = envelope.loads(body)
    assert list(data) == ["signature", "respData"] and data["respData"] == envelope.loads(stored)
    assert signing.verify(BANK_KEY, stored.encode("utf-8"), data["signature"], signing.SHA1)
    assert bank.balances(ivy)[0] == "100.00"  # the money moved once
    register = bank.register_payload(9, bank.card(9), "I")
    bank.page("PERSONAL_REGISTER", register)
    url = f"{CONTEXT}/trans/users?requestNo={register['requestNo']}"
    form = bank.form(register["requestNo"], appCode=PLATFORM_NO, prePassword="123456", password="123456")
    assert location(bank.client.post(url, data=form)).endswith("&code=0")
    repeated = envelope.loads(bank.client.post(url, data=form).get_data(as_text=True))["respData"]
    assert (repeated["auditStatus"], repeated["requestNo"]) == ("PASSED", register["requestNo"])


def test_a_request_no_echoed_with_characters_python_escapes_differently_is_written_and_signed_as_fastjson(bank):
    from tests.bank.legacy_driver import resp_data_text

    odd = "REQ_\u000b\u001f\u007f\u0085\u2028\u2029/"
    body = bank.body("QUERY_USER", {"requestNo": odd, "userNo": "USR_NONE"})
    text = resp_data_text(body)
    assert '"requestNo":"REQ_\\u000B\\u001F\\u007F\\u0085\\u2028\\u2029/"' in text
    assert signing.verify(BANK_KEY, text.encode("utf-8"), envelope.loads(body)["signature"], signing.SHA1)
    assert text == fastjson.dumps(envelope.loads(text))  # what the original platform re-serialises and verifies
