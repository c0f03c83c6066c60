import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2p_platform.domain.schedule import (
    METHODS,
    InvestorShare,
    Period,
    PlanPeriod,
    due_date,
    repayment_plan,
    round_half_up_fen,
    schedule,
    split_largest_remainder,
)

D = Decimal
fast = settings(max_examples=200, deadline=None)

rates = st.integers(0, 3600).map(lambda k: Decimal(k) / 10000)
methods = st.sampled_from(METHODS)
period_counts = st.integers(1, 36)


def exact_monthly_interest(remaining: int, annual_rate: Decimal) -> int:
    return round_half_up_fen(remaining * annual_rate / 12)


@st.composite
def rate_with_commissions(draw):
    total = draw(st.integers(0, 3600))
    borrower = draw(st.integers(0, total))
    investor = draw(st.integers(0, total - borrower))
    return D(total) / 10000, D(borrower) / 10000, D(investor) / 10000


# Worked examples: 1000.00 yuan at 12% a year (1% a month) over 3 months.


def test_round_half_up_fen_rounds_halves_away_from_zero_and_returns_an_int():
    assert round_half_up_fen(D("0.5")) == 1
    assert round_half_up_fen(D("2.5")) == 3
    assert round_half_up_fen(D("2.4999")) == 2
    assert round_half_up_fen(D("669.98")) == 670
    assert type(round_half_up_fen(D("1.0"))) is int


def test_equal_installment_worked_example_puts_the_remainder_in_the_last_period():
    # A = 1000 * 1.01^3 / (1.01^3 - 1) = 34002.21 -> 34002 a month.
    assert schedule(100000, D("0.12"), 3, "equal_installment") == [
        Period(1, 1, principal=33002, interest=1000),
        Period(2, 2, principal=33332, interest=670),
        Period(3, 3, principal=33666, interest=337),
    ]


def test_equal_principal_worked_example_gives_the_last_period_the_odd_fen():
    assert schedule(100000, D("0.12"), 3, "equal_principal") == [
        Period(1, 1, principal=33333, interest=1000),
        Period(2, 2, principal=33333, interest=667),
        Period(3, 3, principal=33334, interest=333),
    ]


def test_interest_first_worked_example_repays_all_principal_in_the_last_period():
    assert schedule(100000, D("0.12"), 3, "interest_first") == [
        Period(1, 1, principal=0, interest=1000),
        Period(2, 2, principal=0, interest=1000),
        Period(3, 3, principal=100000, interest=1000),
    ]


def test_bullet_worked_example_is_one_period_due_after_all_the_months():
    assert schedule(100000, D("0.12"), 3, "bullet") == [
        Period(1, 3, principal=100000, interest=3000),
    ]


def test_period_amount_is_principal_plus_interest():
    assert Period(2, 2, 33332, 670).amount == 34002


def test_half_fen_interest_rounds_up_even_when_the_monthly_rate_does_not_terminate():
    # 60 fen * 10% / 12 is exactly half a fen; 0.1 / 12 = 0.008333... is not exact.
    assert schedule(60, D("0.1"), 1, "equal_principal") == [Period(1, 1, 60, 1)]


def test_equal_installment_on_a_tiny_loan_stops_repaying_once_it_is_repaid():
    assert schedule(2, D("0.01"), 4, "equal_installment") == [
        Period(1, 1, 1, 0),
        Period(2, 2, 1, 0),
        Period(3, 3, 0, 0),
        Period(4, 4, 0, 0),
    ]


def test_equal_installment_at_zero_rate_repays_principal_evenly():
    assert schedule(100, D("0"), 3, "equal_installment") == [
        Period(1, 1, 33, 0),
        Period(2, 2, 33, 0),
        Period(3, 3, 34, 0),
    ]


