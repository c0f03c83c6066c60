"""Java HashMap iteration order, as the original depository emits respData keys.

Expected values come from the reference note's §1.5 table and from running
``java.util.HashMap`` on JDK 17 with the same keys (put in alphabetical
order, ``new HashMap<>(16)``, read back with ``keySet()``).
"""
from __future__ import annotations

import itertools

import pytest

from bank_depository.protocol import java_hashmap as jm

#: Keys whose String.hashCode collide ("Aa" and "BB" hash alike): all land in one bucket.
COLLIDING = ["".join(p) for p in itertools.product(["Aa", "BB"], repeat=4)]


@pytest.mark.parametrize("key, java_hash", [
    ("status", -892481550), ("requestNo", 693933232), ("respCode", -341633571), ("respMsg", 1097367953),
    ("bizType", -97599763), ("signature", 1073584312), ("respData", -341616742),
    ("transactionStatus", -1743425424), ("projectStatus", -1281716117), ("", 0), ("金额", 1196268),
    ("😀x", 54959989),
])
def test_string_hash_is_javas_string_hashcode_including_utf16_surrogates(key, java_hash):
    assert jm.string_hash(key) == java_hash


def test_the_buckets_of_the_reference_table_are_the_ones_java_uses():
    assert {k: jm.bucket(k) for k in ("bizType", "signature", "transactionStatus", "respData", "respMsg",
                                      "requestNo", "respCode", "status", "projectStatus")} == {
        "bizType": 3, "signature": 5, "transactionStatus": 5, "respData": 9, "respMsg": 9, "requestNo": 12,
        "respCode": 14, "status": 15, "projectStatus": 1}


@pytest.mark.parametrize("keys, expected", [
    # CREATE_PROJECT / CONFIRM_LOAN / CONFIRM_REPAYMENT / MODIFY_PROJECT / generic errors
    (["requestNo", "respCode", "respMsg", "status"], ["respMsg", "requestNo", "respCode", "status"]),
    # USER_AUTO_PRE_TRANSACTION
    (["bizType", "requestNo", "respCode", "respMsg", "status"],
     ["bizType", "respMsg", "requestNo", "respCode", "status"]),
    # the outer envelope
    (["respData", "signature"], ["signature", "respData"]),
])
def test_the_reference_tables_orders_come_out_for_keys_put_in_alphabetically(keys, expected):
    assert jm.order(keys) == expected
    assert jm.fastjson_order(reversed(keys)) == expected


def test_keys_sharing_a_bucket_keep_their_insertion_order():
    assert jm.bucket("respData") == jm.bucket("respMsg") == 9
    assert jm.order(["respData", "respMsg"]) == ["respData", "respMsg"]
    assert jm.order(["respMsg", "respData"]) == ["respMsg", "respData"]
    assert jm.fastjson_order(["respMsg", "respData"]) == ["respData", "respMsg"]


def test_extra_fields_of_our_services_get_their_place_from_the_same_rule():
    assert jm.fastjson_order(["amount", "bizType", "projectNo", "userNo", "requestNo", "respCode", "respMsg",
                              "status"]) == ["amount", "bizType", "projectNo", "userNo", "respMsg", "requestNo",
                                             "respCode", "status"]
    assert jm.fastjson_order(["projectNo", "projectStatus", "requestNo", "respCode", "respMsg", "status"]) == [
        "projectStatus", "projectNo", "respMsg", "requestNo", "respCode", "status"]


def test_twelve_keys_fit_a_table_of_sixteen_and_the_thirteenth_doubles_it():
    twelve = ["bankCode", "bankName", "balance", "cardNumber", "freezeAmount", "mobile", "requestNo", "respCode",
              "respMsg", "role", "status", "userNo"]
    assert jm.final_capacity(sorted(twelve)) == 16
    assert jm.fastjson_order(twelve) == ["bankCode", "freezeAmount", "role", "balance", "userNo", "mobile",
                                         "respMsg", "bankName", "requestNo", "cardNumber", "respCode", "status"]
    thirteen = twelve + ["bizType"]
    assert jm.final_capacity(sorted(thirteen)) == 32
    assert jm.fastjson_order(thirteen) == ["bankCode", "bizType", "role", "userNo", "mobile", "bankName",
                                           "requestNo", "freezeAmount", "balance", "respMsg", "cardNumber",
                                           "respCode", "status"]


def test_a_ninth_key_in_one_bucket_doubles_a_small_table_as_treeifybin_does():
    assert len({jm.string_hash(k) for k in COLLIDING}) == 1
    assert jm.final_capacity(sorted(COLLIDING[:8])) == 16
    assert jm.final_capacity(sorted(COLLIDING[:9])) == 32
    assert jm.order(sorted(COLLIDING[:9])) == sorted(COLLIDING[:9])
    keys = sorted(COLLIDING[:10] + ["status"])
    assert jm.final_capacity(keys) == 64
    assert jm.order(keys) == sorted(COLLIDING[:10]) + ["status"]


def test_a_bucket_that_java_would_turn_into_a_tree_is_refused_not_guessed():
    with pytest.raises(ValueError, match="treeified"):
        jm.order(sorted(COLLIDING[:11]))


def test_non_ascii_keys_are_ordered_by_their_utf16_hash():
    assert jm.fastjson_order(["金额", "用户", "requestNo", "status"]) == ["用户", "requestNo", "金额", "status"]


def test_reorder_applies_the_order_to_nested_objects_and_lists_and_leaves_values_alone():
    data = {"status": 1, "respCode": "00000", "result": {"status": 2, "requestNo": "R", "respMsg": "成功"},
            "details": [{"status": 1, "bizType": "TENDER"}], "requestNo": "Q", "respMsg": "成功"}
    out = jm.reorder(data)
    assert list(out) == jm.fastjson_order(data)
    assert list(out["result"]) == ["respMsg", "requestNo", "status"]
    assert list(out["details"][0]) == ["bizType", "status"]
    assert out == data
