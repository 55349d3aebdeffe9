"""Hours for one employee and period (pure: no I/O, no environment).

Each entry is validated here (so the error names the entry), the entries are summed
into the period's workweeks and the split into regular, overtime and double-time hours
comes from the payroll-math library (``payroll_shared.calc.hours.classify_hours``), the
same function the ``payroll paycheck`` command uses, so the two can never disagree:
FLSA weekly overtime, or California daily overtime, double time and the 7th-day rule.

Workweeks: the FLSA workweek here is Monday to Sunday. The period's workweeks run from
the Monday on or before ``period_start`` to the Sunday on or after ``period_end``; a
workweek partly outside the period counts only its in-period days (the days outside
are zero hours). So a workweek that straddles two periods is classified in each period
on that period's days only: its weekly 40 hours and the California 7th-day rule see
only the in-period days (the other period's hours are not loaded by this step).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from payroll_shared.calc.errors import HoursError, PaycheckError
from payroll_shared.calc.hours import DAYS_IN_WEEK, Hours, classify_hours
from payroll_shared.contracts import EmployeeRecord, PayType, TimeEntryResult
from payroll_shared.contracts.steps import WeekHours
from payroll_shared.money import ZERO
from payroll_shared.steps import StepRuleError

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

    @property
    def first_monday(self) -> date:
        """The Monday that starts the period's first workweek."""
        return self.period_start - timedelta(days=self.period_start.weekday())

    @property
    def workweeks(self) -> int:
        """How many Monday-Sunday workweeks the period touches."""
        return (self.period_end - self.first_monday).days // DAYS_IN_WEEK + 1


def _daily_totals(entries: list[TimeEntry], period: PeriodEntries) -> dict[date, Decimal]:
    """Each entry checked (naming it), then the hours summed per work date."""
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
    return per_day


def workweeks(per_day: dict[date, Decimal], period: PeriodEntries) -> list[list[Decimal]]:
    """The period's workweeks as 7 daily totals each, Monday first; days outside the
    period (in a first or last partial workweek) are zero."""
    first_monday = period.first_monday
    weeks = [[ZERO] * DAYS_IN_WEEK for _ in range(period.workweeks)]
    for work_date, hours in per_day.items():
        offset = (work_date - first_monday).days
        weeks[offset // DAYS_IN_WEEK][offset % DAYS_IN_WEEK] = hours
    return weeks


def _classify(record: EmployeeRecord, weeks: list[list[Decimal]], first_monday: date) -> Hours:
    try:
        return classify_hours(weeks, record.overtime_rule)
    except PaycheckError as exc:
        # Entries are checked above, so this is a safety net; name the day when known.
        where = ""
        if isinstance(exc, HoursError) and exc.day is not None:
            where = f" on {first_monday + timedelta(days=exc.week * DAYS_IN_WEEK + exc.day)}"
        raise StepRuleError("InvalidTimeEntry", f"{exc.message}{where}", exc.field) from exc


def compute(record: EmployeeRecord, _results: dict[str, Any], context: Any) -> TimeEntryResult:
    period: PeriodEntries = context
    entries = period.by_employee.get(record.employee_id, [])
    if record.pay_type is PayType.SALARY and record.flsa_exempt:
        return TimeEntryResult(entries=len(entries))
    if record.pay_type is PayType.HOURLY and not entries:
        raise StepRuleError(
            "NoTimeEntries", "an hourly employee has no time entries in the period", "time_entries"
        )
    weeks = workweeks(_daily_totals(entries, period), period)
    hours = _classify(record, weeks, period.first_monday)
    return TimeEntryResult(
        regular_hours=hours.regular,
        overtime_hours=hours.overtime,
        double_time_hours=hours.double_time,
        entries=len(entries),
        weeks=[
            WeekHours(
                regular_hours=week.regular,
                overtime_hours=week.overtime,
                double_time_hours=week.double_time,
            )
            for week in hours.weeks
        ],
    )
