"""The pay-run id rule and pay periods.

A pay run is identified by its pay schedule and the date its period ends (the pay date
of the scheduled run). The id is the Step Functions execution name, so a repeated
trigger for the same period cannot start a second execution.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class PayFrequency(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    SEMIMONTHLY = "semimonthly"
    MONTHLY = "monthly"

    @property
    def periods_per_year(self) -> int:
        return {"weekly": 52, "biweekly": 26, "semimonthly": 24, "monthly": 12}[self.value]


_PAY_RUN_ID = re.compile(r"^pr-(weekly|biweekly|semimonthly|monthly)-(\d{4}-\d{2}-\d{2})$")


class PayPeriod(BaseModel):
    model_config = ConfigDict(frozen=True)

    pay_schedule: PayFrequency
    period_start: date
    period_end: date
    pay_date: date

    @property
    def tax_year(self) -> int:
        # Wages are taxed in the year they are paid (constructive receipt), not earned.
        return self.pay_date.year


def pay_period(schedule: PayFrequency, pay_date: date) -> PayPeriod:
    """The period that ends on ``pay_date`` for a schedule.

    Weekly and biweekly periods are the 7 or 14 days ending on the date; semimonthly
    periods are the 1st-15th and the 16th-last day; monthly the calendar month. For
    semimonthly and monthly the date must be a period end.
    """
    if schedule is PayFrequency.WEEKLY:
        start = pay_date - timedelta(days=6)
    elif schedule is PayFrequency.BIWEEKLY:
        start = pay_date - timedelta(days=13)
    else:
        last = calendar.monthrange(pay_date.year, pay_date.month)[1]
        if schedule is PayFrequency.MONTHLY:
            if pay_date.day != last:
                raise ValueError(f"pay_date {pay_date}: a monthly period ends on day {last}")
            start = pay_date.replace(day=1)
        elif pay_date.day == 15:
            start = pay_date.replace(day=1)
        elif pay_date.day == last:
            start = pay_date.replace(day=16)
        else:
            raise ValueError(
                f"pay_date {pay_date}: a semimonthly period ends on the 15th or {last}"
            )
    return PayPeriod(
        pay_schedule=schedule, period_start=start, period_end=pay_date, pay_date=pay_date
    )


def pay_run_id(schedule: PayFrequency, pay_date: date) -> str:
    """``pr-<schedule>-<YYYY-MM-DD>``: valid as a Step Functions execution name."""
    return f"pr-{schedule.value}-{pay_date.isoformat()}"


def parse_pay_run_id(value: str) -> tuple[PayFrequency, date]:
    match = _PAY_RUN_ID.match(value)
    if not match:
        raise ValueError(f"pay_run_id {value!r} is not pr-<schedule>-<YYYY-MM-DD>")
    return PayFrequency(match.group(1)), date.fromisoformat(match.group(2))
