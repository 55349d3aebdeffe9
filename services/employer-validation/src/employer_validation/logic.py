"""Decide what an employer's pay run needs once its child map has finished.

Pure: the handler reads the employer's EmployeeStatus items and passes them in; this
module classifies every employee and turns the failed ones into dead-letter records.

Each employee is in one of three places:

- calculated: CALCULATED, or already past it (COMMITTED, PAID: a redelivered
  completion after the commit must not be mistaken for unfinished work);
- failed: FAILED, with the step and error the step recorded;
- unfinished: any other state, an unknown state, or missing altogether (fewer status
  items than the completion message counted).

The verdict follows from that. Unfinished employees mean the workflow has not settled
(or lost an employee), so nothing is decided on partial information: the message is
retried. Otherwise any failure sends the employer to NEEDS_REDRIVE; with none it is
CALCULATED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from payroll_shared.contracts import (
    DeadLetterRecord,
    DeadLetterSource,
    EmployeeState,
    EmployerCompletion,
    StepError,
)
from payroll_shared.names import Step

#: States at or past a finished calculation.
DONE_STATES = frozenset({EmployeeState.CALCULATED, EmployeeState.COMMITTED, EmployeeState.PAID})
#: StepError.message is at most this long.
MAX_ERROR_MESSAGE = 2000
#: When a step recorded FAILED without a code (it always should), the record still needs one.
UNKNOWN_ERROR_CODE = "StepFailed"


class Verdict(StrEnum):
    CALCULATED = "CALCULATED"
    NEEDS_REDRIVE = "NEEDS_REDRIVE"
    NOT_FINISHED = "NOT_FINISHED"


@dataclass(frozen=True)
class EmployeeSnapshot:
    """What EmployeeStatus says about one employee, as far as validation cares."""

    employee_id: str
    status: str
    failed_step: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    updated_at: datetime | None = None

    @property
    def state(self) -> EmployeeState | None:
        try:
            return EmployeeState(self.status)
        except ValueError:
            return None


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    calculated: tuple[str, ...]
    failed: tuple[EmployeeSnapshot, ...]
    unfinished: tuple[str, ...]
    missing: int

    @property
    def employees(self) -> int:
        return len(self.calculated) + len(self.failed) + len(self.unfinished) + self.missing


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _count(value: Any) -> int:
    # DynamoDB numbers arrive as Decimal.
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | Decimal):
        return int(value)
    return 0


def snapshot(item: Mapping[str, Any]) -> EmployeeSnapshot:
    """An EmployeeStatus item (plain values, as the deserializer gives them)."""
    return EmployeeSnapshot(
        employee_id=str(item["employee_id"]),
        status=str(item.get("status", "")),
        failed_step=_text(item.get("failed_step")),
        error_code=_text(item.get("error_code")),
        error_message=_text(item.get("error_message")),
        attempts=_count(item.get("attempts")),
        updated_at=_timestamp(item.get("updated_at")),
    )


def assess(expected_employees: int, employees: Iterable[EmployeeSnapshot]) -> Assessment:
    """Classify every employee of the employer and decide the verdict."""
    calculated: list[str] = []
    failed: list[EmployeeSnapshot] = []
    unfinished: list[str] = []
    seen = 0
    for employee in sorted(employees, key=lambda e: e.employee_id):
        seen += 1
        state = employee.state
        if state in DONE_STATES:
            calculated.append(employee.employee_id)
        elif state is EmployeeState.FAILED:
            failed.append(employee)
        else:
            unfinished.append(employee.employee_id)
    missing = max(0, expected_employees - seen)
    if unfinished or missing:
        verdict = Verdict.NOT_FINISHED
    elif failed:
        verdict = Verdict.NEEDS_REDRIVE
    else:
        verdict = Verdict.CALCULATED
    return Assessment(
        verdict=verdict,
        calculated=tuple(calculated),
        failed=tuple(failed),
        unfinished=tuple(unfinished),
        missing=missing,
    )


def record_id(pay_run_id: str, employer_id: str, employee_id: str) -> str:
    """One dead-letter record per failed employee and pay run; a redelivery repeats the id."""
    return f"{pay_run_id}/{employer_id}/{employee_id}"


def _step(value: str | None) -> Step | None:
    if value is None:
        return None
    try:
        return Step(value)
    except ValueError:
        return None


def dead_letter_record(
    completion: EmployerCompletion, employee: EmployeeSnapshot, now: datetime
) -> DeadLetterRecord:
    """The process-DLQ record of one failed employee, from what its step recorded."""
    pay_run_id = completion.pay_run.pay_run_id
    step = _step(employee.failed_step)
    message = employee.error_message or (
        f"employee {employee.employee_id} failed"
        f"{f' at {employee.failed_step}' if employee.failed_step else ''}"
        " without a recorded message"
    )
    failed_at = employee.updated_at or now
    payload: dict[str, Any] = {"pay_run": completion.pay_run.model_dump(mode="json")}
    if completion.execution_arn:
        payload["execution_arn"] = completion.execution_arn
    if employee.failed_step and step is None:
        # Keep what was recorded even when it is not a step this version knows.
        payload["failed_step"] = employee.failed_step
    return DeadLetterRecord(
        record_id=record_id(pay_run_id, completion.employer_id, employee.employee_id),
        source=DeadLetterSource.PROCESS,
        pay_run_id=pay_run_id,
        employer_id=completion.employer_id,
        employee_id=employee.employee_id,
        step=step,
        error=StepError(
            code=(employee.error_code or UNKNOWN_ERROR_CODE)[:64],
            message=message[:MAX_ERROR_MESSAGE],
        ),
        attempts=max(1, employee.attempts),
        first_failed_at=failed_at,
        last_failed_at=failed_at,
        payload=payload,
    )


def dead_letter_records(
    completion: EmployerCompletion, assessment: Assessment, now: datetime
) -> list[DeadLetterRecord]:
    return [dead_letter_record(completion, e, now) for e in assessment.failed]
