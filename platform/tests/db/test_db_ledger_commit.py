"""payroll_platform.db.ledger: statements committed once, payments upserted, exact amounts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from payroll_platform.db.engine import session_scope
from payroll_platform.db.ledger import (
    PaymentRecord,
    commit_statements,
    count_statements,
    payments_for,
    record_payment,
    record_payments,
    statements_for,
)
from payroll_platform.db.models import Employee, Employer

PAY_RUN = "pr-biweekly-2026-03-13"


@pytest.fixture
def employees(engine: Engine) -> list[str]:
    ids = ["ee-1", "ee-2"]
    with Session(engine) as session, session.begin():
        session.add(
            Employer(employer_id="er-1", name="Acme Co.", pay_schedule="biweekly", fein="**-***1")
        )
        for employee_id in ids:
            session.add(
                Employee(
                    employee_id=employee_id,
                    employer_id="er-1",
                    first_name="Ada",
                    last_name="Lovelace",
                    birth_date=date(1990, 12, 10),
                    hire_date=date(2020, 1, 6),
                    pay_type="salary",
                    pay_frequency="biweekly",
                    annual_salary=Decimal("91234.56"),
                    work_state="PA",
                    w4={"form_year": 2024, "filing_status": "single"},
                    bank_account_token=f"tok_{employee_id}",
                    tax_id_token="tok_x",
                )
            )
    return ids


def statement(employee_id: str, net_pay: str = "2765.43") -> dict[str, Any]:
    return {
        "pay_run_id": PAY_RUN,
        "employee_id": employee_id,
        "employer_id": "er-1",
        "pay_date": date(2026, 3, 13),
        "tax_year": 2026,
        "gross_pay": Decimal("3509.02"),
        "taxable_wages": Decimal("3333.33"),
        "federal_income_tax": Decimal("401.17"),
        "social_security": Decimal("217.56"),
        "medicare": Decimal("50.88"),
        "additional_medicare": Decimal("0.00"),
        "state_income_tax": Decimal("107.73"),
        "retirement_deferral": Decimal("175.45"),
        "roth": False,
        "employer_match": Decimal("105.27"),
        "employer_social_security": Decimal("217.56"),
        "employer_medicare": Decimal("50.88"),
        "futa": Decimal("0.01"),
        "section125": Decimal("0.00"),
        "net_pay": Decimal(net_pay),
    }


def test_a_second_commit_inserts_nothing(engine: Engine, employees: list[str]) -> None:
    statements = [statement(e) for e in employees]
    with session_scope(engine) as session:
        assert commit_statements(session, statements) == 2
    with session_scope(engine) as session:
        # Same key, other amount: the committed statement stays as it was.
        changed = [statement("ee-1", net_pay="1.00"), statement("ee-2")]
        assert commit_statements(session, changed) == 0
    with session_scope(engine) as session:
        rows = statements_for(session, PAY_RUN, "er-1")
        assert [r.employee_id for r in rows] == ["ee-1", "ee-2"]
        assert [r.net_pay for r in rows] == [Decimal("2765.43")] * 2
        assert rows[0].futa == Decimal("0.01")
        assert count_statements(session, PAY_RUN, "er-1") == 2
        assert statements_for(session, PAY_RUN, "er-2") == []


def test_a_partly_committed_employer_commits_only_the_rest(
    engine: Engine, employees: list[str]
) -> None:
    with session_scope(engine) as session:
        assert commit_statements(session, [statement("ee-1")]) == 1
    with session_scope(engine) as session:
        assert commit_statements(session, [statement(e) for e in employees]) == 1
    with session_scope(engine) as session:
        assert count_statements(session, PAY_RUN, "er-1") == 2


def test_a_failed_transaction_commits_nothing(engine: Engine, employees: list[str]) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        commit_statements(session, [statement(e) for e in employees])
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert statements_for(session, PAY_RUN, "er-1") == []


def test_unknown_fields_are_refused(engine: Engine, employees: list[str]) -> None:
    with pytest.raises(ValueError, match="bonus"), session_scope(engine) as session:
        commit_statements(session, [{**statement("ee-1"), "bonus": Decimal("1.00")}])


def test_record_payment_upserts_and_keeps_an_acceptance(
    engine: Engine, employees: list[str]
) -> None:
    key = f"{PAY_RUN}:ee-1"
    with session_scope(engine) as session:
        record_payment(
            session,
            pay_run_id=PAY_RUN,
            employee_id="ee-1",
            idempotency_key=key,
            amount=Decimal("2765.43"),
            status="PENDING",
        )
    with session_scope(engine) as session:
        record_payment(
            session,
            pay_run_id=PAY_RUN,
            employee_id="ee-1",
            idempotency_key=key,
            amount=Decimal("2765.43"),
            status="ACCEPTED",
            provider_payment_id="pay_1",
        )
    with session_scope(engine) as session:
        # A late PENDING never undoes the provider's acceptance.
        record_payment(
            session,
            pay_run_id=PAY_RUN,
            employee_id="ee-1",
            idempotency_key=key,
            amount=Decimal("2765.43"),
            status="PENDING",
        )
        record_payment(
            session,
            pay_run_id=PAY_RUN,
            employee_id="ee-2",
            idempotency_key=f"{PAY_RUN}:ee-2",
            amount=Decimal("10.05"),
            status="REJECTED",
            reason="account_invalid: the account is closed",
        )
    with session_scope(engine) as session:
        rows = payments_for(session, PAY_RUN)
        assert [(r.employee_id, r.status, r.provider_payment_id, r.amount) for r in rows] == [
            ("ee-1", "ACCEPTED", "pay_1", Decimal("2765.43")),
            ("ee-2", "REJECTED", None, Decimal("10.05")),
        ]
        assert rows[1].reason == "account_invalid: the account is closed"
        assert [r.employee_id for r in payments_for(session, PAY_RUN, ["ee-2"])] == ["ee-2"]


def test_record_payment_refuses_an_unknown_status(engine: Engine, employees: list[str]) -> None:
    with pytest.raises(ValueError, match="status"), session_scope(engine) as session:
        record_payment(
            session,
            pay_run_id=PAY_RUN,
            employee_id="ee-1",
            idempotency_key="k",
            amount=Decimal("1.00"),
            status="SENT",
        )


def test_record_payments_writes_many_rows_with_one_statement_in_order(
    engine: Engine, employees: list[str]
) -> None:
    executed: list[tuple[str, bool]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, many: bool) -> None:
        executed.append((statement.split()[0], many))

    def record(*records: PaymentRecord) -> None:
        with session_scope(engine) as session:
            record_payments(session, list(records))

    record(
        PaymentRecord(PAY_RUN, "ee-1", f"{PAY_RUN}:ee-1", Decimal("2765.43"), "PENDING"),
        PaymentRecord(PAY_RUN, "ee-2", f"{PAY_RUN}:ee-2", Decimal("10.05"), "PENDING"),
    )
    event.listen(engine, "before_cursor_execute", seen)
    try:
        record(
            PaymentRecord(PAY_RUN, "ee-1", f"{PAY_RUN}:ee-1", Decimal("2765.43"), "ACCEPTED", "p1"),
            # A later record of the same employee in the same call is applied after it:
            # the acceptance stays.
            PaymentRecord(PAY_RUN, "ee-1", f"{PAY_RUN}:ee-1", Decimal("2765.43"), "PENDING"),
            PaymentRecord(
                PAY_RUN, "ee-2", f"{PAY_RUN}:ee-2", Decimal("10.05"), "REJECTED", None, "closed"
            ),
            # A redrive's new attempt replaces the refused one, and its reason.
            PaymentRecord(
                PAY_RUN, "ee-2", f"{PAY_RUN}:ee-2:a2", Decimal("10.05"), "ACCEPTED", "p2"
            ),
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [e for e in executed if e[0] == "INSERT"] == [("INSERT", True)]
    with session_scope(engine) as session:
        rows = payments_for(session, PAY_RUN)
        assert [
            (r.employee_id, r.status, r.idempotency_key, r.provider_payment_id, r.reason)
            for r in rows
        ] == [
            ("ee-1", "ACCEPTED", f"{PAY_RUN}:ee-1", "p1", None),
            ("ee-2", "ACCEPTED", f"{PAY_RUN}:ee-2:a2", "p2", None),
        ]


def test_record_payments_refuses_an_unknown_status_naming_the_employee_and_writes_nothing(
    engine: Engine, employees: list[str]
) -> None:
    with pytest.raises(ValueError, match="ee-2: status 'SENT'"), session_scope(engine) as session:
        record_payments(
            session,
            [
                PaymentRecord(PAY_RUN, "ee-1", "k1", Decimal("1.00"), "PENDING"),
                PaymentRecord(PAY_RUN, "ee-2", "k2", Decimal("1.00"), "SENT"),
            ],
        )
    with session_scope(engine) as session:
        assert payments_for(session, PAY_RUN) == []
        record_payments(session, [])
        assert payments_for(session, PAY_RUN) == []


def test_the_payments_upsert_compiles_for_postgresql() -> None:
    """Aurora's dialect builds the same statement (the server tests run it when given)."""
    from sqlalchemy.dialects import postgresql

    from payroll_platform.db import ledger

    class _Bind:
        dialect = postgresql.dialect()

    class _Session:
        def get_bind(self) -> Any:
            return _Bind()

        def execute(self, query: Any, params: list[dict[str, Any]]) -> None:
            sql = str(query.compile(dialect=postgresql.dialect()))
            assert "ON CONFLICT (pay_run_id, employee_id) DO UPDATE" in sql
            assert "excluded.status" in sql
            assert [p["employee_id"] for p in params] == ["ee-1"]

    ledger.record_payments(
        _Session(),  # type: ignore[arg-type]
        [PaymentRecord(PAY_RUN, "ee-1", "k1", Decimal("1.00"), "PENDING")],
    )


