"""The request log: every request that reaches the protocol's endpoints, accepted or refused, with
who, what, the answer's code, how long it took, the fault rule that fired and, for a refused
signature, a diagnosis."""
from __future__ import annotations

import base64
import hashlib

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import codes, envelope, signing
from bank_depository.storage import request_log
from tests.conftest import PLATFORM_NO, bank_config


def log(bank, **params) -> list[dict]:
    resp = bank.client.get("/sim/requests", query_string=params)
    assert resp.status_code == 200, resp.json
    return resp.json


def answer(resp, keys) -> dict:
    return envelope.verify_response(resp.get_data(as_text=True), keys["bank_public_key"])


def test_an_accepted_direct_request_is_logged_with_who_what_code_and_duration(bank):
    bank.call("QUERY_TRANSACTION", {"requestNo": "Q1", "transactionRequestNo": "nothing"})
    user = bank.open_account(1)
    bank.call("QUERY_USER", {"requestNo": "Q2", "userNo": user})
    last = log(bank)[-1]
    assert {k: last[k] for k in ("endpoint", "platformNo", "serviceName", "requestNo", "respCode", "outcome",
                                  "httpStatus", "fault", "diagnosis")} == {
        "endpoint": "/service", "platformNo": PLATFORM_NO, "serviceName": "QUERY_USER", "requestNo": "Q2",
        "respCode": codes.SUCCESS, "outcome": "accepted", "httpStatus": 200, "fault": None, "diagnosis": None}
    assert isinstance(last["durationMs"], int) and last["durationMs"] >= 0
    assert last["at"] == bank.ctx.now_iso()


def test_a_business_refusal_is_logged_with_its_code(bank):
    bank.call("QUERY_USER", {"requestNo": "Q1", "userNo": "nobody"})
    assert [(e["requestNo"], e["respCode"], e["outcome"]) for e in log(bank)] == \
        [("Q1", codes.USER_NOT_FOUND, "refused")]


def test_an_envelope_error_is_logged_with_what_could_be_read(bank):
    fields = bank.signed("QUERY_USER", {"requestNo": "Q1", "userNo": "U"})
    del fields["signature"]
    bank.client.post("/service", data=fields)
    entry = log(bank)[-1]
    assert (entry["platformNo"], entry["serviceName"], entry["requestNo"], entry["respCode"]) == \
        (PLATFORM_NO, "QUERY_USER", "Q1", codes.PARAM_FAIL)
    assert "signature" in entry["detail"]


def test_an_unknown_platform_answers_00007_and_the_log_names_the_key_that_matches(bank):
    resp = bank.raw_call("QUERY_USER", {"requestNo": "Q1", "userNo": "U"}, platform_no="wanxin-p2p")
    data = answer(resp, bank.keys)
    assert data["respCode"] == codes.UNKNOWN_PLATFORM == "00007"
    entry = log(bank)[-1]
    assert entry["respCode"] == "00007" and entry["platformNo"] == "wanxin-p2p"
    assert entry["diagnosis"]["matchesPlatform"] == PLATFORM_NO
    assert "wanxinp2p" in entry["diagnosis"]["hint"]


def test_a_sha1_signature_for_a_sha256_platform_is_diagnosed(bank):
    payload_text = envelope.dumps({"requestNo": "Q1", "userNo": "U"})
    req = envelope.sign_request("QUERY_USER", PLATFORM_NO, {}, bank.keys["platform_private_key"], signing.SHA1,
                                payload_text=payload_text)
    data = answer(bank.client.post("/service", data=req.fields()), bank.keys)
    assert data["respCode"] == codes.SIGN_FAIL and "SHA1withRSA" in data["respMsg"]
    d = log(bank, status="refused")[-1]["diagnosis"]
    assert d["algorithmExpected"] == signing.SHA256
    assert d["matchesOtherAlgorithm"] is True and d["matchesBase64Text"] is False and d["matchesPlatform"] is None
    signed_text = envelope.request_text("QUERY_USER", PLATFORM_NO, {}, payload_text=payload_text)  # bound
    assert d["verifiedBytes"] == len(signed_text.encode())
    assert d["verifiedSha256"] == hashlib.sha256(signed_text.encode()).hexdigest()


