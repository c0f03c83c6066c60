"""Pure ledger rules: balanced entries, account names, project transitions, lenient payloads."""
from __future__ import annotations

from decimal import Decimal

import pytest

from bank_depository.domain import ledger, projects
from bank_depository.domain.errors import BankError, param_error
from bank_depository.domain.fields import Payload, first_difference
from bank_depository.protocol import codes


# -- entries ------------------------------------------------------------------
def test_a_transfer_debits_one_account_and_credits_the_other():
    entry = ledger.Entry("RECHARGE", "wanxinp2p", "R1").move("card:1", "user:wanxinp2p:U1:available", 500)
    assert entry.postings == [("card:1", -500), ("user:wanxinp2p:U1:available", 500)]
    entry.check()


def test_an_entry_of_several_transfers_nets_per_account_and_sums_to_zero():
    entry = (ledger.Entry("CONFIRM_LOAN")
             .move("frozen:I1", "available:B", 6000)
             .move("frozen:I2", "available:B", 4000)
             .move("available:B", "fee:p", 300))
    assert entry.net() == {"frozen:I1": -6000, "frozen:I2": -4000, "available:B": 9700, "fee:p": 300}
    assert sum(entry.net().values()) == 0
    entry.check()


def test_a_zero_transfer_adds_no_posting():
    assert ledger.Entry("X").move("a", "b", 0).postings == []


def test_a_negative_transfer_is_refused():
    with pytest.raises(ValueError):
        ledger.Entry("X").move("a", "b", -1)


def test_an_unbalanced_entry_fails_its_check():
    entry = ledger.Entry("X", request_no="R9")
    entry.postings.append(("a", 5))
    with pytest.raises(ValueError, match="does not balance"):
        entry.check()


def test_account_codes_name_the_platform_user_and_kind():
    assert ledger.available("wanxinp2p", "U1") == "user:wanxinp2p:U1:available"
    assert ledger.frozen("wanxinp2p", "U1") == "user:wanxinp2p:U1:frozen"
    assert ledger.card("6222") == "card:6222"
    assert ledger.fee("wanxinp2p") == "fee:wanxinp2p"
    assert ledger.FUNDING == "funding"


# -- project transitions ------------------------------------------------------
ALLOWED = [
    ("COLLECTING", "FULLY"), ("COLLECTING", "MISCARRY"), ("FULLY", "COLLECTING"), ("FULLY", "MISCARRY"),
    ("REPAYING", "FINISH"),
]


@pytest.mark.parametrize("current, target", ALLOWED)
def test_allowed_transitions_have_no_problem(current, target):
    assert projects.transition_problem(current, target, loaned=False, open_tenders=0) is None


@pytest.mark.parametrize("current", ["COLLECTING", "FULLY"])
def test_repaying_needs_a_loan_first(current):
    assert "CONFIRM_LOAN" in projects.transition_problem(current, "REPAYING", loaned=False, open_tenders=0)
    assert projects.transition_problem(current, "REPAYING", loaned=True, open_tenders=0) is None


def test_a_loaned_project_cannot_fail():
    assert projects.transition_problem("FULLY", "MISCARRY", loaned=True, open_tenders=0) is not None


def test_a_project_with_open_holds_cannot_finish():
    assert "open holds" in projects.transition_problem("REPAYING", "FINISH", loaned=True, open_tenders=1)


def test_a_loaned_project_cannot_collect_again():
    assert "loaned" in projects.transition_problem("FULLY", "COLLECTING", loaned=True, open_tenders=0)


@pytest.mark.parametrize("current", projects.STATUSES)
@pytest.mark.parametrize("target", projects.STATUSES)
def test_every_transition_outside_the_table_is_refused(current, target):
    problem = projects.transition_problem(current, target, loaned=True, open_tenders=0)
    if target in projects.TRANSITIONS[current] and target not in ("MISCARRY", "COLLECTING"):
        assert problem is None  # for a loaned project, only failing and collecting again are extra refusals
    else:
        assert problem is not None


def test_final_states_go_nowhere_and_unknown_states_are_named():
    assert projects.TRANSITIONS["FINISH"] == frozenset() and projects.TRANSITIONS["MISCARRY"] == frozenset()
    assert "one of" in projects.transition_problem("COLLECTING", "DRAFT", loaned=False, open_tenders=0)


