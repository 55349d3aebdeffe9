"""Read queries: keyset paging, employee records in the contract's shape, time entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from payroll_platform.db.models import Employee, Employer, OtherEarning, TimeEntry
from payroll_platform.db.repository import (
    employee_record,
    iter_due_employers,
    iter_employee_records,
    other_earnings_for,
    time_entries_for,
)
from payroll_platform.db.seed import SeedSummary
from payroll_shared.contracts import EmployeeRecord
from payroll_shared.payrun import PayFrequency, pay_period

CONTRACT_FIELDS = set(EmployeeRecord.model_fields)


@pytest.fixture
def session(seeded: tuple[Engine, SeedSummary]) -> Iterator[Session]:
    engine, _ = seeded
    with Session(engine) as session:
        yield session
        session.rollback()  # tests may add rows; the module's database stays as seeded


class StatementLog:
    def __init__(self, engine: Engine) -> None:
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)
        self._engine = engine

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)


def test_every_seeded_employee_record_validates(session: Session) -> None:
    for employee in session.scalars(select(Employee)):
        record = employee_record(employee)
        assert set(record) == CONTRACT_FIELDS
        json.dumps(record)  # plain JSON types only: no Decimal, no date
        validated = EmployeeRecord.model_validate(record)
        # Exactly the contract's shape: the validated record serializes back to the dict.
        assert validated.model_dump(mode="json") == record


def test_record_formats_amounts_and_dates(session: Session) -> None:
    hourly = session.scalars(select(Employee).where(Employee.pay_type == "hourly")).first()
    assert hourly is not None and hourly.hourly_rate is not None
    record = employee_record(hourly)
    assert record["schema_version"] == "1"
    assert record["hourly_rate"] == str(hourly.hourly_rate.quantize(Decimal("0.01")))
    assert record["annual_salary"] is None
    assert record["birth_date"] == hourly.birth_date.isoformat()
    assert record["section125_per_period"].count(".") == 1
    assert len(record["section125_per_period"].split(".")[1]) == 2
    assert "tax_id_token" not in record and "hire_date" not in record


def test_malformed_row_passes_through_and_fails_naming_the_field(
    session: Session, pay_date: date
) -> None:
    employee = session.scalars(select(Employee).where(Employee.pay_type == "salary")).first()
    assert employee is not None
    employee.annual_salary = None  # nothing in the schema stops this
    session.flush()

    records = {r["employee_id"]: r for r in iter_employee_records(session, employee.employer_id)}
    record = records[employee.employee_id]
    assert record["annual_salary"] is None
    with pytest.raises(ValidationError, match="annual_salary"):
        EmployeeRecord.model_validate(record)


def test_record_keeps_sub_cent_rates_for_validation_to_reject() -> None:
    record = employee_record(
        {
            "employee_id": "ee-x",
            "employer_id": "er-x",
            "pay_type": "hourly",
            "hourly_rate": Decimal("20.1250"),
            "section125_per_period": Decimal("0"),
            "birth_date": None,
            "w4": None,
        }
    )
    assert record["hourly_rate"] == "20.1250"
    assert record["section125_per_period"] == "0.00"
    assert record["birth_date"] is None and record["w4"] is None
    with pytest.raises(ValidationError, match="hourly_rate"):
        EmployeeRecord.model_validate(record)


def test_iter_employee_records_pages_active_employees_in_order(session: Session) -> None:
    employer_id = session.scalars(
        select(Employee.employer_id).group_by(Employee.employer_id).order_by(Employee.employer_id)
    ).first()
    assert employer_id is not None
    expected = session.scalars(
        select(Employee.employee_id)
        .where(Employee.employer_id == employer_id, Employee.active.is_(True))
        .order_by(Employee.employee_id)
    ).all()
    paged = [r["employee_id"] for r in iter_employee_records(session, employer_id, page_size=3)]
    assert paged == list(expected)
    assert paged == [r["employee_id"] for r in iter_employee_records(session, employer_id)]


def test_inactive_employees_are_left_out(session: Session) -> None:
    inactive = session.scalars(select(Employee).where(Employee.active.is_(False))).all()
    assert inactive
    for employee in inactive:
        ids = {r["employee_id"] for r in iter_employee_records(session, employee.employer_id)}
        assert employee.employee_id not in ids


def test_iter_due_employers_returns_each_employer_once_with_small_pages(
    seeded: tuple[Engine, SeedSummary], session: Session
) -> None:
    engine, _ = seeded
    session.add(
        Employer(
            employer_id="er-7-0000-closed",
            name="Closed Shop LLC",
            pay_schedule="weekly",
            active=False,
            fein="**-***0000",
        )
    )
    session.flush()
    all_active = session.scalars(
        select(Employer.employer_id).where(Employer.active.is_(True)).order_by(Employer.employer_id)
    ).all()

    log = StatementLog(engine)
    try:
        due = [e.employer_id for e in iter_due_employers(session, set(PayFrequency), page_size=3)]
    finally:
        log.close()
    assert due == list(all_active)
    assert len(due) == len(set(due)) == 20
    selects = [s for s in log.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == len(due) // 3 + 1  # one LIMIT 3 query per page, never the table
    assert all("LIMIT" in s.upper() for s in selects)


def test_iter_due_employers_filters_by_schedule(session: Session) -> None:
    for schedule in PayFrequency:
        due = list(iter_due_employers(session, {schedule.value}, page_size=2))
        assert due and all(e.pay_schedule == schedule.value for e in due)
    assert list(iter_due_employers(session, set())) == []
    with pytest.raises(ValueError, match="page_size"):
        list(iter_due_employers(session, {"weekly"}, page_size=0))


def test_time_entries_for_groups_by_employee_within_the_range(
    session: Session, seeded: tuple[Engine, SeedSummary]
) -> None:
    _, summary = seeded
    employees = session.scalars(
        select(Employee).where(Employee.pay_frequency == "biweekly", Employee.active.is_(True))
    ).all()
    period = pay_period(PayFrequency.BIWEEKLY, summary.period_ends["biweekly"])
    ids = [e.employee_id for e in employees] + ["ee-unknown"]
    grouped = time_entries_for(session, ids, period.period_start, period.period_end)

    assert set(grouped) == set(ids)
    assert grouped["ee-unknown"] == []
    for employee in employees:
        lines = grouped[employee.employee_id]
        if employee.pay_type == "salary":
            assert lines == []
            continue
        stored = session.scalars(
            select(TimeEntry).where(TimeEntry.employee_id == employee.employee_id)
        ).all()
        assert len(lines) == len(stored)
        assert [line.work_date for line in lines] == sorted(line.work_date for line in lines)
        assert all(isinstance(line.hours, Decimal) for line in lines)

    # The range is inclusive on both ends and excludes everything outside it.
    some = next(e for e in employees if grouped[e.employee_id])
    first_day = grouped[some.employee_id][0].work_date
    only_first = time_entries_for(session, [some.employee_id], first_day, first_day)
    assert [line.work_date for line in only_first[some.employee_id]] == [first_day]


def test_time_entries_for_more_ids_than_one_query_takes(session: Session, pay_date: date) -> None:
    ids = list(session.scalars(select(Employee.employee_id)))
    assert len(ids) > 500
    grouped = time_entries_for(session, ids, date(2026, 1, 1), pay_date)
    total = sum(len(lines) for lines in grouped.values())
    assert total == len(session.scalars(select(TimeEntry.id)).all())


def test_other_earnings_for_a_pay_date(session: Session) -> None:
    bonus = session.scalars(select(OtherEarning)).first()
    assert bonus is not None
    grouped = other_earnings_for(session, [bonus.employee_id, "ee-none"], bonus.pay_date)
    assert grouped["ee-none"] == []
    assert [(line.code, line.amount) for line in grouped[bonus.employee_id]] == [
        ("BONUS", bonus.amount)
    ]
    assert other_earnings_for(session, [bonus.employee_id], date(1999, 1, 1)) == {
        bonus.employee_id: []
    }
