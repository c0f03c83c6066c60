"""The legacy profile's ``/service`` wire, byte for byte (reference §1.2–§1.5).

The bank signs with the original's 512-bit ``depository_privateKey`` and the
platform with ``p2p_privateKey`` (tests/legacy_keys.py). PKCS#1 v1.5 is
deterministic, so whole bodies are pinned; each pinned signature was also
checked with JDK 17's ``Signature.getInstance("SHA1WithRSA")`` over the
respData text when these tests were written.
"""
from __future__ import annotations

import base64
import logging

import pytest

from bank_depository.app import create_app
from bank_depository.protocol import envelope, legacy, signing
from tests.bank.legacy_driver import (BANK_KEY, CONTEXT, MODERN_NO, P2P_KEY, PLATFORM_NO, LegacyDriver, close,
                                      legacy_config, query, resp_data_text, verified)
from tests.legacy_keys import DEPOSITORY_PRIVATE_KEY, P2P_PRIVATE_KEY, P2P_PUBLIC_KEY

VECTOR_MESSAGE = '{"amount":100.00,"bizType":"TENDER","requestNo":"REQ_TEST","userNo":"USR_X"}'
VECTOR_SIGNATURE = "dSeAHG4wwKYihLAdBBfvgzQ2KJaNUVjE5jxqIi+FP2bGhlQ71VvvzMXyOaS2FyZRyCAd2CKXx90DxQeleDJQ3g=="
VECTOR_REQDATA = ("eyJhbW91bnQiOjEwMC4wMCwiYml6VHlwZSI6IlRFTkRFUiIsInJlcXVlc3RObyI6IlJFUV9URVNUIiwidXNlck5vIjoiVVNSX1gi"
                  "fQ==")


@pytest.fixture
def bank(tmp_path, keys):
    app = create_app(legacy_config(tmp_path, keys))
    driver = LegacyDriver(app)
    yield driver
    assert driver.problems() == []
    close(app)


@pytest.fixture
def project(bank):
    bob, ivy = bank.open_account(1, "B"), bank.open_account(2, "I")
    bank.recharge(ivy, "500.00")
    bank.call("CREATE_PROJECT", {"requestNo": "REQ_P1", "userNo": bob, "projectNo": "PRO_1",
                                 "projectAmount": "1000.00", "projectName": "面馆", "projectPeriod": 30,
                                 "annualRate": "0.12"})
    return {"borrower": bob, "investor": ivy, "projectNo": "PRO_1"}


# -- the test vector of reference §1.3 ----------------------------------------------------------------------
def test_the_reference_test_vector_signs_to_the_given_signature_under_the_p2p_demo_key():
    key = signing.load_private_key(P2P_PRIVATE_KEY, allow_weak=True)
    assert key.key_size == 512
    assert signing.sign(key, VECTOR_MESSAGE.encode("utf-8"), signing.SHA1) == VECTOR_SIGNATURE
    assert base64.b64encode(VECTOR_MESSAGE.encode("utf-8")).decode() == VECTOR_REQDATA
    public = signing.load_public_key(P2P_PUBLIC_KEY, allow_weak=True)
    assert signing.verify(public, VECTOR_MESSAGE.encode("utf-8"), VECTOR_SIGNATURE, signing.SHA1)


