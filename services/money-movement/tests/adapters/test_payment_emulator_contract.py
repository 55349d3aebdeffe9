"""PaymentClient against the local cloud's payment provider emulator (platform package).

The emulator honours idempotency keys and injects faults on request, so these tests
show the exactly-once property end to end: a payment whose answer was lost is retried
and paid once.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from money_movement.adapters import PaymentClient
from money_movement.logic import PaymentInstruction, PaymentStatus

emulator_module = pytest.importorskip("payroll_platform.local.payment_emulator")

INSTRUCTION = PaymentInstruction(
    pay_run_id="pr-weekly-2025-01-03",
    employee_id="emp-001",
    amount=Decimal("1234.50"),
    account_token="tok_alice_0001",
)
REFERENCE = "pr-weekly-2025-01-03/emp-001"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Any]:
    with emulator_module.PaymentEmulator(tmp_path / "payments.sqlite") as emu:
        yield emu


def test_pays_once(emulator: Any) -> None:
    with PaymentClient(emulator.url, backoff_factor=0.01) as payments:
        first = payments.pay(INSTRUCTION)
        again = payments.pay(INSTRUCTION)

    assert first.status is PaymentStatus.ACCEPTED and not first.replayed
    assert again.payment_id == first.payment_id and again.replayed
    assert emulator.totals_by_reference() == {REFERENCE: Decimal("1234.50")}


def test_an_answer_lost_after_the_payment_is_retried_and_paid_once(emulator: Any) -> None:
    emulator.set_faults(script=["accept_then_500", "error_500", "ok"])
    with PaymentClient(emulator.url, backoff_factor=0.01) as payments:
        result = payments.pay(INSTRUCTION)

    assert result.status is PaymentStatus.ACCEPTED and result.replayed
    assert emulator.fault_stats()["accept_then_500"] == 1
    assert emulator.totals_by_reference() == {REFERENCE: Decimal("1234.50")}


def test_a_declined_account(emulator: Any) -> None:
    declined = PaymentInstruction(
        pay_run_id="pr-weekly-2025-01-03",
        employee_id="emp-002",
        amount=Decimal("10.00"),
        account_token="tok_invalid_1",
    )
    with PaymentClient(emulator.url, backoff_factor=0.01) as payments:
        result = payments.pay(declined)
    assert result.status is PaymentStatus.DECLINED
    assert result.error_code == "account_invalid"
    assert emulator.totals_by_reference() == {}
