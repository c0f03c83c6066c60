"""``POST /sim/notifications/{id}/due``: a retrying notification's next attempt now, without moving the clock.

What ``wait_for_notification`` relies on: the retry ladder goes on where it was (the attempt counts),
a settled notification is refused with the JSON error body and changes nothing.
"""
from __future__ import annotations

import responses

from tests.conftest import NOTIFY_URL


def dispatcher(bank):
    return bank.app.extensions["wanxin.dispatcher"]


def newest(bank) -> dict:
    return max(bank.client.get("/sim/notifications").json, key=lambda n: n["id"])


def a_refused_notification(bank) -> dict:
    """A recharge whose notification the platform answered with an error once: PENDING, due in 10 s."""
    user = bank.open_account(1)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        dispatcher(bank).run_until_idle()
    bank.recharge(user, "10.00")
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, status=500, body="busy")
        assert [a.ok for a in dispatcher(bank).run_until_idle()] == [False]
    note = newest(bank)
    assert note["state"] == "PENDING" and note["attempts"] == 1
    return note


def test_a_retrying_notification_made_due_is_attempted_at_once_and_the_clock_stays(bank):
    note = a_refused_notification(bank)
    clock = bank.client.get("/sim/clock").json["now"]
    assert dispatcher(bank).run_until_idle() == []  # waiting out its 10 s backoff
    resp = bank.client.post(f"/sim/notifications/{note['id']}/due")
    assert resp.status_code == 200
    assert resp.json == {"id": note["id"], "state": "PENDING", "nextAttemptAt": resp.json["nextAttemptAt"]}
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        assert [a.ok for a in dispatcher(bank).run_until_idle()] == [True]
    after = newest(bank)
    assert after["state"] == "DELIVERED" and after["attempts"] == 2
    assert bank.client.get("/sim/clock").json["now"] == clock


def test_making_a_notification_due_keeps_its_retry_ladder_so_it_is_still_dead_lettered(bank):
    note = a_refused_notification(bank)
    attempts = len(dispatcher(bank).schedule) + 1
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, status=500, body="busy")
        for _ in range(attempts - 1):
            assert bank.client.post(f"/sim/notifications/{note['id']}/due").status_code == 200
            dispatcher(bank).run_until_idle()
    after = newest(bank)
    assert (after["state"], after["attempts"]) == ("DEAD", attempts)


def test_a_settled_or_unknown_notification_cannot_be_made_due_and_nothing_changes(bank):
    note = a_refused_notification(bank)
    with responses.RequestsMock() as rsps:
        rsps.post(NOTIFY_URL, body="OK")
        bank.client.post(f"/sim/notifications/{note['id']}/due")
        dispatcher(bank).run_until_idle()
    before = newest(bank)
    resp = bank.client.post(f"/sim/notifications/{note['id']}/due")
    assert resp.status_code == 400
    assert "is DELIVERED" in resp.json["error"]["message"]
    assert newest(bank) == before
    missing = bank.client.post("/sim/notifications/999999/due")
    assert missing.status_code == 404 and set(missing.json["error"]) == {"code", "message"}
