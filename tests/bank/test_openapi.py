"""The published API (/openapi.json, /docs) is the API the bank validates with.

The document is generated from the service catalogue; these tests prove the
catalogue is what the handlers do: the example story is accepted step by step,
and every field a handler reads along the way is declared with the kind,
length and requiredness the handler reads it with.
"""
from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate

from bank_depository.domain import fields as fields_mod
from bank_depository.http import openapi
from bank_depository.protocol import catalogue, codes, envelope
from tests.conftest import redirect_code


def test_the_document_is_valid_openapi_3_1(bank):
    doc = bank.client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_the_document_needs_no_credential_and_describes_the_bearer_scheme(bank_app):
    doc = bank_app.test_client().get("/openapi.json").json
    assert doc["components"]["securitySchemes"]["operator"] == {**doc["components"]["securitySchemes"]["operator"],
                                                                "type": "http", "scheme": "bearer"}
    assert doc["paths"]["/sim/accounts"]["get"]["security"] == [{"operator": []}]


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def test_every_registered_sim_route_is_in_the_document(bank_app):
    doc = openapi.document()
    missing = []
    for rule in bank_app.url_map.iter_rules():
        if not rule.rule.startswith("/sim"):
            continue
        path = _openapi_path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert missing == [], "add these to bank_depository/http/sim_api.py ROUTES"


def test_every_documented_sim_route_exists(bank_app):
    rules = {(_openapi_path(r.rule), m.lower()) for r in bank_app.url_map.iter_rules() for m in r.methods}
    documented = {(p, m) for p, ops in openapi.document()["paths"].items() if p.startswith("/sim") for m in ops}
    assert documented - rules == set()


def test_the_document_carries_the_code_table_callback_codes_and_check_file_layout():
    doc = openapi.document()
    assert [c["code"] for c in doc["x-response-codes"]] == list(codes.BY_CODE)
    assert [c["code"] for c in doc["x-callback-codes"]] == [0, 1, 2]
    assert doc["x-checkfile"]["columns"][:2] == ["requestNo", "serviceName"]
    assert set(doc["webhooks"]) == {"notification"}
    schemas = doc["components"]["schemas"]
    amount = schemas["USER_AUTO_PRE_TRANSACTION.reqData"]["properties"]["amount"]
    assert amount["type"] == "string" and re.match(amount["pattern"], "100.00")
    assert not re.match(amount["pattern"], "1.005")
    assert schemas["USER_AUTO_PRE_TRANSACTION.reqData"]["properties"]["bizType"]["enum"] == [
        "CREDIT_ASSIGNMENT", "REPAYMENT", "TENDER"]
    assert schemas["MODIFY_PROJECT.reqData"]["properties"]["projectStatus"]["enum"] == [
        "COLLECTING", "FULLY", "REPAYING", "FINISH", "MISCARRY"]
    assert schemas["PERSONAL_REGISTER.reqData"]["properties"]["role"]["enum"] == ["B", "I"]
    assert "FIXED_REPAYMENT" in schemas["CREATE_PROJECT.reqData"]["properties"]["repaymentWay"]["examples"]


def test_the_fault_rule_schema_lists_every_key_the_fault_book_reads():
    from bank_depository.faults import KEYS
    from bank_depository.http.sim_api import FAULT_RULE

    assert set(FAULT_RULE["properties"]) == KEYS


def test_every_service_has_an_example_in_the_story():
    assert {name for name, _ in catalogue.STORY} == set(catalogue.BY_NAME)


class _Reads:
    """Every Payload read while a handler runs: (path, kind, required, max_len, allow_zero)."""

    def __init__(self, monkeypatch):
        self.seen: list[tuple] = []
        missing = fields_mod._MISSING
        orig = {name: getattr(fields_mod.Payload, name) for name in ("text", "amount", "integer", "items")}
        reads = self

        def path(p, key):
            parts = [x for x in re.sub(r"\[\d+\]", "", p._prefix).split(".") if x]
            return tuple(parts + [key])

        def text(self, key, default=missing, *, max_len=256):
            reads.seen.append((path(self, key), "text", default is missing, max_len, False))
            return orig["text"](self, key, default, max_len=max_len)

        def amount(self, key, *, allow_zero=False, default=missing):
            reads.seen.append((path(self, key), "amount", default is missing, None, allow_zero))
            return orig["amount"](self, key, allow_zero=allow_zero, default=default)

        def integer(self, key, default=missing):
            reads.seen.append((path(self, key), "integer", default is missing, None, False))
            return orig["integer"](self, key, default)

        def items(self, key):
            reads.seen.append((path(self, key), "items", True, None, False))
            return orig["items"](self, key)

        for name, fn in (("text", text), ("amount", amount), ("integer", integer), ("items", items)):
            monkeypatch.setattr(fields_mod.Payload, name, fn)

    def take(self) -> list[tuple]:
        out, self.seen = self.seen, []
        return out