def test_a_signature_over_the_base64_text_is_diagnosed(bank):
    payload_text = envelope.dumps({"requestNo": "Q1", "userNo": "U"})
    b64 = base64.b64encode(payload_text.encode()).decode()
    fields = {"serviceName": "QUERY_USER", "platformNo": PLATFORM_NO, "reqData": b64,
              "signature": signing.sign(bank.keys["platform_private_key"], b64.encode())}
    data = answer(bank.client.post("/service", data=fields), bank.keys)
    assert data["respCode"] == codes.SIGN_FAIL and "Base64" in data["respMsg"]
    d = log(bank)[-1]["diagnosis"]
    assert d["matchesBase64Text"] is True and d["matchesOtherAlgorithm"] is False


def test_a_signature_with_an_unknown_key_says_nothing_matched(bank):
    bank.raw_call("QUERY_USER", {"requestNo": "Q1", "userNo": "U"}, key=bank.keys["other_private_key"])
    d = log(bank)[-1]["diagnosis"]
    assert not d["matchesOtherAlgorithm"] and not d["matchesBase64Text"] and d["matchesPlatform"] is None
    assert "bytes you signed" in d["hint"]


def test_gateway_pages_and_their_confirmations_are_logged(bank):
    user = bank.open_account(1)
    bank.recharge(user, "10.00", password="wrong-password")
    entries = [(e["endpoint"], e["serviceName"], e["respCode"]) for e in log(bank)]
    assert entries == [("/gateway", "PERSONAL_REGISTER", codes.SUCCESS),
                       ("/gateway/confirm", "PERSONAL_REGISTER", codes.SUCCESS),
                       ("/gateway", "RECHARGE", codes.SUCCESS),
                       ("/gateway/confirm", "RECHARGE", codes.PASSWORD_WRONG)]


def test_a_streamed_check_file_is_logged(bank):
    day = bank.ctx.clock.now().date().isoformat()
    resp = bank.client.post("/checkfile", data=bank.signed("DOWNLOAD_CHECKFILE", {"requestNo": "CF1",
                                                                                  "fileDate": day}))
    assert resp.status_code == 200
    resp.get_data()
    entry = log(bank)[-1]
    assert (entry["endpoint"], entry["requestNo"], entry["respCode"]) == ("/checkfile", "CF1", codes.SUCCESS)


def test_the_fault_rule_that_fired_is_logged_with_the_answer_that_was_lost(bank):
    rule = bank.client.post("/sim/faults", json={"action": "lose_response", "service": "QUERY_USER"}).json
    assert bank.raw_call("QUERY_USER", {"requestNo": "Q1", "userNo": "nobody"}).status_code == 504
    rejected = bank.client.post("/sim/faults", json={"action": "reject", "code": "00001"}).json
    bank.raw_call("QUERY_USER", {"requestNo": "Q2", "userNo": "nobody"})
    first, second = log(bank)
    assert first["fault"] == {"ruleId": rule["id"], "action": "lose_response"}
    assert (first["httpStatus"], first["respCode"]) == (504, codes.USER_NOT_FOUND)
    assert second["fault"] == {"ruleId": rejected["id"], "action": "reject"} and second["respCode"] == "00001"


def test_a_failure_to_write_the_log_never_fails_the_request(bank, monkeypatch):
    def broken(conn, entry):
        raise RuntimeError("disk full")
    monkeypatch.setattr(request_log, "write", broken)
    assert bank.call("QUERY_USER", {"requestNo": "Q1", "userNo": "nobody"})["respCode"] == codes.USER_NOT_FOUND


