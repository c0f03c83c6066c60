"""Reset: one platform's sandbox (or everyone's) back to empty, the other platforms untouched and the
ledger sound; the clock set, frozen and unfrozen; fault rules removed one by one and checked when set."""
from __future__ import annotations

import pytest

from bank_depository.protocol import codes
from tests.bank.two_platforms import ACME
from tests.conftest import PLATFORM_NO, START


def busy(side, borrower_seq: int = 1) -> None:
    """Accounts, a project, a tender, a notification, a fault rule and a request-log line on one platform."""
    side.open_account(borrower_seq, "B", user_no="B1")
    side.open_account(borrower_seq + 1, "I", user_no="I1")
    side.recharge("I1", "500.00")
    side.client.post(f"/sim/bank-cards/{side.card_number('I1')}/deposit", json={"amount": "7.00"})
    side.project("P1", "B1")
    side.call("USER_AUTO_PRE_TRANSACTION", {"requestNo": "T1", "userNo": "I1", "projectNo": "P1",
                                            "bizType": "TENDER", "amount": "100.00"})
    assert side.client.post("/sim/faults", json={"action": "delay_notification", "seconds": 5,
                                                 "platformNo": side.platform_no}).status_code == 201


def counts(side, platform_no: str) -> dict:
    conn = side.ctx.conn()
    one = {t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE platform_no = ?", (platform_no,)).fetchone()[0]
           for t in ("users", "projects", "holds", "requests", "notifications", "entries", "request_log")}
    one["fault_rules"] = len([r for r in side.client.get("/sim/faults").json["rules"]
                              if r.get("platformNo") == platform_no])
    return one


def state(side) -> dict:
    """Everything acme owns, as rows, to prove a reset of the other platform left it alone."""
    conn = side.ctx.conn()
    return {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} WHERE platform_no = ? ORDER BY 1, 2",
                                               (ACME,))]
            for t in ("users", "projects", "holds", "requests", "notifications", "entries", "claims")}


@pytest.fixture
def both(two):
    ours, acme = two
    ours.card_number = lambda user: ours.client.get(f"/sim/accounts/{user}?platformNo={PLATFORM_NO}").json["cardNumber"]
    acme.card_number = lambda user: acme.client.get(f"/sim/accounts/{user}?platformNo={ACME}").json["cardNumber"]
    busy(ours, 1)
    busy(acme, 1)
    return ours, acme


def test_resetting_one_platform_removes_all_its_data_and_leaves_the_other_untouched(both):
    ours, acme = both
    acme_before = state(acme)
    acme_balances = acme.balances("I1")
    resp = ours.client.post("/sim/reset", json={"platformNo": PLATFORM_NO})
    assert resp.status_code == 200 and resp.json["platformNo"] == PLATFORM_NO
    assert set(counts(ours, PLATFORM_NO).values()) == {0}
    assert state(acme) == acme_before and acme.balances("I1") == acme_balances
    assert [r.get("platformNo") for r in ours.client.get("/sim/faults").json["rules"]] == [ACME]
    assert ours.problems() == []
    cards = [c["cardNumber"] for c in ours.client.get("/sim/accounts").json["cards"]]
    assert len(cards) == 2  # acme's two; ours are gone with their users
    assert [p["platformNo"] for p in ours.client.get("/sim/platforms").json] == [ACME, PLATFORM_NO]


def test_after_a_reset_the_same_numbers_and_the_same_people_can_start_again(both):
    ours, _ = both
    ours.client.post("/sim/reset", json={"platformNo": PLATFORM_NO})
    busy(ours, 1)  # same cards, ID numbers, userNos, projectNo and requestNos as before
    assert ours.balances("I1")[:2] == ("400.00", "100.00")
    assert ours.problems() == []


def test_resetting_every_platform_empties_the_bank_and_puts_the_clock_back(both):
    ours, acme = both
    ours.client.post("/sim/clock", json={"advance_seconds": 86400 * 3})
    resp = ours.client.post("/sim/reset", json={})
    assert resp.status_code == 200 and resp.json["platformNo"] is None
    assert set(counts(ours, PLATFORM_NO).values()) == set(counts(acme, ACME).values()) == {0}
    assert ours.client.get("/sim/accounts").json == {"users": [], "platformAccounts": [], "cards": []}
    assert ours.client.get("/sim/clock").json == {"now": "2026-01-05T09:00:00.000000+08:00", "frozen": True}
    assert START.startswith("2026-01-05T09:00:00")
    assert ours.problems() == []
    assert ours.open_account(1) == "USR_0001"  # the bank works after it


def test_a_reset_without_a_body_resets_everything(bank):
    bank.open_account(1)
    assert bank.client.post("/sim/reset").status_code == 200
    assert bank.client.get("/sim/accounts").json["users"] == []


