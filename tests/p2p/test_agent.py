"""The depository agent and BankClient as units, with ``responses`` standing in for the bank.

The bank's answers are built the way the bank builds them
(``envelope.response_body`` signed with a throw-away bank key), so the
client's verification is exercised for real.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs

import pytest
import requests
import responses

from bank_depository.protocol import envelope, signing
from p2p_platform.bank_client import BankClient, OutcomeUnknown
from p2p_platform.clock import CST, PlatformClock
from p2p_platform.services import agent
from p2p_platform.services.context import IdGenerator, PlatformContext, Settings
from p2p_platform.storage.db import Store

BANK = "http://bank.test"
SERVICE_URL = BANK + "/service"


def answer(request_no: str, code: str = "00000", status: int = 1, **extra) -> dict:
    return {"requestNo": request_no, "respCode": code, "respMsg": "成功" if code == "00000" else "失败",
            "status": status, **extra}


class FakeBank:
    """Plays a script of answers to ``/service`` and keeps every request it received."""

    def __init__(self, rsps: responses.RequestsMock, bank_key, other_key):
        self.bank_key, self.other_key = bank_key, other_key
        self.script: list = []
        self.calls: list[dict] = []
        rsps.add_callback(responses.POST, SERVICE_URL, callback=self._handle)

    def _handle(self, request):
        fields = {k: v[0] for k, v in parse_qs(request.body).items()}
        signed = envelope.parse_request(fields)
        self.calls.append({"fields": fields, "service": signed.service_name, "payload": signed.payload(),
                           "text": signed.payload_text})
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return step, {}, "<html>bad gateway</html>"
        data, key = step if isinstance(step, tuple) else (step, self.bank_key)
        if callable(data):
            data = data(signed.payload())
        return 200, {"Content-Type": "application/json"}, envelope.response_body(data, key)

    def then(self, *steps) -> "FakeBank":
        self.script.extend(steps)
        return self

    def forged(self, data) -> tuple:
        """An answer signed with a key that is not the bank's."""
        return data, self.other_key

    def services(self) -> list[str]:
        return [c["service"] for c in self.calls]


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def bank(rsps, keys):
    return FakeBank(rsps, signing.load_private_key(keys["bank_private"]), keys["other_private_key"])


@pytest.fixture
def ctx(tmp_path, keys):
    store = Store(str(tmp_path / "platform.sqlite"))
    store.init()
    clock = PlatformClock(store)
    clock.freeze(dt.datetime(2026, 1, 5, 9, 0, tzinfo=CST))
    client = BankClient(BANK, "wanxinp2p", keys["platform_private_key"], keys["bank_public_key"], timeout=1.0)
    return PlatformContext(store=store, clock=clock, bank=client, settings=Settings(retries=2), ids=IdGenerator(7))


def recorded(ctx, service: str = "CONFIRM_LOAN", payload: dict | None = None) -> str:
    payload = payload or {"requestNo": ctx.ids.new("REQ"), "projectNo": "PRO_1", "commission": "60.00",
                          "details": [{"preRequestNo": "REQ_T1", "amount": "6000.00"}]}
    with ctx.store.write() as conn:
        return agent.record(conn, ctx, service, payload, object_type="LOAN", object_id="PRO_1", amount=600000)


def row(ctx, request_no: str):
    return ctx.store.one("SELECT * FROM depository_records WHERE request_no = ?", (request_no,))


def query_answer(original: dict, status: int = 1):
    """The bank's QUERY_TRANSACTION answer carrying ``original`` as the stored result."""
    def build(payload: dict) -> dict:
        return answer(payload["requestNo"], status=status, transactionRequestNo=payload["transactionRequestNo"],
                      serviceName="CONFIRM_LOAN", transactionStatus={1: "SUCCESS", 2: "FAIL"}.get(status, "PROCESSING"),
                      result=original)
    return build


# -- success and refusal --------------------------------------------------------
def test_a_success_syncs_the_record_with_the_banks_answer_after_one_call(ctx, bank, keys):
    request_no = recorded(ctx)
    bank.then(answer(request_no, projectNo="PRO_1", amount="6000.00"))

    reply = agent.send(ctx, request_no)

    assert reply.ok and reply.data["amount"] == "6000.00"
    r = row(ctx, request_no)
    assert (r["status"], r["resp_code"], r["attempts"]) == (agent.SYNCED, "00000", 1)
    assert envelope.loads(r["resp_data"])["projectNo"] == "PRO_1"
    (call,) = bank.calls
    # What went out is the recorded payload, byte for byte, signed with the platform's key.
    assert call["text"] == r["payload"]
    assert signing.verify(signing.load_public_key(keys["platform_public"]), call["text"].encode(),
                          call["fields"]["signature"])


def test_a_refusal_fails_the_record_and_is_not_retried(ctx, bank):
    request_no = recorded(ctx)
    bank.then(answer(request_no, "30042", status=2))

    reply = agent.send(ctx, request_no)

    assert not reply.ok and reply.code == "30042"
    r = row(ctx, request_no)
    assert (r["status"], r["resp_code"]) == (agent.FAILED, "30042")
    assert bank.services() == ["CONFIRM_LOAN"]  # no retry, no query: the bank said no


