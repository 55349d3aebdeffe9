"""The payment request and the meaning of the payment API's answers."""

from __future__ import annotations

from decimal import Decimal

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
