from decimal import Decimal

import pytest
from factories import employee_record
from payroll_calc.logic import compute

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
