"""The same schema and queries on PostgreSQL, when a server is given.

Set ``PAYROLL_TEST_POSTGRES_URL`` to a server URL whose user may create databases
(e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``); each test run creates and
drops its own database. Skipped otherwise, so unit runs need no server and no network.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Numeric, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from payroll_platform.db.engine import make_engine
from payroll_platform.db.migrate import current_revision, head_revision, migrate
from payroll_platform.db.models import Base, Employee, PayStatement
from payroll_platform.db.repository import iter_due_employers, iter_employee_records
from payroll_platform.db.seed import seed
from payroll_shared.contracts import EmployeeRecord

SERVER_URL = os.environ.get("PAYROLL_TEST_POSTGRES_URL", "")

pytestmark = [
    pytest.mark.enable_socket,
    pytest.mark.skipif(not SERVER_URL, reason="PAYROLL_TEST_POSTGRES_URL is not set"),
]


@pytest.fixture(scope="module")
def new_database() -> Iterator[Callable[[], str]]:
    """``new_database()``: the URL of a newly created, empty database (dropped at the end)."""
    pytest.importorskip("psycopg")
    admin = make_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def create() -> str:
        name = f"payroll_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def pg_engine(new_database: Callable[[], str]) -> Iterator[Engine]:
    engine = make_engine(new_database())
    migrate(engine=engine)
    seed(engine, employers=8, employees=200, pay_date=date(2026, 3, 13))
    yield engine
    engine.dispose()


def test_concurrent_migrations_wait_for_each_other(new_database: Callable[[], str]) -> None:
    url = new_database()
    engines = [make_engine(url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for future in [pool.submit(migrate, engine=engine) for engine in engines]:
                future.result()
        assert current_revision(engines[0]) == head_revision()
    finally:
        for engine in engines:
            engine.dispose()


def test_schema_matches_the_models(pg_engine: Engine) -> None:
    with pg_engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []
    assert current_revision(pg_engine) == head_revision()


def test_seeded_records_validate(pg_engine: Engine) -> None:
    with Session(pg_engine) as session:
        assert session.scalar(select(func.count()).select_from(Employee)) == 200
        employers = list(
            iter_due_employers(
                session, {"weekly", "biweekly", "semimonthly", "monthly"}, page_size=3
            )
        )
        assert len(employers) == 8
        count = 0
        for employer in employers:
            for record in iter_employee_records(session, employer.employer_id, page_size=7):
                EmployeeRecord.model_validate(record)
                count += 1
        assert 0 < count <= 200


def test_ledger_is_unique_and_exact(pg_engine: Engine) -> None:
    with Session(pg_engine) as session:
        employee = session.scalars(select(Employee)).first()
        assert employee is not None
        employee_id, employer_id = employee.employee_id, employee.employer_id

    def statement() -> PayStatement:
        return PayStatement(
            pay_run_id="pr-weekly-2026-03-13",
            employee_id=employee_id,
            employer_id=employer_id,
            pay_date=date(2026, 3, 13),
            tax_year=2026,
            gross_pay=Decimal("9999999999.99"),
            taxable_wages=Decimal("0.01"),
            federal_income_tax=Decimal("0"),
            social_security=Decimal("0"),
            medicare=Decimal("0"),
            additional_medicare=Decimal("0"),
            state_income_tax=Decimal("0"),
            retirement_deferral=Decimal("0"),
            employer_match=Decimal("0"),
            employer_social_security=Decimal("0"),
            employer_medicare=Decimal("0"),
            futa=Decimal("0"),
            section125=Decimal("0"),
            net_pay=Decimal("0"),
        )

    with Session(pg_engine) as session, session.begin():
        session.add(statement())
    with pytest.raises(IntegrityError), Session(pg_engine) as session:
        session.add(statement())
        session.commit()
    with Session(pg_engine) as session:
        gross = session.scalars(select(PayStatement.gross_pay)).one()
    assert gross == Decimal("9999999999.99")


def test_the_ledger_writes_a_batch_once_on_postgresql(pg_engine: Engine) -> None:
    """commit_statements' one INSERT ... RETURNING counts only new rows (a duplicate in
    the same batch included), and record_payments' one upsert applies its rows in order."""
    from payroll_platform.db.engine import session_scope
    from payroll_platform.db.ledger import (
        PaymentRecord,
        commit_statements,
        payments_for,
        record_payments,
        statements_for,
    )

    pay_run = "pr-batch-2026-03-13"
    with Session(pg_engine) as session:
        employer_id = session.scalars(select(Employee.employer_id)).first()
        first, second = session.scalars(
            select(Employee.employee_id)
            .where(Employee.employer_id == employer_id)
            .order_by(Employee.employee_id)
            .limit(2)
        ).all()

    def row(employee_id: str, net_pay: str = "100.00") -> dict[str, object]:
        # Every amount column (the model's Numeric ones) zero, but the net pay.
        amounts = {
            column.key: Decimal("0")
            for column in PayStatement.__table__.columns
            if isinstance(column.type, Numeric)
        }
        return {
            "pay_run_id": pay_run,
            "employee_id": employee_id,
            "employer_id": employer_id,
            "pay_date": date(2026, 3, 13),
            "tax_year": 2026,
            **amounts,
            "net_pay": Decimal(net_pay),
        }

    with session_scope(pg_engine) as session:
        assert commit_statements(session, [row(first)]) == 1
    with session_scope(pg_engine) as session:
        batch = [row(first), row(second), row(second, net_pay="1.00")]
        assert commit_statements(session, batch) == 1
    with session_scope(pg_engine) as session:
        committed = statements_for(session, pay_run, employer_id)
        assert [(s.employee_id, s.net_pay) for s in committed] == [
            (first, Decimal("100.00")),
            (second, Decimal("100.00")),
        ]

    def payment(employee_id: str, key: str, status: str, *rest: str | None) -> PaymentRecord:
        return PaymentRecord(pay_run, employee_id, key, Decimal("100.00"), status, *rest)

    with session_scope(pg_engine) as session:
        record_payments(
            session, [payment(first, "k1", "PENDING"), payment(second, "k2", "PENDING")]
        )
    with session_scope(pg_engine) as session:
        record_payments(
            session,
            [
                payment(first, "k1", "ACCEPTED", "p1"),
                payment(first, "k1", "PENDING"),  # after the acceptance: it stays
                payment(second, "k2", "REJECTED", None, "closed"),
                payment(second, "k2:a2", "ACCEPTED", "p2"),  # a redrive's new attempt
            ],
        )
    with session_scope(pg_engine) as session:
        rows = payments_for(session, pay_run)
        assert sorted(
            (r.employee_id, r.status, r.idempotency_key, r.provider_payment_id, r.reason)
            for r in rows
        ) == sorted(
            [(first, "ACCEPTED", "k1", "p1", None), (second, "ACCEPTED", "k2:a2", "p2", None)]
        )
