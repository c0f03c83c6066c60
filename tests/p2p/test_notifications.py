"""The platform's ``/notify`` endpoint on its own: verified, deduplicated, applied once.

No bank runs here: notifications are built and signed the way the bank's
outbox does it, with a throw-away bank key (and a wrong key for forgeries).
"""
from __future__ import annotations

import base64
import json

import pytest

from bank_depository.protocol import envelope, signing
from bank_depository.services.outbox import notification_payload
from p2p_platform.app import create_app
from p2p_platform.config import platform_config

from .conftest import closed_port_url
from tests.conftest import make_id_number, operator_client


@pytest.fixture
def platform(tmp_path, keys):
    app = create_app(platform_config(tmp_path / "platform.sqlite", private_key=keys["platform_private"].decode(),
                                     bank_public_key=keys["bank_public"].decode(), bank_url=closed_port_url(),
                                     PUBLIC_URL="http://platform.test", CLOCK_FROZEN=True,
                                     CLOCK_START="2026-01-05T09:00:00+08:00"))
    return app


@pytest.fixture
def client(platform):
    return operator_client(platform)


@pytest.fixture
def bank_key(keys):
    return signing.load_private_key(keys["bank_private"])


def notification(key, service: str, request_no: str, code: str = "00000", **extra) -> dict:
    payload = notification_payload(service, request_no, code, "成功" if code == "00000" else "失败",
                                   1 if code == "00000" else 2, extra)
    return envelope.sign_request(service, "wanxinp2p", payload, key).fields()


def rows(platform, sql: str) -> list[tuple]:
    return [tuple(r) for r in platform.extensions["wanxin.platform"].store.all(sql)]


def snapshot(platform) -> dict:
    return {t: rows(platform, f"SELECT * FROM {t} ORDER BY 1")
            for t in ("users", "depository_records", "recharges", "withdrawals", "tenders", "projects")}


def opening_user(client, seq: int = 1) -> tuple[str, str]:
    """A registered user whose open-account request is waiting for the bank; (userNo, requestNo)."""
    user = client.post("/api/users", json={"username": f"u{seq}", "role": "investor", "fullname": f"用户{seq}",
                                           "idNumber": make_id_number(seq), "mobile": f"138{seq:08d}",
                                           "cardNumber": f"62220200{seq:08d}"}).json
    gateway = client.post(f"/api/users/{user['userNo']}/open-account").json
    return user["userNo"], json.loads(base64.b64decode(gateway["reqData"]))["requestNo"]


def status_of(client, user_no: str) -> str:
    return next(u["status"] for u in client.get("/api/users").json if u["userNo"] == user_no)


def test_a_notification_signed_by_the_bank_is_acknowledged_and_applied(client, bank_key):
    user_no, request_no = opening_user(client)

    resp = client.post("/notify", data=notification(bank_key, "PERSONAL_REGISTER", request_no, userNo=user_no))

    assert (resp.status_code, resp.get_data(as_text=True)) == (200, "OK")
    assert status_of(client, user_no) == "OPEN"


def test_a_notification_with_a_bad_signature_is_not_acknowledged_and_changes_nothing(client, platform, keys):
    user_no, request_no = opening_user(client)
    before = snapshot(platform)

    forged = notification(keys["other_private_key"], "PERSONAL_REGISTER", request_no, userNo=user_no)
    resp = client.post("/notify", data=forged)

    assert resp.status_code == 200 and resp.get_data(as_text=True) != "OK"
    assert "00004" in resp.get_data(as_text=True)
    assert snapshot(platform) == before
    assert rows(platform, "SELECT * FROM notifications_seen") == []


def test_a_notification_whose_payload_was_altered_after_signing_is_refused(client, platform, bank_key):
    user_no, request_no = opening_user(client)
    fields = notification(bank_key, "PERSONAL_REGISTER", request_no, "60301", userNo=user_no)
    other = notification(bank_key, "PERSONAL_REGISTER", request_no, userNo=user_no)
    before = snapshot(platform)

    resp = client.post("/notify", data={**other, "signature": fields["signature"]})

    assert resp.get_data(as_text=True) != "OK"
    assert snapshot(platform) == before


