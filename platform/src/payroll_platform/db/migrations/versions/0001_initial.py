"""Initial schema: employers, employees, time entries, other earnings, ledger, payments.

Written by hand to match ``payroll_platform.db.models`` as of this revision; a test
checks the migrated schema against the models. Migrations never import the models:
each revision keeps the schema of its own time.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(12, 2)
PER_PERIOD_MONEY = sa.Numeric(10, 2)
HOURLY_RATE = sa.Numeric(10, 4)
HOURS = sa.Numeric(5, 2)
TIMESTAMP = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")


def _document() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _surrogate_key() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "employers",
        sa.Column("employer_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("pay_schedule", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("fein", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "pay_schedule IN ('weekly', 'biweekly', 'semimonthly', 'monthly')",
            name=op.f("ck_employers_pay_schedule"),
        ),
        sa.PrimaryKeyConstraint("employer_id", name=op.f("pk_employers")),
    )

    op.create_table(
        "employees",
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("employer_id", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=False),
        sa.Column("last_name", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("hire_date", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("pay_type", sa.String(16), nullable=False),
        sa.Column("pay_frequency", sa.String(16), nullable=False),
        sa.Column("annual_salary", MONEY, nullable=True),
        sa.Column("hourly_rate", HOURLY_RATE, nullable=True),
        sa.Column("flsa_exempt", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("overtime_rule", sa.String(16), server_default=sa.text("'flsa'"), nullable=False),
        sa.Column("work_state", sa.String(2), nullable=False),
        sa.Column("w4", _document(), nullable=False),
        sa.Column("state_withholding", _document(), nullable=False),
        sa.Column("retirement", _document(), nullable=False),
        sa.Column(
            "section125_per_period", PER_PERIOD_MONEY, server_default=sa.text("0"), nullable=False
        ),
        sa.Column("bank_account_token", sa.String(128), nullable=False),
        sa.Column("tax_id_token", sa.String(128), nullable=False),
        sa.CheckConstraint("pay_type IN ('salary', 'hourly')", name=op.f("ck_employees_pay_type")),
        sa.CheckConstraint(
            "pay_frequency IN ('weekly', 'biweekly', 'semimonthly', 'monthly')",
            name=op.f("ck_employees_pay_frequency"),
        ),
        sa.CheckConstraint(
            "overtime_rule IN ('flsa', 'california')", name=op.f("ck_employees_overtime_rule")
        ),
        sa.ForeignKeyConstraint(
            ["employer_id"],
            ["employers.employer_id"],
            name=op.f("fk_employees_employer_id_employers"),
        ),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_employees")),
    )
    op.create_index(
        op.f("ix_employees_employer_id_employee_id"),
        "employees",
        ["employer_id", "employee_id"],
        unique=False,
    )

    op.create_table(
        "time_entries",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("hours", HOURS, nullable=False),
        sa.Column("earning_code", sa.String(16), server_default=sa.text("'REG'"), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.employee_id"],
            name=op.f("fk_time_entries_employee_id_employees"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entries")),
        sa.UniqueConstraint(
            "employee_id",
            "work_date",
            "earning_code",
            name=op.f("uq_time_entries_employee_id_work_date_earning_code"),
        ),
    )

    op.create_table(
        "other_earnings",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("pay_date", sa.Date(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.employee_id"],
            name=op.f("fk_other_earnings_employee_id_employees"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_other_earnings")),
    )
    op.create_index(
        op.f("ix_other_earnings_employee_id_pay_date"),
        "other_earnings",
        ["employee_id", "pay_date"],
        unique=False,
    )

    op.create_table(
        "pay_statements",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("pay_run_id", sa.String(64), nullable=False),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("employer_id", sa.String(64), nullable=False),
        sa.Column("pay_date", sa.Date(), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("gross_pay", MONEY, nullable=False),
        sa.Column("taxable_wages", MONEY, nullable=False),
        sa.Column("federal_income_tax", MONEY, nullable=False),
        sa.Column("social_security", MONEY, nullable=False),
        sa.Column("medicare", MONEY, nullable=False),
        sa.Column("additional_medicare", MONEY, nullable=False),
        sa.Column("state_income_tax", MONEY, nullable=False),
        sa.Column("retirement_deferral", MONEY, nullable=False),
        sa.Column("roth", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("employer_match", MONEY, nullable=False),
        sa.Column("employer_social_security", MONEY, nullable=False),
        sa.Column("employer_medicare", MONEY, nullable=False),
        sa.Column("futa", MONEY, nullable=False),
        sa.Column("section125", MONEY, nullable=False),
        sa.Column("net_pay", MONEY, nullable=False),
        sa.Column("committed_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.employee_id"],
            name=op.f("fk_pay_statements_employee_id_employees"),
        ),
        sa.ForeignKeyConstraint(
            ["employer_id"],
            ["employers.employer_id"],
            name=op.f("fk_pay_statements_employer_id_employers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_statements")),
        sa.UniqueConstraint(
            "pay_run_id", "employee_id", name=op.f("uq_pay_statements_pay_run_id_employee_id")
        ),
    )
    op.create_index(
        op.f("ix_pay_statements_employee_id_tax_year"),
        "pay_statements",
        ["employee_id", "tax_year"],
        unique=False,
    )
    op.create_index(
        op.f("ix_pay_statements_employer_id_pay_date"),
        "pay_statements",
        ["employer_id", "pay_date"],
        unique=False,
    )

    op.create_table(
        "payments",
        sa.Column("id", _surrogate_key(), autoincrement=True, nullable=False),
        sa.Column("pay_run_id", sa.String(64), nullable=False),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("provider_payment_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), server_default=sa.text("'PENDING'"), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("updated_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "status IN ('PENDING', 'ACCEPTED', 'REJECTED')", name=op.f("ck_payments_status")
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.employee_id"],
            name=op.f("fk_payments_employee_id_employees"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payments_idempotency_key")),
        sa.UniqueConstraint(
            "pay_run_id", "employee_id", name=op.f("uq_payments_pay_run_id_employee_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("payments")
    op.drop_index(op.f("ix_pay_statements_employer_id_pay_date"), table_name="pay_statements")
    op.drop_index(op.f("ix_pay_statements_employee_id_tax_year"), table_name="pay_statements")
    op.drop_table("pay_statements")
    op.drop_index(op.f("ix_other_earnings_employee_id_pay_date"), table_name="other_earnings")
    op.drop_table("other_earnings")
    op.drop_table("time_entries")
    op.drop_index(op.f("ix_employees_employer_id_employee_id"), table_name="employees")
    op.drop_table("employees")
    op.drop_table("employers")
