"""The four-field envelope on ``/service``: what is refused before anything runs, and how answers are signed.

Envelope errors answer 00003 (parameters) or 00004 (signature, unknown
platform), signed like every answer, and change nothing.
"""
from __future__ import annotations

import base64
import json
import re
from decimal import Decimal

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import codes, envelope, signing
from tests.conftest import PLATFORM_NO, BankDriver, bank_config

MONEY = re.compile(r"^-?[0-9]+\.[0-9]{2}$")
MONEY_KEYS = {"amount", "commission", "balance", "freezeAmount", "claimAmount", "totalAmount", "totalCommission"}


def resp_data_text(body: str) -> str:
    """The exact respData text as it stands in the body (the body is built as respData then signature)."""
    match = re.fullmatch(r'\{"respData":(\{.*\}),"signature":"([A-Za-z0-9+/=]+)"\}', body, re.S)
    assert match, body
    return match.group(1)


def answer(resp, keys) -> dict:
    assert resp.status_code == 200
    assert resp.content_type.startswith("application/json")
    return envelope.verify_response(resp.get_data(as_text=True), keys["bank_public_key"])


def assert_money_strings(data) -> None:
    """Every amount anywhere in respData is a 2-decimal string, never a number."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in MONEY_KEYS:
                assert isinstance(value, str) and MONEY.match(value), (key, value)
            assert_money_strings(value)
    elif isinstance(data, list):
        for item in data:
            assert_money_strings(item)
    else:
        assert not isinstance(data, (float, Decimal)), data


@pytest.fixture
def project(bank):
    borrower = bank.open_account(1, "B")
    investor = bank.open_account(2, "I")
    bank.recharge(investor, "1000.00")
    bank.call("CREATE_PROJECT", {"requestNo": bank.next_no(), "userNo": borrower, "projectNo": "P1",
                                 "projectAmount": "500.00", "projectPeriod": 12, "annualRate": "0.10"})
    return {"borrower": borrower, "investor": investor}


def tender_payload(bank, project, amount="100.00") -> dict:
    return {"requestNo": bank.next_no("TND"), "userNo": project["investor"], "projectNo": "P1",
            "bizType": "TENDER", "amount": amount}


# -- refused envelopes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", envelope.FIELDS)
def test_a_missing_envelope_field_is_a_parameter_error_and_changes_nothing(bank, project, missing):
    before = bank.snapshot()
    fields = bank.signed("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, project))
    del fields[missing]
    data = answer(bank.client.post("/service", data=fields), bank.keys)
    assert data["respCode"] == codes.PARAM_FAIL and data["status"] == codes.STATUS_FAILURE
    assert missing in data["respMsg"]
    assert bank.snapshot() == before


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_envelope_field_counts_as_missing(bank, blank):
    fields = bank.signed("QUERY_USER", {"requestNo": "Q1", "userNo": "nobody"})
    fields["signature"] = blank
    assert answer(bank.client.post("/service", data=fields), bank.keys)["respCode"] == codes.PARAM_FAIL


@pytest.mark.parametrize("req_data", [
    "not base64 at all!", "eyJh", base64.urlsafe_b64encode(b'{"requestNo":"\xff\xfe??"}').decode() + "-_",
    base64.b64encode(b"\xff\xfe\xfd").decode(),  # Base64 of bytes that are not UTF-8
])
def test_undecodable_req_data_is_a_parameter_error_and_changes_nothing(bank, project, req_data):
    before = bank.snapshot()
    fields = bank.signed("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, project))
    fields["reqData"] = req_data
    data = answer(bank.client.post("/service", data=fields), bank.keys)
    assert data["respCode"] == codes.PARAM_FAIL
    assert bank.snapshot() == before


@pytest.mark.parametrize("text", ["requestNo=R1&amount=1", '{"requestNo": "R1"', "[1, 2]", '"R1"', "null", ""])
def test_req_data_that_is_not_a_json_object_is_a_parameter_error(bank, text):
    fields = {"serviceName": "QUERY_USER", "platformNo": PLATFORM_NO,
              "reqData": base64.b64encode(text.encode()).decode() or "IA==",
              "signature": signing.sign(bank.keys["platform_private_key"], text.encode())}
    data = answer(bank.client.post("/service", data=fields), bank.keys)
    assert data["respCode"] == codes.PARAM_FAIL


def test_a_payload_without_request_no_is_a_parameter_error(bank):
    data = bank.call("QUERY_USER", {"userNo": "U1"})
    assert data["respCode"] == codes.PARAM_FAIL and "requestNo" in data["respMsg"]


def test_an_unknown_platform_is_refused_as_an_unknown_platform(bank, project):
    before = bank.snapshot()
    resp = bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, project), platform_no="otherp2p")
    data = answer(resp, bank.keys)
    assert data["respCode"] == codes.UNKNOWN_PLATFORM and "otherp2p" in data["respMsg"]
    assert bank.snapshot() == before


def test_tampered_req_data_is_refused_and_changes_nothing(bank, project):
    before = bank.snapshot()
    payload = tender_payload(bank, project, "100.00")
    fields = bank.signed("USER_AUTO_PRE_TRANSACTION", payload)
    fields["reqData"] = base64.b64encode(envelope.dumps({**payload, "amount": "400.00"}).encode()).decode()
    data = answer(bank.client.post("/service", data=fields), bank.keys)
    assert data["respCode"] == codes.SIGN_FAIL
    assert data["requestNo"] == payload["requestNo"]
    assert bank.snapshot() == before


def test_a_re_serialised_payload_no_longer_matches_its_signature(bank, project):
    """The signature covers the exact bytes; the same JSON with other spacing is another message."""
    payload = tender_payload(bank, project)
    fields = bank.signed("USER_AUTO_PRE_TRANSACTION", payload)
    fields["reqData"] = base64.b64encode(json.dumps(payload).encode()).decode()  # default separators add spaces
    assert answer(bank.client.post("/service", data=fields), bank.keys)["respCode"] == codes.SIGN_FAIL


def test_a_request_signed_with_another_key_is_refused_and_changes_nothing(bank, project):
    before = bank.snapshot()
    resp = bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, project),
                         key=bank.keys["other_private_key"])
    assert answer(resp, bank.keys)["respCode"] == codes.SIGN_FAIL
    assert bank.snapshot() == before


@pytest.mark.parametrize("signature", ["AAAA", "!!!", base64.b64encode(b"x" * 256).decode()])
def test_a_garbage_signature_is_refused(bank, signature):
    fields = bank.signed("QUERY_USER", {"requestNo": "Q1", "userNo": "U1"})
    fields["signature"] = signature
    assert answer(bank.client.post("/service", data=fields), bank.keys)["respCode"] == codes.SIGN_FAIL


def test_a_refused_envelope_is_not_recorded_under_its_request_no(bank, project):
    payload = tender_payload(bank, project)
    bad = bank.raw_call("USER_AUTO_PRE_TRANSACTION", payload, key=bank.keys["other_private_key"])
    assert answer(bad, bank.keys)["respCode"] == codes.SIGN_FAIL
    good = bank.call("USER_AUTO_PRE_TRANSACTION", payload)
    assert good["respCode"] == codes.SUCCESS


def test_an_unknown_service_name_is_refused_with_its_own_code(bank):
    data = bank.call("TRANSFER_EVERYTHING", {"requestNo": "X1"})
    assert data["respCode"] == codes.UNKNOWN_SERVICE and data["requestNo"] == "X1"


def test_a_gateway_service_is_not_a_direct_service(bank):
    data = bank.call("RECHARGE", {"requestNo": "X2", "userNo": "U1", "amount": "1.00"})
    assert data["respCode"] == codes.UNKNOWN_SERVICE


# -- accepted envelopes ---------------------------------------------------------------------------------
def test_get_and_form_post_are_both_accepted(bank, project):
    post = bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, project))
    get = bank.client.get("/service", query_string=bank.signed("USER_AUTO_PRE_TRANSACTION",
                                                                 tender_payload(bank, project)))
    assert answer(post, bank.keys)["respCode"] == codes.SUCCESS
    assert answer(get, bank.keys)["respCode"] == codes.SUCCESS
    assert bank.balances(project["investor"])[:2] == ("800.00", "200.00")


def test_the_signature_covers_the_decoded_bytes_whatever_their_spacing(bank, project):
    payload = tender_payload(bank, project)
    text = json.dumps(payload, indent=2, ensure_ascii=True)
    req = envelope.sign_request("USER_AUTO_PRE_TRANSACTION", PLATFORM_NO, payload,
                                bank.keys["platform_private_key"], payload_text=text)
    data = answer(bank.client.post("/service", data=req.fields()), bank.keys)
    assert data["respCode"] == codes.SUCCESS and data["amount"] == "100.00"


def test_non_ascii_payloads_are_signed_over_their_utf8_bytes(bank):
    bank.card(7)
    data = bank.call("QUERY_USER", {"requestNo": "Q7", "userNo": "用户七"})
    assert data["respCode"] == codes.USER_NOT_FOUND and "用户七" in data["respMsg"]


def test_the_response_signature_verifies_over_the_exact_resp_data_text(bank, project):
    resp = bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, project))
    body = resp.get_data(as_text=True)
    text = resp_data_text(body)
    signature = json.loads(body)["signature"]
    assert signing.verify(bank.keys["bank_public_key"], text.encode("utf-8"), signature)
    assert text == envelope.dumps(json.loads(text))  # compact, raw UTF-8
    reordered = envelope.dumps(dict(reversed(list(json.loads(text).items()))))
    assert not signing.verify(bank.keys["bank_public_key"], reordered.encode("utf-8"), signature)


def test_error_answers_are_signed_too(bank):
    fields = bank.signed("QUERY_USER", {"requestNo": "Q1", "userNo": "U1"})
    fields["signature"] = "AAAA"
    body = bank.client.post("/service", data=fields).get_data(as_text=True)
    assert signing.verify(bank.keys["bank_public_key"], resp_data_text(body).encode(), json.loads(body)["signature"])


def test_a_response_with_a_tampered_body_fails_verification(bank, project):
    body = bank.raw_call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, project)).get_data(as_text=True)
    with pytest.raises(envelope.ResponseSignatureError):
        envelope.verify_response(body.replace('"100.00"', '"900.00"'), bank.keys["bank_public_key"])


def test_every_answer_carries_request_no_resp_code_resp_msg_and_status_and_amounts_as_strings(bank, project):
    hold = tender_payload(bank, project)
    _, done = bank.gateway("RECHARGE", {"requestNo": "RC1", "userNo": project["investor"], "amount": "1.50",
                                        "callbackUrl": "http://platform.test/cb"})
    answers = [
        bank.call("QUERY_TRANSACTION", {"requestNo": "Q0", "transactionRequestNo": "RC1"}),
        bank.call("USER_AUTO_PRE_TRANSACTION", hold),
        bank.call("USER_AUTO_PRE_TRANSACTION", tender_payload(bank, project, "9999.00")),
        bank.call("QUERY_USER", {"requestNo": "Q1", "userNo": project["investor"]}),
        bank.call("QUERY_TRANSACTION", {"requestNo": "Q2", "transactionRequestNo": hold["requestNo"]}),
        bank.call("CANCEL_PRE_TRANSACTION", {"requestNo": "C1", "preRequestNo": hold["requestNo"]}),
        bank.call("NO_SUCH_SERVICE", {"requestNo": "Q3"}),
    ]
    for data in answers:
        assert {"requestNo", "respCode", "respMsg", "status"} <= set(data)
        assert isinstance(data["status"], int) and data["status"] in (0, 1, 2)
        if data["respCode"] != codes.SUCCESS:
            assert data["status"] == codes.STATUS_FAILURE
        assert_money_strings(data)
    assert answers[0]["result"]["amount"] == "1.50"
    assert answers[1]["amount"] == "100.00"
    assert answers[3]["balance"] == "901.50" and answers[3]["freezeAmount"] == "100.00"


def test_amounts_given_as_json_numbers_are_answered_as_two_decimal_strings(bank, project):
    payload = {**tender_payload(bank, project), "amount": 12.5}
    data = bank.call("USER_AUTO_PRE_TRANSACTION", payload)
    assert data["respCode"] == codes.SUCCESS and data["amount"] == "12.50"


# -- the legacy hash -------------------------------------------------------------------------------------
@pytest.fixture
def sha1_bank(tmp_path, keys):
    cfg = bank_config(tmp_path, keys)
    cfg["PLATFORMS"][0]["algorithm"] = signing.SHA1
    app = create_app(cfg)
    yield BankDriver(app, keys)
    app.extensions["wanxin.dispatcher"].stop()
    app.extensions["wanxin.bank"].database.close()


def test_a_sha1_platform_signs_and_is_answered_with_sha1(sha1_bank, keys):
    payload = {"requestNo": "Q1", "userNo": "U1"}
    req = envelope.sign_request("QUERY_USER", PLATFORM_NO, payload, keys["platform_private_key"], signing.SHA1)
    body = sha1_bank.client.post("/service", data=req.fields()).get_data(as_text=True)
    data = envelope.verify_response(body, keys["bank_public_key"], signing.SHA1)
    assert data["respCode"] == codes.USER_NOT_FOUND
    with pytest.raises(envelope.ResponseSignatureError):
        envelope.verify_response(body, keys["bank_public_key"], signing.SHA256)


def test_a_sha256_signature_is_refused_by_a_sha1_platform(sha1_bank, keys):
    body = sha1_bank.raw_call("QUERY_USER", {"requestNo": "Q1", "userNo": "U1"}).get_data(as_text=True)
    # An envelope refusal is answered with the default hash: the bank cannot trust the platform's choice yet.
    data = envelope.verify_response(body, keys["bank_public_key"], signing.SHA256)
    assert data["respCode"] == codes.SIGN_FAIL
