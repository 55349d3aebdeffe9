from datetime import date, timedelta
from decimal import Decimal

import pytest
from factories import employee_record
from time_entry import logic
from time_entry.logic import PeriodEntries, TimeEntry, compute

from payroll_shared.calc.errors import HoursError
from payroll_shared.contracts import EmployeeRecord
from payroll_shared.steps import StepRuleError

START = date(2026, 11, 16)  # a Monday
END = START + timedelta(days=13)


def period(*days_hours):
    entries = [
        TimeEntry(f"t{i}", START + timedelta(days=day), Decimal(hours))
        for i, (day, hours) in enumerate(days_hours)
    ]
    return PeriodEntries(START, END, {"e1": entries})


RECORD = EmployeeRecord.model_validate(employee_record())


def test_flsa_overtime_is_per_workweek():
    # week 1: 5 x 9 = 45 (5 overtime); week 2: 5 x 7 = 35 (no overtime, not averaged)
    context = period(*[(d, "9") for d in range(5)], *[(d, "7") for d in range(7, 12)])
    hours = compute(RECORD, {}, context)
    assert (hours.regular_hours, hours.overtime_hours) == (Decimal(75), Decimal(5))


@pytest.mark.parametrize(
    ("entry", "field", "text"),
    [
        ((0, "-1"), "hours", "negative hours"),
        ((20, "8"), "work_date", "outside the period"),
        ((0, "25"), "hours", "more than 24 hours"),
    ],
)
def test_invalid_entries_name_the_entry(entry, field, text):
    with pytest.raises(StepRuleError) as info:
        compute(RECORD, {}, period(entry))
    assert info.value.field == field
    assert text in info.value.message and "t0" in info.value.message


def test_salaried_exempt_needs_no_hours():
    record = EmployeeRecord.model_validate(
        employee_record(pay_type="salary", annual_salary="90000.00", flsa_exempt=True)
    )
    assert compute(record, {}, PeriodEntries(START, END)).regular_hours == Decimal(0)


def test_hourly_without_entries_is_an_error():
    with pytest.raises(StepRuleError, match="no time entries"):
        compute(RECORD, {}, PeriodEntries(START, END))


def weeks_of(hours):
    return [(w.regular_hours, w.overtime_hours, w.double_time_hours) for w in hours.weeks]


def test_flsa_result_carries_each_workweek():
    context = period(*[(d, "9") for d in range(5)], *[(d, "7") for d in range(7, 12)])
    hours = compute(RECORD, {}, context)
    assert hours.double_time_hours == Decimal(0)
    assert weeks_of(hours) == [(40, 5, 0), (35, 0, 0)]


CALIFORNIA = EmployeeRecord.model_validate(employee_record(overtime_rule="california"))


def test_california_daily_overtime_and_double_time():
    # Mon 10 = 8 + 2 OT; Tue 13 = 8 + 4 OT + 1 DT; Wed-Fri 8 each = 24 regular.
    # Weekly: 40 regular hours (not over 40), so no weekly overtime. FLSA would give
    # 47 = 40 + 7 OT and no double time.
    context = period((0, "10"), (1, "13"), (2, "8"), (3, "8"), (4, "8"))
    hours = compute(CALIFORNIA, {}, context)
    assert (hours.regular_hours, hours.overtime_hours, hours.double_time_hours) == (40, 6, 1)
    assert weeks_of(hours) == [(40, 6, 1), (0, 0, 0)]
    flsa = compute(RECORD, {}, context)
    assert (flsa.regular_hours, flsa.overtime_hours, flsa.double_time_hours) == (40, 7, 0)


def test_california_seventh_consecutive_day():
    # Mon-Sat 7 each = 42: the regular hours past 40 become overtime (40 + 2 OT).
    # Sunday, the 7th consecutive workday: first 8 hours overtime, the rest double time.
    context = period(*[(d, "7") for d in range(6)], (6, "10"))
    hours = compute(CALIFORNIA, {}, context)
    assert (hours.regular_hours, hours.overtime_hours, hours.double_time_hours) == (40, 10, 2)
    # Six days only: no 7th-day rule.
    six = compute(CALIFORNIA, {}, period(*[(d, "7") for d in range(7, 13)]))
    assert (six.regular_hours, six.overtime_hours, six.double_time_hours) == (40, 2, 0)


def test_a_workweek_partly_outside_the_period_counts_its_in_period_days_only():
    # The period starts on a Saturday: its first workweek is Mon 11/09..Sun 11/15, of
    # which only Sat and Sun are in the period.
    start = date(2026, 11, 14)
    end = start + timedelta(days=13)  # Friday 11/27: the last workweek ends 11/29
    entries = [
        TimeEntry("sat", start, Decimal(12)),
        TimeEntry("sun", start + timedelta(days=1), Decimal(12)),
        *[TimeEntry(f"w{d}", start + timedelta(days=d), Decimal(9)) for d in range(2, 7)],
    ]
    context = PeriodEntries(start, end, {"e1": entries})
    hours = compute(RECORD, {}, context)
    assert weeks_of(hours) == [(24, 0, 0), (40, 5, 0), (0, 0, 0)]
    assert (hours.regular_hours, hours.overtime_hours) == (64, 5)


def test_a_library_hours_error_names_the_field(monkeypatch):
    def broken(weeks, rule):
        raise HoursError("negative hours (-1) in week 1 day 2", 1, 2)

    monkeypatch.setattr(logic, "classify_hours", broken)
    with pytest.raises(StepRuleError) as info:
        compute(RECORD, {}, period((0, "8")))
    assert info.value.field == "daily_hours.1.2"
    assert info.value.code == "InvalidTimeEntry"
    assert str(START + timedelta(days=9)) in info.value.message
