"""401(k) deferral and employer match for one period (pure: no I/O, no environment)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from payroll_shared.contracts import EmployeeRecord, GrossPayResult, MatchFormula, RetirementResult
from payroll_shared.money import ZERO, round_cents
from payroll_shared.names import Step
from payroll_shared.steps import StepRuleError

HUNDRED = Decimal(100)


def employer_match(record: EmployeeRecord, eligible_pay: Decimal, deferral: Decimal) -> Decimal:
    election = record.retirement
    if election.match_formula is MatchFormula.SAFE_HARBOR_BASIC:
        # 100% of deferrals up to 3% of pay, plus 50% of deferrals between 3% and 5% of pay.
        first = min(deferral, eligible_pay * Decimal("0.03"))
        next_two = min(max(deferral - first, ZERO), eligible_pay * Decimal("0.02"))
        return round_cents(first + next_two / 2)
    if election.match_formula is MatchFormula.FLAT_PERCENT:
        percent = election.match_percent or ZERO
        cap = election.match_cap_percent
        matched = deferral if cap is None else min(deferral, eligible_pay * cap / HUNDRED)
        return round_cents(matched * percent / HUNDRED)
    return ZERO


def compute(record: EmployeeRecord, results: dict[str, Any], _context: Any) -> RetirementResult:
    previous = results.get(Step.PAYROLL_CALC.value)
    if previous is None:
        raise StepRuleError(
            "MissingStepResult", "no payroll_calc result to defer from", "results.payroll_calc"
        )
    gross = GrossPayResult.model_validate(previous)
    eligible = gross.gross_pay
    election = record.retirement
    if election.deferral_percent is not None:
        deferral = round_cents(eligible * election.deferral_percent / HUNDRED)
    elif election.deferral_amount is not None:
        deferral = min(election.deferral_amount, eligible)
    else:
        deferral = ZERO
    return RetirementResult(
        deferral=deferral,
        roth=election.roth,
        employer_match=employer_match(record, eligible, deferral),
    )
