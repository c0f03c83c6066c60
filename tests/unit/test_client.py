"""The one client for the simulator's HTTP surfaces (``bank_depository.client``)."""
from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import requests
import responses

from bank_depository.client import SimClient, SimError
from bank_depository.protocol import envelope, signing

BASE = "http://bank.test"


@responses.activate
def test_a_json_answer_is_returned_and_the_operator_credential_is_sent():
    responses.get(BASE + "/sim/accounts", json={"users": []})
    assert SimClient(BASE + "/", "tok").get("/sim/accounts", state="x") == {"users": []}
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer tok" and sent.url == BASE + "/sim/accounts?state=x"


@responses.activate
def test_without_a_token_no_credential_is_sent():
    responses.post(BASE + "/api/users", json={"userNo": "U1"}, status=201)
    assert SimClient(BASE).post("/api/users", json={"username": "a"}) == {"userNo": "U1"}
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_the_json_error_shape_becomes_a_sim_error_with_code_message_and_status():
    responses.delete(BASE + "/sim/faults", json={"error": {"code": "UNAUTHORIZED", "message": "no token"}},
                     status=401)
    with pytest.raises(SimError) as err:
        SimClient(BASE).delete("/sim/faults")
    assert (err.value.code, err.value.message, err.value.status, err.value.json_body) == \
        ("UNAUTHORIZED", "no token", 401, True)


@responses.activate
def test_a_202_is_the_platforms_unknown_outcome_and_is_not_taken_as_success():
    responses.post(BASE + "/api/projects/A/loan", json={"error": {"code": "OUTCOME_UNKNOWN", "message": "lost"}},
                   status=202)
    responses.post(BASE + "/api/projects/B/loan", json={}, status=202)
    with pytest.raises(SimError) as err:
        SimClient(BASE).post("/api/projects/A/loan")
    assert (err.value.code, err.value.message, err.value.status) == ("OUTCOME_UNKNOWN", "lost", 202)
    with pytest.raises(SimError, match="OUTCOME_UNKNOWN"):
        SimClient(BASE).post("/api/projects/B/loan")


@responses.activate
def test_an_answer_that_is_not_json_is_an_error_that_says_so():
    responses.get(BASE + "/sim/clock", body="<html>proxy</html>", status=200)
    responses.get(BASE + "/sim/gone", body="Bad Gateway", status=502)
    with pytest.raises(SimError) as err:
        SimClient(BASE).get("/sim/clock")
    assert (err.value.code, err.value.json_body, err.value.status) == ("NOT_JSON", False, 200)
    with pytest.raises(SimError) as err:
        SimClient(BASE).get("/sim/gone")
    assert (err.value.code, err.value.message, err.value.json_body) == ("502", "Bad Gateway", False)


@responses.activate
def test_an_absolute_url_is_used_as_given():
    responses.get("http://platform.test/sim/clock", json={"now": "x"})
    assert SimClient("", None).get("http://platform.test/sim/clock") == {"now": "x"}


def test_a_server_that_cannot_be_reached_raises_the_transport_error_not_a_sim_error():
    with responses.RequestsMock() as mock:
        mock.get(BASE + "/sim/clock", body=requests.ConnectionError("refused"))
        with pytest.raises(requests.ConnectionError):
            SimClient(BASE).get("/sim/clock")


@pytest.fixture(scope="module")
def pair():
    bank_priv, bank_pub = signing.generate_key_pair()
    plat_priv, _ = signing.generate_key_pair()
    return signing.load_private_key(bank_priv), signing.load_public_key(bank_pub), signing.load_private_key(plat_priv)


def test_signed_posts_the_four_fields_and_returns_the_verified_resp_data(pair):
    bank_key, bank_pub, platform_key = pair
    answer = {"requestNo": "R1", "respCode": "00000", "respMsg": "成功", "status": 1, "amount": "1.00"}
    with responses.RequestsMock() as mock:
        mock.post(BASE + "/service", body=envelope.response_body(answer, bank_key))
        data = SimClient(BASE).signed("QUERY_USER", {"requestNo": "R1"}, platform_key, "wanxinp2p", bank_key=bank_pub)
        form = {k: v[0] for k, v in parse_qs(mock.calls[0].request.body).items()}
    assert data == answer
    assert (form["serviceName"], form["platformNo"]) == ("QUERY_USER", "wanxinp2p")
    # the signed JSON names the service and the platform (the modern profile's binding)
    assert envelope.parse_request(form).payload() == {"requestNo": "R1", "serviceName": "QUERY_USER",
                                                      "platformNo": "wanxinp2p"}


def test_a_signed_answer_that_does_not_verify_is_refused(pair):
    bank_key, bank_pub, platform_key = pair
    forged = envelope.response_body({"requestNo": "R1", "respCode": "00000"}, platform_key)
    with responses.RequestsMock() as mock:
        mock.post(BASE + "/service", body=forged)
        with pytest.raises(envelope.ResponseSignatureError):
            SimClient(BASE).signed("QUERY_USER", {"requestNo": "R1"}, platform_key, "wanxinp2p", bank_key=bank_pub)
