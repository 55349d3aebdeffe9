"""The relational model: employers, employees, time entries, the ledger and payments.

Portable between SQLite (the embedded default) and PostgreSQL (Aurora through RDS
Proxy). Money columns are ``Numeric`` and always ``Decimal`` in Python. PostgreSQL
stores them exactly; SQLite has no decimal storage and keeps them as 8-byte floats,
which SQLAlchemy turns back into ``Decimal`` quantized to the column's scale: exact
for every value a ``Numeric(12, 2)`` can hold (under 2**53 cents), so a round trip
never changes an amount. (A SQL ``SUM`` on SQLite adds floats before SQLAlchemy rounds
the total to the cent: fine for totals, but where each cent matters sum the
``Decimal`` values in Python.)

Only many-to-one relationships are mapped (no collections): they give the unit of
work its insert order (parents first) and cheap identity-map lookups, and no code can
load an employer's thousands of employees by touching an attribute.

Enumerated columns are short strings with a named CHECK constraint rather than native
enum types, so adding a value is a one-line migration on both databases.

The hand-written migration ``migrations/versions/0001_initial.py`` matches these
models; a test compares the migrated schema with this metadata.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from payroll_shared.contracts.employee import OvertimeRule, PayType
from payroll_shared.payrun import PayFrequency

#: Constraint names are derived, so migrations and both databases agree on them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The contracts' enumerations are the one source of the allowed values.
PAY_SCHEDULES: tuple[str, ...] = tuple(frequency.value for frequency in PayFrequency)
PAY_TYPES: tuple[str, ...] = tuple(pay_type.value for pay_type in PayType)
OVERTIME_RULES: tuple[str, ...] = tuple(rule.value for rule in OvertimeRule)
PAYMENT_STATUSES: tuple[str, ...] = ("PENDING", "ACCEPTED", "REJECTED")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


# Money and quantities: Decimal in Python on every backend.
MoneyType = Numeric(12, 2, asdecimal=True)
PerPeriodMoneyType = Numeric(10, 2, asdecimal=True)
HourlyRateType = Numeric(10, 4, asdecimal=True)
HoursType = Numeric(5, 2, asdecimal=True)
# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
DocumentType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
# 64-bit surrogate keys on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY.
SurrogateKeyType: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
TimestampType = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Employer(Base):
    __tablename__ = "employers"
    __table_args__ = (CheckConstraint(_one_of("pay_schedule", PAY_SCHEDULES), name="pay_schedule"),)

    employer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    pay_schedule: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Masked (``**-***1234``) or a vault token: the full FEIN never lives here.
    fein: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        TimestampType, server_default=text("CURRENT_TIMESTAMP")
    )

    def __repr__(self) -> str:
        return f"Employer({self.employer_id!r}, {self.pay_schedule!r})"


class Employee(Base):
    __tablename__ = "employees"
    __table_args__ = (
        CheckConstraint(_one_of("pay_type", PAY_TYPES), name="pay_type"),
        CheckConstraint(_one_of("pay_frequency", PAY_SCHEDULES), name="pay_frequency"),
        CheckConstraint(_one_of("overtime_rule", OVERTIME_RULES), name="overtime_rule"),
        # Serves the per-employer keyset scan of GetEmployees.
        Index(None, "employer_id", "employee_id"),
    )

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employer_id: Mapped[str] = mapped_column(ForeignKey("employers.employer_id"))
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    hire_date: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    pay_type: Mapped[str] = mapped_column(String(16))
    pay_frequency: Mapped[str] = mapped_column(String(16))
    # Not constrained by pay type on purpose: a bad row must reach the pay run, which
    # fails that one employee and names the field, instead of blocking the whole load.
    annual_salary: Mapped[Decimal | None] = mapped_column(MoneyType)
    hourly_rate: Mapped[Decimal | None] = mapped_column(HourlyRateType)
    flsa_exempt: Mapped[bool] = mapped_column(default=False, server_default=false())
    overtime_rule: Mapped[str] = mapped_column(
        String(16), default="flsa", server_default=text("'flsa'")
    )
    work_state: Mapped[str] = mapped_column(String(2))
    # The W4 contract's fields, money as strings ("2000.00").
    w4: Mapped[dict[str, Any]] = mapped_column(DocumentType)
    state_withholding: Mapped[dict[str, str]] = mapped_column(DocumentType, default=dict)
    # The RetirementElection contract's fields.
    retirement: Mapped[dict[str, Any]] = mapped_column(DocumentType, default=dict)
    section125_per_period: Mapped[Decimal] = mapped_column(
        PerPeriodMoneyType, default=Decimal("0.00"), server_default=text("0")
    )
    bank_account_token: Mapped[str] = mapped_column(String(128))
    tax_id_token: Mapped[str] = mapped_column(String(128))

    employer: Mapped[Employer] = relationship()

    def __repr__(self) -> str:
        return f"Employee({self.employee_id!r}, employer={self.employer_id!r})"


class TimeEntry(Base):
    """Hours worked on one day under one earning code (REG unless stated)."""

    __tablename__ = "time_entries"
    __table_args__ = (UniqueConstraint("employee_id", "work_date", "earning_code"),)

    id: Mapped[int] = mapped_column(SurrogateKeyType, primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"))
    work_date: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(HoursType)
    earning_code: Mapped[str] = mapped_column(
        String(16), default="REG", server_default=text("'REG'")
    )

    employee: Mapped[Employee] = relationship()


class OtherEarning(Base):
    """A one-off amount paid with a pay date (BONUS, COMMISSION...)."""

    __tablename__ = "other_earnings"
    __table_args__ = (Index(None, "employee_id", "pay_date"),)

    id: Mapped[int] = mapped_column(SurrogateKeyType, primary_key=True, autoincrement=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"))
    pay_date: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(MoneyType)

    employee: Mapped[Employee] = relationship()


class PayStatement(Base):
    """The ledger: one committed statement per (pay run, employee), never updated.

    Year-to-date figures are sums over the statements of a tax year, so the unique key
    is what makes a repeated commit harmless.
    """

    __tablename__ = "pay_statements"
    __table_args__ = (
        UniqueConstraint("pay_run_id", "employee_id"),
        # Year-to-date lookups (Social Security wage base, additional Medicare, FUTA).
        Index(None, "employee_id", "tax_year"),
        Index(None, "employer_id", "pay_date"),
    )

    id: Mapped[int] = mapped_column(SurrogateKeyType, primary_key=True, autoincrement=True)
    pay_run_id: Mapped[str] = mapped_column(String(64))
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"))
    employer_id: Mapped[str] = mapped_column(ForeignKey("employers.employer_id"))
    pay_date: Mapped[date] = mapped_column(Date)
    tax_year: Mapped[int] = mapped_column(Integer)
    gross_pay: Mapped[Decimal] = mapped_column(MoneyType)
    taxable_wages: Mapped[Decimal] = mapped_column(MoneyType)
    federal_income_tax: Mapped[Decimal] = mapped_column(MoneyType)
    social_security: Mapped[Decimal] = mapped_column(MoneyType)
    medicare: Mapped[Decimal] = mapped_column(MoneyType)
    additional_medicare: Mapped[Decimal] = mapped_column(MoneyType)
    state_income_tax: Mapped[Decimal] = mapped_column(MoneyType)
    retirement_deferral: Mapped[Decimal] = mapped_column(MoneyType)
    roth: Mapped[bool] = mapped_column(default=False, server_default=false())
    employer_match: Mapped[Decimal] = mapped_column(MoneyType)
    employer_social_security: Mapped[Decimal] = mapped_column(MoneyType)
    employer_medicare: Mapped[Decimal] = mapped_column(MoneyType)
    futa: Mapped[Decimal] = mapped_column(MoneyType)
    section125: Mapped[Decimal] = mapped_column(MoneyType)
    net_pay: Mapped[Decimal] = mapped_column(MoneyType)
    committed_at: Mapped[datetime] = mapped_column(
        TimestampType, server_default=text("CURRENT_TIMESTAMP")
    )

    employee: Mapped[Employee] = relationship()
    employer: Mapped[Employer] = relationship()


class Payment(Base):
    """One push payment per (pay run, employee); the idempotency key goes to the provider."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("pay_run_id", "employee_id"),
        CheckConstraint(_one_of("status", PAYMENT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(SurrogateKeyType, primary_key=True, autoincrement=True)
    pay_run_id: Mapped[str] = mapped_column(String(64))
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.employee_id"))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    amount: Mapped[Decimal] = mapped_column(MoneyType)
    provider_payment_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(
        String(16), default="PENDING", server_default=text("'PENDING'")
    )
    reason: Mapped[str | None] = mapped_column(String(2000))
    updated_at: Mapped[datetime] = mapped_column(
        TimestampType, server_default=text("CURRENT_TIMESTAMP"), onupdate=func.current_timestamp()
    )

    employee: Mapped[Employee] = relationship()


__all__ = [
    "NAMING_CONVENTION",
    "OVERTIME_RULES",
    "PAYMENT_STATUSES",
    "PAY_SCHEDULES",
    "PAY_TYPES",
    "Base",
    "Employee",
    "Employer",
    "OtherEarning",
    "PayStatement",
    "Payment",
    "TimeEntry",
]