def test_the_test_vector_request_goes_on_the_url_as_javas_urlencoder_writes_it():
    q = query("USER_AUTO_PRE_TRANSACTION", {}, payload_text=VECTOR_MESSAGE)
    assert q == ("serviceName=USER_AUTO_PRE_TRANSACTION&platformNo=wanxinp2p&reqData="
                 + VECTOR_REQDATA.replace("=", "%3D") + "&signature="
                 + VECTOR_SIGNATURE.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"))


def test_java_urlencoder_keeps_star_and_encodes_tilde_and_space_as_plus():
    assert legacy.java_url_encode("a b*c~d/e+f=用") == "a+b*c%7Ed%2Fe%2Bf%3D%E7%94%A8"


def test_the_bank_accepts_the_test_vector_request_byte_for_byte_and_answers_the_original_shape(bank):
    body = bank.body("USER_AUTO_PRE_TRANSACTION", {}, payload_text=VECTOR_MESSAGE)
    assert body == (
        '{"signature":"bbv8FsYWVKFEx65Rm9ICXS5tJIO+oIeP0lTR5Bgh8I1yj7BHHXUQ+3DP4w26OBGvK7Uyp2gJfbbmhoC18cGaGQ==",'
        '"respData":{"bizType":"TENDER","respMsg":"参数校验不通过: projectNo is required","requestNo":"REQ_TEST",'
        '"respCode":"00003","status":1}}')
    assert verified(body)["respCode"] == "00003"


# -- respData: HashMap order, signed over exactly that text, status 1 -------------------------------------
def test_create_project_answers_in_hashmap_order_signed_over_the_exact_respdata_text(bank):
    bob = bank.open_account(1, "B")
    body = bank.body("CREATE_PROJECT", {"requestNo": "REQ_P1", "userNo": bob, "projectNo": "PRO_1",
                                        "projectAmount": "1000.00", "projectName": "面馆", "projectPeriod": 30,
                                        "annualRate": "0.12"})
    assert body == (
        '{"signature":"hG/jitOvWnPsScHelMsQ4zVm0n+G2xphYYvsllNS9WKMxv6BpSvoif7aiiNPdc+DK7JzT6ADwH/Z3ndSXRKnbA==",'
        '"respData":{"projectStatus":"COLLECTING","projectNo":"PRO_1","respMsg":"成功","requestNo":"REQ_P1",'
        '"respCode":"00000","status":1}}')
    text = resp_data_text(body)
    signature = body.split('"signature":"')[1].split('"')[0]
    assert signing.verify(BANK_KEY, text.encode("utf-8"), signature, signing.SHA1)


def test_a_tender_freeze_answers_bizType_first_and_our_extra_fields_where_hashmap_puts_them(bank, project):
    body = bank.body("USER_AUTO_PRE_TRANSACTION", {"requestNo": "REQ_T1", "userNo": project["investor"],
                                                   "bizType": "TENDER", "amount": "100.00", "projectNo": "PRO_1"})
    assert body == (
        '{"signature":"GF1ShwR8yTSPv0a+SVKRD2FMqhdlWJqxnXkm21dnQpDHjm7Kv6SjM35Cq5YJHybhbcQi+Hej97+edt3S0T/7Ow==",'
        '"respData":{"amount":"100.00","bizType":"TENDER","projectNo":"PRO_1","userNo":"USR_0002","respMsg":"成功",'
        '"requestNo":"REQ_T1","respCode":"00000","status":1}}')


def test_a_refused_freeze_still_says_status_1_and_carries_bizType_as_the_original_does(bank, project):
    body = bank.body("USER_AUTO_PRE_TRANSACTION", {"requestNo": "REQ_T2", "userNo": project["investor"],
                                                   "bizType": "tender", "amount": "900.00", "projectNo": "PRO_1"})
    assert body == (
        '{"signature":"O6tDDZsUrBeFIqENfeqiban9aBu+9lP7ZecoMkmo4XBZ+Gqr1U6sBtgQcrECIKKc8Rl8km7k+RIni1YOdD0hew==",'
        '"respData":{"bizType":"TENDER","respMsg":"账户余额不足: available 500.00, needs 900.00","requestNo":"REQ_T2",'
        '"respCode":"30042","status":1}}')
    assert bank.balances(project["investor"]) == ("500.00", "0.00", "9500.00")


def test_a_replayed_request_answers_the_same_bytes_and_runs_once(bank, project):
    payload = {"requestNo": "REQ_T1", "userNo": project["investor"], "bizType": "TENDER", "amount": "100.00",
               "projectNo": "PRO_1"}
    first = bank.body("USER_AUTO_PRE_TRANSACTION", payload)
    assert bank.body("USER_AUTO_PRE_TRANSACTION", payload) == first
    assert bank.balances(project["investor"])[:2] == ("400.00", "100.00")


def test_services_the_original_lacked_answer_in_the_same_shape_nested_objects_included(bank, project):
    bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": "REQ_T1", "userNo": project["investor"],
                                            "bizType": "TENDER", "amount": "100.00", "projectNo": "PRO_1"})
    body = bank.body("QUERY_TRANSACTION", {"requestNo": "Q1", "transactionRequestNo": "REQ_T1"})
    data = verified(body)
    assert data["status"] == 1 and data["transactionStatus"] == "SUCCESS"
    text = resp_data_text(body)
    assert text.startswith('{"result":{"amount":"100.00","bizType":"TENDER","projectNo":"PRO_1"')
    assert '"result":{"amount":"100.00","bizType":"TENDER","projectNo":"PRO_1","userNo":"USR_0002","respMsg":"成功",' \
           '"requestNo":"REQ_T1","respCode":"00000","status":1}' in text
    cancel = bank.call("CANCEL_PRE_TRANSACTION", {"requestNo": "C1", "preRequestNo": "REQ_T1"})
    assert cancel["respCode"] == "00000" and cancel["status"] == 1
    assert bank.balances(project["investor"])[:2] == ("500.00", "0.00")


