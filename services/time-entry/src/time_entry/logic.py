"""Hours for one employee and period (pure: no I/O, no environment).

Now: validation of each entry and FLSA weekly overtime (hours over 40 in a Monday-start
workweek). Not yet (payroll-math issue): California daily overtime and double time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from payroll_shared.contracts import EmployeeRecord, PayType, TimeEntryResult
from payroll_shared.money import ZERO
from payroll_shared.steps import StepRuleError

WEEKLY_OVERTIME_THRESHOLD = Decimal(40)
HOURS_IN_A_DAY = Decimal(24)


@dataclass(frozen=True)
class TimeEntry:
    entry_id: str
    work_date: date
    hours: Decimal


@dataclass(frozen=True)
class PeriodEntries:
    """The chunk's context: the period and every employee's entries in it."""

    period_start: date
    period_end: date
    by_employee: dict[str, list[TimeEntry]] = field(default_factory=dict)


def _validate(entries: list[TimeEntry], period: PeriodEntries) -> None:
    per_day: dict[date, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if entry.hours < 0:
            raise StepRuleError(
                "InvalidTimeEntry", f"time entry {entry.entry_id}: negative hours", "hours"
            )
        if not period.period_start <= entry.work_date <= period.period_end:
            raise StepRuleError(
                "InvalidTimeEntry",
                f"time entry {entry.entry_id}: {entry.work_date} is outside the period "
                f"{period.period_start}..{period.period_end}",
                "work_date",
            )
        per_day[entry.work_date] += entry.hours
        if per_day[entry.work_date] > HOURS_IN_A_DAY:
            raise StepRuleError(
                "InvalidTimeEntry",
                f"time entry {entry.entry_id}: more than 24 hours on {entry.work_date}",
                "hours",
            )


def compute(record: EmployeeRecord, _results: dict[str, Any], context: Any) -> TimeEntryResult:
    period: PeriodEntries = context
    entries = period.by_employee.get(record.employee_id, [])
    if record.pay_type is PayType.SALARY and record.flsa_exempt:
        return TimeEntryResult(entries=len(entries))
    if record.pay_type is PayType.HOURLY and not entries:
        raise StepRuleError(
            "NoTimeEntries", "an hourly employee has no time entries in the period", "time_entries"
        )
    _validate(entries, period)
    weeks: dict[date, Decimal] = defaultdict(Decimal)
    for entry in entries:
        monday = entry.work_date - timedelta(days=entry.work_date.weekday())
        weeks[monday] += entry.hours
    regular = overtime = ZERO
    for hours in weeks.values():
        regular += min(hours, WEEKLY_OVERTIME_THRESHOLD)
        overtime += max(hours - WEEKLY_OVERTIME_THRESHOLD, ZERO)
    return TimeEntryResult(regular_hours=regular, overtime_hours=overtime, entries=len(entries))
