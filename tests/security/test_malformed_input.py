"""Every malformed input gets a clear refusal, never a 500, and changes nothing.

The signed protocol answers a refused payload with a signed ``00003`` that is
recorded under its requestNo (a retry gets the same bytes); everything else
(``/sim``, the platform's ``/api``) answers 400 with the JSON error body; a
body over the limit is 413; no answer names an exception class. Files that
hold secrets or money are created 0600.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

from bank_depository.app import create_app
from bank_depository.protocol import codes, envelope, signing, strictjson
from bank_depository.protocol.private_file import MODE
from scenarios.harness import Sandbox, write_keys
from tests.conftest import PLATFORM_NO, BankDriver, bank_config
from tests.security.served import ROOT, ServedBank, generate_keys, wanxin

DEEP = "[" * 100_000 + "]" * 100_000


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def signed_text(bank: BankDriver, service: str, text: str, key=None) -> dict:
    """The four fields for a payload given as exact text, signed over those bytes."""
    key = key or bank.keys["platform_private_key"]
    return {"serviceName": service, "platformNo": PLATFORM_NO,
            "reqData": base64.b64encode(text.encode("utf-8")).decode("ascii"),
            "signature": signing.sign(key, text.encode("utf-8"))}


def answer(bank: BankDriver, resp) -> dict:
    assert resp.status_code == 200, resp.data[:300]
    return envelope.verify_response(resp.get_data(as_text=True), bank.keys["bank_public_key"])


def funded(bank: BankDriver) -> str:
    user = bank.open_account(1, "I")
    bank.recharge(user, "500.00")
    return user


def tender_text(user: str, request_no: str, amount: str = '"10.00"', extra: str = "") -> str:
    return (f'{{"requestNo":"{request_no}","userNo":"{user}","projectNo":"P1","bizType":"TENDER",'
            f'"amount":{amount}{extra}}}')


HOSTILE_TENDERS = {
    "deeply nested": lambda user, no: tender_text(user, no, extra=',"x":' + deep_object(5000)),
    "a lone surrogate": lambda user, no: tender_text(user, no, extra=',"memo":"\\ud800"'),
    "a huge integer": lambda user, no: tender_text(user, no, amount="1" + "0" * 40),
    "NaN": lambda user, no: tender_text(user, no, amount="NaN"),
    "Infinity": lambda user, no: tender_text(user, no, amount="-Infinity"),
    "a duplicate key": lambda user, no: tender_text(user, no, extra=',"amount":"400.00"'),
    "a duplicate key in another case": lambda user, no: tender_text(user, no, extra=',"AMOUNT":"400.00"'),
}


@pytest.fixture
def project(bank):
    borrower = bank.open_account(2, "B")
    bank.call("CREATE_PROJECT", {"requestNo": bank.next_no(), "userNo": borrower, "projectNo": "P1",
                                 "projectAmount": "1000.00", "projectName": "p"})
    return borrower


@pytest.mark.parametrize("kind", sorted(HOSTILE_TENDERS))
def test_a_signed_hostile_payload_is_a_signed_00003_recorded_and_replayed_byte_for_byte(bank, project, kind):
    user = funded(bank)
    before = bank.snapshot()
    fields = signed_text(bank, "USER_AUTO_PRE_TRANSACTION", HOSTILE_TENDERS[kind](user, "HOSTILE1"))

    first = bank.client.post("/service", data=fields)
    data = answer(bank, first)
    assert (data["respCode"], data["requestNo"], data["status"]) == (codes.PARAM_FAIL, "HOSTILE1", 2)
    assert "Error" not in data["respMsg"]
    again = bank.client.post("/service", data=fields)
    assert again.get_data() == first.get_data()
    assert bank.snapshot() == before
    recorded = bank.client.get("/sim/requests/HOSTILE1").json
    assert [(r["respCode"], r["status"]) for r in recorded] == [(codes.PARAM_FAIL, 2)]


def test_a_well_formed_request_reusing_a_refused_requestno_is_a_conflict_and_moves_nothing(bank, project):
    user = funded(bank)
    bank.client.post("/service", data=signed_text(bank, "USER_AUTO_PRE_TRANSACTION",
                                                  HOSTILE_TENDERS["NaN"](user, "HOSTILE2")))
    before = bank.snapshot()
    data = bank.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": "HOSTILE2", "userNo": user, "projectNo": "P1",
                                                    "bizType": "TENDER", "amount": "10.00"})
    assert data["respCode"] == codes.REQUEST_CONFLICT and "reqData" in data["respMsg"]
    assert bank.snapshot() == before


def test_a_refusal_names_the_field_that_holds_the_bad_number(bank, project):
    user = funded(bank)
    text = ('{"requestNo":"N1","projectNo":"P1","details":[{"userNo":"%s","preRequestNo":"x","amount":NaN}]}'
            % user)
    data = answer(bank, bank.client.post("/service", data=signed_text(bank, "CONFIRM_LOAN", text)))
    assert data["respCode"] == codes.PARAM_FAIL and "details[0].amount" in data["respMsg"]


def test_a_hostile_payload_with_a_wrong_signature_is_refused_and_not_recorded(bank, project, keys):
    user = funded(bank)
    fields = signed_text(bank, "USER_AUTO_PRE_TRANSACTION", HOSTILE_TENDERS["deeply nested"](user, "FORGED1"),
                         key=keys["other_private_key"])
    data = answer(bank, bank.client.post("/service", data=fields))
    assert data["respCode"] == codes.PARAM_FAIL
    assert bank.client.get("/sim/requests/FORGED1").status_code == 404


def test_an_unsigned_deeply_nested_payload_is_00003_not_a_500(bank):
    fields = {"serviceName": "QUERY_USER", "platformNo": PLATFORM_NO,
              "reqData": base64.b64encode(DEEP.encode()).decode(), "signature": "AAAA"}
    for path in ("/service", "/checkfile"):
        data = answer(bank, bank.client.post(path, data=fields))
        assert data["respCode"] == codes.PARAM_FAIL, path
    page = bank.client.post("/gateway", data=fields)
    assert page.status_code == 400 and "00003" in page.get_data(as_text=True)


def test_the_gateway_and_checkfile_refuse_a_signed_hostile_payload_with_00003(bank):
    text = '{"requestNo":"G1","userNo":"U","amount":"1.00","callbackUrl":"http://x.test/cb","n":1e999999}'
    page = bank.client.post("/gateway", data=signed_text(bank, "RECHARGE", text))
    assert page.status_code == 400 and "00003" in page.get_data(as_text=True)
    again = bank.client.post("/gateway", data=signed_text(bank, "RECHARGE", text))
    assert again.get_data() == page.get_data()
    text = '{"requestNo":"C1","fileDate":"2026-01-05","fileDate":"2026-01-04"}'
    data = answer(bank, bank.client.post("/checkfile", data=signed_text(bank, "DOWNLOAD_CHECKFILE", text)))
    assert data["respCode"] == codes.PARAM_FAIL and "duplicate" in data["respMsg"]


def test_whitespace_only_required_text_is_missing_and_no_project_is_created(bank):
    borrower = bank.open_account(2, "B")
    before = bank.snapshot()
    data = bank.call("CREATE_PROJECT", {"requestNo": bank.next_no(), "userNo": borrower, "projectNo": "   ",
                                        "projectAmount": "100.00"})
    assert data["respCode"] == codes.PARAM_FAIL and "projectNo is required" in data["respMsg"]
    assert bank.snapshot()["projects"] == before["projects"] == []


# -- the simulator's REST API ------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [DEEP, '{"advance_seconds": NaN}', '{"advance_seconds": Infinity}',
                                  '{"advance_seconds": 1%s}' % ("0" * 400), '{"advance_seconds": 1e308}',
                                  '{"set": "\\udc00"}', '{"advance_seconds": 1, "advance_seconds": 2}'])
def test_a_malformed_clock_move_is_a_400_with_the_json_error_body(bank, body):
    before = bank.client.get("/sim/clock").json
    resp = bank.client.post("/sim/clock", data=body, content_type="application/json")
    assert resp.status_code == 400 and set(resp.json["error"]) == {"code", "message"}
    assert bank.client.get("/sim/clock").json == before


def test_huge_numbers_in_sim_paths_and_queries_are_refused_not_crashed_on(bank):
    resp = bank.client.post("/sim/notifications/" + "9" * 40 + "/resend")
    assert resp.status_code == 404 and "error" in resp.json
    for limit in ("9" * 40, "²", "-1"):
        resp = bank.client.get("/sim/entries", query_string={"limit": limit})
        assert resp.status_code == 400 and "error" in resp.json


def test_an_unexpected_error_is_logged_and_answered_without_its_class_name(tmp_path, keys, caplog):
    app = create_app(bank_config(tmp_path, keys))

    def boom():
        raise RecursionError("deep inside")

    app.add_url_rule("/boom", "boom", boom)
    resp = app.test_client().get("/boom")
    assert resp.status_code == 500
    assert "RecursionError" not in resp.get_data(as_text=True) and "deep inside" not in resp.get_data(as_text=True)
    assert resp.json["error"]["message"]
    assert "RecursionError" in caplog.text
    app.extensions["wanxin.bank"].database.close()


# -- request size ----------------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_a_413_with_the_json_error_body_on_every_surface(bank):
    big = "x" * (1024 * 1024 + 1)
    for path, kw in (("/service", {"data": {"reqData": big}}),
                     ("/sim/clock", {"data": big, "content_type": "application/json"}),
                     ("/gateway/confirm", {"data": {"password": big}})):
        resp = bank.client.post(path, **kw)
        assert resp.status_code == 413, path
        assert resp.json["error"]["code"] == "413"


def test_the_request_size_limit_is_configurable(tmp_path, keys):
    app = create_app(bank_config(tmp_path, keys, MAX_CONTENT_LENGTH=2048))
    client = app.test_client()
    assert client.post("/service", data={"reqData": "x" * 4000}).status_code == 413
    assert client.post("/service", data={"reqData": "x" * 100}).status_code == 200
    app.extensions["wanxin.bank"].database.close()


# -- the platform --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    work = tmp_path_factory.mktemp("malformed-platform")
    sb = Sandbox(work)
    client = sb.platform_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {sb.sim_token}"  # one credential opens both apps
    bank = sb.bank_app.test_client()
    bank.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {sb.sim_token}"
    card = {"fullname": "借款人", "idNumber": "110101199001011237", "mobile": "13800000001",
            "cardNumber": "6222020000000001", "balance": "100.00"}
    assert bank.post("/sim/bank-cards", json=card).status_code == 201
    user = client.post("/api/users", json={"username": "bob", "role": "borrower", **card}).json
    from scenarios.harness import UserAgent
    UserAgent().complete(client.post(f"/api/users/{user['userNo']}/open-account").json, "123456")
    sb.deliver_notifications()
    yield sb, client, user["userNo"]
    sb.close()


def platform_state(sb) -> list:
    conn = sb.platform_ctx.store.conn()
    return [tuple(r) for t in ("projects", "depository_records", "users")
            for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]


@pytest.mark.parametrize("body", [
    {"annualRate": "NaN"}, {"annualRate": "1e999999"}, {"annualRate": "-Infinity"}, {"periods": "inf"},
    {"periods": 1e18}, {"periods": "NaN"}, {"annualRate": {"a": 1}},
])
def test_a_project_with_a_non_finite_or_huge_number_is_a_400_and_creates_nothing(platform, body):
    sb, client, borrower = platform
    before = platform_state(sb)
    resp = client.post("/api/projects", json={"borrower": borrower, "amount": "100.00", "periods": 3,
                                              "annualRate": "0.12", **body})
    assert resp.status_code == 400 and set(resp.json["error"]) == {"code", "message"}, resp.json
    assert platform_state(sb) == before


@pytest.mark.parametrize("text", [DEEP, '{"borrower": "x", "amount": NaN}', '{"a": 1, "a": 2}',
                                  '{"periods": 1%s}' % ("0" * 30), '{"name": "\\ud83d"}'])
def test_a_malformed_platform_body_is_a_400(platform, text):
    sb, client, _ = platform
    resp = client.post("/api/projects", data=text, content_type="application/json")
    assert resp.status_code == 400 and "error" in resp.json


def test_platform_queries_and_clock_moves_out_of_range_are_400(platform):
    sb, client, _ = platform
    assert client.get("/api/records", query_string={"status": "x"}).status_code == 400
    assert client.get("/api/records", query_string={"status": "1"}).status_code == 200
    before = client.get("/sim/clock").json
    for body in ('{"advance_seconds": NaN}', '{"advance_seconds": 1e308}', '{"advance_seconds": -1}'):
        resp = client.post("/sim/clock", data=body, content_type="application/json")
        assert resp.status_code == 400 and "error" in resp.json, body
    assert client.get("/sim/clock").json == before


def test_a_deeply_nested_notification_is_rejected_with_00003_and_changes_nothing(platform):
    sb, client, _ = platform
    before = platform_state(sb)
    text = '{"requestNo":"N1","x":' + deep_object(3000) + "}"
    fields = {"serviceName": "RECHARGE", "platformNo": PLATFORM_NO,
              "reqData": base64.b64encode(text.encode()).decode(), "signature": "AAAA"}
    resp = client.post("/notify", data=fields)
    assert resp.status_code == 200 and resp.get_data(as_text=True).startswith("REJECTED 00003")
    assert platform_state(sb) == before


def test_the_platform_body_limit_is_413(platform):
    _, client, _ = platform
    resp = client.post("/api/projects", data="x" * (1024 * 1024 + 10), content_type="application/json")
    assert resp.status_code == 413 and resp.json["error"]["code"] == "413"


# -- the strict parser itself ----------------------------------------------------------------------------
@pytest.mark.parametrize("text,why", [
    ("[" * 40 + "]" * 40, "deeper"), ('{"a":"\\udfff"}', "surrogate"), ('{"\\ud800":1}', "surrogate"),
    ("[1e400]", "range"), ('{"a":NaN}', "NaN"), ('{"a":1,"a":1}', "duplicate"), ("9" * 5000, "not JSON"),
])
def test_the_strict_parser_refuses_with_a_value_error_that_says_why(text, why):
    with pytest.raises(ValueError, match=why):
        strictjson.loads(text)


def test_the_strict_parser_keeps_ordinary_json_exact():
    assert strictjson.loads('{"a":[1,"x",{"b":0.10}],"c":null}') == {"a": [1, "x", {"b": strictjson.Decimal("0.10")}],
                                                                   "c": None}


# -- files 0600 ---------------------------------------------------------------------------------------
def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_files_and_their_journals_are_created_0600(tmp_path):
    with Sandbox(tmp_path / "sb") as sb:
        sb.bank_ctx.conn().execute("SELECT 1")
        names = [p.name for p in (tmp_path / "sb").iterdir()
                 if p.name.endswith((".sqlite", "-wal", "-shm", ".pem")) and "public" not in p.name]
        assert {"bank.sqlite", "platform.sqlite", "bank.sqlite-wal", "platform.sqlite-wal"} <= set(names)
        for name in names:
            assert mode(tmp_path / "sb" / name) == MODE, name
        for name in ("bank_private.pem", "platform_private.pem"):
            assert mode(tmp_path / "sb" / "keys" / name) == MODE


def test_keys_generate_writes_private_keys_0600_even_over_a_readable_file(tmp_path):
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "bank_private.pem").write_text("old")
    os.chmod(tmp_path / "k" / "bank_private.pem", 0o644)
    subprocess.run(wanxin("keys", "generate", "--dir", str(tmp_path / "k"), "--force"), cwd=ROOT, check=True,
                   capture_output=True, timeout=60)
    for name in ("bank_private.pem", "platform_private.pem"):
        assert mode(tmp_path / "k" / name) == MODE
    write_keys(tmp_path / "h")
    assert mode(tmp_path / "h" / "platform_private.pem") == MODE


# -- stalled clients --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_stalled_connections_do_not_keep_an_honest_request_waiting_and_max_body_applies(tmp_path):
    keys = generate_keys(tmp_path / "keys")
    app = create_app(bank_config(tmp_path, keys))
    token = app.config["SIM_TOKEN"]
    app.extensions["wanxin.bank"].database.close()
    served = ServedBank(str(tmp_path / "bank.sqlite"), tmp_path / "keys", token, tmp_path / "server.log",
                        "--workers", "2", "--read-timeout", "2", "--max-body", "4096")
    url = served.start()
    host, port = url.rsplit("/", 1)[-1].split(":")
    stalled = []
    try:
        for i in range(8):  # more than the workers' threads: each holds one until its deadline
            s = socket.create_connection((host, int(port)), timeout=5)
            # half stall inside the headers, half inside the body
            s.sendall(b"POST /service HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n" +
                      (b"\r\nserviceName=" if i % 2 else b"X-Slow: "))
            stalled.append(s)
        started = time.monotonic()
        honest = socket.create_connection((host, int(port)), timeout=15)  # bounded wait
        honest.sendall(b"GET /sim/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode()
                       + b"\r\nConnection: close\r\n\r\n")
        reply = honest.recv(200)
        elapsed = time.monotonic() - started
        honest.close()
        assert reply.startswith(b"HTTP/1.1 200"), reply
        assert elapsed < 2 + 3, f"an honest request waited {elapsed:.1f}s behind stalled clients"
        for i, s in enumerate(stalled):  # each is let go at its deadline, not held forever
            s.settimeout(10)  # bounded
            got = s.recv(100)
            # stalled in the headers: disconnected; in the body: the refusal of what arrived (never a 500)
            assert got == b"" if i % 2 == 0 else not got.startswith(b"HTTP/1.1 500"), (i, got)
        print(f"\nstalled clients: {len(stalled)}; honest request answered in {elapsed:.2f}s")
        session = requests.Session()
        session.trust_env = False  # loopback, never a proxy
        big = session.post(url + "/service", data={"reqData": "x" * 10_000}, timeout=15)  # --max-body 4096
        assert big.status_code == 413 and big.json()["error"]["code"] == "413"
    finally:
        for s in stalled:
            s.close()
        served.stop()


def test_the_serve_commands_document_the_size_and_read_limits():
    for group in ("bank", "platform"):
        out = subprocess.run(wanxin(group, "serve", "--help"), cwd=ROOT, capture_output=True, text=True,
                             timeout=60).stdout
        assert "--max-body" in out and "1048576" in out and "--read-timeout" in out


def test_the_envelope_refuses_a_payload_that_plain_json_would_accept():
    """The envelope parses reqData strictly: a payload plain json accepts (NaN) is refused."""
    text = json.dumps({"requestNo": "x", "a": float("nan")})
    with pytest.raises(ValueError):
        envelope.parse_payload(text)