# -- envelope errors: the original's unsigned bodies ---------------------------------------------------------
PARAM_FAIL = '{"respData":{"requestNo":"","respCode":"00003","respMsg":"参数校验不通过","status":1}}'
SIGN_FAIL = '{"respData":{"requestNo":"","respCode":"00004","respMsg":"签名验证失败","status":1}}'


def raw(bank, query_text: str):
    resp = bank.client.get(f"{CONTEXT}/service?{query_text}")
    assert resp.status_code == 200 and resp.content_type == "application/json;charset=UTF-8"
    return resp.get_data(as_text=True)


def test_a_missing_parameter_is_answered_with_the_originals_unsigned_00003_body(bank):
    full = query("QUERY_USER", {"requestNo": "Q1", "userNo": "U1"})
    assert raw(bank, full.split("&signature=")[0]) == PARAM_FAIL
    assert raw(bank, "serviceName=QUERY_USER&platformNo=wanxinp2p&reqData=bm90IGpzb24%3D&signature=AA%3D%3D") \
        == PARAM_FAIL


def test_a_bad_signature_an_unknown_platform_or_a_modern_platform_get_the_unsigned_00004_body(bank, keys):
    payload = {"requestNo": "Q1", "userNo": "U1"}
    assert raw(bank, query("QUERY_USER", payload, key=keys["other_private_key"])) == SIGN_FAIL
    assert raw(bank, query("QUERY_USER", payload, platform_no="nobody")) == SIGN_FAIL
    assert raw(bank, query("QUERY_USER", payload, key=keys["platform_private_key"], platform_no=MODERN_NO,
                           algorithm=signing.SHA256)) == SIGN_FAIL
    with pytest.raises(envelope.ResponseSignatureError):
        verified(SIGN_FAIL)


def test_a_post_to_the_legacy_service_is_refused_as_springs_405_signed_by_the_advice(bank):
    resp = bank.client.post(f"{CONTEXT}/service", data={"serviceName": "QUERY_USER"})
    body = resp.get_data(as_text=True)
    assert body == (
        '{"signature":"XMUr4zJzJIik1FVFovBfTu+qSARVcnoYcZdeJ6tcPDbAGPH03s4TnqZjZwzImujnhg0Z+aCkP4j9lZM/9YykZw==",'
        '"respData":{"respMsg":"method 方法不支持","respCode":"405"}}')
    assert verified(body) == {"respMsg": "method 方法不支持", "respCode": "405"}


