"""Our platform as a legacy-profile client: the original's wire from the other side.

``BankClient(profile="legacy")`` sends ``GET {bank}{context}/service?…`` with
the four values URL-encoded as ``java.net.URLEncoder`` does, in the original's
order, signs with SHA1withRSA and verifies answers with the bank's key; the
platform takes notifications at ``GET /notify/gateway/``. The scenario
``scenarios/legacy_six_flows.yaml`` runs the six flows this way end to end.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests
import responses
from click.testing import CliRunner

import cli
from bank_depository.client import SimClient
from bank_depository.protocol import envelope, legacy, operator, signing
from p2p_platform.app import create_app as create_platform
from p2p_platform.bank_client import BankClient, OutcomeUnknown
from p2p_platform.config import platform_config as make_platform_config
from scenarios import spec
from scenarios.harness import Sandbox, UserAgent
from tests.bank.legacy_driver import BANK_KEY, P2P_KEY, query
from tests.conftest import make_id_number
from tests.legacy_keys import DEPOSITORY_PRIVATE_KEY, DEPOSITORY_PUBLIC_KEY, P2P_PRIVATE_KEY

BANK = "http://bank.test"
DEPOSITORY_KEY = signing.load_private_key(DEPOSITORY_PRIVATE_KEY, allow_weak=True)


def legacy_client(**kw) -> BankClient:
    return BankClient(BANK, "wanxinp2p", P2P_KEY, BANK_KEY, signing.SHA1, profile="legacy", **kw)


# -- the client, against a mocked bank -----------------------------------------------------------------------
def test_a_legacy_client_gets_the_service_under_the_context_path_with_the_originals_query():
    client = legacy_client()
    payload = {"requestNo": "REQ_1", "userNo": "USR_1"}
    answer = legacy.response_body({"requestNo": "REQ_1", "respCode": "00000", "respMsg": "成功", "status": 1},
                                  DEPOSITORY_KEY)
    with responses.RequestsMock() as rsps:
        rsps.get(BANK + "/wanxindepository/service", body=answer, content_type="application/json;charset=UTF-8")
        reply = client.call("QUERY_USER", payload)
        [call] = rsps.calls
    assert call.request.method == "GET"
    assert call.request.url == BANK + "/wanxindepository/service?" + query("QUERY_USER", payload)
    assert reply.ok and reply.data == {"respMsg": "成功", "requestNo": "REQ_1", "respCode": "00000", "status": 1}


def test_a_legacy_client_never_trusts_the_originals_unsigned_error_bodies():
    client = legacy_client(context_path="depository")
    with responses.RequestsMock() as rsps:
        rsps.get(BANK + "/depository/service", body=legacy.envelope_error_body("00004"))
        with pytest.raises(OutcomeUnknown, match="not signed"):
            client.call("QUERY_USER", {"requestNo": "REQ_1", "userNo": "USR_1"})


def test_a_legacy_clients_gateway_requests_point_at_the_context_path_and_a_modern_ones_at_the_root():
    assert legacy_client().gateway_request("RECHARGE", {"requestNo": "R"}).url == BANK + "/wanxindepository/gateway"
    modern = BankClient(BANK, "wanxinp2p", P2P_KEY, BANK_KEY, signing.SHA1)
    assert modern.gateway_request("RECHARGE", {"requestNo": "R"}).url == BANK + "/gateway"
    with pytest.raises(ValueError, match="unknown bank profile"):
        BankClient(BANK, "wanxinp2p", P2P_KEY, BANK_KEY, profile="ancient")


# -- the platform app in the legacy profile -------------------------------------------------------------------
def platform_config(tmp_path: Path, **extra) -> dict:
    return make_platform_config(
        tmp_path / "platform.sqlite", private_key=P2P_PRIVATE_KEY, bank_public_key=DEPOSITORY_PUBLIC_KEY,
        bank_url=BANK, **{"PUBLIC_URL": "http://platform.test", "CLOCK_FROZEN": True,
                          "CLOCK_START": "2026-01-05T09:00:00+08:00", "BANK_PROFILE": "legacy", **extra})


def test_a_legacy_platform_defaults_to_sha1_accepts_the_demo_keys_and_logs_it(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="wanxin.platform"):
        app = create_platform(platform_config(tmp_path))
    bank = app.extensions["wanxin.platform"].bank
    assert (bank.profile, bank.algorithm, bank.wire_url) == ("legacy", signing.SHA1, BANK + "/wanxindepository")
    assert sum("512 bits" in r.getMessage() for r in caplog.records) == 2
    with pytest.raises(signing.KeyError_, match="too weak"):
        create_platform(platform_config(tmp_path, BANK_PROFILE="modern"))


def test_the_platform_takes_legacy_notifications_by_get_at_notify_gateway(tmp_path):
    client = create_platform(platform_config(tmp_path)).test_client()
    payload = {"requestNo": "REQ_UNKNOWN", "respCode": "00000", "respMsg": "成功", "status": 1,
               "transactionStatus": "SUCCESS"}
    signed = envelope.sign_request("RECHARGE", "wanxinp2p", dict(sorted(payload.items())), DEPOSITORY_KEY,
                                   signing.SHA1)
    resp = client.get("/notify/gateway/?" + legacy.query_string(signed.fields()))
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "OK"
    forged = envelope.sign_request("RECHARGE", "wanxinp2p", payload, P2P_KEY, signing.SHA1)
    assert client.get("/notify/gateway/?" + legacy.query_string(forged.fields())).get_data(as_text=True) \
        .startswith("REJECTED 00004")


# -- both apps on loopback -------------------------------------------------------------------------------------
def test_a_legacy_sandbox_speaks_the_original_wire_both_ways(monkeypatch):
    with Sandbox(profile="legacy", seed=1) as sb:
        sent: list[tuple[str, str]] = []
        for session in (sb.platform_ctx.bank.session, sb.dispatcher.session):
            original = session.request

            def spy(method, url, *args, _original=original, **kw):
                sent.append((method, url))
                return _original(method, url, *args, **kw)

            monkeypatch.setattr(session, "request", spy)
        http = requests.Session()
        http.trust_env = False
        http.headers.update(operator.header(sb.sim_token))  # one credential: the bank's /sim and the platform's API
        card = {"fullname": "测试", "idNumber": make_id_number(1), "mobile": "13900000001",
                "cardNumber": "6222000000000001", "bankCode": "ICBC", "balance": "100.00"}
        assert SimClient(sb.bank_url, sb.sim_token, http).raw("POST", "/sim/bank-cards", json=card).status_code == 201
        user = http.post(sb.platform_url + "/api/users", json={"username": "ivy", "role": "investor",
                                                               "fullname": card["fullname"], **card}).json()
        gateway = http.post(f"{sb.platform_url}/api/users/{user['userNo']}/open-account").json()
        assert gateway["depositoryUrl"] == sb.bank_url + "/wanxindepository/gateway"
        assert UserAgent(http).complete(gateway, "123456")["code"] == 0
        [attempt] = sb.deliver_notifications()
        assert attempt.ok
        assert http.get(f"{sb.platform_url}/api/users/{user['userNo']}").json()["status"] == "OPEN"
    methods_paths = [(m, u.split("?")[0]) for m, u in sent]
    assert ("GET", sb.platform_url + "/notify/gateway/") in methods_paths
    assert ("GET", sb.bank_url + "/wanxindepository/service") in methods_paths  # QUERY_USER for the balances
    assert not any(m == "POST" for m, _ in sent)


# -- the scenario format and the CLI ---------------------------------------------------------------------------
def test_a_scenario_may_ask_for_the_legacy_profile_and_nothing_else():
    assert spec.load("scenarios/legacy_six_flows.yaml").profile == "legacy"
    base = {"name": "x", "actors": {"ivy": {"role": "investor"}}, "steps": ["expect_ledger_sound"]}
    assert spec.parse(base).profile == "modern"
    with pytest.raises(spec.ScenarioError, match="profile must be one of modern, legacy"):
        spec.parse({**base, "profile": "java"})


def test_bank_serve_takes_a_context_path_and_refuses_the_root(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    for side in ("bank", "platform"):
        private_pem, public_pem = signing.generate_key_pair()
        (keys / f"{side}_private.pem").write_bytes(private_pem)
        (keys / f"{side}_public.pem").write_bytes(public_pem)
    config = cli.bank_config(tmp_path / "b.sqlite", keys, "wanxinp2p", "http://p.test/notify/", "legacy", None,
                             1000, True, "/depository")
    assert config["LEGACY_CONTEXT_PATH"] == "/depository" and config["PLATFORMS"][0]["profile"] == "legacy"
    result = CliRunner().invoke(cli.main, ["bank", "serve", "--keys", str(keys), "--db", str(tmp_path / "b.sqlite"),
                                           "--profile", "legacy", "--context-path", "/"])
    assert result.exit_code == 1 and "must not be the root" in result.output
    help_text = CliRunner().invoke(cli.main, ["platform", "serve", "--help"]).output
    assert "--bank-profile" in help_text and "--bank-context-path" in help_text
