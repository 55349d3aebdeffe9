"""Classifying an employer's employees and building their dead-letter records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from employer_validation import logic
from employer_validation.logic import EmployeeSnapshot, Verdict

from payroll_shared.contracts import DeadLetterSource, EmployerCompletion, PayRunRef
from payroll_shared.names import Step

NOW = datetime(2025, 1, 3, 12, 0, tzinfo=UTC)
COMPLETION = EmployerCompletion(
    pay_run=PayRunRef(
        pay_run_id="pr-weekly-2025-01-03",
        pay_schedule="weekly",
        period_start=date(2024, 12, 28),
        period_end=date(2025, 1, 3),
        pay_date=date(2025, 1, 3),
    ),
    employer_id="er-1",
    employees=3,
    execution_arn="arn:aws:states:us-east-1:123456789012:execution:payroll-dev-pay-run:x",
)


def emp(employee_id: str, status: str, **extra: object) -> EmployeeSnapshot:
    return EmployeeSnapshot(employee_id=employee_id, status=status, **extra)  # type: ignore[arg-type]


def test_all_calculated_is_calculated() -> None:
    result = logic.assess(
        3, [emp("e3", "CALCULATED"), emp("e1", "CALCULATED"), emp("e2", "CALCULATED")]
    )
    assert result.verdict is Verdict.CALCULATED
    assert result.calculated == ("e1", "e2", "e3")
    assert result.employees == 3


def test_committed_and_paid_count_as_calculated() -> None:
    # A redelivered completion after the commit must not look like unfinished work.
    result = logic.assess(3, [emp("e1", "COMMITTED"), emp("e2", "PAID"), emp("e3", "CALCULATED")])
    assert result.verdict is Verdict.CALCULATED


def test_any_failure_needs_redrive() -> None:
    result = logic.assess(3, [emp("e1", "CALCULATED"), emp("e2", "FAILED"), emp("e3", "FAILED")])
    assert result.verdict is Verdict.NEEDS_REDRIVE
    assert [e.employee_id for e in result.failed] == ["e2", "e3"]


@pytest.mark.parametrize(
    "status", ["BEGIN", "TIME_ENTERED", "GROSS_CALCULATED", "RETIREMENT_CALCULATED", "???", ""]
)
def test_an_unfinished_employee_means_not_finished(status: str) -> None:
    result = logic.assess(2, [emp("e1", "FAILED"), emp("e2", status)])
    assert result.verdict is Verdict.NOT_FINISHED
    assert result.unfinished == ("e2",)


def test_missing_employees_mean_not_finished() -> None:
    result = logic.assess(3, [emp("e1", "CALCULATED"), emp("e2", "CALCULATED")])
    assert result.verdict is Verdict.NOT_FINISHED
    assert result.missing == 1
    assert result.employees == 3


def test_an_employer_without_employees_is_calculated() -> None:
    assert logic.assess(0, []).verdict is Verdict.CALCULATED


def test_snapshot_reads_a_deserialized_item() -> None:
    item = {
        "employee_id": "e1",
        "status": "FAILED",
        "failed_step": "payroll_calc",
        "error_code": "InvalidEmployeeRecord",
        "error_message": "employee e1: hourly_rate: Field required",
        "attempts": Decimal("5"),  # step writes: not the attempt
        "redrive_attempt": Decimal("2"),
        "updated_at": "2025-01-03T10:00:00+00:00",
        "first_failed_at": "2025-01-02T09:00:00+00:00",
        "failed_record_sha256": "ab" * 32,
    }
    snap = logic.snapshot(item)
    assert snap.state is not None and snap.state.value == "FAILED"
    assert snap.attempts == 2
    assert snap.updated_at == datetime(2025, 1, 3, 10, 0, tzinfo=UTC)
    assert snap.first_failed_at == datetime(2025, 1, 2, 9, 0, tzinfo=UTC)
    record = logic.dead_letter_record(COMPLETION, snap, NOW)
    assert record.attempts == 2
    assert record.first_failed_at == datetime(2025, 1, 2, 9, 0, tzinfo=UTC)
    assert record.last_failed_at == datetime(2025, 1, 3, 10, 0, tzinfo=UTC)
    assert record.payload["record_sha256"] == "ab" * 32


def test_snapshot_tolerates_a_begin_item() -> None:
    snap = logic.snapshot({"employee_id": "e1", "status": "BEGIN"})
    assert snap == EmployeeSnapshot(employee_id="e1", status="BEGIN")


def test_dead_letter_record_carries_the_recorded_error() -> None:
    failed = emp(
        "e2",
        "FAILED",
        failed_step="tax_calc",
        error_code="UnsupportedState",
        error_message="employee e2: work_state ZZ has no tax table",
        attempts=3,
        updated_at=datetime(2025, 1, 3, 10, 0, tzinfo=UTC),
    )
    assessment = logic.assess(1, [failed])
    (record,) = logic.dead_letter_records(COMPLETION, assessment, NOW)
    assert record.record_id == "pr-weekly-2025-01-03/er-1/e2"
    assert record.source is DeadLetterSource.PROCESS
    assert (record.pay_run_id, record.employer_id, record.employee_id) == (
        "pr-weekly-2025-01-03",
        "er-1",
        "e2",
    )
    assert record.step is Step.TAX_CALC
    assert record.error.code == "UnsupportedState"
    assert record.error.message == "employee e2: work_state ZZ has no tax table"
    assert record.attempts == 3
    assert (
        record.first_failed_at == record.last_failed_at == datetime(2025, 1, 3, 10, 0, tzinfo=UTC)
    )
    assert record.payload["pay_run"]["pay_run_id"] == "pr-weekly-2025-01-03"
    assert record.payload["execution_arn"] == COMPLETION.execution_arn


def test_dead_letter_record_without_recorded_details() -> None:
    record = logic.dead_letter_record(COMPLETION, emp("e9", "FAILED", failed_step="bogus"), NOW)
    assert record.step is None
    assert record.payload["failed_step"] == "bogus"
    assert record.error.code == logic.UNKNOWN_ERROR_CODE
    assert "e9" in record.error.message and "bogus" in record.error.message
    assert record.attempts == 1
    assert record.last_failed_at == NOW


def test_dead_letter_record_truncates_long_messages() -> None:
    record = logic.dead_letter_record(
        COMPLETION, emp("e1", "FAILED", error_code="X" * 100, error_message="m" * 5000), NOW
    )
    assert len(record.error.message) == logic.MAX_ERROR_MESSAGE
    assert len(record.error.code) == 64


RESULTS = {
    "result_payroll_calc": '{"gross_pay": "150.00", "section125": "5.00"}',
    "result_retirement_calc": '{"deferral": "7.50", "roth": true, "employer_match": "3.75"}',
    "result_tax_calc": (
        '{"taxable_wages": "137.50", "federal_income_tax": "10.00", "social_security": "8.53",'
        ' "medicare": "1.99", "employer_social_security": "8.53", "employer_medicare": "1.99",'
        ' "futa": "0.83", "net_pay": "106.48"}'
    ),
}


def test_pay_statement_takes_every_line_from_the_three_results() -> None:
    statement = logic.pay_statement(COMPLETION.pay_run, "er-1", "e1", logic.step_results(RESULTS))
    assert statement["net_pay"] == Decimal("106.48")
    assert (statement["gross_pay"], statement["section125"]) == (Decimal("150.00"), Decimal("5.00"))
    assert (statement["retirement_deferral"], statement["roth"]) == (Decimal("7.50"), True)
    assert (statement["futa"], statement["additional_medicare"]) == (
        Decimal("0.83"),
        Decimal("0.00"),
    )
    assert (statement["tax_year"], statement["pay_date"]) == (2025, date(2025, 1, 3))


def test_statements_to_commit_skips_employees_already_paid_or_committed() -> None:
    items = [
        {"employee_id": "e2", "status": "COMMITTED"},  # as a former version left it
        {"employee_id": "e3", "status": "PAID"},
        {"employee_id": "e1", "status": "CALCULATED", **RESULTS},
    ]
    statements = logic.statements_to_commit(COMPLETION.pay_run, "er-1", items)
    assert [s["employee_id"] for s in statements] == ["e1"]


def test_a_missing_result_is_refused() -> None:
    results = logic.step_results({"result_tax_calc": RESULTS["result_tax_calc"]})
    with pytest.raises(logic.StatementIncomplete, match="payroll_calc"):
        logic.pay_statement(COMPLETION.pay_run, "er-1", "e1", results)


def test_push_payment_counts_and_totals_the_net_pays() -> None:
    push = logic.push_payment(COMPLETION.pay_run, "er-1", [Decimal("0.10"), Decimal("0.20")])
    assert (push.statements, push.net_total) == (2, Decimal("0.30"))