def test_the_log_is_written_after_the_business_transaction_in_its_own(bank, monkeypatch):
    seen = []
    real = request_log.write

    def spy(conn, entry):
        seen.append(conn.in_transaction)
        return real(conn, entry)
    monkeypatch.setattr(request_log, "write", spy)
    bank.open_account(1)
    assert seen == [False, False]
    assert len(log(bank)) == 2


def test_a_direct_state_change_writes_its_log_row_in_its_own_business_transaction(bank):
    borrower = bank.open_account(1, role="B")
    begun: list[str] = []
    conn = bank.ctx.conn()
    conn.set_trace_callback(lambda sql: begun.append(sql) if sql.startswith("BEGIN IMMEDIATE") else None)
    try:
        r = bank.call("CREATE_PROJECT", {"requestNo": "P-1", "userNo": borrower, "projectNo": "P1",
                                         "projectAmount": "1000.00", "projectName": "log"})
    finally:
        conn.set_trace_callback(None)
    assert r["respCode"] == codes.SUCCESS
    assert len(begun) == 1  # the write lock is taken once: the business and its log row commit together
    entry = log(bank, requestNo="P-1")[-1]
    assert (entry["serviceName"], entry["respCode"], entry["httpStatus"]) == ("CREATE_PROJECT", codes.SUCCESS, 200)


def test_a_lost_answer_of_a_state_change_is_logged_in_its_transaction_with_504(bank):
    rule = bank.client.post("/sim/faults", json={"action": "lose_response", "service": "CREATE_PROJECT"}).json
    borrower = bank.open_account(1, role="B")
    resp = bank.raw_call("CREATE_PROJECT", {"requestNo": "P-1", "userNo": borrower, "projectNo": "P1",
                                            "projectAmount": "1000.00", "projectName": "log"})
    assert resp.status_code == 504
    entry = log(bank, requestNo="P-1")[-1]
    assert (entry["httpStatus"], entry["respCode"], entry["fault"]) == \
        (504, codes.SUCCESS, {"ruleId": rule["id"], "action": "lose_response"})


def test_a_failure_to_log_inside_the_business_transaction_keeps_the_business_and_logs_after(bank, monkeypatch):
    real, calls = request_log.insert, []

    def broken_once(conn, entry, keep=request_log.KEEP):
        calls.append(entry.request_no)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return real(conn, entry, keep)
    borrower = bank.open_account(1, role="B")
    monkeypatch.setattr(request_log, "insert", broken_once)
    r = bank.call("CREATE_PROJECT", {"requestNo": "P-1", "userNo": borrower, "projectNo": "P1",
                                     "projectAmount": "1000.00", "projectName": "log"})
    assert r["respCode"] == codes.SUCCESS
    assert calls == ["P-1", "P-1"]  # refused inside the transaction, then written after it in its own
    replay = bank.call("CREATE_PROJECT", {"requestNo": "P-1", "userNo": borrower, "projectNo": "P1",
                                          "projectAmount": "1000.00", "projectName": "log"})
    assert replay == r  # the project exists: the business committed without its log row
    assert [e["respCode"] for e in log(bank, requestNo="P-1")] == [codes.SUCCESS, codes.SUCCESS]


def test_a_log_row_written_in_a_transaction_that_did_not_commit_is_written_after_it(bank, monkeypatch):
    from bank_depository.http import edge
    real = edge.log_within

    def then_fail(conn, resp_code, http_status, at):
        real(conn, resp_code, http_status, at)
        raise RuntimeError("the commit failed")
    monkeypatch.setattr(edge, "log_within", then_fail)
    borrower = bank.open_account(1, role="B")
    resp = bank.raw_call("CREATE_PROJECT", {"requestNo": "P-1", "userNo": borrower, "projectNo": "P1",
                                            "projectAmount": "1000.00", "projectName": "log"})
    assert resp.status_code == 500
    assert bank.ctx.conn().execute("SELECT COUNT(*) FROM projects").fetchone()[0] == 0
    assert [(e["requestNo"], e["httpStatus"]) for e in log(bank, requestNo="P-1")] == [("P-1", 500)]


