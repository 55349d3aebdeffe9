"""Payments in payroll terms: what is sent to the payment API and what its answers mean.

Pure: the HTTP client in ``adapters`` builds its request and reads its response with
these functions. Each payment is keyed by (pay run, employee): the idempotency key and
the reference are derived from that pair and nothing else, so a retried or redriven
payment is the same payment to the provider, never a second one (design.md 6).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from payroll_shared.contracts import (
    CompletionNotice,
    CompletionStatus,
    DeadLetterRecord,
    DeadLetterSource,
    StepError,
)
from payroll_shared.money import CENT, ZERO, format_money

CURRENCY = "USD"
PAYMENTS_PATH = "/v1/payments"


class PaymentStatus(StrEnum):
    #: The provider accepted the payment (201), or replayed an accepted one (200).
    ACCEPTED = "accepted"
    #: The bank declined the account: a business outcome for a person to fix, not a retry.
    DECLINED = "declined"


class PaymentError(Exception):
    """The payment API refused the request; retrying the same request cannot help."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class IdempotencyConflict(PaymentError):
    """The key was used with a different body: same employee and pay run, other amount."""


class PaymentUnavailable(Exception):
    """The API could not be reached or kept failing (5xx, timeouts) after the retries.

    Safe to retry later: the idempotency key makes a repeat the same payment.
    """


@dataclass(frozen=True)
class PaymentInstruction:
    """Pay one employee's net pay for a pay run into their tokenized account."""

    pay_run_id: str
    employee_id: str
    amount: Decimal
    account_token: str

    def __repr__(self) -> str:
        # The account token is PII-adjacent: it never reaches a log line through repr.
        return (
            f"PaymentInstruction(pay_run_id={self.pay_run_id!r}, "
            f"employee_id={self.employee_id!r}, amount={self.amount!s}, account_token='***')"
        )


@dataclass(frozen=True)
class PaymentResult:
    status: PaymentStatus
    payment_id: str | None
    reference: str
    #: The provider answered from its idempotency store: an earlier attempt got through.
    replayed: bool = False
    error_code: str | None = None
    #: The provider's reason for a decline, as it gave it.
    reason: str | None = None


def idempotency_key(pay_run_id: str, employee_id: str) -> str:
    return f"{pay_run_id}:{employee_id}"


def reference(pay_run_id: str, employee_id: str) -> str:
    return f"{pay_run_id}/{employee_id}"


def payment_body(instruction: PaymentInstruction) -> dict[str, str]:
    """The JSON body of ``POST /v1/payments``. Amounts travel as two-decimal strings."""
    amount = instruction.amount
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise ValueError(f"amount {amount} is not a whole number of cents")
    if amount <= 0:
        raise ValueError(f"amount {amount} must be greater than zero")
    if not instruction.account_token:
        raise ValueError(f"employee {instruction.employee_id} has no account token")
    return {
        "amount": format_money(amount),
        "currency": CURRENCY,
        "account_token": instruction.account_token,
        "reference": reference(instruction.pay_run_id, instruction.employee_id),
    }


