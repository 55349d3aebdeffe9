from datetime import date, timedelta
from decimal import Decimal

import pytest
from factories import employee_record
from time_entry.logic import PeriodEntries, TimeEntry, compute

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
