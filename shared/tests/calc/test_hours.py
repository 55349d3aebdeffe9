"""Overtime classification: FLSA weekly and California daily/weekly/7th-day rules."""

from decimal import Decimal

import pytest

from payroll_shared.calc import HoursError
from payroll_shared.calc.hours import classify_hours
from payroll_shared.contracts.employee import OvertimeRule

FLSA, CA = OvertimeRule.FLSA, OvertimeRule.CALIFORNIA


def week(*days):
    return [Decimal(str(d)) for d in days]


def split(weeks, rule):
    hours = classify_hours(weeks, rule)
    return (hours.regular, hours.overtime, hours.double_time)


def test_flsa_over_40_in_the_workweek():
    # 10+10+10+10+5 = 45 -> 40 regular, 5 overtime
    assert split([week(10, 10, 10, 10, 5, 0, 0)], FLSA) == (40, 5, 0)


def test_flsa_weeks_are_separate():
    # 45 then 35: 5 overtime in week 1; week 2's short hours do not offset it
    assert split([week(9, 9, 9, 9, 9, 0, 0), week(7, 7, 7, 7, 7, 0, 0)], FLSA) == (75, 5, 0)


def test_flsa_daily_overtime_does_not_exist():
    # 13+8+8+8 = 37 < 40: no overtime under FLSA
    assert split([week(13, 8, 8, 8, 0, 0, 0)], FLSA) == (37, 0, 0)


def test_fractional_hours():
    assert split([week("8.25", 8, 8, 8, "8.5", 0, 0)], FLSA) == (40, Decimal("0.75"), 0)


def test_california_daily_over_8():
    # 5 days x 10: 8 regular + 2 overtime each -> 40 / 10 / 0
    assert split([week(10, 10, 10, 10, 10, 0, 0)], CA) == (40, 10, 0)


def test_california_daily_over_12_is_double_time():
    # 14 -> 8 regular, 4 overtime (8-12), 2 double; then 3 x 8 regular -> 32 / 4 / 2
    assert split([week(14, 8, 8, 8, 0, 0, 0)], CA) == (32, 4, 2)


def test_california_weekly_40_counts_only_regular_hours():
    # 10 x 5 = 40 regular + 10 daily overtime; day 6 (5 h) is past 40 regular -> overtime:
    # 40 / 15 / 0 (55 hours, none counted twice)
    assert split([week(10, 10, 10, 10, 10, 5, 0)], CA) == (40, 15, 0)


def test_california_six_days_of_8():
    # 6 x 8 = 48: the 6th day is over 40 regular -> 40 / 8 / 0 (not a 7th day)
    assert split([week(8, 8, 8, 8, 8, 8, 0)], CA) == (40, 8, 0)


def test_california_seventh_consecutive_day():
    # Days 1-5: 40 regular; day 6: 8 over the weekly 40 -> overtime;
    # day 7 (7th consecutive): first 8 overtime, the 2 beyond double -> 40 / 16 / 2
    assert split([week(8, 8, 8, 8, 8, 8, 10)], CA) == (40, 16, 2)


def test_california_seventh_day_short_week():
    # 7 x 4 = 28: 24 regular on days 1-6; all 4 hours of the 7th day are overtime
    assert split([week(4, 4, 4, 4, 4, 4, 4)], CA) == (24, 4, 0)


def test_california_seventh_day_needs_all_seven_days():
    # Day 1 off: Sunday's 10 hours are an ordinary day -> 8 regular + 2 overtime;
    # regular 5 x 8 + 8 = 48 > 40 -> the last 8 regular become overtime: 40 / 10 / 0
    assert split([week(0, 8, 8, 8, 8, 8, 10)], CA) == (40, 10, 0)


def test_california_same_as_flsa_for_a_plain_week():
    assert split([week(8, 8, 8, 8, 8, 0, 0)], CA) == split([week(8, 8, 8, 8, 8, 0, 0)], FLSA)


def test_per_week_split_is_kept_for_the_regular_rate():
    hours = classify_hours([week(9, 9, 9, 9, 9, 0, 0), week(8, 8, 8, 8, 8, 0, 0)], FLSA)
    assert [w.overtime for w in hours.weeks] == [5, 0]
    assert hours.worked == 85


@pytest.mark.parametrize(
    ("weeks", "where"),
    [
        ([week(8, 8, 8, 8, 8, 0, 0), week(8, 8, 8, -1, 8, 0, 0)], (1, 3)),
        ([week(8, 8, "24.5", 8, 8, 0, 0)], (0, 2)),
    ],
)
def test_impossible_hours_name_week_and_day(weeks, where):
    with pytest.raises(HoursError) as caught:
        classify_hours(weeks, FLSA)
    assert (caught.value.week, caught.value.day) == where
    assert caught.value.field == f"daily_hours.{where[0]}.{where[1]}"


def test_a_week_must_have_seven_days():
    with pytest.raises(HoursError) as caught:
        classify_hours([week(8, 8, 8, 8, 8, 0)], FLSA)
    assert caught.value.week == 0
    assert caught.value.day is None


def test_exactly_24_hours_is_allowed():
    # CA: 24 -> 8 regular, 4 overtime, 12 double
    assert split([week(24, 0, 0, 0, 0, 0, 0)], CA) == (8, 4, 12)
