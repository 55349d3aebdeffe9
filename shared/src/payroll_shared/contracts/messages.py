"""Messages between services after the calculation: completion, payment, trigger."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from payroll_shared.contracts.base import Contract
from payroll_shared.contracts.steps import PayRunRef, StepError
from payroll_shared.money import Money
from payroll_shared.names import Step
from payroll_shared.payrun import PayFrequency

ZERO = Decimal("0.00")


class PayRunTrigger(Contract):
    """Starts a pay run (the schedule's event, ``payroll run``, or a redriven trigger)."""

    schema_version: Literal["1"] = "1"
    pay_schedule: PayFrequency
    pay_date: date
    requested_by: str = "schedule"


class EmployerCompletion(Contract):
    """Sent by the state machine after an employer's child map: validate this employer."""

    schema_version: Literal["1"] = "1"
    pay_run: PayRunRef
    employer_id: str = Field(min_length=1, max_length=64)
    employees: int = Field(ge=0)
    execution_arn: str | None = None


class PushPayment(Contract):
    """Sent by EmployerValidation once an employer's statements are committed.

    It names the committed statements rather than carrying them, so its size does not
    grow with the employer; MoneyMovement reads the statements from the ledger.

    ``payment_attempt`` is 1 for the first payment; a redrive of refused payments sends
    attempt n+1 (n from the refused payment's DeadLetterRecord). A refused payment is
    sent again, under a new idempotency key, only when the attempt is greater than the
    refused one: a plain redelivery (same attempt) never pays anyone again.
    """

    schema_version: Literal["2"] = "2"
    pay_run: PayRunRef
    employer_id: str = Field(min_length=1, max_length=64)
    statements: int = Field(ge=0)
    net_total: Money
    payment_attempt: int = Field(
        default=1,
        ge=1,
        description="1 for the first payment; a redrive of refused payments sends attempt n+1",
    )


class DeadLetterSource(StrEnum):
    PROCESS = "process"
    ORCHESTRATION = "orchestration"
    PAYMENT = "payment"


class DeadLetterRecord(Contract):
    """One piece of work a person can see, fix and redrive (process DLQ body)."""

    schema_version: Literal["1"] = "1"
    record_id: str = Field(min_length=1, max_length=256)
    source: DeadLetterSource
    pay_run_id: str | None = None
    employer_id: str | None = None
    employee_id: str | None = None
    step: Step | None = None
    error: StepError
    attempts: int = Field(default=1, ge=1)
    first_failed_at: datetime
    last_failed_at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)


class CompletionStatus(StrEnum):
    PAID = "PAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"


class CompletionNotice(Contract):
    """Published once per employer and pay run to the completion SNS topic.

    SNS message attributes ``employer_id`` and ``status`` repeat two fields so that
    subscribers can filter without parsing the body.
    """

    schema_version: Literal["1"] = "1"
    pay_run_id: str
    employer_id: str
    pay_date: date
    status: CompletionStatus
    employees_paid: int = Field(ge=0)
    gross_total: Money
    net_total: Money
    employee_taxes_total: Money
    employer_taxes_total: Money
    employer_cost: Money
