"""Year-to-date wages from the pay-statement ledger (RDS Proxy in AWS, DATABASE_URL
locally), loaded once per chunk, never per employee."""

from __future__ import annotations

from payroll_platform.db.engine import get_engine, session_scope
from payroll_platform.db.repository import year_to_date
from payroll_shared.calc.paycheck import Ytd
from payroll_shared.contracts import StepRequest
from payroll_shared.step_ytd import YearToDateContext


def prepare(request: StepRequest) -> YearToDateContext:
    """The chunk's tax year and each employee's year to date before the pay date.

    The prior year's FICA wages only matter to the Roth catch-up, which retirement-calc
    decides (its split reaches this step in ``pre_tax_deferral``): not loaded here."""
    pay_date = request.pay_run.pay_date
    tax_year = request.pay_run.tax_year
    ids = [item.employee_id for item in request.items]
    with session_scope(get_engine()) as session:
        this_year = year_to_date(session, ids, tax_year, before=pay_date)
    return YearToDateContext(
        tax_year=tax_year,
        by_employee={
            employee_id: Ytd(
                gross=ytd.gross,
                fica_wages=ytd.fica_wages,
                medicare_wages=ytd.medicare_wages,
                retirement_deferrals=ytd.retirement_deferrals,
                employer_match=ytd.employer_match,
                futa_wages=ytd.futa_wages,
            )
            for employee_id, ytd in this_year.items()
        },
    )
