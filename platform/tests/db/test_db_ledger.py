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


def test_year_to_date_sums_committed_statements_of_the_year_before_the_date(
    engine: Engine, employee: str
) -> None:
    from payroll_platform.db.repository import year_to_date

    def paid(run: str, pay_date: date, gross: str, section125: str, deferral: str) -> PayStatement:
        row = statement(
            {
                "gross_pay": Decimal(gross),
                "section125": Decimal(section125),
                "retirement_deferral": Decimal(deferral),
                "taxable_wages": Decimal(gross) - Decimal(section125) - Decimal(deferral),
            },
            pay_run_id=run,
        )
        row.pay_date = pay_date
        row.tax_year = pay_date.year
        return row

    with Session(engine) as session, session.begin():
        session.add(paid("pr-biweekly-2025-12-26", date(2025, 12, 26), "5000.00", "0", "100"))
        session.add(paid("pr-biweekly-2026-01-09", date(2026, 1, 9), "3000.00", "50.00", "150"))
        session.add(paid("pr-biweekly-2026-01-23", date(2026, 1, 23), "3000.00", "50.00", "150"))
        session.add(paid("pr-biweekly-2026-02-06", date(2026, 2, 6), "3000.00", "50.00", "150"))
    with Session(engine) as session:
        ytd = year_to_date(session, ["ee-1", "ee-none"], 2026, before=date(2026, 2, 6))
    # Two 2026 statements before Feb 6: the 2025 one and the Feb 6 one do not count.
    assert ytd["ee-1"].gross == Decimal("6000.00")
    assert ytd["ee-1"].fica_wages == Decimal("5900.00")  # section 125 is not FICA wages
    assert ytd["ee-1"].retirement_deferrals == Decimal("300.00")
    assert ytd["ee-1"].taxable_wages == Decimal("5600.00")
    assert ytd["ee-none"].gross == Decimal("0.00")
