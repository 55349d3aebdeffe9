from decimal import Decimal

import pytest
from factories import employee_record
from payroll_calc.logic import BONUS_CODE, OtherEarnings, PeriodEarnings, compute, other_earnings

from payroll_shared.contracts import EmployeeRecord
from payroll_shared.steps import StepRuleError


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        ("weekly", "1250.00"),  # 65,000 / 52
        ("biweekly", "2500.00"),  # 65,000 / 26
        ("semimonthly", "2708.33"),  # 65,000 / 24 = 2708.3333
        ("monthly", "5416.67"),  # 65,000 / 12 = 5416.6666 -> half-up
    ],
)
def test_salary_per_period(frequency, expected):
    record = EmployeeRecord.model_validate(
        employee_record(
            pay_type="salary", annual_salary="65000.00", hourly_rate=None,
            pay_frequency=frequency, flsa_exempt=True,
        )
    )  # fmt: skip
    assert compute(record, {}, None).gross_pay == Decimal(expected)


def test_hourly_with_overtime_at_time_and_a_half():
    record = EmployeeRecord.model_validate(employee_record(hourly_rate="20.00"))
    hours = {"time_entry": {"regular_hours": "80", "overtime_hours": "5", "entries": 10}}
    gross = compute(record, hours, None)
    # 80 x 20 = 1600; 5 x 20 x 1.5 = 150
    assert (gross.regular_pay, gross.overtime_pay, gross.gross_pay) == (
        Decimal("1600.00"),
        Decimal("150.00"),
        Decimal("1750.00"),
    )


def test_hourly_without_hours_result_is_an_error():
    record = EmployeeRecord.model_validate(employee_record())
    with pytest.raises(StepRuleError, match="time_entry"):
        compute(record, {}, None)


def time_entry(regular, overtime, double_time=0, weeks=()):
    return {
        "time_entry": {
            "regular_hours": str(regular),
            "overtime_hours": str(overtime),
            "double_time_hours": str(double_time),
            "entries": 10,
            "weeks": [
                {"regular_hours": str(r), "overtime_hours": str(o), "double_time_hours": str(d)}
                for r, o, d in weeks
            ],
        }
    }


HOURLY_20 = EmployeeRecord.model_validate(employee_record(hourly_rate="20.00"))
#: The FLSA weekly example of time-entry: week 1 45 hours (5 overtime), week 2 35 hours.
FLSA_WEEKS = time_entry(75, 5, weeks=[(40, 5, 0), (35, 0, 0)])


def earnings(**by_employee):
    return PeriodEarnings(by_employee=by_employee)


def test_hourly_with_workweeks_and_no_bonus_is_time_and_a_half():
    gross = compute(HOURLY_20, FLSA_WEEKS, earnings())
    # 75 x 20 = 1500; 5 x 30 = 150
    assert (gross.regular_pay, gross.overtime_pay, gross.gross_pay) == (
        Decimal("1500.00"),
        Decimal("150.00"),
        Decimal("1650.00"),
    )


def test_flsa_regular_rate_includes_the_bonus_per_workweek():
    # A 100.00 nondiscretionary bonus over a period with two worked weeks: 50.00 a week.
    # Week 1 regular rate = (45 x 20 + 50) / 45 = 21.1111; the bonus already paid
    # straight time, so each overtime hour adds 1.5 x 20 + 0.5 x 50/45 = 30.5556.
    # 5 x 30.5556 = 152.78 (150.00 + 2.78 of bonus premium). Week 2 has no overtime.
    context = earnings(e1=OtherEarnings(bonus=Decimal("100.00")))
    gross = compute(HOURLY_20, FLSA_WEEKS, context)
    assert (gross.regular_pay, gross.overtime_pay, gross.other_earnings, gross.gross_pay) == (
        Decimal("1500.00"),
        Decimal("152.78"),
        Decimal("100.00"),
        Decimal("1752.78"),
    )


