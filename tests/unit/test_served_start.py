"""What makes a served run reproduce, without servers: ``start:`` parsing, the next date with the
scenario's calendar, which config keys differ from the served platform's."""
from __future__ import annotations

import datetime as dt

import pytest
import yaml

from scenarios import schema, served, spec

CST = dt.timezone(dt.timedelta(hours=8))
DEFAULT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=CST)


def parse(text: str) -> spec.Scenario:
    return spec.parse(yaml.safe_load(text), "s.yaml")


BASE = "name: s\nactors: {ivy: {role: investor}}\nsteps:\n  - open_account: ivy\n"


@pytest.mark.parametrize("written, iso", [
    ("2026-03-01", "2026-03-01T09:00:00+08:00"),                    # a date starts at 09:00 China time
    ("2026-03-01T10:30:00", "2026-03-01T10:30:00+08:00"),           # a naive date-time is China time
    ("2026-03-01T02:00:00Z", "2026-03-01T10:00:00+08:00"),
    ("'2026-03-01'", "2026-03-01T09:00:00+08:00"),                  # quoted text too
])
def test_start_is_a_date_or_a_date_time_in_china_time(written, iso):
    assert parse(f"start: {written}\n" + BASE).start == iso


def test_without_start_the_scenario_has_none():
    assert parse(BASE).start is None


@pytest.mark.parametrize("written, says", [
    ("tomorrow", "start must be a date (2026-01-05) or a date-time"),
    ("'2026-02-30'", "start must be a date"),
    ("1999-12-31", "outside the clock's range"),
    ("5", "start must be a date"),
])
def test_a_bad_start_is_reported_with_the_other_problems(written, says):
    with pytest.raises(spec.ScenarioError) as err:
        parse(f"start: {written}\nseed: x\n" + BASE)
    assert any(says in p for p in err.value.problems) and any("seed must be an integer" in p
                                                               for p in err.value.problems)


def test_a_date_the_calendar_lacks_is_a_one_line_error_not_a_traceback(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("start: 2026-02-30\n" + BASE, encoding="utf-8")
    with pytest.raises(spec.ScenarioError, match="not valid YAML: day is out of range"):
        spec.load(path)


def test_start_is_in_the_schema():
    assert "start" in schema.schema()["properties"]
    assert set(schema.schema()["properties"]) == spec.TOP_KEYS


def test_clocks_before_the_start_start_there():
    assert served.calendar_start(DEFAULT, DEFAULT - dt.timedelta(days=400), 365) == DEFAULT


def test_a_year_long_scenario_starts_on_the_next_fifth_of_january_of_a_year_without_a_leap_day_in_reach():
    after = dt.datetime(2027, 3, 1, tzinfo=CST)
    # 2028-01-05 + 365 days crosses 29 February 2028: not the same calendar
    assert served.calendar_start(DEFAULT, after, 365) == DEFAULT.replace(year=2029)


def test_a_short_scenario_starts_on_the_next_fifth_of_a_month_with_the_same_lengths():
    # 31 days from 5 January cross a 31-day month into a 28-day one: 5 October does not (31, 30)...
    after = dt.datetime(2026, 9, 20, tzinfo=CST)
    assert served.calendar_start(DEFAULT, after, 31) == dt.datetime(2027, 1, 5, 9, 0, tzinfo=CST)
    # ... while 10 days stay inside a 31-day month: the next 5th of one is 5 October
    assert served.calendar_start(DEFAULT, after, 10) == dt.datetime(2026, 10, 5, 9, 0, tzinfo=CST)


def test_there_is_no_start_past_the_end_of_the_clocks_range():
    assert served.calendar_start(DEFAULT, dt.datetime(2099, 3, 1, tzinfo=CST), 365) is None


def test_days_moved_counts_wrapped_steps_and_is_none_without_any_move():
    s = parse(BASE.replace("  - open_account: ivy\n", "  - advance_days: 3\n  - expect_error:\n"
                           "      step: {advance_days: 4}\n"))
    assert served.days_moved(s.steps) == 7
    assert served.days_moved(parse(BASE).steps) is None


def test_config_differences_name_key_served_and_scenario_values_and_ignore_spelling():
    shown = {"borrowerCommissionRate": "0.02", "investorCommissionRate": "0.030", "minTender": "100.00",
             "withdrawCommission": "0.00"}
    wanted = {"borrower_commission_rate": "0.02", "investor_commission_rate": "0.03", "min_tender": "100",
              "withdraw_commission": "1.00"}
    differences = served.config_differences(shown, wanted)
    assert differences == {"withdraw_commission": ("0.00", "1.00")}
    assert served.describe(differences) == "withdraw_commission: served 0.00, scenario 1.00"
    assert served.config_differences({}, wanted)["min_tender"] == ("?", "100")
