"""Splitting receivables when a claim is sold: exact to the fen."""
from hypothesis import given, settings, strategies as st

import pytest

from p2p_platform.domain.transfer import Row, buyer_parts

rows_strategy = st.lists(st.builds(Row, st.integers(0, 10**9), st.integers(0, 10**7), st.integers(0, 10**6)),
                         min_size=1, max_size=36).filter(lambda rows: sum(r.principal for r in rows) > 0)


def test_selling_everything_moves_whole_rows():
    rows = [Row(0, 3500, 1500), Row(600000, 3500, 1500)]
    assert buyer_parts(rows, 600000) == rows


def test_a_quarter_of_an_interest_first_claim_splits_each_row_in_proportion():
    rows = [Row(0, 2333, 1000), Row(400000, 2333, 1000)]
    assert buyer_parts(rows, 100000) == [Row(0, 583, 250), Row(100000, 583, 250)]


@pytest.mark.parametrize("sold", [0, -1, 400001])
def test_selling_nothing_or_more_than_held_is_refused(sold):
    with pytest.raises(ValueError):
        buyer_parts([Row(400000, 1, 1)], sold)


@settings(max_examples=300, deadline=None)
@given(rows=rows_strategy, fraction=st.fractions(0, 1))
def test_the_buyer_gets_exactly_the_principal_sold_and_no_row_goes_negative(rows, fraction):
    held = sum(r.principal for r in rows)
    sold = max(1, int(held * fraction))
    parts = buyer_parts(rows, sold)
    assert sum(p.principal for p in parts) == sold
    for row, part in zip(rows, parts):
        assert 0 <= part.principal <= row.principal
        assert 0 <= part.interest <= row.interest
        assert 0 <= part.commission <= row.commission