def test_a_settled_record_is_answered_from_the_platform_without_calling_the_bank(ctx, bank):
    request_no = recorded(ctx)
    bank.then(answer(request_no))
    agent.send(ctx, request_no)

    again = agent.send(ctx, request_no)

    assert again.ok
    assert len(bank.calls) == 1


# -- unknown outcomes ------------------------------------------------------------------
@pytest.mark.parametrize("failure", [
    requests.exceptions.ReadTimeout("read timed out"),
    requests.exceptions.ConnectionError("connection reset by peer"),
    502,
    503,
], ids=["timeout", "reset", "502", "503"])
def test_an_unknown_outcome_is_retried_with_the_same_request_no_and_the_same_bytes(ctx, bank, failure):
    request_no = recorded(ctx)
    bank.then(failure, failure, answer(request_no))

    reply = agent.send(ctx, request_no)

    assert reply.ok
    assert bank.services() == ["CONFIRM_LOAN"] * 3
    assert len({tuple(sorted(c["fields"].items())) for c in bank.calls}) == 1  # identical envelopes
    assert {c["payload"]["requestNo"] for c in bank.calls} == {request_no}
    r = row(ctx, request_no)
    assert (r["status"], r["attempts"], r["last_error"]) == (agent.SYNCED, 3, "")


def test_after_the_retries_the_agent_asks_query_transaction_and_settles_from_its_result(ctx, bank):
    request_no = recorded(ctx)
    timeout = requests.exceptions.ReadTimeout("read timed out")
    bank.then(timeout, timeout, timeout, query_answer(answer(request_no, projectNo="PRO_1")))

    reply = agent.send(ctx, request_no)

    assert reply.ok and reply.data["requestNo"] == request_no
    assert bank.services() == ["CONFIRM_LOAN"] * 3 + ["QUERY_TRANSACTION"]
    query = bank.calls[-1]["payload"]
    assert query["transactionRequestNo"] == request_no and query["requestNo"] != request_no
    r = row(ctx, request_no)
    assert (r["status"], r["resp_code"]) == (agent.SYNCED, "00000")
    assert envelope.loads(r["resp_data"])["projectNo"] == "PRO_1"


def test_query_transaction_reporting_a_refusal_fails_the_record(ctx, bank):
    request_no = recorded(ctx)
    bank.then(502, 502, 502, query_answer(answer(request_no, "30012", status=2), status=2))

    reply = agent.send(ctx, request_no)

    assert not reply.ok
    assert row(ctx, request_no)["status"] == agent.FAILED


@pytest.mark.parametrize("query_reply", [
    "not found",
    "processing",
    "timeout",
])
def test_when_neither_retries_nor_the_query_tell_the_outcome_the_record_stays_unsynced(ctx, bank, query_reply):
    request_no = recorded(ctx)
    timeout = requests.exceptions.ReadTimeout("read timed out")
    step = {"not found": lambda p: answer(p["requestNo"], "40001", status=2),
            "processing": query_answer(None, status=0),
            "timeout": timeout}[query_reply]
    bank.then(timeout, timeout, timeout, step)

    with pytest.raises(OutcomeUnknown):
        agent.send(ctx, request_no)

    r = row(ctx, request_no)
    assert (r["status"], r["resp_data"], r["attempts"]) == (agent.UNSYNCED, None, 3)
    assert "ReadTimeout" in r["last_error"]


def test_a_later_resend_keeps_the_same_request_no_and_bytes(ctx, bank):
    request_no = recorded(ctx)
    timeout = requests.exceptions.ReadTimeout("read timed out")
    bank.then(timeout, timeout, timeout, timeout)
    with pytest.raises(OutcomeUnknown):
        agent.send(ctx, request_no)
    bank.then(answer(request_no))

    assert agent.resolve(ctx, request_no).ok

    loans = [c for c in bank.calls if c["service"] == "CONFIRM_LOAN"]
    assert len(loans) == 4 and len({c["fields"]["signature"] for c in loans}) == 1
    assert row(ctx, request_no)["status"] == agent.SYNCED


# -- bad signatures ----------------------------------------------------------------------
def test_an_answer_with_a_bad_signature_is_never_trusted(ctx, bank):
    request_no = recorded(ctx)
    forged = bank.forged(answer(request_no))
    bank.then(forged, forged, forged, bank.forged(query_answer(answer(request_no))))

    with pytest.raises(OutcomeUnknown, match="signature"):
        agent.send(ctx, request_no)

    r = row(ctx, request_no)
    assert (r["status"], r["resp_code"], r["resp_data"]) == (agent.UNSYNCED, "", None)


def test_a_forged_refusal_does_not_fail_the_record_and_the_real_answer_settles_it(ctx, bank):
    request_no = recorded(ctx)
    bank.then(bank.forged(answer(request_no, "30042", status=2)), answer(request_no))

    assert agent.send(ctx, request_no).ok
    assert row(ctx, request_no)["status"] == agent.SYNCED


