"""The cost of one /service request (issue 17): work done once per request, not once per reader,
with the same answers and the same request log as before."""
from __future__ import annotations

from bank_depository.http import edge
from bank_depository.protocol import codes, envelope

from tests.conftest import PLATFORM_NO


def test_a_signed_requests_payload_is_parsed_once_however_often_it_is_read(monkeypatch):
    signed = envelope.SignedRequest("QUERY_USER", PLATFORM_NO, '{"requestNo":"R1","amount":1.50}', "sig")
    parsed = []
    real = envelope.loads
    monkeypatch.setattr(envelope, "loads", lambda text: parsed.append(text) or real(text))
    first, second = signed.payload(), signed.payload()
    assert first is second and str(first["amount"]) == "1.50"
    assert parsed == [signed.payload_text]
    assert signed == envelope.SignedRequest("QUERY_USER", PLATFORM_NO, signed.payload_text, "sig")


def test_the_session_signer_is_built_once_per_secret_and_again_when_the_secret_changes(bank_app):
    sessions = bank_app.session_interface
    first = sessions.get_signing_serializer(bank_app)
    assert sessions.get_signing_serializer(bank_app) is first
    bank_app.secret_key = "another secret"
    changed = sessions.get_signing_serializer(bank_app)
    assert changed is not first and changed.loads(changed.dumps({"a": 1})) == {"a": 1}


def test_the_console_session_still_survives_between_requests(bank):
    with bank.client.session_transaction() as session:
        session["probe"] = "kept"
    with bank.client.session_transaction() as session:
        assert session["probe"] == "kept"


def test_a_verified_request_is_logged_without_guessing_from_the_raw_envelope(bank, monkeypatch):
    guesses = []
    real = edge._guess
    monkeypatch.setattr(edge, "_guess", lambda rec: guesses.append(rec) or real(rec))
    bank.call("QUERY_TRANSACTION", {"requestNo": "Q1", "transactionRequestNo": "nothing"})
    row = bank.client.get("/sim/requests").json[-1]
    assert guesses == []
    assert (row["platformNo"], row["serviceName"], row["requestNo"]) == (PLATFORM_NO, "QUERY_TRANSACTION", "Q1")


def test_a_refused_envelope_is_still_logged_with_what_the_raw_envelope_says(bank, monkeypatch):
    guesses = []
    real = edge._guess
    monkeypatch.setattr(edge, "_guess", lambda rec: guesses.append(rec) or real(rec))
    fields = bank.signed("QUERY_TRANSACTION", {"requestNo": "Q2", "transactionRequestNo": "x"})
    fields["signature"] = fields["signature"][::-1]
    bank.client.post("/service", data=fields)
    row = bank.client.get("/sim/requests").json[-1]
    assert len(guesses) == 1
    assert (row["platformNo"], row["serviceName"], row["requestNo"], row["respCode"]) == (
        PLATFORM_NO, "QUERY_TRANSACTION", "Q2", codes.SIGN_FAIL)
