"""Money at the edges: yuan text in, integer fen inside, yuan text out; never a float."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bank_depository.protocol import envelope
from bank_depository.protocol.money import MAX_FEN, AmountError, format_fen, parse_yuan


@pytest.mark.parametrize("value, fen", [
    ("100", 10000), ("100.5", 10050), ("100.50", 10050), ("0.01", 1), (" 7.20 ", 720), ("00012.5", 1250),
    (100, 10000), (Decimal("0.1"), 10), (Decimal("1E+2"), 10000), (0.1, 10), (12.34, 1234),
    ("100000000000.00", MAX_FEN),
])
def test_yuan_amounts_with_at_most_two_decimals_parse_to_exact_fen(value, fen):
    assert parse_yuan(value) == fen


def test_json_numbers_from_the_wire_parse_exactly_without_floats():
    payload = envelope.loads('{"a": 0.1, "b": 19.99, "c": 3}')
    assert [parse_yuan(payload[k]) for k in "abc"] == [10, 1999, 300]


@pytest.mark.parametrize("value", [
    "1.001", Decimal("0.001"), Decimal("0.010"), 0.001, 0.1 + 0.2,          # more than 2 decimals
    "-1", -1, Decimal("-0.01"), "-0.00",                                     # negative
    "0", 0, "0.00", Decimal("-0"),                                           # zero
    "NaN", Decimal("NaN"), Decimal("sNaN"), float("nan"),                    # not a number
    "Infinity", Decimal("Infinity"), float("inf"), float("-inf"),            # infinite
    True, False, None, [], {}, "", " ", "abc", "1e5", "+1", "1,000", "1_000", "¥1", "１００",  # not amounts
    "100000000000.01", MAX_FEN, 10 ** 30, 1e20, Decimal("1E+999999"), "9" * 5000,  # huge
])
def test_anything_that_is_not_exact_positive_bounded_money_is_an_amount_error(value):
    with pytest.raises(AmountError):
        parse_yuan(value)


def test_an_amount_error_names_its_field():
    with pytest.raises(AmountError) as caught:
        parse_yuan("1.234", "details[0].amount")
    assert caught.value.field == "details[0].amount"
    assert "details[0].amount" in str(caught.value)


def test_zero_is_accepted_only_when_allowed():
    assert parse_yuan("0", allow_zero=True) == 0
    assert parse_yuan(0, allow_zero=True) == 0
    with pytest.raises(AmountError):
        parse_yuan("-0.01", allow_zero=True)


def test_a_huge_json_exponent_is_refused_not_crashing():
    value = json.loads('{"amount": 1e999999}', parse_float=Decimal)["amount"]
    with pytest.raises(AmountError):
        parse_yuan(value)


@pytest.mark.parametrize("fen, text", [
    (0, "0.00"), (1, "0.01"), (10, "0.10"), (10050, "100.50"), (MAX_FEN, "100000000000.00"), (-1234, "-12.34"),
])
def test_fen_format_as_yuan_with_exactly_two_decimals(fen, text):
    assert format_fen(fen) == text


@pytest.mark.parametrize("fen", [1, 99, 100, 12345, 987654321, MAX_FEN])
def test_formatting_then_parsing_gives_back_the_same_fen(fen):
    assert parse_yuan(format_fen(fen)) == fen
