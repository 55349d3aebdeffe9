"""The ledger and payments: unique keys, exact Decimal amounts, enforced constraints."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from payroll_platform.db.models import Employee, Employer, Payment, PayStatement, TimeEntry

PAY_RUN = "pr-biweekly-2026-03-13"
MONEY_FIELDS = (
    "gross_pay",
    "taxable_wages",
    "federal_income_tax",
    "social_security",
    "medicare",
    "additional_medicare",
    "state_income_tax",
    "retirement_deferral",
    "employer_match",
    "employer_social_security",
    "employer_medicare",
    "futa",
    "section125",
    "net_pay",
)


@pytest.fixture
def employee(engine: Engine) -> str:
    with Session(engine) as session, session.begin():
        session.add(
            Employer(employer_id="er-1", name="Acme Co.", pay_schedule="biweekly", fein="**-***1")
        )
        session.add(
            Employee(
                employee_id="ee-1",
                employer_id="er-1",
                first_name="Ada",
                last_name="Lovelace",
                birth_date=date(1990, 12, 10),
                hire_date=date(2020, 1, 6),
                pay_type="salary",
                pay_frequency="biweekly",
                annual_salary=Decimal("91234.56"),
                flsa_exempt=True,
                work_state="PA",
                w4={"form_year": 2024, "filing_status": "single"},
                bank_account_token="tok_00",
                tax_id_token="tok_01",
            )
        )
    return "ee-1"


def statement(
    amounts: Mapping[str, Decimal] | None = None, pay_run_id: str = PAY_RUN
) -> PayStatement:
    values = {name: Decimal("0.00") for name in MONEY_FIELDS}
    values.update(amounts or {})
    return PayStatement(
        pay_run_id=pay_run_id,
        employee_id="ee-1",
        employer_id="er-1",
        pay_date=date(2026, 3, 13),
        tax_year=2026,
        **values,
    )


def test_ledger_rejects_a_second_statement_for_the_same_run_and_employee(
    engine: Engine, employee: str
) -> None:
    with Session(engine) as session, session.begin():
        session.add(statement({"gross_pay": Decimal("3509.02")}))
    with pytest.raises(IntegrityError, match="UNIQUE"), Session(engine) as session:
        session.add(statement({"gross_pay": Decimal("1.00")}))
        session.commit()
    with Session(engine) as session, session.begin():
        session.add(statement({"gross_pay": Decimal("3509.02")}, "pr-biweekly-2026-03-27"))
    with Session(engine) as session:
        gross = session.scalars(select(PayStatement.gross_pay).order_by(PayStatement.id)).all()
    assert gross == [Decimal("3509.02"), Decimal("3509.02")]


def test_money_round_trips_exactly_as_decimal(engine: Engine, employee: str) -> None:
    amounts = {
        "gross_pay": Decimal("9999999999.99"),
        "taxable_wages": Decimal("0.01"),
        "federal_income_tax": Decimal("1234567.89"),
        "social_security": Decimal("0.10"),
        "medicare": Decimal("0.20"),
        "net_pay": Decimal("-0.30"),
    }
    with Session(engine) as session, session.begin():
        session.add(statement(amounts))
    with Session(engine) as session:
        stored = session.scalars(select(PayStatement)).one()
        assert stored.committed_at is not None
        for name in MONEY_FIELDS:
            value = getattr(stored, name)
            assert isinstance(value, Decimal)
            assert value == amounts.get(name, Decimal("0.00"))
            assert value.as_tuple().exponent == -2
        salary = session.scalars(select(Employee.annual_salary)).one()
    assert salary == Decimal("91234.56")


def test_payments_are_unique_per_run_and_employee_and_per_key(
    engine: Engine, employee: str
) -> None:
    def payment(key: str, pay_run_id: str = PAY_RUN) -> Payment:
        return Payment(
            pay_run_id=pay_run_id, employee_id="ee-1", idempotency_key=key, amount=Decimal("1.00")
        )

    with Session(engine) as session, session.begin():
        session.add(payment("k-1"))
    for duplicate in (payment("k-2"), payment("k-1", "pr-biweekly-2026-03-27")):
        with pytest.raises(IntegrityError), Session(engine) as session:
            session.add(duplicate)
            session.commit()
    with Session(engine) as session:
        stored = session.scalars(select(Payment)).one()
        assert (stored.status, stored.reason, stored.provider_payment_id) == (
            "PENDING",
            None,
            None,
        )


def test_payment_status_is_constrained(engine: Engine, employee: str) -> None:
    with pytest.raises(IntegrityError, match="ck_payments_status"), Session(engine) as session:
        session.add(
            Payment(
                pay_run_id=PAY_RUN,
                employee_id="ee-1",
                idempotency_key="k",
                amount=Decimal("1.00"),
                status="LOST",
            )
        )
        session.commit()


def test_foreign_keys_are_enforced_on_sqlite(engine: Engine, employee: str) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), Session(engine) as session:
        session.add(TimeEntry(employee_id="ee-nobody", work_date=date(2026, 3, 2), hours=8))
        session.commit()


def test_time_entries_are_unique_per_day_and_code(engine: Engine, employee: str) -> None:
    day = date(2026, 3, 2)
    with Session(engine) as session, session.begin():
        session.add(TimeEntry(employee_id="ee-1", work_date=day, hours=Decimal("8.00")))
        session.add(
            TimeEntry(employee_id="ee-1", work_date=day, hours=Decimal("2.00"), earning_code="PTO")
        )
    with pytest.raises(IntegrityError), Session(engine) as session:
        session.add(TimeEntry(employee_id="ee-1", work_date=day, hours=Decimal("1.00")))
        session.commit()