def test_only_collecting_projects_accept_tenders():
    assert [s for s in projects.STATUSES if projects.accepts_tenders(s)] == ["COLLECTING"]


# -- lenient payloads ---------------------------------------------------------
def test_keys_match_case_insensitively_and_unknown_keys_are_ignored():
    p = Payload({"callbackURL": "http://x", "USERNO": "U1", "whatever": 1})
    assert p.text("callbackUrl") == "http://x"
    assert p.text("userNo") == "U1"


def test_numbers_arrive_as_numbers_or_numeric_strings():
    assert Payload({"amount": "12.50"}).amount("amount") == 1250
    assert Payload({"amount": Decimal("12.5")}).amount("amount") == 1250
    assert Payload({"amount": 12}).amount("amount") == 1200
    assert Payload({"projectPeriod": "12"}).integer("projectPeriod") == 12
    assert Payload({"projectPeriod": Decimal("12.0")}).integer("projectPeriod") == 12


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_or_empty_required_field_is_a_parameter_error_naming_it(value):
    with pytest.raises(BankError) as caught:
        Payload({"userNo": value}).text("userNo")
    assert caught.value.code == codes.PARAM_FAIL and "userNo" in caught.value.detail


def test_defaults_apply_only_to_optional_fields():
    p = Payload({})
    assert p.text("bankCode", default="ICBC") == "ICBC"
    assert p.amount("commission", allow_zero=True, default=0) == 0
    assert p.integer("projectPeriod", default=None) is None


@pytest.mark.parametrize("value", [{"a": 1}, [1], True])
def test_text_fields_refuse_structures(value):
    with pytest.raises(BankError):
        Payload({"userNo": value}).text("userNo")


def test_text_fields_are_bounded():
    with pytest.raises(BankError, match="longer than"):
        Payload({"requestNo": "x" * 65}).text("requestNo", max_len=64)


@pytest.mark.parametrize("value", ["1.5", Decimal("1.5"), "abc", True, [], "NaN", "sNaN", "Infinity", "-Infinity",
                                   Decimal("Infinity"), 10 ** 30, "1e400"])
def test_integers_refuse_fractions_words_non_finite_and_unstorable_values(value):
    with pytest.raises(BankError) as caught:
        Payload({"projectPeriod": value}).integer("projectPeriod")
    assert caught.value.code == codes.PARAM_FAIL


def test_amount_errors_become_parameter_errors_with_the_dotted_field_name():
    items = Payload({"details": [{"amount": "1"}, {"amount": "1.001"}]}).items("details")
    with pytest.raises(BankError) as caught:
        items[1].amount("amount")
    assert caught.value.code == codes.PARAM_FAIL and "details[1].amount" in caught.value.detail


@pytest.mark.parametrize("value", [[], {}, "x", [1]])
def test_lists_of_objects_are_required_where_a_list_is_expected(value):
    with pytest.raises(BankError):
        Payload({"details": value}).items("details")


def test_first_difference_names_the_dotted_field_that_differs():
    a = {"requestNo": "R", "amount": "1.00", "details": [{"preRequestNo": "P1", "amount": "1.00"}]}
    assert first_difference(a, dict(a)) is None
    assert first_difference(a, {**a, "amount": "2.00"}) == "amount"
    assert first_difference(a, {**a, "details": [{"preRequestNo": "P1", "amount": "1.01"}]}) == "details[0].amount"
    assert first_difference(a, {**a, "extra": 1}) == "extra"
    assert first_difference(a, {**a, "details": []}) == "details"
    assert first_difference({"amount": 100}, {"amount": "100"}) == "amount"
    assert first_difference({"n": {"x": 1}}, {"n": {"x": 2}}) == "n.x"


def test_a_bank_error_message_joins_the_code_text_and_the_detail():
    err = BankError(codes.BALANCE_NOT_ENOUGH, "available 1.00, needs 2.00")
    assert err.message == "账户余额不足: available 1.00, needs 2.00"
    assert BankError(codes.BALANCE_NOT_ENOUGH).message == "账户余额不足"
    assert param_error("x is required").code == codes.PARAM_FAIL


def test_every_code_in_the_table_is_unique_and_documented():
    assert len(codes.BY_CODE) == len(codes._TABLE)
    assert len(codes.BY_NAME) == len(codes._TABLE)
    table = codes.markdown_table()
    for code in codes.BY_CODE:
        assert f"`{code}`" in table