@pytest.mark.parametrize("missing", ["serviceName", "reqData", "signature"])
def test_a_notification_missing_a_field_is_not_acknowledged(client, platform, bank_key, missing):
    user_no, request_no = opening_user(client)
    fields = notification(bank_key, "PERSONAL_REGISTER", request_no, userNo=user_no)
    del fields[missing]
    before = snapshot(platform)

    assert client.post("/notify", data=fields).get_data(as_text=True) != "OK"
    assert snapshot(platform) == before


def test_a_duplicated_notification_is_acknowledged_each_time_and_applied_once(client, platform, bank_key):
    user_no, request_no = opening_user(client)
    fields = notification(bank_key, "PERSONAL_REGISTER", request_no, userNo=user_no)

    assert client.post("/notify", data=fields).get_data(as_text=True) == "OK"
    after_first = snapshot(platform)
    assert client.post("/sim/clock", json={"advance_seconds": 30}).status_code == 200
    assert client.post("/notify", data=fields).get_data(as_text=True) == "OK"

    assert snapshot(platform) == after_first
    assert rows(platform, "SELECT service_name, request_no, times FROM notifications_seen") == [
        ("PERSONAL_REGISTER", request_no, 2)]


def test_a_contradicting_notification_for_an_applied_request_changes_nothing(client, platform, bank_key):
    user_no, request_no = opening_user(client)
    client.post("/notify", data=notification(bank_key, "PERSONAL_REGISTER", request_no, userNo=user_no))
    before = snapshot(platform)

    resp = client.post("/notify", data=notification(bank_key, "PERSONAL_REGISTER", request_no, "60301",
                                                    userNo=user_no))

    assert resp.get_data(as_text=True) == "OK"
    assert snapshot(platform) == before
    assert status_of(client, user_no) == "OPEN"


def test_a_notification_for_an_unknown_request_no_is_acknowledged_and_changes_nothing(client, platform, bank_key):
    opening_user(client)
    before = snapshot(platform)

    resp = client.post("/notify", data=notification(bank_key, "RECHARGE", "REQ_NOT_OURS", userNo="USR_X",
                                                    amount="100.00"))

    assert resp.get_data(as_text=True) == "OK"  # acknowledged, so the bank stops retrying
    assert snapshot(platform) == before


def test_a_notification_naming_our_request_under_another_service_changes_nothing(client, platform, bank_key):
    user_no, request_no = opening_user(client)
    before = snapshot(platform)

    resp = client.post("/notify", data=notification(bank_key, "RECHARGE", request_no, userNo=user_no,
                                                    amount="100.00"))

    assert resp.get_data(as_text=True) == "OK"
    assert snapshot(platform) == before


def test_a_refused_open_account_marks_the_user_failed(client, bank_key):
    user_no, request_no = opening_user(client)

    client.post("/notify", data=notification(bank_key, "PERSONAL_REGISTER", request_no, "60301", userNo=user_no))

    assert status_of(client, user_no) == "FAILED"


def test_recharge_and_withdraw_notifications_finish_their_records_once(client, platform, bank_key):
    user_no, request_no = opening_user(client)
    client.post("/notify", data=notification(bank_key, "PERSONAL_REGISTER", request_no, userNo=user_no))
    gateway = client.post(f"/api/users/{user_no}/recharges", json={"amount": "100.00"}).json
    recharge_no = json.loads(base64.b64decode(gateway["reqData"]))["requestNo"]
    fields = notification(bank_key, "RECHARGE", recharge_no, userNo=user_no, amount="100.00")

    for _ in range(3):
        assert client.post("/notify", data=fields).get_data(as_text=True) == "OK"

    assert rows(platform, "SELECT status FROM recharges") == [("SUCCESS",)]
    record = platform.extensions["wanxin.platform"].store.one(
        "SELECT status, resp_code FROM depository_records WHERE request_no = ?", (recharge_no,))
    assert tuple(record) == (1, "00000")


def test_a_notification_by_get_with_query_fields_is_accepted_too(client, bank_key):
    user_no, request_no = opening_user(client)

    resp = client.get("/notify", query_string=notification(bank_key, "PERSONAL_REGISTER", request_no,
                                                           userNo=user_no))

    assert resp.get_data(as_text=True) == "OK"
    assert status_of(client, user_no) == "OPEN"