def test_other_earnings_are_paid_as_is():
    context = earnings(e1=OtherEarnings(other_earnings=Decimal("250.00")))
    gross = compute(HOURLY_20, FLSA_WEEKS, context)
    assert (gross.overtime_pay, gross.other_earnings, gross.gross_pay) == (
        Decimal("150.00"),
        Decimal("250.00"),
        Decimal("1900.00"),
    )


def test_california_double_time_is_paid_at_twice_the_rate():
    # The California example of time-entry: 40 regular, 6 overtime, 1 double time.
    hours = time_entry(40, 6, 1, weeks=[(40, 6, 1), (0, 0, 0)])
    gross = compute(HOURLY_20, hours, earnings())
    # 800 + 6 x 30 = 180 + 1 x 40 = 40: overtime_pay carries overtime + double time.
    assert (gross.regular_pay, gross.overtime_pay, gross.gross_pay) == (
        Decimal("800.00"),
        Decimal("220.00"),
        Decimal("1020.00"),
    )


def test_california_double_time_with_a_bonus():
    # One worked week; bonus 94.00 / 47 hours = 2.00 an hour. Overtime 6 x (30 + 1) =
    # 186.00; double time 1 x (40 + 2) = 42.00.
    hours = time_entry(40, 6, 1, weeks=[(40, 6, 1), (0, 0, 0)])
    context = earnings(e1=OtherEarnings(bonus=Decimal("94.00")))
    gross = compute(HOURLY_20, hours, context)
    assert (gross.overtime_pay, gross.gross_pay) == (
        Decimal("228.00"),
        Decimal("800.00") + Decimal("228.00") + Decimal("94.00"),
    )


def test_salary_plus_bonus_and_section125_carried():
    record = EmployeeRecord.model_validate(
        employee_record(
            pay_type="salary", annual_salary="65000.00", hourly_rate=None,
            flsa_exempt=True, section125_per_period="120.00",
        )
    )  # fmt: skip
    context = earnings(e1=OtherEarnings(bonus=Decimal("500.00")))
    gross = compute(record, {}, context)
    assert (gross.regular_pay, gross.other_earnings, gross.gross_pay, gross.section125) == (
        Decimal("2500.00"),
        Decimal("500.00"),
        Decimal("3000.00"),
        Decimal("120.00"),
    )


def test_section125_over_gross_names_the_field():
    record = EmployeeRecord.model_validate(
        employee_record(hourly_rate="20.00", section125_per_period="2000.00")
    )
    with pytest.raises(StepRuleError) as info:
        compute(record, FLSA_WEEKS, earnings())
    assert info.value.field == "section125"


def test_negative_bonus_names_the_field():
    context = earnings(e1=OtherEarnings(bonus=Decimal("-1.00")))
    with pytest.raises(StepRuleError) as info:
        compute(HOURLY_20, FLSA_WEEKS, context)
    assert info.value.field == "bonus"


def test_bonus_with_overtime_needs_the_workweeks():
    context = earnings(e1=OtherEarnings(bonus=Decimal("100.00")))
    with pytest.raises(StepRuleError) as info:
        compute(HOURLY_20, time_entry(75, 5), context)
    assert info.value.field == "results.time_entry.weeks"


def test_workweeks_must_add_up_to_the_totals():
    with pytest.raises(StepRuleError) as info:
        compute(HOURLY_20, time_entry(75, 5, weeks=[(40, 4, 0), (35, 0, 0)]), earnings())
    assert info.value.code == "InconsistentHours"


def test_other_earning_lines_split_bonus_from_the_rest():
    lines = [(BONUS_CODE, Decimal("100.00")), ("COMMISSION", Decimal("40.00")),
             (BONUS_CODE, Decimal("25.00"))]  # fmt: skip
    assert other_earnings(lines) == OtherEarnings(Decimal("125.00"), Decimal("40.00"))