def payments_url(base_url: str) -> str:
    """``<base>/v1/payments``. HTTPS only, except plain HTTP on loopback (the emulator)."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise ValueError(f"payment API URL {base_url!r} has no host")
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise ValueError(f"payment API URL {base_url!r} must use https")
    return base_url.rstrip("/") + PAYMENTS_PATH


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error_of(body: Any) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        return str(error.get("code", "unknown")), str(error.get("message", ""))
    return "unknown", ""


def interpret(
    instruction: PaymentInstruction, status: int, body: Any, headers: Mapping[str, str]
) -> PaymentResult:
    """What the payment API's final answer (after the transport's retries) means."""
    ref = reference(instruction.pay_run_id, instruction.employee_id)
    if status in (200, 201) and isinstance(body, Mapping):
        payment_id = body.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise PaymentUnavailable(f"payment API answered {status} without a payment_id")
        replayed = status == 200 or headers.get("Idempotent-Replayed", "").lower() == "true"
        return PaymentResult(PaymentStatus.ACCEPTED, payment_id, ref, replayed=replayed)
    code, message = _error_of(body)
    if status == 402:
        payment_id = None
        error = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(error, Mapping) and isinstance(error.get("payment_id"), str):
            payment_id = error["payment_id"]
        return PaymentResult(
            PaymentStatus.DECLINED, payment_id, ref, error_code=code, reason=message or code
        )
    if status == 422 and code == "idempotency_key_reuse":
        raise IdempotencyConflict(code, message, status)
    if status >= 500 or status == 429:
        raise PaymentUnavailable(f"payment API answered {status} {code}: {message}")
    raise PaymentError(code, message or f"payment API answered {status}", status)


# ------------------------------------------------------------ statements and outcomes


@dataclass(frozen=True)
class StatementAmounts:
    """The ledger figures of one committed pay statement the notice adds up."""

    employee_id: str
    gross_pay: Decimal
    net_pay: Decimal
    federal_income_tax: Decimal
    social_security: Decimal
    medicare: Decimal
    additional_medicare: Decimal
    state_income_tax: Decimal
    employer_social_security: Decimal
    employer_medicare: Decimal
    futa: Decimal
    employer_match: Decimal

    @property
    def employee_taxes(self) -> Decimal:
        return (
            self.federal_income_tax
            + self.social_security
            + self.medicare
            + self.additional_medicare
            + self.state_income_tax
        )

    @property
    def employer_taxes(self) -> Decimal:
        return self.employer_social_security + self.employer_medicare + self.futa


def completion_notice(
    pay_run_id: str, employer_id: str, pay_date: date, statements: Iterable[StatementAmounts]
) -> CompletionNotice:
    """The one notice of a fully paid employer: totals summed from its statements.

    Employer cost is what the employer spends on the pay run: gross pay, its own
    payroll taxes (Social Security, Medicare, FUTA) and its retirement match.
    """
    rows = list(statements)
    gross = sum((s.gross_pay for s in rows), ZERO)
    employer_taxes = sum((s.employer_taxes for s in rows), ZERO)
    match = sum((s.employer_match for s in rows), ZERO)
    return CompletionNotice(
        pay_run_id=pay_run_id,
        employer_id=employer_id,
        pay_date=pay_date,
        status=CompletionStatus.PAID,
        employees_paid=len(rows),
        gross_total=gross,
        net_total=sum((s.net_pay for s in rows), ZERO),
        employee_taxes_total=sum((s.employee_taxes for s in rows), ZERO),
        employer_taxes_total=employer_taxes,
        employer_cost=gross + employer_taxes + match,
    )


def payment_record_id(pay_run_id: str, employer_id: str, employee_id: str) -> str:
    """One dead-letter record per refused payment; a redelivery repeats the id."""
    return f"{pay_run_id}/{employer_id}/{employee_id}/payment"


def refused_payment_record(
    pay_run_id: str,
    employer_id: str,
    employee_id: str,
    code: str,
    reason: str,
    now: datetime,
    payment_id: str | None = None,
) -> DeadLetterRecord:
    """The process-DLQ record of a payment the provider refused (not retried)."""
    payload: dict[str, Any] = {"reference": reference(pay_run_id, employee_id)}
    if payment_id:
        payload["provider_payment_id"] = payment_id
    return DeadLetterRecord(
        record_id=payment_record_id(pay_run_id, employer_id, employee_id),
        source=DeadLetterSource.PAYMENT,
        pay_run_id=pay_run_id,
        employer_id=employer_id,
        employee_id=employee_id,
        error=StepError(code=(code or "payment_refused")[:64], message=(reason or code)[:2000]),
        first_failed_at=now,
        last_failed_at=now,
        payload=payload,
    )
