"""Taxes and net pay for one employee and period (pure: no I/O, no environment).

Now: Social Security and Medicare (employee and employer shares) and FUTA on this
period's wages alone, from the tax year's table. Not yet (payroll-math issue): federal
income tax withholding (Pub 15-T), state withholding, year-to-date wage bases, and the
Additional Medicare threshold; until then those lines are not computed and
``federal_income_tax`` and ``state_income_tax`` are reported as 0.00.
"""

from __future__ import annotations

from typing import Any

from payroll_shared.contracts import (
    EmployeeRecord,
    GrossPayResult,
    RetirementResult,
    StepRequest,
    TaxResult,
)
from payroll_shared.money import ZERO, round_cents
from payroll_shared.names import Step
from payroll_shared.steps import StepRuleError
from tax_calc.tables import UnknownTaxYear, tables_for


def compute(record: EmployeeRecord, results: dict[str, Any], context: Any) -> TaxResult:
    gross_raw = results.get(Step.PAYROLL_CALC.value)
    retirement_raw = results.get(Step.RETIREMENT_CALC.value)
    if gross_raw is None or retirement_raw is None:
        missing = "payroll_calc" if gross_raw is None else "retirement_calc"
        raise StepRuleError("MissingStepResult", f"no {missing} result", f"results.{missing}")
    tax_year = int(context) if context is not None else None
    if tax_year is None:
        raise StepRuleError("MissingTaxYear", "the request carries no pay date", "pay_run.pay_date")
    try:
        tables = tables_for(tax_year)
    except UnknownTaxYear as exc:
        raise StepRuleError("UnknownTaxYear", str(exc), "pay_run.pay_date") from exc
    gross = GrossPayResult.model_validate(gross_raw)
    retirement = RetirementResult.model_validate(retirement_raw)
    pre_tax_deferral = ZERO if retirement.roth else retirement.deferral
    # Section 125 is exempt from income tax and FICA; traditional 401(k) only from income tax.
    fica_wages = gross.gross_pay - gross.section125
    taxable_wages = fica_wages - pre_tax_deferral
    social_security = round_cents(fica_wages * tables.social_security.rate)
    medicare = round_cents(fica_wages * tables.medicare.rate)
    employee_taxes = social_security + medicare
    deductions = gross.section125 + retirement.deferral
    net_pay = gross.gross_pay - employee_taxes - deductions
    if net_pay < ZERO:
        raise StepRuleError(
            "NegativeNetPay", f"deductions and taxes exceed gross pay by {-net_pay}", "net_pay"
        )
    return TaxResult(
        taxable_wages=taxable_wages,
        federal_income_tax=ZERO,
        social_security=social_security,
        medicare=medicare,
        employer_social_security=round_cents(fica_wages * tables.social_security.employer_rate),
        employer_medicare=round_cents(fica_wages * tables.medicare.employer_rate),
        futa=round_cents(min(fica_wages, tables.futa.wage_base) * tables.futa.net_rate),
        net_pay=net_pay,
    )


def prepare(request: StepRequest) -> int:
    """The chunk's context: its tax year (wages are taxed in the year they are paid)."""
    return request.pay_run.tax_year