def test_repayment_plan_worked_example_splits_each_period_to_the_fen():
    # Tenders 600.00 + 400.00 yuan at 12%; the borrower-side commission is 2%,
    # the investor-side 1%, so investors earn 9%: 3/4 of the gross interest.
    plan = repayment_plan([60000, 40000], D("0.12"), 3, "equal_installment", D("0.02"), D("0.01"))
    assert plan == [
        PlanPeriod(1, 1, 33002, 1000, platform_fee=167, investors=(
            InvestorShare(1, 1, principal=19801, interest=450, commission=50),
            InvestorShare(1, 1, principal=13201, interest=300, commission=33),
        )),
        PlanPeriod(2, 2, 33332, 670, platform_fee=111, investors=(
            InvestorShare(2, 2, principal=19999, interest=302, commission=34),
            InvestorShare(2, 2, principal=13333, interest=201, commission=22),
        )),
        PlanPeriod(3, 3, 33666, 337, platform_fee=56, investors=(
            InvestorShare(3, 3, principal=20200, interest=152, commission=17),
            InvestorShare(3, 3, principal=13466, interest=101, commission=11),
        )),
    ]
    assert [p.amount for p in plan] == [34002, 34002, 34003]


def test_a_tender_ahead_of_its_cumulative_share_takes_nothing_instead_of_giving_back():
    # Largest remainder gives tender 0 one fen of the first 8 but none of the
    # first 10 (the Alabama paradox); the plan must not hand that fen back.
    assert split_largest_remainder(8, [1, 13, 3]) == [1, 6, 1]
    assert split_largest_remainder(10, [1, 13, 3]) == [0, 8, 2]
    plan = repayment_plan([1, 13, 3], D("0.12"), 6, "equal_principal", D(0), D(0))
    assert [[s.principal for s in p.investors] for p in plan] == [
        [0, 2, 0], [0, 1, 1], [0, 2, 0], [1, 1, 0], [0, 1, 1], [0, 6, 1],
    ]


def test_investor_commission_never_takes_more_than_the_gross_share_when_both_halves_round_up():
    # Gross share 1 fen, half to the investor and half as commission: 0.5 + 0.5.
    [row] = repayment_plan([100], D("0.12"), 1, "equal_principal", D(0), D("0.06"))
    assert row.interest == 1
    assert row.investors == (InvestorShare(1, 1, principal=100, interest=1, commission=0),)
    assert row.platform_fee == 0


def test_split_largest_remainder_breaks_ties_by_index():
    assert split_largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert split_largest_remainder(2, [1, 1, 1]) == [1, 1, 0]
    assert split_largest_remainder(7, [0, 5, 0]) == [0, 7, 0]
    assert split_largest_remainder(0, [0, 0]) == [0, 0]


# Properties.


@fast
@given(st.integers(1, 10**10), rates, period_counts, methods)
def test_principals_sum_exactly_to_the_loan_for_every_method(principal, rate, periods, method):
    rows = schedule(principal, rate, periods, method)
    assert sum(r.principal for r in rows) == principal
    assert all(type(r.principal) is int and type(r.interest) is int for r in rows)
    assert all(r.principal >= 0 and r.interest >= 0 for r in rows)


@fast
@given(st.integers(1, 10**10), rates, period_counts, methods)
def test_periods_are_numbered_from_one_and_fall_due_month_by_month(principal, rate, periods, method):
    rows = schedule(principal, rate, periods, method)
    if method == "bullet":
        assert [(r.period, r.month_offset) for r in rows] == [(1, periods)]
    else:
        assert [(r.period, r.month_offset) for r in rows] == [(k, k) for k in range(1, periods + 1)]


@fast
@given(st.integers(1, 10**10), rates, period_counts, methods)
def test_interest_is_the_rounded_monthly_interest_on_the_principal_still_owed(
    principal, rate, periods, method
):
    rows = schedule(principal, rate, periods, method)
    if method == "bullet":
        assert rows[0].interest == round_half_up_fen(principal * rate * periods / 12)
        return
    remaining = principal
    for row in rows:
        assert row.interest == exact_monthly_interest(remaining, rate)
        remaining -= row.principal
    assert remaining == 0


