"""Taxes and net pay for one employee and period (pure: no I/O, no environment).

The math is the shared payroll library's (``payroll_shared.calc``), composed exactly
as ``payroll_shared.calc.paycheck.calculate`` composes it, so the pay-run pipeline and
the ``payroll paycheck`` command always agree:

- FICA wages = gross - section 125 (traditional 401(k) deferrals stay FICA wages);
- income-tax wages = FICA wages - pre-tax (traditional) deferral;
- federal withholding per Pub 15-T from the employee's W-4 (2020+ or allowances);
- Social Security, Additional Medicare and FUTA against year-to-date wages (loaded
  once per chunk by ``adapters.prepare``), so the crossing period taxes the remainder;
- state withholding per the work state (an unsupported state fails the employee);
- net pay = gross - employee taxes - deductions (section 125 and every deferral, Roth
  too), to the cent; a negative net pay fails the employee.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from payroll_shared.calc.errors import NegativeNetPay
from payroll_shared.calc.paycheck import PERIODS_PER_YEAR
from payroll_shared.calc.tables import tables_for
from payroll_shared.calc.tax import W4Input, federal_withholding, fica_taxes, state_withholding
from payroll_shared.contracts import EmployeeRecord, GrossPayResult, RetirementResult, TaxResult
from payroll_shared.money import ZERO
from payroll_shared.names import Step
from payroll_shared.step_ytd import rule_errors, year_to_date
from payroll_shared.steps import StepRuleError


def w4(record: EmployeeRecord) -> W4Input:
    form = record.w4
    return W4Input(
        filing_status=form.filing_status,
        step2_checkbox=form.step2_checkbox,
        step3_credits=form.step3_credits,
        step4a_other_income=form.step4a_other_income,
        step4b_deductions=form.step4b_deductions,
        step4c_extra_withholding=form.step4c_extra_withholding,
        form_year=form.form_year,
        allowances=form.allowances,
    )


def pre_tax_deferral(retirement: RetirementResult) -> Decimal:
    """The traditional part of the deferral, as retirement-calc split it."""
    split = retirement.pre_tax_deferral + retirement.roth_deferral
    if split == retirement.deferral:
        return retirement.pre_tax_deferral
    if split == ZERO:
        # A result written before the split existed: all Roth or all traditional.
        return ZERO if retirement.roth else retirement.deferral
    raise StepRuleError(
        "InconsistentRetirementResult",
        f"pre-tax {retirement.pre_tax_deferral} + Roth {retirement.roth_deferral}"
        f" != deferral {retirement.deferral}",
        "results.retirement_calc",
    )


def compute(record: EmployeeRecord, results: dict[str, Any], context: Any) -> TaxResult:
    gross_raw = results.get(Step.PAYROLL_CALC.value)
    retirement_raw = results.get(Step.RETIREMENT_CALC.value)
    if gross_raw is None or retirement_raw is None:
        missing = "payroll_calc" if gross_raw is None else "retirement_calc"
        raise StepRuleError("MissingStepResult", f"no {missing} result", f"results.{missing}")
    gross = GrossPayResult.model_validate(gross_raw)
    retirement = RetirementResult.model_validate(retirement_raw)
    traditional = pre_tax_deferral(retirement)
    tax_year, ytd = year_to_date(record, context)
    periods = PERIODS_PER_YEAR[record.pay_frequency]
    with rule_errors():
        tables = tables_for(tax_year)
        fica_wages = gross.gross_pay - gross.section125
        federal_wages = fica_wages - traditional
        federal = federal_withholding(
            tables.federal_withholding, w4(record), federal_wages, periods
        )
        fica = fica_taxes(
            tables.fica,
            tables.futa,
            fica_wages=fica_wages,
            ytd_social_security_wages=ytd.fica_wages,
            ytd_medicare_wages=ytd.medicare_wages,
            ytd_futa_wages=ytd.fica_wages if ytd.futa_wages is None else ytd.futa_wages,
        )
        state = state_withholding(
            tables.state,
            record.work_state,
            gross=gross.gross_pay,
            section125=gross.section125,
            pre_tax_deferral=traditional,
            periods=periods,
            fields=record.state_withholding,
        )
        employee_taxes = (
            federal + fica.social_security + fica.medicare + fica.additional_medicare
        ) + state.withholding
        deductions = retirement.deferral + gross.section125
        net_pay = gross.gross_pay - employee_taxes - deductions
        if net_pay < 0:
            raise NegativeNetPay(str(-net_pay))
    return TaxResult(
        taxable_wages=federal_wages,
        federal_income_tax=federal,
        social_security=fica.social_security,
        medicare=fica.medicare,
        additional_medicare=fica.additional_medicare,
        state_income_tax=state.withholding,
        employer_social_security=fica.employer_social_security,
        employer_medicare=fica.employer_medicare,
        futa=fica.futa,
        net_pay=net_pay,
    )
