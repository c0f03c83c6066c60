"""The transaction center's tender rules and the investor rate (pure, no I/O)."""
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2p_platform.domain.rules import investor_rate, tender_problem

D = Decimal
MIN = 10000  # 100.00 yuan, the original's mini.investment.amount


def code(amount: int, remaining: int, minimum: int = MIN):
    problem = tender_problem(amount, remaining, minimum)
    return problem and problem[0]


def test_a_tender_of_at_least_the_minimum_that_leaves_at_least_the_minimum_is_accepted():
    assert tender_problem(200000, 600000, MIN) is None


def test_a_tender_of_exactly_the_minimum_is_accepted():
    assert tender_problem(MIN, 600000, MIN) is None


def test_a_tender_below_the_minimum_is_refused_like_e_150109():
    assert code(9999, 600000) == "TENDER_BELOW_MINIMUM"
    assert "100.00" in tender_problem(9999, 600000, MIN)[1]


def test_a_tender_of_one_fen_is_refused_as_below_the_minimum():
    assert code(1, 600000) == "TENDER_BELOW_MINIMUM"


def test_a_tender_beyond_what_remains_is_refused_like_e_150110():
    assert code(600001, 600000) == "TENDER_OVER_REMAINING"
    assert "6000.00" in tender_problem(600001, 600000, MIN)[1]


def test_a_tender_of_exactly_what_remains_is_accepted_and_fills_the_project():
    assert tender_problem(600000, 600000, MIN) is None


def test_a_tender_leaving_less_than_the_minimum_is_refused_like_e_150111():
    problem = tender_problem(595000, 600000, MIN)
    assert problem[0] == "TENDER_LEAVES_TOO_LITTLE"
    # The message says what the investor may tender instead.
    assert "6000.00" in problem[1] and "5900.00" in problem[1]


def test_a_tender_leaving_exactly_the_minimum_is_accepted():
    assert tender_problem(590000, 600000, MIN) is None


def test_a_tender_leaving_one_fen_is_refused():
    assert code(599999, 600000) == "TENDER_LEAVES_TOO_LITTLE"


def test_a_full_project_takes_no_tender_like_e_150114():
    assert code(MIN, 0) == "PROJECT_FULL"
    assert code(MIN, -1) == "PROJECT_FULL"


def test_a_remainder_below_the_minimum_may_still_be_tendered_whole():
    # Only possible when the project itself is smaller than the minimum.
    assert tender_problem(5000, 5000, MIN) is None
    assert code(4000, 5000) == "TENDER_BELOW_MINIMUM"


def test_a_zero_minimum_only_forbids_tendering_beyond_what_remains():
    assert tender_problem(1, 600000, 0) is None
    assert tender_problem(599999, 600000, 0) is None
    assert code(600001, 600000, 0) == "TENDER_OVER_REMAINING"


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(1, 10**8), remaining=st.integers(1, 10**8), minimum=st.integers(0, 10**6))
def test_an_accepted_tender_never_exceeds_the_remainder_and_leaves_zero_or_at_least_the_minimum(
        amount, remaining, minimum):
    if tender_problem(amount, remaining, minimum) is None:
        assert amount <= remaining
        assert amount >= minimum or amount == remaining
        assert remaining - amount == 0 or remaining - amount >= minimum


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(1, 10**8), remaining=st.integers(1, 10**8), minimum=st.integers(0, 10**6))
def test_a_refused_tender_breaks_exactly_the_rule_it_names(amount, remaining, minimum):
    problem = tender_problem(amount, remaining, minimum)
    if problem is None:
        return
    broken = {
        "TENDER_OVER_REMAINING": amount > remaining,
        "TENDER_BELOW_MINIMUM": amount < minimum and amount != remaining,
        "TENDER_LEAVES_TOO_LITTLE": 0 < remaining - amount < minimum,
    }
    assert broken[problem[0]]


@settings(max_examples=200, deadline=None)
@given(project=st.integers(MIN, 10**7), wishes=st.lists(st.integers(1, 10**7), min_size=1, max_size=30))
def test_investors_following_the_rules_can_always_fill_a_project_exactly(project, wishes):
    remaining = project
    for wish in wishes:
        if tender_problem(wish, remaining, MIN) is None:
            remaining -= wish
        assert remaining == 0 or remaining >= MIN
    if remaining:
        # Whatever is left can always be taken by one last tender.
        assert tender_problem(remaining, remaining, MIN) is None


def test_the_investor_rate_is_the_project_rate_minus_both_commissions():
    # The original's 0.15 - 0.02 - 0.03 = 0.10, exactly.
    assert investor_rate(D("0.15"), D("0.02"), D("0.03")) == D("0.10")


def test_without_commissions_investors_earn_the_project_rate():
    assert investor_rate(D("0.15"), D("0"), D("0")) == D("0.15")


def test_commissions_equal_to_the_project_rate_leave_investors_nothing():
    assert investor_rate(D("0.05"), D("0.02"), D("0.03")) == D("0")


def test_commissions_above_the_project_rate_are_refused():
    with pytest.raises(ValueError, match="exceed"):
        investor_rate(D("0.04"), D("0.02"), D("0.03"))


@given(rate=st.integers(0, 3600), borrower=st.integers(0, 3600), investor=st.integers(0, 3600))
def test_the_investor_rate_is_exact_decimal_arithmetic(rate, borrower, investor):
    r, b, i = D(rate) / 10000, D(borrower) / 10000, D(investor) / 10000
    if rate >= borrower + investor:
        assert investor_rate(r, b, i) + b + i == r
    else:
        with pytest.raises(ValueError):
            investor_rate(r, b, i)
