"""Gross pay for one employee and period (pure: no I/O, no environment)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from payroll_shared.contracts import EmployeeRecord, GrossPayResult, PayType, TimeEntryResult
from payroll_shared.money import round_cents
from payroll_shared.names import Step
from payroll_shared.steps import StepRuleError

OVERTIME_PREMIUM = Decimal("1.5")
DOUBLE_TIME = Decimal("2")


def compute(record: EmployeeRecord, results: dict[str, Any], _context: Any) -> GrossPayResult:
    if record.pay_type is PayType.SALARY:
        assert record.annual_salary is not None  # the contract requires it for salary
        regular = round_cents(record.annual_salary / record.pay_frequency.periods_per_year)
        return GrossPayResult(
            regular_pay=regular, gross_pay=regular, section125=record.section125_per_period
        )
    previous = results.get(Step.TIME_ENTRY.value)
    if previous is None:
        raise StepRuleError(
            "MissingStepResult", "no time_entry result for an hourly employee", "results.time_entry"
        )
    hours = TimeEntryResult.model_validate(previous)
    assert record.hourly_rate is not None
    rate = record.hourly_rate
    regular = round_cents(rate * hours.regular_hours)
    overtime = round_cents(rate * OVERTIME_PREMIUM * hours.overtime_hours) + round_cents(
        rate * DOUBLE_TIME * hours.double_time_hours
    )
    return GrossPayResult(
        regular_pay=regular,
        overtime_pay=overtime,
        gross_pay=regular + overtime,
        section125=record.section125_per_period,
    )
