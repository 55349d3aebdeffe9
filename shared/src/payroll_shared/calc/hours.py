"""Overtime classification of a period's hours, workweek by workweek.

``weeks`` is the period's workweeks, each 7 daily hour values, Monday first (the
employer's fixed workweek). Hours are split into regular, overtime (1.5x) and double
time (2x); an hour is counted in exactly one of the three.

- FLSA (29 CFR 778.103): hours over 40 in the workweek are overtime.
- California (Labor Code 510): per day, hours over 8 are overtime and over 12 are
  double time; regular hours beyond 40 in the workweek are overtime (daily overtime
  hours do not count toward the 40); on the 7th consecutive workday of the workweek
  (all seven days worked) the first 8 hours are overtime and the rest double time.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from payroll_shared.calc.errors import HoursError
from payroll_shared.contracts.employee import OvertimeRule

ZERO_HOURS = Decimal(0)
DAY_MAX = Decimal(24)
WEEK_REGULAR = Decimal(40)
DAY_REGULAR = Decimal(8)
DAY_DOUBLE = Decimal(12)
DAYS_IN_WEEK = 7
_CALIFORNIA = OvertimeRule.CALIFORNIA


class WeekHours(NamedTuple):
    regular: Decimal
    overtime: Decimal
    double_time: Decimal

    @property
    def worked(self) -> Decimal:
        return self.regular + self.overtime + self.double_time


class Hours(NamedTuple):
    """The period's totals, and the per-workweek split (the FLSA regular rate is
    computed per workweek, so gross pay needs it)."""

    regular: Decimal
    overtime: Decimal
    double_time: Decimal
    weeks: tuple[WeekHours, ...] = ()

    @property
    def worked(self) -> Decimal:
        return self.regular + self.overtime + self.double_time


NO_HOURS = Hours(ZERO_HOURS, ZERO_HOURS, ZERO_HOURS, ())


def validate_weeks(weeks: Sequence[Sequence[Decimal]]) -> None:
    for w, week in enumerate(weeks):
        if len(week) != DAYS_IN_WEEK:
            raise HoursError(f"a workweek has 7 daily values, got {len(week)}", w)
        if min(week) >= 0 and max(week) <= DAY_MAX:
            continue  # the common case: one pass of min/max instead of a loop per day
        for d, hours in enumerate(week):
            if hours < 0:
                raise HoursError(f"negative hours ({hours}) in week {w} day {d}", w, d)
            if hours > DAY_MAX:
                raise HoursError(f"more than 24 hours ({hours}) in week {w} day {d}", w, d)


def _flsa_week(week: Sequence[Decimal]) -> WeekHours:
    worked = sum(week, ZERO_HOURS)
    if worked > WEEK_REGULAR:
        return WeekHours(WEEK_REGULAR, worked - WEEK_REGULAR, ZERO_HOURS)
    return WeekHours(worked, ZERO_HOURS, ZERO_HOURS)


def _california_week(week: Sequence[Decimal]) -> WeekHours:
    seventh_day = min(week) > 0  # worked every day of the workweek
    regular = overtime = double_time = ZERO_HOURS
    for day, hours in enumerate(week):
        if seventh_day and day == DAYS_IN_WEEK - 1:
            overtime += min(hours, DAY_REGULAR)
            double_time += max(hours - DAY_REGULAR, ZERO_HOURS)
            continue
        if hours > DAY_REGULAR:
            day_regular = DAY_REGULAR
            if hours > DAY_DOUBLE:
                overtime += DAY_DOUBLE - DAY_REGULAR
                double_time += hours - DAY_DOUBLE
            else:
                overtime += hours - DAY_REGULAR
        else:
            day_regular = hours
        # Weekly rule: only regular hours count toward 40; beyond it they become overtime.
        if regular + day_regular <= WEEK_REGULAR:
            regular += day_regular
        else:
            moved = regular + day_regular - WEEK_REGULAR
            regular = WEEK_REGULAR
            overtime += moved
    return WeekHours(regular, overtime, double_time)


def classify_hours(weeks: Sequence[Sequence[Decimal]], rule: OvertimeRule) -> Hours:
    """Regular, overtime and double-time hours of the period under ``rule``."""
    validate_weeks(weeks)
    split = _california_week if rule is _CALIFORNIA else _flsa_week
    per_week = tuple([split(week) for week in weeks])
    if len(per_week) == 1:
        only = per_week[0]
        return Hours(only.regular, only.overtime, only.double_time, per_week)
    regular = overtime = double_time = ZERO_HOURS
    for week_hours in per_week:
        regular += week_hours.regular
        overtime += week_hours.overtime
        double_time += week_hours.double_time
    return Hours(regular, overtime, double_time, per_week)
