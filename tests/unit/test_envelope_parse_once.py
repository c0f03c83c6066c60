"""One request's payload is parsed strictly once, however often its requestNo is asked for
(protocol/envelope.py), and the strictness is the same on every ask."""
from __future__ import annotations

import base64

import pytest

from bank_depository.protocol import envelope, strictjson


def _fields(text: str) -> dict:
    return {"serviceName": "QUERY_USER", "platformNo": "p", "signature": "c2ln",
            "reqData": base64.b64encode(text.encode("utf-8")).decode("ascii")}


def test_a_payload_is_parsed_strictly_once_for_its_envelope_and_every_request_no(monkeypatch):
    calls = []
    real = strictjson.loads

    def counting(text, **kw):
        calls.append(text)
        return real(text, **kw)
    monkeypatch.setattr(strictjson, "loads", counting)
    text = '{"requestNo":"ONCE-1","userNo":"U"}'
    assert envelope.request_no_of(text) == "ONCE-1"
    request = envelope.parse_request(_fields(text))
    assert envelope.request_no_of(request.payload_text) == "ONCE-1"
    assert calls == [text]


def test_a_refused_payload_is_refused_on_every_ask():
    text = '{"requestNo":"TWICE","requestNo":"again"}'
    for _ in range(2):
        with pytest.raises(envelope.EnvelopeError):
            envelope.parse_request(_fields(text))
        assert envelope.request_no_of(text) == ""


def test_a_number_request_no_reads_as_its_text():
    assert envelope.request_no_of('{"requestNo": 12}') == "12" == envelope.request_no_of('{"requestNo": 12}')