def test_statements_commit_with_one_insert_per_set_of_columns_counting_only_new_rows(
    engine: Engine, employees: list[str]
) -> None:
    inserts: list[bool] = []

    def seen(_conn: Any, _cursor: Any, sql: str, _params: Any, _ctx: Any, many: bool) -> None:
        if sql.startswith("INSERT"):
            inserts.append(many)

    with session_scope(engine) as session:
        assert commit_statements(session, [statement("ee-1")]) == 1
    without_roth = {k: v for k, v in statement("ee-2").items() if k != "roth"}
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with session_scope(engine) as session:
            # ee-1 is committed already, ee-2 comes twice: one new row.
            batch = [statement("ee-1"), statement("ee-2"), statement("ee-2", net_pay="1.00")]
            assert commit_statements(session, batch) == 1
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # insertmanyvalues: one INSERT ... VALUES (...), (...), (...) for the three rows.
    assert len(inserts) == 1
    with session_scope(engine) as session:
        rows = statements_for(session, PAY_RUN, "er-1")
        assert [(r.employee_id, r.net_pay) for r in rows] == [
            ("ee-1", Decimal("2765.43")),
            ("ee-2", Decimal("2765.43")),
        ]
    with session_scope(engine) as session:
        # Another set of columns (roth left to its default) is its own statement.
        assert commit_statements(session, [statement("ee-1"), without_roth]) == 0