@pytest.mark.parametrize("body, status", [({"platformNo": "nobody"}, 404), ({"platformNo": 7}, 404),
                                          ({"colour": "red"}, 400), ([], 400)])
def test_a_bad_reset_is_refused_and_removes_nothing(bank, body, status):
    bank.open_account(1)
    resp = bank.client.post("/sim/reset", json=body)
    assert resp.status_code == status and resp.json["error"]["message"]
    assert len(bank.client.get("/sim/accounts").json["users"]) == 1


# -- the clock ---------------------------------------------------------------------------------------------
def test_the_clock_can_be_set_forward_but_not_back(bank):
    resp = bank.client.post("/sim/clock", json={"set": "2026-02-01T10:00:00+08:00"})
    assert resp.status_code == 200 and resp.json["now"].startswith("2026-02-01T10:00:00")
    back = bank.client.post("/sim/clock", json={"set": "2026-01-01T00:00:00+08:00"})
    assert back.status_code == 400 and "back" in back.json["error"]["message"]


def test_a_frozen_clock_unfreezes_from_where_it_stands_and_freezes_again(bank):
    assert bank.client.get("/sim/clock").json["frozen"] is True
    unfrozen = bank.client.post("/sim/clock/unfreeze").json
    assert unfrozen["frozen"] is False and unfrozen["now"].startswith("2026-01-05T09:00")
    assert bank.client.get("/sim/clock").json["frozen"] is False
    assert bank.client.get("/sim/clock").json["now"] >= unfrozen["now"]
    frozen = bank.client.post("/sim/clock/freeze").json
    assert frozen["frozen"] is True
    assert bank.client.get("/sim/clock").json["now"] == frozen["now"]


# -- fault rules -------------------------------------------------------------------------------------------
def test_one_fault_rule_can_be_removed_and_the_others_stay(bank):
    first = bank.client.post("/sim/faults", json={"action": "reject", "service": "QUERY_USER"}).json
    second = bank.client.post("/sim/faults", json={"action": "delay", "seconds": 1, "service": "CONFIRM_LOAN"}).json
    resp = bank.client.delete(f"/sim/faults/{first['id']}")
    assert resp.status_code == 200 and resp.json["removed"] is True
    assert [r["id"] for r in bank.client.get("/sim/faults").json["rules"]] == [second["id"]]
    assert bank.call("QUERY_USER", {"requestNo": "Q1", "userNo": "x"})["respCode"] == codes.USER_NOT_FOUND
    missing = bank.client.delete(f"/sim/faults/{first['id']}")
    assert missing.status_code == 404 and missing.json["error"]["code"] == codes.NOT_FOUND


@pytest.mark.parametrize("rule, mentions", [
    ({"action": "reject", "service": "CONFIRM_LAON"}, "did you mean CONFIRM_LOAN?"),
    ({"action": "reject", "bizType": "TENDERR"}, "did you mean TENDER?"),
    ({"action": "lose_respons"}, "did you mean lose_response?"),
    ({"action": "reject", "servise": "CONFIRM_LOAN"}, "did you mean service?"),
])
def test_a_fault_rule_that_could_never_fire_is_refused_with_a_did_you_mean(bank, rule, mentions):
    resp = bank.client.post("/sim/faults", json=rule)
    assert resp.status_code == 400 and mentions in resp.json["error"]["message"]
    assert bank.client.get("/sim/faults").json["rules"] == []


def test_a_fault_rule_naming_a_platform_fires_only_for_that_platform(two):
    ours, acme = two
    ours.client.post("/sim/faults", json={"action": "reject", "code": "00001", "platformNo": ACME, "times": -1})
    assert ours.call("QUERY_USER", {"requestNo": "Q1", "userNo": "x"})["respCode"] == codes.USER_NOT_FOUND
    assert acme.call("QUERY_USER", {"requestNo": "Q1", "userNo": "x"})["respCode"] == "00001"


def test_an_unknown_notification_is_a_not_found_and_a_key_error_bug_is_a_500(bank, monkeypatch):
    resp = bank.client.post("/sim/notifications/999/resend")
    assert resp.status_code == 404 and resp.json["error"]["code"] == codes.NOT_FOUND
    from bank_depository.services import inspect

    def bug(*a, **k):
        return {}["missing"]
    monkeypatch.setattr(inspect, "projects", bug)
    assert bank.client.get("/sim/projects").status_code == 500


def test_a_notification_removed_by_a_reset_while_in_flight_is_forgotten_quietly(bank):
    bank.open_account(1)
    dispatcher = bank.app.extensions["wanxin.dispatcher"]
    row = bank.ctx.conn().execute("SELECT * FROM notifications").fetchone()
    assert bank.client.post("/sim/reset", json={}).status_code == 200
    dispatcher._finish(row, 200, "", "OK", ok=True)  # the delivery that was under way when the reset came
    assert bank.ctx.conn().execute("SELECT COUNT(*) FROM notification_attempts").fetchone()[0] == 0
