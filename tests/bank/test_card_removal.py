"""``DELETE /sim/bank-cards/<card>``: a counter registration undone (a scenario's failed setup), the ledger
sound after; a card bound to a depository account stays."""
from __future__ import annotations


def test_removing_an_unbound_card_takes_its_counter_entries_and_keeps_the_ledger_sound(bank):
    card = bank.card(1, balance="500.00")
    bank.client.post(f"/sim/bank-cards/{card['cardNumber']}/deposit", json={"amount": "20.00"})
    other = bank.card(2, balance="300.00")
    resp = bank.client.delete(f"/sim/bank-cards/{card['cardNumber']}")
    assert resp.status_code == 200, resp.json
    assert resp.json["removed"] == {"postings": 4, "entries": 2, "bank_cards": 1, "bank_customers": 1, "accounts": 1}
    listed = bank.client.get("/sim/accounts").json
    assert [c["cardNumber"] for c in listed["cards"]] == [other["cardNumber"]]
    funding = next(a for a in listed["platformAccounts"] if a["kind"] == "funding")
    assert funding["balance"] == "-300.00"  # only the other card's opening balance came from outside
    assert bank.problems() == []


def test_a_removed_card_can_be_registered_again(bank):
    card = bank.card(1, balance="500.00")
    assert bank.client.delete(f"/sim/bank-cards/{card['cardNumber']}").status_code == 200
    again = bank.client.post("/sim/bank-cards", json=card)
    assert again.status_code == 201 and again.json["balance"] == "500.00"
    assert bank.problems() == []


def test_a_card_bound_to_an_account_is_refused_and_nothing_changes(bank):
    bank.open_account(1, "I", balance="800.00", user_no="I1")
    card = bank.client.get("/sim/accounts/I1").json["cardNumber"]
    before = bank.snapshot()
    resp = bank.client.delete(f"/sim/bank-cards/{card}")
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "60104" and "I1" in resp.json["error"]["message"]
    assert bank.snapshot() == before


def test_removing_an_unknown_card_is_a_404(bank):
    resp = bank.client.delete("/sim/bank-cards/6222000000000000")
    assert resp.status_code == 404 and resp.json["error"]["code"] == "60102"


def test_removing_a_card_needs_the_operator_credential(bank):
    card = bank.card(1)
    assert bank.app.test_client().delete(f"/sim/bank-cards/{card['cardNumber']}").status_code == 401
