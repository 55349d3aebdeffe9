"""Read queries of the pay run: due employers, employee records, time, other earnings.

Large reads are keyset-paged (``WHERE key > last ORDER BY key LIMIT n``): each page is
one short indexed query, memory stays at one page, and rows added behind the cursor
cannot shift a page the way ``OFFSET`` would.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from payroll_platform.db.models import Employee, Employer, OtherEarning, TimeEntry
from payroll_shared.money import CENT

# Stays under every backend's bound-parameter limit (old SQLite builds allow 999).
_IN_CHUNK = 500


@dataclass(frozen=True)
class TimeEntryLine:
    employee_id: str
    work_date: date
    hours: Decimal
    earning_code: str


@dataclass(frozen=True)
class OtherEarningLine:
    employee_id: str
    pay_date: date
    code: str
    amount: Decimal


def _check_page_size(page_size: int) -> None:
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")


def iter_due_employers(
    session: Session, schedules: Iterable[str], page_size: int = 500
) -> Iterator[Employer]:
    """Active employers on any of ``schedules``, in employer_id order, one page at a time."""
    _check_page_size(page_size)
    wanted = sorted({str(schedule) for schedule in schedules})
    if not wanted:
        return
    last: str | None = None
    while True:
        query = (
            select(Employer)
            .where(Employer.active.is_(True), Employer.pay_schedule.in_(wanted))
            .order_by(Employer.employer_id)
            .limit(page_size)
        )
        if last is not None:
            query = query.where(Employer.employer_id > last)
        page = session.scalars(query).all()
        if not page:
            return
        last = page[-1].employer_id
        yield from page
        if len(page) < page_size:
            return


def _money(value: Decimal | None) -> str | None:
    """Two decimals; a value with sub-cent digits passes through unrounded.

    Rounding a stored rate is a business decision this layer does not take: the
    contract's validation then rejects the value and names the field.
    """
    if value is None:
        return None
    if value == value.quantize(CENT):
        return str(value.quantize(CENT))
    return format(value, "f")


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _document(value: Any) -> Any:
    # A copy, so a consumer that edits the record cannot touch the ORM's state.
    if isinstance(value, Mapping):
        return dict(value)
    return value


def employee_record(row: Employee | Mapping[str, Any]) -> dict[str, Any]:
    """The ``EmployeeRecord`` contract's shape as a plain dict, NOT validated.

    A malformed row (a salaried employee without a salary, an unknown state) still
    becomes a record with the bad value in place, so the step that validates it fails
    that one employee and names the field instead of failing the whole employer.
    Accepts an ``Employee`` or any mapping with the same column names.
    """

    def column(name: str) -> Any:
        if isinstance(row, Mapping):
            return row.get(name)
        return getattr(row, name)

    return {
        "schema_version": "1",
        "employee_id": column("employee_id"),
        "employer_id": column("employer_id"),
        "first_name": column("first_name"),
        "last_name": column("last_name"),
        "birth_date": _iso(column("birth_date")),
        "pay_type": column("pay_type"),
        "pay_frequency": column("pay_frequency"),
        "annual_salary": _money(column("annual_salary")),
        "hourly_rate": _money(column("hourly_rate")),
        "flsa_exempt": column("flsa_exempt"),
        "overtime_rule": column("overtime_rule"),
        "work_state": column("work_state"),
        "w4": _document(column("w4")),
        "state_withholding": _document(column("state_withholding")),
        "retirement": _document(column("retirement")),
        "section125_per_period": _money(column("section125_per_period")),
        "bank_account_token": column("bank_account_token"),
    }


def iter_employee_records(
    session: Session, employer_id: str, page_size: int = 500
) -> Iterator[dict[str, Any]]:
    """``employee_record`` of each active employee of an employer, by employee_id."""
    _check_page_size(page_size)
    last: str | None = None
    while True:
        query = (
            select(Employee)
            .where(Employee.employer_id == employer_id, Employee.active.is_(True))
            .order_by(Employee.employee_id)
            .limit(page_size)
        )
        if last is not None:
            query = query.where(Employee.employee_id > last)
        page = session.scalars(query).all()
        if not page:
            return
        last = page[-1].employee_id
        # Only the page's records are held; the session's identity map is weak, so the
        # rows of earlier pages are freed once nothing refers to them.
        yield from (employee_record(row) for row in page)
        if len(page) < page_size:
            return


def employee_records_by_id(
    session: Session, employer_id: str, employee_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """``employee_record`` of the listed employees that are active employees of the
    employer, by id (a redrive reads exactly the employees it runs again)."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(employee_ids):
        query = (
            select(Employee)
            .where(
                Employee.employer_id == employer_id,
                Employee.active.is_(True),
                Employee.employee_id.in_(chunk),
            )
            .order_by(Employee.employee_id)
        )
        for row in session.scalars(query):
            found[row.employee_id] = employee_record(row)
    return found


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    unique = sorted(set(values))
    for start in range(0, len(unique), _IN_CHUNK):
        yield unique[start : start + _IN_CHUNK]


