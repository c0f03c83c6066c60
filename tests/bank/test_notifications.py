"""Asynchronous notifications: the durable outbox, its dispatcher and its controls.

The platform's notify URL is mocked with ``responses``; the clock is frozen and
moved only through ``/sim/clock``; delivery happens only when a test calls
``run_once`` (or ``/sim/notifications/dispatch``).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import parse_qs

import pytest
import requests
import responses

from bank_depository.app import create_app
from bank_depository.clock import parse_instant
from bank_depository.notify.dispatcher import DEFAULT_SCHEDULE
from bank_depository.protocol import signing
from tests.conftest import NOTIFY_URL, PLATFORM_NO, START, BankDriver, bank_config

ENVELOPE = {"serviceName", "platformNo", "reqData", "signature"}


# -- helpers --------------------------------------------------------------------------------------------
def dispatcher(bank):
    return bank.app.extensions["wanxin.dispatcher"]


def advance(bank, seconds):
    resp = bank.client.post("/sim/clock", json={"advance_seconds": seconds})
    assert resp.status_code == 200, resp.json
    return resp.json["now"]


def notifications(bank, state: str = "") -> list[dict]:
    rows = bank.client.get("/sim/notifications", query_string={"state": state} if state else {}).json
    return sorted(rows, key=lambda n: n["id"])


def notification_for(bank, request_no: str) -> dict:
    [row] = [n for n in notifications(bank) if n["requestNo"] == request_no]
    return row


def sent(call, keys) -> tuple[dict, str, dict]:
    """(form fields, exact payload text, parsed payload) of one POST; the signature must verify."""
    form = {k: v[0] for k, v in parse_qs(call.request.body).items()}
    assert set(form) == ENVELOPE
    text = base64.b64decode(form["reqData"], validate=True).decode("utf-8")
    assert signing.verify(keys["bank_public_key"], text.encode("utf-8"), form["signature"], signing.SHA256)
    return form, text, json.loads(text)


def deliver_all(bank, body: str = "OK"):
    """Acknowledge everything due now (account openings in the set-up, typically)."""
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body=body)
        dispatcher(bank).run_until_idle()


def recharge_no(bank, user_no, amount):
    _, done = bank.recharge(user_no, amount)
    assert done is not None and done.status_code == 302
    return f"REQ_{bank.seq:06d}"  # the driver numbers requests in sequence


# -- delivered once, acknowledged -----------------------------------------------------------------------
def test_a_recharge_notification_is_posted_once_signed_and_acknowledged(bank, keys):
    user = bank.open_account(1)
    deliver_all(bank)
    request_no = recharge_no(bank, user, "250.00")
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        attempts = dispatcher(bank).run_once()
        assert [a.ok for a in attempts] == [True]
        assert len(rsps.calls) == 1
        form, text, payload = sent(rsps.calls[0], keys)
        assert dispatcher(bank).run_once() == []
        assert len(rsps.calls) == 1
    assert form["serviceName"] == "RECHARGE" and form["platformNo"] == PLATFORM_NO
    assert payload["requestNo"] == request_no
    assert payload["respCode"] == "00000" and payload["status"] == 1
    assert payload["transactionStatus"] == "SUCCESS" and payload["respMsg"]
    assert payload["amount"] == "250.00"
    row = notification_for(bank, request_no)
    assert row["state"] == "DELIVERED" and row["attempts"] == 1
    assert row["deliveredAt"] == parse_instant(START).isoformat(timespec="microseconds")
    assert [(h["http_status"], h["error"], h["body"]) for h in row["history"]] == [(200, "", "OK")]
    assert json.dumps(row["payload"], ensure_ascii=False, separators=(",", ":")) == text


def test_a_registration_notification_carries_audit_status_and_the_card_s_bank(bank, keys):
    bank.open_account(1)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        [call] = rsps.calls
    form, _, payload = sent(call, keys)
    assert form["serviceName"] == "PERSONAL_REGISTER"
    assert {"requestNo", "respCode", "respMsg", "status", "auditStatus", "bankCode", "bankName"} <= set(payload)
    assert "transactionStatus" not in payload
    assert (payload["auditStatus"], payload["status"], payload["bankCode"]) == ("PASSED", 1, "ICBC")
    assert payload["bankName"]


def test_a_withdraw_notification_carries_the_transaction_status(bank, keys):
    user = bank.open_account(1)
    bank.recharge(user, "100.00")
    deliver_all(bank)
    _, done = bank.withdraw(user, "40.00", commission="1.00")
    assert done.status_code == 302
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        [call] = rsps.calls
    form, _, payload = sent(call, keys)
    assert form["serviceName"] == "WITHDRAW"
    assert {"requestNo", "respCode", "respMsg", "status", "transactionStatus"} <= set(payload)
    assert (payload["respCode"], payload["status"], payload["transactionStatus"]) == ("00000", 1, "SUCCESS")
    assert payload["amount"] == "40.00"


def test_a_recharge_refused_for_a_short_card_balance_is_notified_as_a_failure(bank, keys):
    user = bank.open_account(1, balance="50.00")
    deliver_all(bank)
    before = bank.snapshot()
    request_no = recharge_no(bank, user, "80.00")
    assert bank.snapshot() == before
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        [call] = rsps.calls
    _, _, payload = sent(call, keys)
    assert payload["requestNo"] == request_no
    assert (payload["status"], payload["transactionStatus"]) == (2, "FAIL")
    assert payload["respCode"] == "30041" and payload["respMsg"]
    assert notification_for(bank, request_no)["state"] == "DELIVERED"


def test_a_withdraw_beyond_the_available_balance_is_notified_as_a_failure(bank, keys):
    user = bank.open_account(1)
    deliver_all(bank)
    _, done = bank.withdraw(user, "10.00")
    assert done.status_code == 302
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        [call] = rsps.calls
    _, _, payload = sent(call, keys)
    assert (payload["status"], payload["transactionStatus"], payload["respCode"]) == (2, "FAIL", "30042")


def test_a_refused_registration_is_notified_with_audit_status_refused(bank, keys):
    card = bank.card(1)
    payload = {"requestNo": "REG_BAD", "userNo": "USR_X", "fullname": "someone else",
               "idNumber": card["idNumber"], "mobile": card["mobile"], "cardNumber": card["cardNumber"],
               "role": "I", "callbackUrl": "http://platform.test/cb"}
    page, done = bank.gateway("PERSONAL_REGISTER", payload)
    assert done is None and page.status_code == 200
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        [call] = rsps.calls
    _, _, note = sent(call, keys)
    assert (note["requestNo"], note["status"], note["auditStatus"]) == ("REG_BAD", 2, "REFUSED")
    assert note["respCode"] == "60301" and note["respMsg"]


def test_a_gateway_form_submitted_twice_is_notified_once(bank):
    user = bank.open_account(1)
    no = bank.next_no()
    payload = {"requestNo": no, "userNo": user, "amount": "5.00", "callbackUrl": "http://platform.test/cb"}
    _, done = bank.gateway("RECHARGE", payload)
    form = bank.confirm_form(no, platformNo=PLATFORM_NO, serviceName="RECHARGE", password="123456")
    again = bank.client.post("/gateway/confirm", data=form)
    assert done.status_code == again.status_code == 302
    assert done.headers["Location"] == again.headers["Location"]
    assert [n["requestNo"] for n in notifications(bank)].count(no) == 1
    assert bank.balances(user)[0] == "5.00"


def test_a_wrong_trade_password_is_not_final_and_sends_nothing(bank):
    user = bank.open_account(1)
    deliver_all(bank)
    _, done = bank.recharge(user, "10.00", password="999999")
    assert done.status_code == 302
    assert [n["serviceName"] for n in notifications(bank)] == ["PERSONAL_REGISTER"]


def test_nothing_is_sent_when_nothing_moved(bank):
    with responses.RequestsMock() as rsps:
        assert dispatcher(bank).run_once() == []
        assert dispatcher(bank).run_until_idle() == []
        assert len(rsps.calls) == 0
    assert notifications(bank) == []


# -- retries on the bank's clock, then dead-letter ------------------------------------------------------
FAILURES = {
    "http_500": dict(status=500, body="OK"),
    "timeout": dict(body=requests.exceptions.ConnectTimeout("connect timed out")),
    "not_ok_body": dict(status=200, body="FAIL"),
    "json_quoted_ok": dict(status=200, body='"OK"'),
    "lowercase_ok": dict(status=200, body="ok"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_an_unacknowledged_notification_is_retried_exactly_on_schedule_then_dead_lettered(bank, failure):
    bank.open_account(1)
    [row] = notifications(bank)
    start = parse_instant(START)
    expected = [start]
    for wait in DEFAULT_SCHEDULE:
        expected.append(expected[-1] + dt.timedelta(seconds=wait))
    assert len(expected) == 16
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, **FAILURES[failure])
        for n, wait in enumerate(DEFAULT_SCHEDULE, start=1):
            made = dispatcher(bank).run_once()
            assert [(a.ok, a.notification_id) for a in made] == [(False, row["id"])]
            assert len(rsps.calls) == n
            advance(bank, wait - 1)
            assert dispatcher(bank).run_once() == [], "sent before it was due"
            assert len(rsps.calls) == n
            advance(bank, 1)
        last = dispatcher(bank).run_once()
        assert len(last) == 1 and not last[0].ok
        assert len(rsps.calls) == 16
        advance(bank, 24 * 3600)
        assert dispatcher(bank).run_until_idle() == []
        assert len(rsps.calls) == 16
    row = notification_for(bank, row["requestNo"])
    assert row["state"] == "DEAD" and row["attempts"] == 16
    assert [parse_instant(h["attempted_at"]) for h in row["history"]] == expected
    assert all(h["error"] for h in row["history"])
    if failure == "timeout":
        assert {h["http_status"] for h in row["history"]} == {None}
        assert "ConnectTimeout" in row["history"][0]["error"]
    else:
        assert {h["http_status"] for h in row["history"]} == {FAILURES[failure]["status"]}
        assert {h["body"] for h in row["history"]} == {FAILURES[failure]["body"]}
    assert [n["id"] for n in notifications(bank, "DEAD")] == [row["id"]]


def test_a_platform_that_recovers_gets_the_notification_at_the_next_scheduled_attempt(bank):
    bank.open_account(1)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, status=503)
        rsps.post(NOTIFY_URL, body=requests.exceptions.ReadTimeout("read timed out"))
        rsps.post(NOTIFY_URL, body="OK")
        d = dispatcher(bank)
        assert [a.ok for a in d.run_once()] == [False]
        advance(bank, 10)
        assert [a.ok for a in d.run_once()] == [False]
        advance(bank, 29)
        assert d.run_once() == []
        advance(bank, 1)
        assert [a.ok for a in d.run_once()] == [True]
        advance(bank, 3600)
        assert d.run_once() == []
        assert len(rsps.calls) == 3
    [row] = notifications(bank)
    assert row["state"] == "DELIVERED" and row["attempts"] == 3
    assert [h["http_status"] for h in row["history"]] == [503, None, 200]


def test_a_schedule_from_the_configuration_is_followed(tmp_path, keys):
    app = create_app(bank_config(tmp_path, keys, NOTIFY_SCHEDULE=[5, 7]))
    try:
        bank = BankDriver(app, keys)
        bank.open_account(1)
        with responses.RequestsMock() as rsps:
            rsps.post(NOTIFY_URL, status=500)
            d = dispatcher(bank)
            d.run_once()
            advance(bank, 5)
            d.run_once()
            advance(bank, 7)
            d.run_once()
            advance(bank, 3600)
            assert d.run_once() == []
            assert len(rsps.calls) == 3
        [row] = notifications(bank)
        assert row["state"] == "DEAD" and row["attempts"] == 3
        assert bank.problems() == []
    finally:
        app.extensions["wanxin.bank"].database.close()


# -- resend, dispatch over HTTP -------------------------------------------------------------------------
def test_a_delivered_notification_can_be_resent_by_id(bank, keys):
    bank.open_account(1)
    [row] = notifications(bank)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_once()
        resp = bank.client.post(f"/sim/notifications/{row['id']}/resend")
        assert resp.status_code == 200 and resp.json == {"id": row["id"], "state": "PENDING"}
        assert [a.ok for a in dispatcher(bank).run_once()] == [True]
        assert len(rsps.calls) == 2
        assert rsps.calls[0].request.body == rsps.calls[1].request.body
    row = notification_for(bank, row["requestNo"])
    assert row["state"] == "DELIVERED" and len(row["history"]) == 2


def test_a_dead_notification_resent_gets_a_fresh_schedule(bank):
    bank.open_account(1)
    [row] = notifications(bank)
    d = dispatcher(bank)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, status=500)
        for wait in DEFAULT_SCHEDULE:
            d.run_once()
            advance(bank, wait)
        d.run_once()
    assert notification_for(bank, row["requestNo"])["state"] == "DEAD"
    assert bank.client.post(f"/sim/notifications/{row['id']}/resend").status_code == 200
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, status=500)
        rsps.post(NOTIFY_URL, body="OK")
        assert [a.ok for a in d.run_once()] == [False]
        advance(bank, DEFAULT_SCHEDULE[0])
        assert [a.ok for a in d.run_once()] == [True]
    row = notification_for(bank, row["requestNo"])
    assert row["state"] == "DELIVERED" and len(row["history"]) == 18


def test_resending_an_unknown_notification_is_a_404(bank):
    resp = bank.client.post("/sim/notifications/999/resend")
    assert resp.status_code == 404
    assert "999" in resp.json["error"]["message"]


def test_the_dispatch_endpoint_delivers_everything_due(bank):
    user = bank.open_account(1)
    bank.recharge(user, "10.00")
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        resp = bank.client.post("/sim/notifications/dispatch")
        assert resp.status_code == 200
        assert [a["ok"] for a in resp.json["attempts"]] == [True, True]
        assert len(rsps.calls) == 2
    assert {n["state"] for n in notifications(bank)} == {"DELIVERED"}
    assert [n["id"] for n in notifications(bank, "PENDING")] == []


def test_a_platform_without_a_notify_url_leaves_an_explained_failed_attempt(tmp_path, keys):
    cfg = bank_config(tmp_path, keys)
    cfg["PLATFORMS"] = [dict(cfg["PLATFORMS"][0], notify_url="")]
    app = create_app(cfg)
    try:
        bank = BankDriver(app, keys)
        bank.open_account(1)
        with responses.RequestsMock() as rsps:
            [attempt] = dispatcher(bank).run_once()
            assert len(rsps.calls) == 0
        assert not attempt.ok and "notify URL" in attempt.error
        [row] = notifications(bank)
        assert row["state"] == "PENDING" and row["history"][0]["error"] == attempt.error
    finally:
        app.extensions["wanxin.bank"].database.close()


# -- durability -----------------------------------------------------------------------------------------
def test_a_notification_committed_before_a_restart_is_delivered_after_it(tmp_path, keys):
    first = create_app(bank_config(tmp_path, keys))
    bank = BankDriver(first, keys)
    user = bank.open_account(1)
    request_no = recharge_no(bank, user, "30.00")
    first.extensions["wanxin.dispatcher"].stop()
    first.extensions["wanxin.bank"].database.close()

    second = create_app(bank_config(tmp_path, keys))
    try:
        again = BankDriver(second, keys)
        assert [n["state"] for n in notifications(again)] == ["PENDING", "PENDING"]
        with responses.RequestsMock() as rsps:
            rsps.post(NOTIFY_URL, body="OK")
            made = second.extensions["wanxin.dispatcher"].run_until_idle()
            assert [a.ok for a in made] == [True, True]
            _, _, payload = sent(rsps.calls[1], keys)
        assert payload["requestNo"] == request_no and payload["transactionStatus"] == "SUCCESS"
        assert {n["state"] for n in notifications(again)} == {"DELIVERED"}
        assert again.problems() == []
    finally:
        second.extensions["wanxin.bank"].database.close()


def test_a_pending_retry_survives_a_restart_and_keeps_its_schedule(tmp_path, keys):
    first = create_app(bank_config(tmp_path, keys))
    bank = BankDriver(first, keys)
    bank.open_account(1)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, status=500)
        first.extensions["wanxin.dispatcher"].run_once()
    first.extensions["wanxin.bank"].database.close()

    second = create_app(bank_config(tmp_path, keys))
    try:
        again = BankDriver(second, keys)
        d = second.extensions["wanxin.dispatcher"]
        with responses.RequestsMock() as rsps:
            rsps.post(NOTIFY_URL, body="OK")
            advance(again, 9)
            assert d.run_once() == []
            advance(again, 1)
            assert [a.ok for a in d.run_once()] == [True]
        [row] = notifications(again)
        assert row["state"] == "DELIVERED" and row["attempts"] == 2
    finally:
        second.extensions["wanxin.bank"].database.close()


def test_the_outbox_row_exists_exactly_when_the_movement_committed(bank):
    user = bank.open_account(1, balance="20.00")
    ok_no = recharge_no(bank, user, "20.00")
    failed_no = recharge_no(bank, user, "0.01")
    conn = bank.ctx.conn()
    entries = {r[0] for r in conn.execute("SELECT request_no FROM entries")}
    assert ok_no in entries and failed_no not in entries
    rows = {n["requestNo"]: n["payload"]["status"] for n in notifications(bank)}
    assert rows[ok_no] == 1 and rows[failed_no] == 2
    assert len(rows) == 3



def test_a_platform_without_a_notify_url_is_told_how_to_give_it_one(tmp_path, keys):
    cfg = bank_config(tmp_path, keys)
    cfg["PLATFORMS"] = [dict(cfg["PLATFORMS"][0], notify_url="")]
    app = create_app(cfg)
    try:
        bank = BankDriver(app, keys)
        bank.open_account(1)
        [attempt] = dispatcher(bank).run_once()
        assert attempt.error == (f"platform {PLATFORM_NO} has no notify URL (give it one: wanxin platforms add"
                                 f" no={PLATFORM_NO},key=PATH,notify=URL)")
    finally:
        app.extensions["wanxin.bank"].database.close()