def _problems(service: catalogue.Service, reads: list[tuple]) -> list[str]:
    problems = []
    required_read = {r[0] for r in reads if r[2]}
    for path, kind, _required, max_len, allow_zero in reads:
        f = catalogue.find(service.request, list(path))
        where = f"{service.name} {'.'.join(path)}"
        if f is None:
            problems.append(f"{where}: read by the handler, not in the document")
            continue
        if f.kind != kind:
            problems.append(f"{where}: read as {kind}, documented as {f.kind}")
        if kind == "text" and max_len != f.max_len:
            problems.append(f"{where}: read with max {max_len} characters, documented {f.max_len}")
        if kind == "amount" and allow_zero != f.allow_zero:
            problems.append(f"{where}: zero {'allowed' if allow_zero else 'refused'} by the handler")
    for f, path in _declared(service.request):
        if f.required != (path in required_read):
            problems.append(f"{service.name} {'.'.join(path)}: documented required={f.required}, "
                            f"the handler reads it {'as required' if path in required_read else 'with a default'}")
    return problems


def _declared(fields, prefix=()):
    for f in fields:
        yield f, prefix + (f.name,)
        yield from _declared(f.items, prefix + (f.name,))


def _documented_keys(fields) -> set[str]:
    return {f.name for f in fields}


def test_every_example_is_accepted_and_every_field_a_handler_reads_is_documented(bank, monkeypatch):
    for card in catalogue.CARDS:
        assert bank.client.post("/sim/bank-cards", json=card).status_code == 201
    reads = _Reads(monkeypatch)
    problems, covered = [], set()
    for name, payload in catalogue.STORY:
        service = catalogue.BY_NAME[name]
        if service.kind == "gateway":
            page, done = bank.gateway(name, payload, catalogue.STORY_PASSWORD)
            assert done is not None, page.get_data(as_text=True)
            assert redirect_code(done) == 0, (name, payload["requestNo"], done.headers.get("Location"))
        else:
            answer = bank.call(name, payload)
            assert answer["respCode"] == codes.SUCCESS, (name, answer)
            extra = set(answer) - _documented_keys(catalogue.COMMON_RESPONSE + service.response)
            assert extra == set(), f"{name} answers undocumented respData fields {extra}"
        problems += _problems(service, reads.take())
        covered.add(name)
    assert covered == set(catalogue.BY_NAME)
    assert problems == []
    for note in bank.client.get("/sim/notifications").json:
        service = catalogue.BY_NAME[note["serviceName"]]
        extra = set(note["payload"]) - _documented_keys(catalogue.COMMON_NOTIFICATION + service.notification)
        assert extra == set(), f"{service.name} notifications carry undocumented fields {extra}"


def test_a_handler_reading_an_undocumented_field_is_caught(monkeypatch):
    service = catalogue.BY_NAME["RECHARGE"]
    assert _problems(service, [(("requestNo",), "text", True, 64, False), (("userNo",), "text", True, 256, False),
                               (("amount",), "amount", True, None, False),
                               (("callbackUrl",), "text", True, 2000, False),
                               (("secretField",), "text", False, 256, False)]) == [
        "RECHARGE secretField: read by the handler, not in the document"]


def test_the_docs_page_shows_every_service_with_local_assets_only(bank_app):
    resp = bank_app.test_client().get("/docs")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.content_type.startswith("text/html")
    for name in catalogue.BY_NAME:
        assert f'id="{name}"' in html
    assert "<script" not in html and "<link" not in html and not re.search(r'src="https?:', html)
    assert "00007" in html and "/sim/gateway/complete" in html


@pytest.mark.parametrize("name", sorted(catalogue.BY_NAME))
def test_every_example_payload_matches_its_schema(name):
    from jsonschema import Draft202012Validator

    doc = openapi.document()
    schema = doc["components"]["schemas"][f"{name}.reqData"]
    for example in schema["examples"]:
        errors = list(Draft202012Validator(schema).iter_errors(example))
        assert errors == [], [e.message for e in errors]
    # and the examples are the same text the bank would sign (plain JSON values)
    assert json.loads(envelope.dumps(schema["examples"][0])) == schema["examples"][0]


def test_a_declared_payload_reads_each_field_as_the_catalogue_declares_it():
    from bank_depository.domain.errors import BankError
    from bank_depository.domain.fields import Payload

    p = Payload({"requestNo": "R1", "projectNo": "P" * 65, "projectAmount": "10.00", "userNo": "U"},
                fields=catalogue.request_fields("CREATE_PROJECT"))
    assert p.get("projectAmount") == 1000 and p.get("repaymentWay", "") == ""
    with pytest.raises(BankError, match="projectNo is longer than 64"):
        p.get("projectNo")
    with pytest.raises(LookupError):
        p.get("notDeclared")
    with pytest.raises(TypeError):
        p.get("userNo", "")  # a required field has no default
    with pytest.raises(TypeError):
        p.get("projectPeriod")  # an optional one needs one


def test_every_sim_body_example_in_the_document_is_accepted(bank):
    from bank_depository.http import sim_api

    card = next(r.body_example for r in sim_api.ROUTES if r.path == "/sim/bank-cards")
    params = {"card_number": card["cardNumber"]}
    tried = 0
    for route in sim_api.ROUTES:
        if route.body_example is None:
            continue
        path = re.sub(r"{(\w+)}", lambda m: params[m.group(1)], route.path)
        resp = bank.client.open(path, method=route.method.upper(), json=route.body_example)
        assert resp.status_code == route.status, (route.path, resp.json)
        tried += 1
    assert tried >= 4
