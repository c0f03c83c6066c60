"""Who a customer is: GB 11643 ID numbers, mobiles, masks and trade-password hashes."""
from __future__ import annotations

import pytest

from bank_depository.domain import identity

# GB 11643-1999 weights: 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; check characters "10X98765432"[sum % 11].


@pytest.mark.parametrize("id_number", ["11010519491231002X", "440524188001010014", "11010519491231002x"])
def test_well_formed_id_numbers_with_the_right_check_character_are_valid(id_number):
    assert identity.id_number_problem(id_number) is None


def test_the_check_character_follows_gb_11643():
    # 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2 = 167; 167 % 11 = 2 -> 'X'
    assert identity.id_check_char("11010519491231002") == "X"
    assert identity.id_check_char("44052418800101001") == "4"


@pytest.mark.parametrize("first17", ["11010119900101001", "31011519850615123", "51010720001231999"])
def test_a_generated_check_character_makes_a_valid_id_and_any_other_makes_it_invalid(first17):
    right = identity.id_check_char(first17)
    assert identity.id_number_problem(first17 + right) is None
    for wrong in "0123456789X":
        if wrong != right:
            assert "check character" in identity.id_number_problem(first17 + wrong)


@pytest.mark.parametrize("id_number, why", [
    ("", "17 digits"), ("1101051949123100", "17 digits"), ("1101051949123100211", "17 digits"),
    ("11010519491231002Y", "17 digits"), ("X10105194912310021", "17 digits"), ("110105 9491231002X", "17 digits"),
    ("110105194902300020", "birth date"), ("110105194913010020", "birth date"), ("110105000001010020", "birth date"),
    ("110105194912310021", "check character"),
])
def test_malformed_id_numbers_say_why(id_number, why):
    problem = identity.id_number_problem(id_number)
    assert problem is not None and why in problem


@pytest.mark.parametrize("mobile", ["13800138000", "19912345678", "15000000000", " 13800138000 "])
def test_mainland_mobiles_are_valid(mobile):
    assert identity.mobile_problem(mobile) is None


@pytest.mark.parametrize("mobile", ["", "1380013800", "138001380001", "12800138000", "23800138000",
                                    "+8613800138000", "1380013800a", None])
def test_other_mobiles_are_refused(mobile):
    assert identity.mobile_problem(mobile) is not None


def test_masks_show_only_what_a_page_may_show():
    assert identity.mask_mobile("13800138000") == "138****8000"
    assert identity.mask_card("6222020000001234") == "************1234"
    assert identity.mask_card("6222020000001234").count("*") == 12
    assert identity.mask_mobile("123") == "****"
    assert identity.mask_card("1234") == "1234"


def test_a_password_hash_is_salted_pbkdf2_and_never_contains_the_password():
    stored = identity.hash_password("123456", 1000)
    scheme, iterations, salt, digest = stored.split("$")
    assert (scheme, iterations) == ("pbkdf2_sha256", "1000")
    assert len(salt) == 32 and len(digest) == 64
    assert "123456" not in stored
    assert identity.hash_password("123456", 1000) != stored  # a new salt each time


def test_the_right_password_checks_and_a_wrong_one_does_not():
    stored = identity.hash_password("s3cret!", 1000)
    assert identity.check_password("s3cret!", stored)
    assert not identity.check_password("s3cret", stored)
    assert not identity.check_password("", stored)


def test_the_work_factor_is_read_from_the_stored_hash():
    assert identity.check_password("abcdef", identity.hash_password("abcdef", 2000))
    assert identity.DEFAULT_ITERATIONS >= 100_000


@pytest.mark.parametrize("stored", ["", "plain", "md5$1$salt$digest", "pbkdf2_sha256$1000$salt"])
def test_a_malformed_stored_hash_never_checks(stored):
    assert not identity.check_password("123456", stored)


@pytest.mark.parametrize("password, ok", [("12345", False), ("123456", True), ("x" * 32, True), ("x" * 33, False),
                                          (None, False), (123456, False)])
def test_trade_passwords_are_6_to_32_characters(password, ok):
    assert (identity.password_problem(password) is None) is ok
