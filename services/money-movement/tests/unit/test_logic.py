"""The payment request and the meaning of the payment API's answers."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from money_movement import logic
from money_movement.logic import (
    IdempotencyConflict,
    PaymentError,
    PaymentInstruction,
    PaymentStatus,
    PaymentUnavailable,
)

from payroll_shared.contracts import DeadLetterSource, PayRunRef, PushPayment
from payroll_shared.payrun import PayFrequency


def instruction(amount: str = "100.00", token: str = "tok_a") -> PaymentInstruction:
    return PaymentInstruction("pr-weekly-2025-01-03", "emp-1", Decimal(amount), token)


def test_key_and_reference_come_from_pay_run_and_employee_only() -> None:
    assert logic.idempotency_key("pr-weekly-2025-01-03", "emp-1") == "pr-weekly-2025-01-03:emp-1"
    assert logic.reference("pr-weekly-2025-01-03", "emp-1") == "pr-weekly-2025-01-03/emp-1"


def test_body() -> None:
    assert logic.payment_body(instruction("7")) == {
        "amount": "7.00",
        "currency": "USD",
        "account_token": "tok_a",
        "reference": "pr-weekly-2025-01-03/emp-1",
    }


@given(cents=st.integers(min_value=1, max_value=10**12))
def test_amount_is_sent_to_the_cent(cents: int) -> None:
    amount = Decimal(cents) / 100
    sent = logic.payment_body(instruction(str(amount)))["amount"]
    assert Decimal(sent) == amount
    assert len(sent.split(".")[1]) == 2


@pytest.mark.parametrize("amount", ["0", "0.00", "-1.00", "1.005", "NaN"])
def test_refuses_amounts_that_are_not_a_positive_number_of_cents(amount: str) -> None:
    with pytest.raises(ValueError):
        logic.payment_body(instruction(amount))


def test_refuses_a_missing_account_token() -> None:
    with pytest.raises(ValueError, match="account token"):
        logic.payment_body(instruction(token=""))


def test_repr_hides_the_account_token() -> None:
    assert "tok_a" not in repr(instruction())


@pytest.mark.parametrize(
    "url",
    [
        "https://pay.example.com",
        "https://pay.example.com/",
        "http://127.0.0.1:8080",
        "http://localhost:1",
    ],
)
def test_payments_url(url: str) -> None:
    assert logic.payments_url(url) == url.rstrip("/") + "/v1/payments"


@pytest.mark.parametrize(
    "url", ["http://pay.example.com", "ftp://127.0.0.1", "pay.example.com", ""]
)
def test_payments_url_refuses_insecure_or_malformed(url: str) -> None:
    with pytest.raises(ValueError):
        logic.payments_url(url)


def test_interpret_accepted_and_replayed() -> None:
    created = logic.interpret(instruction(), 201, {"payment_id": "pay_1"}, {})
    assert (created.status, created.payment_id, created.replayed) == (
        PaymentStatus.ACCEPTED,
        "pay_1",
        False,
    )
    replayed = logic.interpret(
        instruction(), 200, {"payment_id": "pay_1"}, {"Idempotent-Replayed": "true"}
    )
    assert replayed.replayed


def test_interpret_accepted_without_id_is_not_trusted() -> None:
    with pytest.raises(PaymentUnavailable):
        logic.interpret(instruction(), 201, {"status": "accepted"}, {})


def test_interpret_decline() -> None:
    result = logic.interpret(
        instruction(), 402, {"error": {"code": "account_invalid", "payment_id": "pay_2"}}, {}
    )
    assert (result.status, result.error_code, result.payment_id) == (
        PaymentStatus.DECLINED,
        "account_invalid",
        "pay_2",
    )


def test_interpret_errors() -> None:
    with pytest.raises(IdempotencyConflict):
        logic.interpret(instruction(), 422, {"error": {"code": "idempotency_key_reuse"}}, {})
    with pytest.raises(PaymentUnavailable):
        logic.interpret(instruction(), 503, None, {})
    with pytest.raises(PaymentUnavailable):
        logic.interpret(instruction(), 429, {}, {})
    with pytest.raises(PaymentError) as raised:
        logic.interpret(
            instruction(), 400, {"error": {"code": "invalid_request", "message": "m"}}, {}
        )
    assert raised.value.code == "invalid_request"
    with pytest.raises(PaymentError):
        logic.interpret(instruction(), 404, "not json", {})


# ------------------------------------------------------- attempts and redrive keys

PAY_RUN = "pr-weekly-2025-01-03"


def test_the_first_attempt_keeps_the_original_key() -> None:
    assert logic.idempotency_key(PAY_RUN, "emp-1", 1) == f"{PAY_RUN}:emp-1"
    assert logic.idempotency_key(PAY_RUN, "emp-1") == logic.idempotency_key(PAY_RUN, "emp-1", 1)
    assert instruction().idempotency_key == f"{PAY_RUN}:emp-1"


@pytest.mark.parametrize("attempt", [2, 3, 10, 123])
def test_a_redrive_attempt_gets_its_own_key(attempt: int) -> None:
    key = logic.idempotency_key(PAY_RUN, "emp-1", attempt)
    assert key == f"{PAY_RUN}:emp-1:a{attempt}"
    assert key != logic.idempotency_key(PAY_RUN, "emp-1", attempt - 1)
    redrive = PaymentInstruction(PAY_RUN, "emp-1", Decimal("1.00"), "tok_a", attempt)
    assert redrive.idempotency_key == key
    # The reference names the payment, not the attempt: the same for every attempt.
    assert logic.payment_body(redrive)["reference"] == f"{PAY_RUN}/emp-1"


@pytest.mark.parametrize("attempt", [0, -1])
def test_an_attempt_is_one_or_more(attempt: int) -> None:
    with pytest.raises(ValueError):
        logic.idempotency_key(PAY_RUN, "emp-1", attempt)
    with pytest.raises(ValueError):
        PaymentInstruction(PAY_RUN, "emp-1", Decimal("1.00"), "tok_a", attempt)


@given(
    employee=st.text(alphabet="abcdefghij-:_0123456789", min_size=1, max_size=64),
    attempt=st.integers(min_value=1, max_value=10**6),
)
def test_the_attempt_is_read_back_from_the_key(employee: str, attempt: int) -> None:
    key = logic.idempotency_key(PAY_RUN, employee, attempt)
    assert logic.attempt_of(key, PAY_RUN, employee) == attempt


@pytest.mark.parametrize(
    "key",
    [
        f"{PAY_RUN}:emp-2",
        f"{PAY_RUN}:emp-1:a1",
        f"{PAY_RUN}:emp-1:a0",
        f"{PAY_RUN}:emp-1:a02",
        f"{PAY_RUN}:emp-1:a",
        f"{PAY_RUN}:emp-1:ax",
        f"{PAY_RUN}:emp-1:2",
        "pr-weekly-2025-01-10:emp-1",
    ],
)
def test_a_key_of_another_payment_has_no_attempt(key: str) -> None:
    with pytest.raises(ValueError):
        logic.attempt_of(key, PAY_RUN, "emp-1")


@pytest.mark.parametrize(
    ("status", "recorded_attempt", "push_attempt", "expected"),
    [
        # Never paid: pay under the push's attempt.
        (None, 0, 1, (logic.Action.PAY, 1)),
        (None, 0, 2, (logic.Action.PAY, 2)),
        # Accepted is final, whatever the attempt.
        ("ACCEPTED", 1, 1, (logic.Action.ACCEPTED, 1)),
        ("ACCEPTED", 1, 2, (logic.Action.ACCEPTED, 1)),
        ("ACCEPTED", 2, 3, (logic.Action.ACCEPTED, 2)),
        # Refused: only a later attempt (an explicit redrive) pays again.
        ("REJECTED", 1, 1, (logic.Action.REFUSED, 1)),
        ("REJECTED", 1, 2, (logic.Action.PAY, 2)),
        ("REJECTED", 2, 2, (logic.Action.REFUSED, 2)),
        ("REJECTED", 2, 1, (logic.Action.REFUSED, 2)),
        ("REJECTED", 2, 4, (logic.Action.PAY, 4)),
        # Sent, answer unknown: resent under its own key, never a new one.
        ("PENDING", 1, 1, (logic.Action.PAY, 1)),
        ("PENDING", 1, 2, (logic.Action.PAY, 1)),
        ("PENDING", 2, 1, (logic.Action.PAY, 2)),
    ],
)
def test_next_step(
    status: str | None, recorded_attempt: int, push_attempt: int, expected: tuple[Any, int]
) -> None:
    recorded = None if status is None else logic.RecordedPayment(status, recorded_attempt)
    assert logic.next_step(recorded, push_attempt) == expected


def test_a_refused_payment_record_carries_the_push_to_redrive_and_no_token() -> None:
    push = PushPayment(
        pay_run=PayRunRef(
            pay_run_id=PAY_RUN,
            pay_schedule=PayFrequency.WEEKLY,
            period_start=date(2024, 12, 28),
            period_end=date(2025, 1, 3),
            pay_date=date(2025, 1, 3),
        ),
        employer_id="er-1",
        statements=3,
        net_total=Decimal("300.03"),
        payment_attempt=2,
    )
    refused = PaymentInstruction(PAY_RUN, "emp-1", Decimal("100.01"), "tok_invalid_closed", 2)
    now = datetime(2025, 1, 3, 9, tzinfo=UTC)

    record = logic.refused_payment_record(push, refused, "account_invalid", "closed", now, "p_1")

    assert record.record_id == f"{PAY_RUN}/er-1/emp-1/payment"
    assert (record.source, record.employee_id, record.attempts) == (
        DeadLetterSource.PAYMENT,
        "emp-1",
        2,
    )
    assert PushPayment.model_validate(record.payload["push_payment"]) == push
    assert record.payload["idempotency_key"] == f"{PAY_RUN}:emp-1:a2"
    assert record.payload["provider_payment_id"] == "p_1"
    assert record.payload["account_sha256"] == hashlib.sha256(b"tok_invalid_closed").hexdigest()
    assert "tok_invalid_closed" not in record.model_dump_json()
    # The redrive: the same PushPayment at the next attempt, straight from the payload.
    redrive = PushPayment.model_validate(
        {**record.payload["push_payment"], "payment_attempt": record.attempts + 1}
    )
    assert redrive.payment_attempt == 3