def time_entries_for(
    session: Session, employee_ids: Iterable[str], start: date, end: date
) -> dict[str, list[TimeEntryLine]]:
    """Time entries dated ``start`` to ``end`` (inclusive), by employee, in date order.

    Every requested employee has a key; one without entries maps to an empty list.
    """
    ids = list(employee_ids)
    grouped: dict[str, list[TimeEntryLine]] = {employee_id: [] for employee_id in ids}
    for chunk in _chunks(ids):
        query = (
            select(
                TimeEntry.employee_id,
                TimeEntry.work_date,
                TimeEntry.hours,
                TimeEntry.earning_code,
            )
            .where(
                TimeEntry.employee_id.in_(chunk),
                TimeEntry.work_date >= start,
                TimeEntry.work_date <= end,
            )
            .order_by(TimeEntry.employee_id, TimeEntry.work_date, TimeEntry.earning_code)
        )
        for employee_id, work_date, hours, earning_code in session.execute(query):
            grouped[employee_id].append(
                TimeEntryLine(
                    employee_id=employee_id,
                    work_date=work_date,
                    hours=hours,
                    earning_code=earning_code,
                )
            )
    return grouped


def other_earnings_for(
    session: Session, employee_ids: Iterable[str], pay_date: date
) -> dict[str, list[OtherEarningLine]]:
    """Other earnings (bonuses...) paid with ``pay_date``, by employee; empty lists too."""
    ids = list(employee_ids)
    grouped: dict[str, list[OtherEarningLine]] = {employee_id: [] for employee_id in ids}
    for chunk in _chunks(ids):
        query = (
            select(OtherEarning.employee_id, OtherEarning.code, OtherEarning.amount)
            .where(OtherEarning.employee_id.in_(chunk), OtherEarning.pay_date == pay_date)
            .order_by(OtherEarning.employee_id, OtherEarning.id)
        )
        for employee_id, code, amount in session.execute(query):
            grouped[employee_id].append(
                OtherEarningLine(
                    employee_id=employee_id, pay_date=pay_date, code=code, amount=amount
                )
            )
    return grouped


__all__ = [
    "OtherEarningLine",
    "TimeEntryLine",
    "employee_record",
    "iter_due_employers",
    "iter_employee_records",
    "other_earnings_for",
    "time_entries_for",
]


@dataclass(frozen=True)
class YearToDate:
    """Sums over an employee's committed pay statements of one calendar year.

    There is no running counter to double count: year to date is always recomputed from
    the ledger, whose (pay_run_id, employee_id) key admits each statement once.
    """

    employee_id: str
    tax_year: int
    gross: Decimal = Decimal("0.00")
    fica_wages: Decimal = Decimal("0.00")
    medicare_wages: Decimal = Decimal("0.00")
    taxable_wages: Decimal = Decimal("0.00")
    retirement_deferrals: Decimal = Decimal("0.00")
    employer_match: Decimal = Decimal("0.00")
    futa_wages: Decimal = Decimal("0.00")


def year_to_date(
    session: Session, employee_ids: Iterable[str], tax_year: int, before: date
) -> dict[str, YearToDate]:
    """Year-to-date totals of committed statements paid in ``tax_year`` before ``before``.

    Every requested id gets an entry (zeros when nothing was paid yet). FICA and Medicare
    wages are gross less section 125 (401(k) deferrals stay FICA wages).
    """
    from sqlalchemy import func

    from payroll_platform.db.models import PayStatement

    totals: dict[str, YearToDate] = {}
    ids = list(dict.fromkeys(employee_ids))
    for batch in _chunks(ids):
        rows = session.execute(
            select(
                PayStatement.employee_id,
                func.coalesce(func.sum(PayStatement.gross_pay), 0),
                func.coalesce(func.sum(PayStatement.section125), 0),
                func.coalesce(func.sum(PayStatement.taxable_wages), 0),
                func.coalesce(func.sum(PayStatement.retirement_deferral), 0),
                func.coalesce(func.sum(PayStatement.employer_match), 0),
            )
            .where(
                PayStatement.employee_id.in_(batch),
                PayStatement.tax_year == tax_year,
                PayStatement.pay_date < before,
            )
            .group_by(PayStatement.employee_id)
        ).all()
        for employee_id, gross, section125, taxable, deferrals, match in rows:
            fica = Decimal(gross) - Decimal(section125)
            totals[employee_id] = YearToDate(
                employee_id=employee_id,
                tax_year=tax_year,
                gross=Decimal(gross),
                fica_wages=fica,
                medicare_wages=fica,
                taxable_wages=Decimal(taxable),
                retirement_deferrals=Decimal(deferrals),
                employer_match=Decimal(match),
                futa_wages=fica,
            )
    return {i: totals.get(i, YearToDate(employee_id=i, tax_year=tax_year)) for i in ids}
