"""A platform that is not p2p_platform uses the bank with nothing but the published wire and the CLI.

Its key, platformNo and notify receiver are built here; it signs with
``cryptography`` directly (not the project's envelope helpers), acts as its
user with ``wanxin gateway complete``, verifies the bank's signed
notifications itself, and reconciles its own export with ``--records``.
"""
from __future__ import annotations

import base64
import json
import threading
from urllib.parse import parse_qs, urlencode

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.serving import make_server

import cli
from bank_depository.app import create_app
from scenarios.harness import LiveServer
from tests.conftest import START

OTHER = "other"
PLATFORM_NO = "acme"


class NotifyReceiver:
    """A tiny WSGI platform endpoint on a free loopback port: records every POST, answers OK."""

    def __init__(self):
        self.received: list[dict] = []
        self.server = make_server("127.0.0.1", 0, self)
        self.url = f"http://127.0.0.1:{self.server.server_port}/acme/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __call__(self, environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size).decode()
        self.received.append({k: v[0] for k, v in parse_qs(body).items()})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"OK"]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def acme_sign(key, service: str, payload: dict, platform_no: str = PLATFORM_NO, digest=None) -> dict:
    """The four envelope fields, made the way any language would: JSON bytes, Base64, SHA256withRSA over the bytes.

    The JSON names the service and the platform too: the modern profile binds a signature to both."""
    bound = {**payload, "serviceName": service, "platformNo": platform_no}
    raw = json.dumps(bound, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    signature = key.sign(raw, padding.PKCS1v15(), digest or hashes.SHA256())
    return {"serviceName": service, "platformNo": platform_no, "reqData": base64.b64encode(raw).decode(),
            "signature": base64.b64encode(signature).decode()}


@pytest.fixture
def acme_bank(tmp_path):
    acme_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # a second platform on the bank
    bank_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # noqa: E731
                                    serialization.NoEncryption()).decode()
    pub = lambda k: k.public_key().public_bytes(serialization.Encoding.PEM,  # noqa: E731
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    receiver = NotifyReceiver()
    server = LiveServer()
    app = create_app({"DATABASE": str(tmp_path / "bank.sqlite"), "PRIVATE_KEY": pem(bank_key),
                      "PLATFORMS": [{"platform_no": PLATFORM_NO, "public_key": pub(acme_key),
                                     "notify_url": receiver.url},
                                    {"platform_no": OTHER, "public_key": pub(other_key), "notify_url": ""}],
                      "PASSWORD_ITERATIONS": 1000, "CLOCK_FROZEN": True, "CLOCK_START": START,
                      "SIM_TOKEN": "acme-operator"})
    app.extensions["wanxin.dispatcher"].session.trust_env = False
    server.start(app)
    yield {"url": server.url, "key": acme_key, "other_key": other_key, "bank_public": bank_key.public_key(),
           "receiver": receiver, "tmp": tmp_path}
    server.stop()
    receiver.stop()
    app.extensions["wanxin.bank"].database.close()


def wanxin(*args):
    env = {"WANXIN_SIM_TOKEN": "acme-operator", "WANXIN_BANK_URL": None, "WANXIN_PLATFORM_URL": None}
    try:
        runner = CliRunner(env=env, mix_stderr=False)  # click 8.1
    except TypeError:
        runner = CliRunner(env=env)
    return runner.invoke(cli.main, [str(a) for a in args])


def other_platform_account(acme_bank) -> dict:
    """The second platform on the bank opens and funds an account; returns what the bank holds for it."""
    url, other = acme_bank["url"], acme_bank["other_key"]
    person = json.loads(wanxin("cards", "create", "--name", "钱七", "--balance", "900.00", "--json",
                               "--bank-url", url).stdout)
    for service, payload in (("PERSONAL_REGISTER", {
            "requestNo": "OTHER-REG-1", "userNo": "other-u1", "fullname": person["fullname"],
            "idNumber": person["idNumber"], "mobile": person["mobile"], "cardNumber": person["cardNumber"],
            "role": "I", "callbackUrl": "https://other.example/done"}),
            ("RECHARGE", {"requestNo": "OTHER-RCH-1", "userNo": "other-u1", "amount": "300.00",
                          "callbackUrl": "https://other.example/done"})):
        done = wanxin("gateway", "complete", json.dumps(acme_sign(other, service, payload, OTHER)),
                      "--password", "246800", "--bank-url", url, "--json")
        assert done.exit_code == 0 and json.loads(done.stdout)["code"] == 0, done.output
    return other_state(url)


def other_state(url: str) -> dict:
    import requests
    operator = {"Authorization": "Bearer acme-operator"}
    account = requests.get(f"{url}/sim/accounts/other-u1", params={"platformNo": OTHER}, headers=operator,
                           timeout=30).json()
    log = requests.get(f"{url}/sim/requests", params={"platformNo": OTHER}, headers=operator, timeout=30).json()
    return {"balances": (account["available"], account["frozen"], account["card"]),
            "requests": [(r["serviceName"], r["requestNo"], r["respCode"]) for r in log]}


def test_a_foreign_platform_opens_an_account_gets_signed_notifications_and_reconciles(acme_bank):
    url, key = acme_bank["url"], acme_bank["key"]
    other_before = other_platform_account(acme_bank)
    assert other_before["balances"] == ("300.00", "0.00", "600.00")
    made = wanxin("cards", "create", "--name", "赵六", "--balance", "1000.00", "--json", "--bank-url", url)
    assert made.exit_code == 0, made.output
    person = json.loads(made.stdout)
    assert wanxin("cards", "deposit", person["cardNumber"], "500.00", "--bank-url", url).exit_code == 0

    register = acme_sign(key, "PERSONAL_REGISTER", {
        "requestNo": "ACME-REG-1", "userNo": "acme-u1", "fullname": person["fullname"],
        "idNumber": person["idNumber"], "mobile": person["mobile"], "cardNumber": person["cardNumber"],
        "role": "I", "callbackUrl": "https://acme.example/done?st=1"})
    opened = wanxin("gateway", "complete", f"{url}/gateway?{urlencode(register)}", "--password", "135790", "--json")
    assert opened.exit_code == 0, opened.output
    assert json.loads(opened.stdout)["code"] == 0

    recharge = {"depositoryUrl": f"{url}/gateway", **acme_sign(key, "RECHARGE", {
        "requestNo": "ACME-RCH-1", "userNo": "acme-u1", "amount": "800.00",
        "callbackUrl": "https://acme.example/done?st=2"})}
    paid = wanxin("gateway", "complete", json.dumps(recharge), "--password", "135790")
    assert paid.exit_code == 0, paid.output
    assert "code: 0" in paid.stdout and "Location: https://acme.example/done?st=2&code=0" in paid.stdout

    import requests
    operator = {"Authorization": "Bearer acme-operator"}
    withdraw = acme_sign(key, "WITHDRAW", {"requestNo": "ACME-WDR-1", "userNo": "acme-u1", "amount": "50.00",
                                           "callbackUrl": "https://acme.example/done?st=3"})
    wrong = requests.post(f"{url}/sim/gateway/complete", headers=operator, timeout=30,
                          json={**withdraw, "password": "135790", "outcome": "wrong_password"})
    assert wrong.status_code == 200 and wrong.json()["code"] == 2  # over HTTP, in the serving process
    requests.post(f"{url}/sim/notifications/dispatch", headers=operator, timeout=30)
    received = acme_bank["receiver"].received
    assert [n["serviceName"] for n in received] == ["PERSONAL_REGISTER", "RECHARGE"]
    for note in received:
        raw = base64.b64decode(note["reqData"])
        acme_bank["bank_public"].verify(base64.b64decode(note["signature"]), raw, padding.PKCS1v15(), hashes.SHA256())
        assert json.loads(raw)["respCode"] == "00000" and note["platformNo"] == PLATFORM_NO

    records = acme_bank["tmp"] / "acme-export.csv"
    records.write_text("requestNo,serviceName,bizType,userNo,amount,commission,status,ourNote\n"
                       "ACME-REG-1,PERSONAL_REGISTER,,acme-u1,0,0,SUCCESS,opened\n"
                       "ACME-RCH-1,RECHARGE,,acme-u1,800.00,0.00,SUCCESS,paid\n", encoding="utf-8")
    clean = wanxin("reconcile", "--bank-url", url, "--platform-no", PLATFORM_NO, "--records", records, "--json")
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["clean"] is True

    records.write_text("requestNo,serviceName,amount,status\nACME-RCH-1,RECHARGE,799.00,SUCCESS\n"
                       "ACME-GHOST,WITHDRAW,5.00,SUCCESS\n", encoding="utf-8")
    broken = wanxin("reconcile", "--bank-url", url, "--platform-no", PLATFORM_NO, "--records", records, "--json")
    assert broken.exit_code == 1, broken.output
    breaks = json.loads(broken.stdout)["breaks"]
    assert [(b["kind"], b["requestNo"]) for b in breaks] == [("missing_at_bank", "ACME-GHOST"),
                                                            ("amount_mismatch", "ACME-RCH-1")]
    assert breaks[1]["bank"]["amount"] == "800.00" and breaks[1]["platform"]["amount"] == "799.00"
    as_csv = wanxin("reconcile", "--bank-url", url, "--platform-no", PLATFORM_NO, "--records", records, "--csv")
    assert as_csv.exit_code == 1
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "date,kind,requestNo,bankAmount,platformAmount,bankStatus,platformStatus,detail"
    assert lines[1].startswith(f"{START[:10]},missing_at_bank,ACME-GHOST,,5.00,,SUCCESS,")
    assert lines[2].startswith(f"{START[:10]},amount_mismatch,ACME-RCH-1,800.00,799.00,SUCCESS,SUCCESS,")
    table = wanxin("reconcile", "--bank-url", url, "--platform-no", PLATFORM_NO, "--records", records)
    assert table.exit_code == 1 and "amount_mismatch  ACME-RCH-1  800.00 SUCCESS  799.00 SUCCESS" in table.stdout

    records.write_text("requestNo,serviceName,amount,status\nACME-RCH-1,RECHARGE,eight hundred,SUCCESS\n")
    bad = wanxin("reconcile", "--bank-url", url, "--platform-no", PLATFORM_NO, "--records", records)
    assert bad.exit_code == 2
    assert bad.stderr.strip().count("\n") == 0 and "row 2, column amount" in bad.stderr

    # A mistake of the kind a new integration makes: SHA1 where the platform is registered for SHA256.
    mistaken = acme_sign(key, "QUERY_USER", {"requestNo": "ACME-Q-SHA1", "userNo": "acme-u1"}, digest=hashes.SHA1())
    refused = requests.post(f"{url}/service", data=mistaken, timeout=30).json()["respData"]
    assert refused["respCode"] == "00004" and "SHA1withRSA" in refused["respMsg"]  # the answer names the mistake
    listed = wanxin("requests", "list", "--platform-no", PLATFORM_NO, "--refused", "--json", "--bank-url", url)
    assert listed.exit_code == 0, listed.output
    (entry,) = [r for r in json.loads(listed.stdout) if r["requestNo"] == "ACME-Q-SHA1"]
    assert entry["diagnosis"]["algorithmExpected"] == "SHA256withRSA"
    assert entry["diagnosis"]["matchesOtherAlgorithm"] is True

    # The second platform on the same bank was never touched by any of this.
    assert other_state(url) == other_before


def test_gateway_complete_prints_the_pages_refusal_as_one_line(acme_bank):
    fields = acme_sign(acme_bank["key"], "RECHARGE", {"requestNo": "X1", "userNo": "nobody", "amount": "1.00",
                                                      "callbackUrl": "https://acme.example/done"})
    result = wanxin("gateway", "complete", json.dumps(fields), "--password", "135790", "--bank-url", acme_bank["url"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the gateway page refused") and result.stderr.strip().count("\n") == 0


def test_reconcile_of_an_unknown_platform_could_not_reconcile(acme_bank, tmp_path):
    records = tmp_path / "r.json"
    records.write_text("[]")
    result = wanxin("reconcile", "--bank-url", acme_bank["url"], "--platform-no", "nobody", "--records", records)
    assert result.exit_code == 2 and "no platform nobody" in result.stderr


def test_cards_create_count_registers_distinct_valid_customers(acme_bank):
    from bank_depository.domain.identity import id_number_problem, luhn_check_digit, mobile_problem

    result = wanxin("cards", "create", "--count", "3", "--json", "--bank-url", acme_bank["url"])
    people = json.loads(result.stdout)
    assert len({p["cardNumber"] for p in people}) == 3 and len({p["idNumber"] for p in people}) == 3
    for p in people:
        assert id_number_problem(p["idNumber"]) is None and mobile_problem(p["mobile"]) is None
        assert luhn_check_digit(p["cardNumber"][:-1]) == p["cardNumber"][-1] and p["balance"] == "10000.00"
