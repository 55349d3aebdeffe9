"""The time-entry store: the relational database (RDS Proxy in AWS, DATABASE_URL locally)."""

from __future__ import annotations

from payroll_platform.db.engine import get_engine, session_scope
from payroll_platform.db.repository import time_entries_for
from payroll_shared.contracts import StepRequest
from time_entry.logic import PeriodEntries, TimeEntry


def prepare(request: StepRequest) -> PeriodEntries:
    """Load the whole chunk's entries for the period in one query (not one per employee)."""
    period = request.pay_run
    ids = [item.employee_id for item in request.items]
    with session_scope(get_engine()) as session:
        lines = time_entries_for(session, ids, period.period_start, period.period_end)
    return PeriodEntries(
        period_start=period.period_start,
        period_end=period.period_end,
        by_employee={
            employee_id: [
                TimeEntry(
                    entry_id=f"{line.employee_id}/{line.work_date}/{line.earning_code}",
                    work_date=line.work_date,
                    hours=line.hours,
                )
                for line in entries
            ]
            for employee_id, entries in lines.items()
        },
    )