def test_a_tampered_answer_body_does_not_verify(ctx, rsps, keys):
    body = envelope.response_body(answer("REQ_X", amount="1.00"), signing.load_private_key(keys["bank_private"]))
    rsps.add(responses.POST, SERVICE_URL, body=body.replace('"1.00"', '"100.00"'))

    with pytest.raises(OutcomeUnknown, match="signature"):
        ctx.bank.call("QUERY_USER", {"requestNo": "REQ_X", "userNo": "U"})


@pytest.mark.parametrize("body", ["", "not json", '{"respData": {"respCode": "00000"}}', "[1, 2]"])
def test_an_unsigned_or_malformed_answer_is_an_unknown_outcome(ctx, rsps, body):
    rsps.add(responses.POST, SERVICE_URL, body=body)
    with pytest.raises(OutcomeUnknown):
        ctx.bank.call("QUERY_USER", {"requestNo": "REQ_X", "userNo": "U"})


# -- the client itself ----------------------------------------------------------------------
def test_the_client_tells_a_refusal_apart_from_an_unknown_outcome(ctx, bank):
    bank.then(answer("REQ_A", "600201", status=2), requests.exceptions.ConnectTimeout("no route"))

    refusal = ctx.bank.call("QUERY_USER", {"requestNo": "REQ_A", "userNo": "nobody"})
    assert (refusal.ok, refusal.code) == (False, "600201")
    with pytest.raises(OutcomeUnknown, match="ConnectTimeout"):
        ctx.bank.call("QUERY_USER", {"requestNo": "REQ_B", "userNo": "nobody"})


def test_a_gateway_record_is_resolved_by_query_and_never_resent(ctx, bank):
    request_no = recorded(ctx, "RECHARGE", {"requestNo": "REQ_R1", "userNo": "U1", "amount": "10.00",
                                            "callbackUrl": "http://p/cb"})
    bank.then(query_answer(answer(request_no, userNo="U1", amount="10.00")))

    reply = agent.resolve(ctx, request_no)

    assert reply.ok
    assert bank.services() == ["QUERY_TRANSACTION"]
    assert row(ctx, request_no)["status"] == agent.SYNCED


def test_a_gateway_record_the_user_never_confirmed_stays_unsynced(ctx, bank):
    request_no = recorded(ctx, "RECHARGE", {"requestNo": "REQ_R2", "userNo": "U1", "amount": "10.00",
                                            "callbackUrl": "http://p/cb"})
    bank.then(query_answer(None, status=0))

    assert agent.resolve(ctx, request_no) is None
    assert row(ctx, request_no)["status"] == agent.UNSYNCED


# -- the registered outcome --------------------------------------------------------
def applied_log(ctx) -> list:
    """Register LOAN/CONFIRM_LOAN handlers that log what they saw, inside the settling transaction."""
    log: list = []

    def success(conn, ctx, rec, data):
        status = conn.execute("SELECT status FROM depository_records WHERE request_no = ?", (rec.request_no,))
        log.append(("success", rec.request_no, status.fetchone()[0], conn.in_transaction))

    def refusal(conn, ctx, rec, data):
        log.append(("refusal", rec.request_no, data["respCode"]))

    ctx.outcomes.register("LOAN", "CONFIRM_LOAN", on_success=success, on_refusal=refusal)
    return log


def test_the_registered_outcome_is_applied_once_in_the_transaction_that_syncs_the_record(ctx, bank):
    log = applied_log(ctx)
    request_no = recorded(ctx)
    bank.then(answer(request_no))

    agent.send(ctx, request_no)
    agent.send(ctx, request_no)
    agent.resolve(ctx, request_no)
    with ctx.store.write() as conn:
        assert agent.settle(conn, ctx, request_no, answer(request_no)) is False  # a late copy (e.g. a notification)

    assert log == [("success", request_no, agent.SYNCED, True)]
    assert len(bank.calls) == 1


def test_a_refusal_applies_the_refusal_outcome_and_a_lost_answer_applies_nothing(ctx, bank):
    log = applied_log(ctx)
    refused, lost = recorded(ctx), recorded(ctx)
    timeout = requests.exceptions.ReadTimeout("lost")
    bank.then(answer(refused, "30042", status=2), timeout, timeout, timeout, query_answer(None, status=0))

    agent.send(ctx, refused)
    with pytest.raises(OutcomeUnknown):
        agent.send(ctx, lost)

    assert log == [("refusal", refused, "30042")]


def test_an_outcome_that_fails_leaves_the_record_unsynced_so_the_step_can_be_resolved_again(ctx, bank):
    def broken(conn, ctx, rec, data):
        raise RuntimeError("the handler died")

    ctx.outcomes.register("LOAN", "CONFIRM_LOAN", on_success=broken)
    request_no = recorded(ctx)
    bank.then(answer(request_no))

    with pytest.raises(RuntimeError):
        agent.send(ctx, request_no)

    assert (row(ctx, request_no)["status"], row(ctx, request_no)["resp_data"]) == (agent.UNSYNCED, None)