# -- one bank, two profiles ------------------------------------------------------------------------------
def test_a_modern_platform_on_the_same_bank_keeps_the_modern_wire_at_the_root(bank, keys):
    fields = envelope.sign_request("QUERY_USER", MODERN_NO, {"requestNo": "Q1", "userNo": "U1"},
                                   keys["platform_private_key"]).fields()
    body = bank.client.post("/service", data=fields).get_data(as_text=True)
    assert body.startswith('{"respData":{"requestNo":"Q1","respCode":"600201",')
    data = envelope.verify_response(body, BANK_KEY, signing.SHA256)
    assert data["status"] == 2
    # … while the legacy platform, on its own routes, gets the original's shape.
    legacy_body = bank.body("QUERY_USER", {"requestNo": "Q1", "userNo": "U1"})
    assert legacy_body.startswith('{"signature":"') and '"status":1}}' in legacy_body


def test_the_modern_routes_still_answer_envelope_errors_signed_in_the_modern_shape(bank):
    body = bank.client.post("/service", data={"serviceName": "QUERY_USER"}).get_data(as_text=True)
    assert envelope.verify_response(body, BANK_KEY, signing.SHA256)["respCode"] == "00003"


# -- keys and configuration --------------------------------------------------------------------------------
def test_512_bit_keys_are_accepted_for_a_legacy_platform_only_and_the_log_says_so(tmp_path, keys, caplog):
    with caplog.at_level(logging.WARNING, logger="wanxin.bank"):
        app = create_app(legacy_config(tmp_path))
    close(app)
    messages = [r.getMessage() for r in caplog.records]
    assert any("512-bit" in m and "legacy" in m and PLATFORM_NO in m for m in messages)
    assert any("bank signs with a 512-bit key" in m for m in messages)
    (tmp_path / "m").mkdir()
    modern = legacy_config(tmp_path / "m", PRIVATE_KEY=keys["bank_private"].decode())
    modern["PLATFORMS"][0]["profile"] = "modern"
    with pytest.raises(signing.KeyError_, match="too weak"):
        create_app(modern)
    with pytest.raises(signing.KeyError_, match="too weak"):
        create_app(legacy_config(tmp_path, PLATFORMS=[]))


def test_an_unknown_profile_is_refused_at_start(tmp_path):
    cfg = legacy_config(tmp_path)
    cfg["PLATFORMS"][0]["profile"] = "ancient"
    with pytest.raises(ValueError, match="profile must be one of modern, legacy"):
        create_app(cfg)


def test_the_context_path_is_configurable_and_never_the_root(tmp_path):
    app = create_app(legacy_config(tmp_path, LEGACY_CONTEXT_PATH="depository/"))
    try:
        client = app.test_client()
        assert client.get("/depository/service?" + query("QUERY_USER", {"requestNo": "Q", "userNo": "U"})) \
            .get_data(as_text=True).startswith('{"signature":')
        assert client.get(f"{CONTEXT}/service").status_code == 404
    finally:
        close(app)
    for root in ("/", ""):
        with pytest.raises(ValueError, match="must not be the root"):
            create_app(legacy_config(tmp_path, LEGACY_CONTEXT_PATH=root))


def test_a_bare_base64_der_bank_key_signs_exactly_as_the_pem_of_the_same_key(tmp_path):
    key = signing.load_private_key(DEPOSITORY_PRIVATE_KEY, allow_weak=True)
    assert legacy.bare_private_key(key) == DEPOSITORY_PRIVATE_KEY
    assert legacy.bare_public_key(P2P_KEY.public_key()) == P2P_PUBLIC_KEY


def test_the_legacy_routes_are_in_the_request_log_with_the_code_the_bank_meant(bank, keys):
    payload = {"requestNo": "Q1", "userNo": "U1"}
    raw(bank, query("QUERY_USER", payload, platform_no="nobody"))
    raw(bank, query("QUERY_USER", payload))
    log = bank.client.get("/sim/requests").json
    assert [(e["endpoint"], e["platformNo"], e["requestNo"], e["respCode"]) for e in log] == [
        (f"{CONTEXT}/service", "nobody", "Q1", "00007"),  # the wire says 00004, as the original did
        (f"{CONTEXT}/service", PLATFORM_NO, "Q1", "600201")]
