"""Employee and employer taxes for one period.

Federal income tax withholding follows IRS Pub 15-T, Worksheet 1A (percentage
method for automated payroll systems), for a 2020-or-later W-4 (Steps 2 to 4) and a
2019-or-earlier W-4 (allowances). Intermediate amounts keep full precision; the
withholding is rounded once, half-up to the cent.

FICA and FUTA use year-to-date wages, so the period that crosses the Social Security
wage base taxes only the remainder, Additional Medicare starts in the period that
crosses 200,000 (whatever the filing status), and FUTA stops at its base.

State withholding: the no-income-tax states withhold 0; Pennsylvania withholds a
flat rate of PA compensation (gross less section 125; 401(k) deferrals stay taxable);
Illinois withholds per IL-700-T on wages after the pre-tax deductions federal
income tax excludes. Any other state raises ``UnsupportedState``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import NamedTuple

from payroll_shared.calc.errors import PaycheckError, UnsupportedState
from payroll_shared.calc.tables import FederalWithholding, Fica, Futa, Schedule, StateTables
from payroll_shared.contracts.employee import FilingStatus
from payroll_shared.money import ZERO, round_cents

FIRST_NEW_W4_YEAR = 2020
_MFJ = FilingStatus.MARRIED_FILING_JOINTLY


@dataclass(frozen=True, slots=True)
class W4Input:
    filing_status: FilingStatus
    step2_checkbox: bool = False
    step3_credits: Decimal = ZERO
    step4a_other_income: Decimal = ZERO
    step4b_deductions: Decimal = ZERO
    step4c_extra_withholding: Decimal = ZERO
    form_year: int = FIRST_NEW_W4_YEAR
    allowances: int | None = None


def annual_tax(schedule: Schedule, wage: Decimal) -> Decimal:
    """Step 2 of the worksheet: the row with A <= wage < next A; C + (wage - A) x D."""
    row = schedule[0]
    for candidate in schedule:
        if wage >= candidate.over:
            row = candidate
        else:
            break
    return row.base_tax + (wage - row.over) * row.rate


def federal_withholding(
    tables: FederalWithholding, w4: W4Input, taxable_wages: Decimal, periods: int
) -> Decimal:
    """Pub 15-T Worksheet 1A. ``taxable_wages``: the period's wages after traditional
    401(k) deferrals and section 125 (line 1a); ``periods``: pay periods per year."""
    annual_wages = taxable_wages * periods  # 1c
    if w4.form_year >= FIRST_NEW_W4_YEAR:
        step1g = ZERO
        if not w4.step2_checkbox:
            step1g = (
                tables.step1g_married_filing_jointly
                if w4.filing_status is _MFJ
                else tables.step1g_other
            )
        adjusted = annual_wages + w4.step4a_other_income  # 1e
        adjusted = max(adjusted - (w4.step4b_deductions + step1g), ZERO)  # 1h, 1i
        columns = tables.step2_checked if w4.step2_checkbox else tables.standard
        schedule = columns.for_status(w4.filing_status)
        credits = w4.step3_credits
    else:
        if w4.allowances is None:
            raise PaycheckError("required on a W-4 from before 2020", "w4.allowances")
        adjusted = max(annual_wages - w4.allowances * tables.pre2020_allowance, ZERO)  # 1k, 1l
        # "Married" uses the MFJ table; "Single" and "Married, but withhold at the
        # higher Single rate" (and anything else) the Single table.
        married = w4.filing_status is _MFJ
        schedule = tables.standard.married_filing_jointly if married else tables.standard.single
        credits = ZERO
    per_period = annual_tax(schedule, adjusted) / periods  # 2h
    after_credits = max(per_period - credits / periods, ZERO)  # 3b, 3c
    return round_cents(after_credits + w4.step4c_extra_withholding)  # 4b


class FicaTaxes(NamedTuple):
    social_security_wages: Decimal
    medicare_wages: Decimal
    additional_medicare_wages: Decimal
    futa_wages: Decimal
    social_security: Decimal
    medicare: Decimal
    additional_medicare: Decimal
    employer_social_security: Decimal
    employer_medicare: Decimal
    futa: Decimal


def portion_under(limit: Decimal, ytd: Decimal, wages: Decimal) -> Decimal:
    """The part of this period's wages that still falls under an annual base."""
    room = limit - ytd
    if room <= 0:
        return ZERO
    return wages if wages < room else room


def portion_over(threshold: Decimal, ytd: Decimal, wages: Decimal) -> Decimal:
    """The part of this period's wages above an annual threshold (all of them once
    the year-to-date is past it)."""
    over = ytd + wages - threshold
    if over <= 0:
        return ZERO
    return wages if over > wages else over


def fica_taxes(
    fica: Fica,
    futa: Futa,
    *,
    fica_wages: Decimal,
    ytd_social_security_wages: Decimal,
    ytd_medicare_wages: Decimal,
    ytd_futa_wages: Decimal,
) -> FicaTaxes:
    """Social Security, Medicare and Additional Medicare (employee), the employer's
    shares and FUTA. ``fica_wages``: gross less section 125 (401(k) deferrals stay in)."""
    ss_wages = portion_under(fica.social_security_wage_base, ytd_social_security_wages, fica_wages)
    additional = portion_over(fica.additional_medicare_threshold, ytd_medicare_wages, fica_wages)
    futa_wages = portion_under(futa.wage_base, ytd_futa_wages, fica_wages)
    return FicaTaxes(
        ss_wages,
        fica_wages,
        additional,
        futa_wages,
        round_cents(ss_wages * fica.social_security_rate),
        round_cents(fica_wages * fica.medicare_rate),
        round_cents(additional * fica.additional_medicare_rate),
        round_cents(ss_wages * fica.social_security_employer_rate),
        round_cents(fica_wages * fica.medicare_employer_rate),
        round_cents(futa_wages * futa.net_rate),
    )


class StateTax(NamedTuple):
    taxable_wages: Decimal
    withholding: Decimal


_NO_STATE_TAX = StateTax(ZERO, ZERO)


@lru_cache(maxsize=64)
def _whole_number(raw: str) -> int | None:
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        return None
    return int(number)


def _allowances(fields: Mapping[str, str], name: str) -> int:
    raw = fields.get(name, "0")
    number = _whole_number(str(raw))
    if number is None:
        raise PaycheckError(f"not a whole number >= 0: {raw!r}", f"state_withholding.{name}")
    return number


def state_withholding(
    tables: StateTables,
    state: str,
    *,
    gross: Decimal,
    section125: Decimal,
    pre_tax_deferral: Decimal,
    periods: int,
    fields: Mapping[str, str],
) -> StateTax:
    if state in tables.no_income_tax:
        return _NO_STATE_TAX
    if state == "PA":
        # PA compensation: 401(k) deferrals are taxable; section 125 contributions are not.
        wages = gross - section125
        return StateTax(wages, round_cents(wages * tables.PA.rate))
    if state == "IL":
        il = tables.IL
        wages = gross - section125 - pre_tax_deferral
        exemptions = (
            _allowances(fields, "il_line1_allowances") * il.line1_allowance
            + _allowances(fields, "il_line2_allowances") * il.line2_allowance
        )
        taxable = max(wages - exemptions / periods, ZERO)
        return StateTax(wages, round_cents(taxable * il.rate))
    raise UnsupportedState(state)
