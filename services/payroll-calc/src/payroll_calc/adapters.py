"""Other earnings (bonuses, commissions...): the relational database (RDS Proxy in AWS,
DATABASE_URL locally)."""

from __future__ import annotations

from payroll_calc.logic import PeriodEarnings, other_earnings
from payroll_platform.db.engine import get_engine, session_scope
from payroll_platform.db.repository import other_earnings_for
from payroll_shared.contracts import StepRequest


def prepare(request: StepRequest) -> PeriodEarnings:
    """Load the whole chunk's other earnings for the pay date in one query (not one per
    employee)."""
    ids = [item.employee_id for item in request.items]
    with session_scope(get_engine()) as session:
        lines = other_earnings_for(session, ids, request.pay_run.pay_date)
    return PeriodEarnings(
        by_employee={
            employee_id: other_earnings([(line.code, line.amount) for line in employee_lines])
            for employee_id, employee_lines in lines.items()
        }
    )
