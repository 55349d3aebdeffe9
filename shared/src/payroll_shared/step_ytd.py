"""What the retirement and tax steps share around the payroll library: the chunk's
year-to-date context and the mapping of the library's errors to employee failures."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from payroll_shared.calc.errors import PaycheckError, UnknownTaxYear
from payroll_shared.calc.paycheck import Ytd
from payroll_shared.contracts import EmployeeRecord
from payroll_shared.steps import StepRuleError


@dataclass(frozen=True, slots=True)
class YearToDateContext:
    """What a step's ``prepare`` loads once per chunk: the tax year (of the pay date) and
    each employee's year-to-date figures before this pay date (with the prior year's
    FICA wages where the step needs them, ``Ytd.prior_year_fica_wages``)."""

    tax_year: int
    by_employee: Mapping[str, Ytd]


@contextmanager
def rule_errors() -> Iterator[None]:
    """The library's per-employee errors become the step's per-employee failures."""
    try:
        yield
    except UnknownTaxYear as exc:
        # The step's tax year is the pay date's year: that is the input to look at.
        raise StepRuleError(type(exc).__name__, str(exc), "pay_run.pay_date") from exc
    except PaycheckError as exc:
        raise StepRuleError(type(exc).__name__, str(exc), exc.field) from exc


def year_to_date(record: EmployeeRecord, context: Any) -> tuple[int, Ytd]:
    if not isinstance(context, YearToDateContext):
        raise StepRuleError(
            "MissingYearToDate", "the chunk carries no year-to-date figures", "context"
        )
    ytd = context.by_employee.get(record.employee_id)
    if ytd is None:
        # Never assume zeros: that would restart every annual limit and wage base.
        raise StepRuleError(
            "MissingYearToDate", "no year-to-date figures loaded for the employee", "employee_id"
        )
    return context.tax_year, ytd