@fast
@given(st.integers(1, 10**10), rates, period_counts)
def test_equal_principal_repays_the_same_principal_except_the_last_period(principal, rate, periods):
    rows = schedule(principal, rate, periods, "equal_principal")
    assert [r.principal for r in rows[:-1]] == [principal // periods] * (periods - 1)
    assert rows[-1].principal == principal - (periods - 1) * (principal // periods)


@fast
@given(st.integers(1, 10**10), rates, period_counts)
def test_interest_first_repays_nothing_until_the_last_period(principal, rate, periods):
    rows = schedule(principal, rate, periods, "interest_first")
    assert [r.principal for r in rows] == [0] * (periods - 1) + [principal]
    assert {r.interest for r in rows} == {exact_monthly_interest(principal, rate)}


@fast
@given(st.integers(10**4, 10**10), rates, period_counts)
def test_equal_installment_charges_one_amount_until_the_last_period(principal, rate, periods):
    rows = schedule(principal, rate, periods, "equal_installment")
    assert len({r.amount for r in rows[:-1]}) <= 1
    # Up to a fen of rounding a period, compounded at the monthly rate.
    r = rate / 12
    drift = (1 + r) * ((1 + r) ** periods - 1) / r if r else periods
    assert abs(rows[-1].amount - rows[0].amount) <= drift + 1


@fast
@given(
    st.lists(st.integers(1, 10**9), min_size=1, max_size=30),
    rate_with_commissions(),
    period_counts,
    methods,
)
def test_every_repayment_plan_period_balances_to_the_fen(tenders, rates_, periods, method):
    annual, borrower_rate, investor_commission_rate = rates_
    plan = repayment_plan(tenders, annual, periods, method, borrower_rate, investor_commission_rate)
    assert [(p.period, p.month_offset, p.principal, p.interest) for p in plan] == [
        (r.period, r.month_offset, r.principal, r.interest)
        for r in schedule(sum(tenders), annual, periods, method)
    ]
    for p in plan:
        assert len(p.investors) == len(tenders)
        assert all((s.period, s.month_offset) == (p.period, p.month_offset) for s in p.investors)
        assert all(min(s.principal, s.interest, s.commission) >= 0 for s in p.investors)
        assert p.platform_fee >= 0
        assert sum(s.principal for s in p.investors) == p.principal
        to_investors = sum(s.principal + s.interest for s in p.investors)
        to_platform = sum(s.commission for s in p.investors) + p.platform_fee
        assert p.amount == to_investors + to_platform


@fast
@given(
    st.lists(st.integers(1, 10**9), min_size=1, max_size=30),
    rate_with_commissions(),
    period_counts,
    methods,
)
def test_each_tender_is_repaid_exactly_its_amount_never_ahead_of_its_share(
    tenders, rates_, periods, method
):
    annual, borrower_rate, investor_commission_rate = rates_
    plan = repayment_plan(tenders, annual, periods, method, borrower_rate, investor_commission_rate)
    total = sum(tenders)
    repaid = [0] * len(tenders)
    borrower_repaid = 0
    for p in plan:
        borrower_repaid += p.principal
        repaid = [r + s.principal for r, s in zip(repaid, p.investors)]
        ceilings = [-(-borrower_repaid * t // total) for t in tenders]
        assert all(r <= c for r, c in zip(repaid, ceilings))
    assert repaid == tenders


@fast
@given(
    st.lists(st.integers(1, 10**9), min_size=1, max_size=30),
    rate_with_commissions(),
    period_counts,
    methods,
)
def test_investor_interest_and_commission_follow_their_rates_on_the_gross_share(
    tenders, rates_, periods, method
):
    annual, borrower_rate, commission_rate = rates_
    investor_rate = annual - borrower_rate - commission_rate
    plan = repayment_plan(tenders, annual, periods, method, borrower_rate, commission_rate)
    for p in plan:
        for share, gross in zip(p.investors, split_largest_remainder(p.interest, tenders)):
            if annual == 0:
                assert (share.interest, share.commission) == (0, 0)
                continue
            assert share.interest == round_half_up_fen(gross * investor_rate / annual)
            commission = round_half_up_fen(gross * commission_rate / annual)
            assert share.commission == min(commission, gross - share.interest)


@fast
@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_split_largest_remainder_is_exact_and_within_one_of_each_quota(total, weights):
    if sum(weights) == 0:
        weights = weights[:-1] + [1]
    parts = split_largest_remainder(total, weights)
    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights):
        assert total * weight // weight_sum <= part <= -(-total * weight // weight_sum)


# Refusals.


@pytest.mark.parametrize(
    "principal, rate, periods, method, message",
    [
        (0, D("0.12"), 3, "bullet", "principal must be positive"),
        (-100, D("0.12"), 3, "bullet", "principal must be positive"),
        (100.0, D("0.12"), 3, "bullet", "principal must be an integer"),
        (True, D("0.12"), 3, "bullet", "principal must be an integer"),
        ("100", D("0.12"), 3, "bullet", "principal must be an integer"),
        (100, D("0.12"), 0, "bullet", "periods must be an integer from 1 to 360"),
        (100, D("0.12"), 361, "bullet", "periods must be an integer from 1 to 360"),
        (100, D("0.12"), 3.0, "bullet", "periods must be an integer"),
        (100, D("-0.01"), 3, "bullet", "annual_rate must be a finite rate >= 0"),
        (100, D("1"), 3, "bullet", "annual_rate must be below 1"),
        (100, D("NaN"), 3, "bullet", "annual_rate must be a finite rate"),
        (100, D("Infinity"), 3, "bullet", "annual_rate must be a finite rate"),
        (100, 0.12, 3, "bullet", "annual_rate must be a decimal.Decimal, got float"),
        (100, D("0.12"), 3, "balloon", "allowed: equal_installment, equal_principal, interest_first, bullet"),
    ],
)
def test_schedule_refuses_bad_input_with_a_clear_message(principal, rate, periods, method, message):
    with pytest.raises(ValueError, match=message):
        schedule(principal, rate, periods, method)


@pytest.mark.parametrize(
    "tenders, borrower_rate, investor_rate, message",
    [
        ([], D("0.02"), D("0.01"), "tenders must not be empty"),
        ([100, 0], D("0.02"), D("0.01"), "tender must be positive"),
        ([100, 1.5], D("0.02"), D("0.01"), "tender must be an integer"),
        ([100], D("0.10"), D("0.03"), "exceed the annual rate"),
        ([100], D("-0.01"), D("0.01"), "borrower_commission_rate must be a finite rate >= 0"),
        ([100], D("0.02"), 0.01, "investor_commission_rate must be a decimal.Decimal"),
    ],
)
def test_repayment_plan_refuses_bad_input_with_a_clear_message(
    tenders, borrower_rate, investor_rate, message
):
    with pytest.raises(ValueError, match=message):
        repayment_plan(tenders, D("0.12"), 3, "equal_principal", borrower_rate, investor_rate)


@pytest.mark.parametrize(
    "total, weights, message",
    [
        (-1, [1], "total must be a non-negative integer"),
        (5, [], "weights must not be empty"),
        (5, [1, -1], "weights must be non-negative integers"),
        (5, [0, 0], "cannot split a positive total over zero weights"),
    ],
)
def test_split_largest_remainder_refuses_bad_input(total, weights, message):
    with pytest.raises(ValueError, match=message):
        split_largest_remainder(total, weights)


# Due dates.


@pytest.mark.parametrize(
    "loan_date, months, expected",
    [
        (datetime.date(2023, 1, 31), 1, datetime.date(2023, 2, 28)),
        (datetime.date(2024, 1, 31), 1, datetime.date(2024, 2, 29)),
        (datetime.date(2024, 1, 31), 2, datetime.date(2024, 3, 31)),
        (datetime.date(2024, 1, 31), 3, datetime.date(2024, 4, 30)),
        (datetime.date(2024, 2, 29), 12, datetime.date(2025, 2, 28)),
        (datetime.date(2024, 2, 29), 48, datetime.date(2028, 2, 29)),
        (datetime.date(1900, 1, 31), 1, datetime.date(1900, 2, 28)),
        (datetime.date(2000, 1, 31), 1, datetime.date(2000, 2, 29)),
        (datetime.date(2024, 12, 15), 1, datetime.date(2025, 1, 15)),
        (datetime.date(2024, 5, 10), 0, datetime.date(2024, 5, 10)),
        (datetime.date(2024, 3, 31), 360, datetime.date(2054, 3, 31)),
    ],
)
def test_due_date_adds_calendar_months_clamping_to_the_end_of_short_months(
    loan_date, months, expected
):
    assert due_date(loan_date, months) == expected


@fast
@given(st.dates(datetime.date(1900, 1, 1), datetime.date(2100, 12, 31)), st.integers(0, 360))
def test_due_date_keeps_the_day_unless_the_month_is_too_short(loan_date, months):
    due = due_date(loan_date, months)
    assert (due.year * 12 + due.month) - (loan_date.year * 12 + loan_date.month) == months
    assert due.day == loan_date.day or (due.day < loan_date.day and (due + datetime.timedelta(1)).day == 1)


def test_due_date_refuses_a_negative_month_offset():
    with pytest.raises(ValueError, match="month_offset must be a non-negative integer"):
        due_date(datetime.date(2024, 1, 1), -1)