def test_the_log_filters_by_platform_status_time_request_and_position(bank):
    bank.call("QUERY_USER", {"requestNo": "Q1", "userNo": "nobody"})
    bank.raw_call("QUERY_USER", {"requestNo": "Q2", "userNo": "U"}, platform_no="stranger")
    bank.ctx.clock.advance(60)
    bank.call("QUERY_TRANSACTION", {"requestNo": "Q3", "transactionRequestNo": "Q1"})
    assert [e["requestNo"] for e in log(bank, platformNo="stranger")] == ["Q2"]
    assert [e["requestNo"] for e in log(bank, status="refused")] == ["Q1", "Q2", "Q3"]
    assert [e["requestNo"] for e in log(bank, since=bank.ctx.now_iso())] == ["Q3"]
    assert [e["requestNo"] for e in log(bank, requestNo="Q2")] == ["Q2"]
    first = log(bank)[0]["id"]
    assert [e["requestNo"] for e in log(bank, after=first)] == ["Q2", "Q3"]
    assert [e["requestNo"] for e in log(bank, limit=1)] == ["Q3"]


@pytest.mark.parametrize("params", [{"status": "maybe"}, {"since": "yesterday"}, {"limit": "0"}, {"after": "-1"}])
def test_bad_log_filters_are_refused_clearly(bank, params):
    resp = bank.client.get("/sim/requests", query_string=params)
    assert resp.status_code == 400 and resp.json["error"]["message"]


def test_the_access_log_is_one_line_per_request_on_stderr_when_asked(tmp_path, keys, capsys):
    app = create_app(bank_config(tmp_path, keys, ACCESS_LOG=True))
    fields = envelope.sign_request("QUERY_USER", PLATFORM_NO, {"requestNo": "REQ_1", "userNo": "U"},
                                   keys["platform_private_key"]).fields()
    app.test_client().post("/service", data=fields)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("QUERY_USER REQ_1 600201 ") and " ms" in line and PLATFORM_NO in line
    app.extensions["wanxin.bank"].database.close()


def test_simulator_calls_are_not_in_the_request_log(bank):
    bank.client.get("/sim/accounts")
    bank.card(1)
    assert log(bank) == []


def test_the_log_keeps_only_its_newest_rows(bank):
    conn = bank.ctx.conn()
    entry = request_log.LogEntry(at=bank.ctx.now_iso(), endpoint="/service", platform_no=PLATFORM_NO,
                                 service_name="QUERY_USER", request_no="Q", resp_code="00000", http_status=200,
                                 duration_ms=1)
    for _ in range(2000):
        request_log.write(conn, entry, keep=500)
    ids = [r[0] for r in conn.execute("SELECT id FROM request_log ORDER BY id")]
    assert ids[0] == 1501 and ids[-1] == 2000


def test_an_unknown_platform_number_with_a_known_key_says_which_platform_on_the_wire(bank):
    data = answer(bank.raw_call("QUERY_USER", {"requestNo": "Q1", "userNo": "U"}, platform_no="wanxin"), bank.keys)
    assert data["respCode"] == codes.UNKNOWN_PLATFORM and "platform wanxinp2p" in data["respMsg"]


def test_a_confirmation_for_an_unknown_platform_is_logged_as_one(bank):
    resp = bank.client.post("/gateway/confirm", data={"platformNo": "nobody", "requestNo": "R1", "password": "x"})
    assert resp.status_code == 400
    entry = log(bank)[-1]
    assert (entry["endpoint"], entry["platformNo"], entry["requestNo"], entry["respCode"]) == \
        ("/gateway/confirm", "nobody", "R1", codes.UNKNOWN_PLATFORM)
