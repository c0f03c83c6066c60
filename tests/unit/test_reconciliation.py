"""The pure matching of any platform's records against the bank's check file."""
from __future__ import annotations

import pytest

from bank_depository.domain.reconciliation import Line, RecordsError, match, read_checkfile, read_records, report

CHECKFILE = (
    "fileDate,platformNo,count,totalAmount,totalCommission\n"
    "2026-01-05,acme,2,1100.00,10.00\n"
    "requestNo,serviceName,bizType,userNo,counterparty,amount,commission,status,finishedAt\n"
    "R1,RECHARGE,,U1,,1000.00,0.00,SUCCESS,2026-01-05T09:00:00+08:00\n"
    "L1,CONFIRM_LOAN,LOAN,U2,P1,100.00,10.00,SUCCESS,2026-01-05T10:00:00+08:00\n"
    "#SIGNATURE,2026-01-05,0,300,SHA256withRSA,xyz\n"
)


def line(no: str, amount: int = 100000, status: str = "SUCCESS", service: str = "RECHARGE", commission: int = 0):
    return Line(no, service, "", "U1", amount, commission, status)


def test_a_check_file_is_read_with_its_totals_and_without_its_trailer():
    totals, lines = read_checkfile(CHECKFILE)
    assert totals["platformNo"] == "acme" and [x.requestNo for x in lines] == ["R1", "L1"]
    assert lines[1].amount == 10000 and lines[1].commission == 1000 and lines[1].status == "SUCCESS"


def test_matching_records_give_zero_breaks():
    _, bank = read_checkfile(CHECKFILE)
    records = read_records("requestNo,serviceName,amount,commission,status,extra\n"
                           "R1,RECHARGE,1000.00,0,SUCCESS,ignored\nL1,CONFIRM_LOAN,100,10.00,SUCCESS,x\n")
    assert match(bank, records) == []
    assert report("2026-01-05", "acme", bank, records)["clean"] is True


def test_every_kind_of_break_names_the_request_and_both_sides():
    bank = [line("A"), line("B", 200), line("C"), line("D"), line("D")]
    platform = [line("A", 101), line("B", 200, "FAILURE"), line("E"), line("F", status="PROCESSING"),
                line("D"), line("G", status="FAILURE")]
    kinds = [(b.kind, b.requestNo) for b in match(bank, platform)]
    assert kinds == [("amount_mismatch", "A"), ("status_mismatch", "B"), ("missing_at_platform", "C"),
                     ("duplicate", "D"), ("missing_at_bank", "E"), ("status_mismatch", "F")]
    amount = match(bank, platform)[0]
    assert amount.bank["amount"] == "1000.00" and amount.platform["amount"] == "1.01"


def test_a_request_listed_twice_by_the_platform_is_a_duplicate():
    breaks = match([line("A")], [line("A"), line("A")])
    assert [(b.kind, b.platform is not None) for b in breaks] == [("duplicate", True)]


def test_records_of_services_that_move_no_money_are_skipped():
    assert match([], [line("P", service="CREATE_PROJECT")]) == []


def test_a_json_list_of_objects_is_read_with_case_insensitive_keys():
    records = read_records('[{"RequestNo": "R1", "serviceName": "recharge", "amount": 1000, "status": "success"}]')
    assert records == [Line("R1", "RECHARGE", "", "", 100000, 0, "SUCCESS")]


@pytest.mark.parametrize("text, message", [
    ("requestNo,amount,status\nR1,1.00,SUCCESS\n", "records row 1 (header): no column serviceName"),
    ("requestNo,serviceName,amount,status\nR1,RECHARGE,1.005,SUCCESS\n", "records row 2, column amount"),
    ("requestNo,serviceName,amount,status\nR1,RECHARGE,1.00,SUCCESS\nR2,RECHARGE,1.00,DONE\n",
     "records row 3, column status: 'DONE' is not one of SUCCESS, FAILURE, PROCESSING"),
    ("requestNo,serviceName,amount,status\n,RECHARGE,1.00,SUCCESS\n", "records row 2, column requestNo: missing"),
    ('[{"requestNo": "R1"}]', "records item 0, column serviceName: missing"),
    ('{"requestNo": "R1"}', "JSON must be a list"), ("[1,", "not valid JSON"), ("", "empty"),
    ('[{"requestNo": "R1", "serviceName": "RECHARGE", "amount": [], "status": "SUCCESS"}]', "column amount"),
])
def test_a_bad_export_is_one_clear_error_naming_the_row_and_column(text, message):
    with pytest.raises(RecordsError) as exc:
        read_records(text)
    assert message in str(exc.value) and "\n" not in str(exc.value)
