"""Gross pay for one employee and period (pure: no I/O, no environment).

The amounts come from the payroll-math library (``payroll_shared.calc.gross.gross_pay``),
the same function the ``payroll paycheck`` command uses, so the two can never disagree:
salary / periods per year, or hourly pay from the time-entry step's hours with the FLSA
regular rate computed per workweek (a nondiscretionary bonus raises the overtime and
double-time rate), plus the period's other earnings. Section 125 is carried for the
tax and net-pay steps.

The step's result has no separate double-time or bonus line: ``overtime_pay`` is
overtime + double-time pay, ``other_earnings`` is bonus + other earnings, and
``gross_pay`` is the sum of the lines, to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from payroll_shared.calc.errors import PaycheckError
from payroll_shared.calc.gross import gross_pay
from payroll_shared.calc.hours import NO_HOURS, Hours, WeekHours
from payroll_shared.contracts import EmployeeRecord, GrossPayResult, PayType, TimeEntryResult
from payroll_shared.money import ZERO
from payroll_shared.names import Step
from payroll_shared.steps import StepRuleError

#: The other-earning code of a nondiscretionary bonus (part of the FLSA regular rate);
#: every other code is paid as-is as other earnings.
BONUS_CODE = "BONUS"


@dataclass(frozen=True)
class OtherEarnings:
    """One employee's one-off amounts paid with this pay date."""

    bonus: Decimal = ZERO
    other_earnings: Decimal = ZERO


NO_OTHER_EARNINGS = OtherEarnings()


@dataclass(frozen=True)
class PeriodEarnings:
    """The chunk's context: every employee's other earnings paid with the pay date."""

    by_employee: dict[str, OtherEarnings] = field(default_factory=dict)


def other_earnings(lines: list[tuple[str, Decimal]]) -> OtherEarnings:
    """(code, amount) lines summed: BONUS as bonus, every other code as other earnings."""
    bonus = other = ZERO
    for code, amount in lines:
        if code == BONUS_CODE:
            bonus += amount
        else:
            other += amount
    return OtherEarnings(bonus=bonus, other_earnings=other)


def _hours(record: EmployeeRecord, results: dict[str, Any], earnings: OtherEarnings) -> Hours:
    """The library's ``Hours`` rebuilt from the time-entry step's result."""
    previous = results.get(Step.TIME_ENTRY.value)
    if previous is None:
        raise StepRuleError(
            "MissingStepResult", "no time_entry result for an hourly employee", "results.time_entry"
        )
    result = TimeEntryResult.model_validate(previous)
    weeks = tuple(
        WeekHours(week.regular_hours, week.overtime_hours, week.double_time_hours)
        for week in result.weeks
    )
    hours = Hours(result.regular_hours, result.overtime_hours, result.double_time_hours, weeks)
    if weeks:
        totals = (
            sum((w.regular for w in weeks), ZERO),
            sum((w.overtime for w in weeks), ZERO),
            sum((w.double_time for w in weeks), ZERO),
        )
        if totals != (hours.regular, hours.overtime, hours.double_time):
            raise StepRuleError(
                "InconsistentHours",
                "the time_entry result's workweeks do not add up to its totals",
                "results.time_entry.weeks",
            )
    elif earnings.bonus and (hours.overtime or hours.double_time):
        # Without workweeks the bonus cannot be put into the regular rate: refusing is
        # better than underpaying the overtime premium.
        raise StepRuleError(
            "MissingStepResult",
            "the time_entry result has no workweeks; the regular rate with a bonus needs them",
            "results.time_entry.weeks",
        )
    return hours


def compute(record: EmployeeRecord, results: dict[str, Any], context: Any) -> GrossPayResult:
    """``context`` is the chunk's ``PeriodEarnings`` (None: no other earnings loaded)."""
    period: PeriodEarnings | None = context
    earnings = (
        NO_OTHER_EARNINGS
        if period is None
        else period.by_employee.get(record.employee_id, NO_OTHER_EARNINGS)
    )
    hourly = record.pay_type is PayType.HOURLY
    hours = _hours(record, results, earnings) if hourly else NO_HOURS
    try:
        gross = gross_pay(
            pay_type=record.pay_type,
            pay_frequency=record.pay_frequency,
            annual_salary=record.annual_salary,
            hourly_rate=record.hourly_rate,
            hours=hours,
            bonus=earnings.bonus,
            other_earnings=earnings.other_earnings,
            section125=record.section125_per_period,
        )
    except PaycheckError as exc:
        raise StepRuleError("InvalidPayInput", exc.message, exc.field) from exc
    return GrossPayResult(
        regular_pay=gross.regular_pay,
        overtime_pay=gross.overtime_pay + gross.double_time_pay,
        other_earnings=gross.bonus + gross.other_earnings,
        gross_pay=gross.gross_pay,
        section125=gross.section125,
    )
