"""401(k) deferral and employer match for one period (pure: no I/O, no environment).

The math is the shared payroll library's (``payroll_shared.calc``), composed exactly
as ``payroll_shared.calc.paycheck.calculate`` composes it, so the pay-run pipeline and
the ``payroll paycheck`` command always agree: eligible pay is the period's gross pay,
the age is the one reached by the end of the tax year, and every annual limit
(402(g), catch-up, 415(c), 401(a)(17), the 2026 Roth catch-up rule) is applied on top
of the year-to-date figures the chunk's ``prepare`` loaded.
"""

from __future__ import annotations

from typing import Any

from payroll_shared.calc.retirement import (
    RetirementElectionInput,
    RetirementYtd,
    retirement_contributions,
)
from payroll_shared.calc.tables import tables_for
from payroll_shared.contracts import EmployeeRecord, GrossPayResult, RetirementResult
from payroll_shared.names import Step
from payroll_shared.step_ytd import rule_errors, year_to_date
from payroll_shared.steps import StepRuleError


def election(record: EmployeeRecord) -> RetirementElectionInput:
    chosen = record.retirement
    return RetirementElectionInput(
        deferral_percent=chosen.deferral_percent,
        deferral_amount=chosen.deferral_amount,
        roth=chosen.roth,
        match_formula=chosen.match_formula,
        match_percent=chosen.match_percent,
        match_cap_percent=chosen.match_cap_percent,
    )


def compute(record: EmployeeRecord, results: dict[str, Any], context: Any) -> RetirementResult:
    previous = results.get(Step.PAYROLL_CALC.value)
    if previous is None:
        raise StepRuleError(
            "MissingStepResult", "no payroll_calc result to defer from", "results.payroll_calc"
        )
    gross = GrossPayResult.model_validate(previous)
    tax_year, ytd = year_to_date(record, context)
    with rule_errors():
        limits = tables_for(tax_year).retirement
        contributions = retirement_contributions(
            limits,
            election(record),
            pay=gross.gross_pay,
            age_at_year_end=tax_year - record.birth_date.year,
            ytd=RetirementYtd(
                deferrals=ytd.retirement_deferrals,
                employer_match=ytd.employer_match,
                compensation=ytd.gross if ytd.compensation is None else ytd.compensation,
                prior_year_fica_wages=ytd.prior_year_fica_wages,
            ),
        )
    return RetirementResult(
        deferral=contributions.deferral,
        roth=record.retirement.roth,
        employer_match=contributions.employer_match,
        pre_tax_deferral=contributions.pre_tax_deferral,
        roth_deferral=contributions.roth_deferral,
        catch_up=contributions.catch_up,
    )
