"""Payments in payroll terms: what is sent to the payment API and what its answers mean.

Pure: the HTTP client in ``adapters`` builds its request and reads its response with
these functions. Each payment is keyed by (pay run, employee): the reference is derived
from that pair and nothing else, and so is the idempotency key of the first attempt, so
a retried or redelivered payment is the same payment to the provider, never a second
one (design.md 6).

A refused payment (an invalid account) is replayed as refused for its key. Once a person
has corrected the account, an explicit redrive sends the PushPayment again with
``payment_attempt`` n+1, and only then is the payment sent under a new key
(``<pay_run_id>:<employee_id>:a<n>``). ``next_step`` decides, from what the ledger
recorded for the employee, whether to pay, under which attempt, or to skip.
"""

from __future__ import annotations

import hashlib
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
    PushPayment,
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
    #: 1 for the first payment; n > 1 only for an explicit redrive of a refused one.
    attempt: int = 1

    def __post_init__(self) -> None:
        if self.attempt < 1:
            raise ValueError(f"payment attempt {self.attempt} must be 1 or more")

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.pay_run_id, self.employee_id, self.attempt)

    def __repr__(self) -> str:
        # The account token is PII-adjacent: it never reaches a log line through repr.
        return (
            f"PaymentInstruction(pay_run_id={self.pay_run_id!r}, "
            f"employee_id={self.employee_id!r}, amount={self.amount!s}, "
            f"attempt={self.attempt}, account_token='***')"
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


ATTEMPT_MARK = ":a"


def idempotency_key(pay_run_id: str, employee_id: str, attempt: int = 1) -> str:
    """``<pay_run_id>:<employee_id>`` for attempt 1, ``...:a<n>`` for a redrive's attempt n.

    Attempt 1 keeps the original key, so a PushPayment without an attempt (or a plain
    redelivery) is always the same payment to the provider.
    """
    if attempt < 1:
        raise ValueError(f"payment attempt {attempt} must be 1 or more")
    base = f"{pay_run_id}:{employee_id}"
    return base if attempt == 1 else f"{base}{ATTEMPT_MARK}{attempt}"


def attempt_of(key: str, pay_run_id: str, employee_id: str) -> int:
    """The attempt an idempotency key of (pay run, employee) was made for.

    The inverse of ``idempotency_key``; a key of another payment, or one this service
    cannot have made, is a ValueError (the ledger is not what this code expects).
    """
    base = f"{pay_run_id}:{employee_id}"
    if key == base:
        return 1
    prefix = base + ATTEMPT_MARK
    digits = key[len(prefix) :] if key.startswith(prefix) else ""
    if digits.isascii() and digits.isdigit() and not digits.startswith("0"):
        attempt = int(digits)
        if attempt > 1:
            return attempt
    raise ValueError(f"{key!r} is not an idempotency key of {pay_run_id}/{employee_id}")


class Action(StrEnum):
    """What to do with one employee's payment on this delivery."""

    #: Send the payment (under the attempt ``next_step`` returns with it).
    PAY = "pay"
    #: The provider accepted it already: never sent again, only marked PAID.
    ACCEPTED = "accepted"
    #: Refused at this attempt or a later one: a plain redelivery, not a redrive.
    #: Not sent and not dead-lettered again.
    REFUSED = "refused"


@dataclass(frozen=True)
class RecordedPayment:
    """The ledger's payments row of one employee: its status and the attempt of its key."""

    status: str
    attempt: int


def next_step(recorded: RecordedPayment | None, push_attempt: int) -> tuple[Action, int]:
    """Pay (and under which attempt), or skip, given the employee's recorded payment.

    - nothing recorded: pay under the push's attempt;
    - ACCEPTED: never pay again, whatever the attempt;
    - REJECTED at attempt r: pay under the push's attempt only if it is greater than r
      (an explicit redrive); otherwise skip it as refused;
    - PENDING at attempt p (sent, answer unknown: the API was unavailable or the
      function stopped): send it again under attempt p, whatever the push's attempt.
      The provider may have made that payment; only its own key can replay it, a new
      key could pay the employee twice.
    """
    if recorded is None:
        return Action.PAY, push_attempt
    if recorded.status == "ACCEPTED":
        return Action.ACCEPTED, recorded.attempt
    if recorded.status == "REJECTED":
        if push_attempt > recorded.attempt:
            return Action.PAY, push_attempt
        return Action.REFUSED, recorded.attempt
    return Action.PAY, recorded.attempt


def account_fingerprint(account_token: str) -> str:
    """sha256 of the account token: tells whether an account was corrected, reveals nothing."""
    return hashlib.sha256(account_token.encode()).hexdigest()


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
    """The provider's error code and message; the message names the request field the
    provider refused (``field``), so the dead letter says what to correct."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        message = str(error.get("message", ""))
        field = error.get("field")
        if isinstance(field, str) and field and field not in message:
            message = f"{field}: {message}" if message else field
        return str(error.get("code", "unknown")), message
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
    push: PushPayment,
    instruction: PaymentInstruction,
    code: str,
    reason: str,
    now: datetime,
    payment_id: str | None = None,
) -> DeadLetterRecord:
    """The process-DLQ record of a payment the provider refused (not retried).

    ``attempts`` is the refused attempt, and ``payload["push_payment"]`` the PushPayment
    (at that attempt) as JSON: a redrive re-sends it with ``payment_attempt`` + 1, no
    database needed. The payload holds no account token, only its sha256, so a reader
    can tell whether the account was corrected since.
    """
    pay_run_id, employee_id = instruction.pay_run_id, instruction.employee_id
    attempted = push.model_copy(update={"payment_attempt": instruction.attempt})
    payload: dict[str, Any] = {
        "reference": reference(pay_run_id, employee_id),
        "idempotency_key": instruction.idempotency_key,
        "account_sha256": account_fingerprint(instruction.account_token),
        "push_payment": attempted.model_dump(mode="json"),
    }
    if payment_id:
        payload["provider_payment_id"] = payment_id
    return DeadLetterRecord(
        record_id=payment_record_id(pay_run_id, push.employer_id, employee_id),
        source=DeadLetterSource.PAYMENT,
        pay_run_id=pay_run_id,
        employer_id=push.employer_id,
        employee_id=employee_id,
        error=StepError(code=(code or "payment_refused")[:64], message=(reason or code)[:2000]),
        attempts=instruction.attempt,
        first_failed_at=now,
        last_failed_at=now,
        payload=payload,
    )
