"""The ledger's writes and reads: pay statements committed once, payments recorded.

Everything here runs in the caller's session and transaction (``session_scope``), so
EmployerValidation can commit every statement of an employer in one transaction.

Idempotency comes from the unique keys, not from a read before the write:
``commit_statements`` uses ``INSERT ... ON CONFLICT (pay_run_id, employee_id) DO
NOTHING``, so a redelivered completion inserts nothing twice even when two deliveries
race, and ``record_payments`` upserts on the same key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from payroll_platform.db.models import PAYMENT_STATUSES, Payment, PayStatement

#: The columns a statement dict must (or may) carry; anything else is refused.
STATEMENT_COLUMNS: tuple[str, ...] = tuple(
    column.key
    for column in PayStatement.__table__.columns
    if column.key not in ("id", "committed_at")
)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"the ledger supports sqlite and postgresql, not {dialect}")


def _statement_row(statement: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(statement) - set(STATEMENT_COLUMNS)
    if unknown:
        raise ValueError(f"unknown pay statement field(s): {sorted(unknown)}")
    return {key: statement[key] for key in STATEMENT_COLUMNS if key in statement}


def commit_statements(session: Session, statements: Sequence[Mapping[str, Any]]) -> int:
    """Insert the statements that are not in the ledger yet; return how many were new.

    A statement whose (pay_run_id, employee_id) is already committed is left as it is
    (the ledger is never updated) and not counted.
    """
    # One statement per set of columns (statements normally all carry the same), run
    # for all its rows at once; RETURNING names the rows inserted, on both backends
    # (an executemany's rowcount would not report them reliably).
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for statement in statements:
        row = _statement_row(statement)
        groups.setdefault(tuple(row), []).append(row)
    table = PayStatement.__table__
    inserted = 0
    for rows in groups.values():
        query = (
            _insert(session, table)
            .on_conflict_do_nothing(index_elements=["pay_run_id", "employee_id"])
            .returning(table.c.employee_id)
        )
        inserted += len(session.execute(query, rows).all())
    return inserted


def statements_for(session: Session, pay_run_id: str, employer_id: str) -> list[PayStatement]:
    """The employer's committed statements of the pay run, by employee id."""
    query = (
        select(PayStatement)
        .where(PayStatement.pay_run_id == pay_run_id, PayStatement.employer_id == employer_id)
        .order_by(PayStatement.employee_id)
    )
    return list(session.scalars(query))


def count_statements(session: Session, pay_run_id: str, employer_id: str) -> int:
    query = select(func.count()).where(
        PayStatement.pay_run_id == pay_run_id, PayStatement.employer_id == employer_id
    )
    return int(session.scalar(query) or 0)


def record_payment(
    session: Session,
    *,
    pay_run_id: str,
    employee_id: str,
    idempotency_key: str,
    amount: Decimal,
    status: str,
    provider_payment_id: str | None = None,
    reason: str | None = None,
) -> None:
    """Create or update the Payment row of (pay run, employee): ``record_payments`` of one."""
    record_payments(
        session,
        [
            PaymentRecord(
                pay_run_id=pay_run_id,
                employee_id=employee_id,
                idempotency_key=idempotency_key,
                amount=amount,
                status=status,
                provider_payment_id=provider_payment_id,
                reason=reason,
            )
        ],
    )


@dataclass(frozen=True)
class PaymentRecord:
    """One Payment row to record (``record_payments``)."""

    pay_run_id: str
    employee_id: str
    idempotency_key: str
    amount: Decimal
    status: str
    provider_payment_id: str | None = None
    reason: str | None = None


def record_payments(session: Session, records: Sequence[PaymentRecord]) -> None:
    """Create or update the Payment row of each record's (pay run, employee), in order.

    The row is the employee's latest payment attempt: a new ``idempotency_key`` (a
    redrive of a refused payment sends a new attempt under a new key) replaces the old
    one, and the provider id recorded for the old key with it. An update for the same
    key never clears a provider id already recorded. Nothing moves an ACCEPTED payment
    to another status or key (the provider's acceptance is final).

    One statement for all the records, executed once per record (``executemany``): the
    upsert is built and compiled once, not once per employee.
    """
    for record in records:
        if record.status not in PAYMENT_STATUSES:
            raise ValueError(
                f"payment of {record.employee_id}: status {record.status!r} is not one of "
                f"{PAYMENT_STATUSES}"
            )
    if not records:
        return
    table = Payment.__table__
    insert = _insert(session, table)
    excluded = insert.excluded
    keep_accepted = table.c.status == "ACCEPTED"
    same_key = table.c.idempotency_key == excluded.idempotency_key
    query = insert.on_conflict_do_update(
        index_elements=["pay_run_id", "employee_id"],
        set_={
            "status": case((keep_accepted, table.c.status), else_=excluded.status),
            "idempotency_key": case(
                (keep_accepted, table.c.idempotency_key), else_=excluded.idempotency_key
            ),
            "provider_payment_id": case(
                (
                    keep_accepted | same_key,
                    func.coalesce(excluded.provider_payment_id, table.c.provider_payment_id),
                ),
                else_=excluded.provider_payment_id,
            ),
            "reason": case((keep_accepted, table.c.reason), else_=excluded.reason),
            "amount": excluded.amount,
            "updated_at": func.current_timestamp(),
        },
    )
    session.execute(query, [asdict(record) for record in records])


def payments_for(
    session: Session, pay_run_id: str, employee_ids: Sequence[str] | None = None
) -> list[Payment]:
    """The pay run's Payment rows (optionally only these employees'), by employee id."""
    query = select(Payment).where(Payment.pay_run_id == pay_run_id)
    if employee_ids is not None:
        query = query.where(Payment.employee_id.in_(list(employee_ids)))
    return list(session.scalars(query.order_by(Payment.employee_id)))


__all__ = [
    "STATEMENT_COLUMNS",
    "PaymentRecord",
    "commit_statements",
    "count_statements",
    "payments_for",
    "record_payment",
    "record_payments",
    "statements_for",
]
