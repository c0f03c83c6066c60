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


def test_a_service_answer_sets_no_cookie_and_varies_on_nothing_while_the_console_still_logs_in(bank):
    resp = bank.raw_call("QUERY_TRANSACTION", {"requestNo": "Q3", "transactionRequestNo": "x"})
    assert resp.status_code == 200 and "Set-Cookie" not in resp.headers and "Vary" not in resp.headers
    with bank.client.session_transaction() as session:
        session["probe"] = "set"
    page = bank.client.get("/sim/health")
    assert page.status_code == 200


def test_every_answer_has_each_hygiene_header_once_and_a_page_keeps_its_own_policy():
    from werkzeug.datastructures import Headers

    from bank_depository.protocol import hygiene

    headers = Headers([("content-security-policy", "default-src 'none'"), ("X-Frame-Options", "SAMEORIGIN")])
    hygiene.apply(headers)
    hygiene.apply(headers)
    assert headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert headers.getlist("X-Content-Type-Options") == ["nosniff"]
    plain: dict[str, str] = {}
    hygiene.apply(plain)
    assert plain["Content-Security-Policy"] == hygiene.csp() and plain["X-Frame-Options"] == "DENY"


def test_an_envelope_field_in_the_query_string_of_a_post_wins_over_the_form_as_before(bank):
    fields = bank.signed("QUERY_TRANSACTION", {"requestNo": "Q4", "transactionRequestNo": "x"})
    form = {**fields, "serviceName": "NOT_A_SERVICE"}
    resp = bank.client.post("/service", data=form, query_string={"serviceName": fields["serviceName"]})
    data = envelope.verify_response(resp.get_data(as_text=True), bank.keys["bank_public_key"])
    # QUERY_TRANSACTION (from the query string) ran: the transaction asked for does not exist
    assert data["respCode"] == codes.TRANSACTION_NOT_FOUND and data["requestNo"] == "Q4"


def test_a_refused_json_value_is_still_named_by_its_path():
    import pytest

    from bank_depository.protocol import strictjson

    with pytest.raises(strictjson.JSONInputError, match=r"^details\[1\]\.amount: the number is out of range"):
        strictjson.loads('{"details": [{"amount": 1}, {"amount": 1e999}]}')
    with pytest.raises(strictjson.JSONInputError, match=r"^a\.b: the text contains a lone UTF-16 surrogate"):
        strictjson.loads('{"a": {"b": "\\ud800"}}')
    with pytest.raises(strictjson.JSONInputError, match=r"^\[0\]\.\ufffd: a key contains a lone"):
        strictjson.loads('[{"\\ud800": 1}]')


def test_a_requests_iso_instant_follows_its_time_when_the_time_is_replaced():
    import datetime as dt

    from bank_depository.clock import CST, iso
    from bank_depository.services.tx import Tx

    first = dt.datetime(2026, 1, 5, 9, 0, tzinfo=CST)
    tx = Tx(None, PLATFORM_NO, "R1", "CREATE_PROJECT", first)  # type: ignore[arg-type]
    assert tx.now_iso == iso(first) and tx.now_iso is tx.now_iso
    tx.now = first + dt.timedelta(seconds=1)
    assert tx.now_iso == iso(tx.now)
