"""Gross pay for one period.

Salaried: annual salary / periods per year (52, 26, 24, 12), rounded once.

Hourly: the FLSA regular rate is computed per workweek (29 CFR 778.104, 778.109):
``(straight-time pay + nondiscretionary bonus allocated to the week) / hours worked``.
A bonus earned over the whole period is allocated equally to each workweek of the
period in which hours were worked (a week without hours has no regular rate) -
(29 CFR 778.209(a): when the bonus cannot be identified with particular
workweeks, an equal share per workweek is a reasonable allocation). The bonus
already pays straight time for every hour, so each overtime hour adds half the
bonus's share of the regular rate and each double-time hour one full share:

- regular_pay = rate x regular hours
- overtime_pay = sum over weeks of overtime hours x (1.5 x rate + 0.5 x bonus share / hours worked)
- double_time_pay = sum over weeks of double-time hours x (2 x rate + 1.0 x bonus share / hours)

Without a bonus this is the familiar rate x 1.5 and rate x 2. The same method is used
for the California rule (Labor Code 510); California's own divisor for flat-sum
bonuses (Alvarado v. Dave & Buster's, non-overtime hours) is not applied here.

Other earnings (commissions paid as-is, reimbursable items are not wages and are
not passed here) are added. The section 125 pre-tax deduction is carried for the
tax and net-pay steps.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from payroll_shared.calc.errors import PaycheckError
from payroll_shared.calc.hours import NO_HOURS, Hours
from payroll_shared.contracts.employee import PayType
from payroll_shared.money import ZERO, round_cents
from payroll_shared.payrun import PayFrequency

OVERTIME = Decimal("1.5")
DOUBLE = Decimal(2)
HALF = Decimal("0.5")
_SALARY = PayType.SALARY
_PERIODS = {frequency: frequency.periods_per_year for frequency in PayFrequency}


class GrossPay(NamedTuple):
    regular_pay: Decimal
    overtime_pay: Decimal
    double_time_pay: Decimal
    bonus: Decimal
    other_earnings: Decimal
    section125: Decimal
    gross_pay: Decimal
    hours: Hours


def gross_pay(
    *,
    pay_type: PayType,
    pay_frequency: PayFrequency,
    annual_salary: Decimal | None = None,
    hourly_rate: Decimal | None = None,
    hours: Hours = NO_HOURS,
    bonus: Decimal = ZERO,
    other_earnings: Decimal = ZERO,
    section125: Decimal = ZERO,
) -> GrossPay:
    """One period's gross pay; each line rounded once, gross = sum of the lines."""
    if bonus < 0:
        raise PaycheckError("must not be negative", "bonus")
    if other_earnings < 0:
        raise PaycheckError("must not be negative", "other_earnings")
    if section125 < 0:
        raise PaycheckError("must not be negative", "section125")
    overtime_pay = double_time_pay = ZERO
    if pay_type is _SALARY:
        if annual_salary is None or annual_salary <= 0:
            raise PaycheckError("a positive annual salary is required", "annual_salary")
        regular_pay = round_cents(annual_salary / _PERIODS[pay_frequency])
        hours_out = hours
    else:
        if hourly_rate is None or hourly_rate <= 0:
            raise PaycheckError("a positive hourly rate is required", "hourly_rate")
        regular_pay = round_cents(hourly_rate * hours.regular)
        weeks = hours.weeks
        worked_weeks = [week for week in weeks if week.worked > 0]
        if bonus and worked_weeks:
            share = bonus / len(worked_weeks)
            overtime = double = Decimal(0)
            for week in worked_weeks:
                bonus_rate = share / week.worked
                overtime += week.overtime * (OVERTIME * hourly_rate + HALF * bonus_rate)
                double += week.double_time * (DOUBLE * hourly_rate + bonus_rate)
            overtime_pay = round_cents(overtime)
            double_time_pay = round_cents(double)
        else:
            overtime_pay = round_cents(hours.overtime * hourly_rate * OVERTIME)
            double_time_pay = round_cents(hours.double_time * hourly_rate * DOUBLE)
        hours_out = hours
    gross = regular_pay + overtime_pay + double_time_pay + bonus + other_earnings
    if section125 > gross:
        raise PaycheckError(f"section 125 deduction {section125} exceeds gross pay", "section125")
    # positional (field order) in the hot path: cheaper than keywords
    return GrossPay(
        regular_pay,
        overtime_pay,
        double_time_pay,
        bonus,
        other_earnings,
        section125,
        gross,
        hours_out,
    )
