"""Migrations: the hand-written revisions produce exactly the models' schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from payroll_platform.db.engine import get_engine, make_engine
from payroll_platform.db.migrate import current_revision, head_revision, migrate
from payroll_platform.db.models import Base


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_migrate_builds_the_models_schema_on_sqlite(sqlite_url: Callable[[str], str]) -> None:
    url = sqlite_url("payroll.sqlite")
    migrate(url)
    engine = get_engine(url)

    assert schema_differences(engine) == []
    assert set(inspect(engine).get_table_names()) == {
        "alembic_version",
        "employers",
        "employees",
        "time_entries",
        "other_earnings",
        "pay_statements",
        "payments",
    }
    assert current_revision(engine) == head_revision() == "0001"


def test_migrate_twice_is_a_no_op(engine: Engine) -> None:
    migrate(engine=engine)
    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []


def test_migrate_reads_database_url(
    tmp_path: Path, sqlite_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url("from-env.sqlite")
    monkeypatch.setenv("DATABASE_URL", url)
    migrate()
    assert (tmp_path / "from-env.sqlite").exists()
    assert current_revision(make_engine(url)) == head_revision()


def test_constraints_carry_conventional_names(engine: Engine) -> None:
    inspector = inspect(engine)
    assert {c["name"] for c in inspector.get_unique_constraints("pay_statements")} == {
        "uq_pay_statements_pay_run_id_employee_id"
    }
    assert {c["name"] for c in inspector.get_unique_constraints("payments")} == {
        "uq_payments_idempotency_key",
        "uq_payments_pay_run_id_employee_id",
    }
    assert {c["name"] for c in inspector.get_check_constraints("employees")} == {
        "ck_employees_pay_type",
        "ck_employees_pay_frequency",
        "ck_employees_overtime_rule",
    }
