"""Decide what an employer's pay run needs once its child map has finished.

Pure: the handler reads the employer's EmployeeStatus items and passes them in; this
module classifies every employee and turns the failed ones into dead-letter records.

Each employee is in one of three places:

- calculated: CALCULATED, or already past it (PAID, or COMMITTED as a former version
  wrote it: a redelivered completion after payment must not be mistaken for
  unfinished work);
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

from pydantic import ValidationError

from payroll_shared.contracts import (
    DeadLetterRecord,
    DeadLetterSource,
    EmployeeState,
    EmployerCompletion,
    GrossPayResult,
    PayRunRef,
    PushPayment,
    RetirementResult,
    StepError,
    StoredResultsError,
    TaxResult,
    stored_results,
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
    #: Which attempt at this pay run the employee is on: 1, then one more per redrive.
    attempts: int = 1
    updated_at: datetime | None = None
    #: When it first failed in this pay run (set by a redrive; else ``updated_at``).
    first_failed_at: datetime | None = None
    #: The fingerprint of the record the failing step read (a data error only).
    failed_record_sha256: str | None = None

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
        attempts=max(1, _count(item.get("redrive_attempt"))),
        updated_at=_timestamp(item.get("updated_at")),
        first_failed_at=_timestamp(item.get("first_failed_at")),
        failed_record_sha256=_text(item.get("failed_record_sha256")),
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
    if employee.failed_record_sha256:
        # Redrive compares it with the record as the database holds it now.
        payload["record_sha256"] = employee.failed_record_sha256
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
        first_failed_at=min(employee.first_failed_at or failed_at, failed_at),
        last_failed_at=failed_at,
        payload=payload,
    )


def dead_letter_records(
    completion: EmployerCompletion, assessment: Assessment, now: datetime
) -> list[DeadLetterRecord]:
    return [dead_letter_record(completion, e, now) for e in assessment.failed]


# --------------------------------------------------------------------- pay statements

#: The steps whose results make up a pay statement, in pay-run order.
STATEMENT_STEPS: tuple[Step, ...] = (Step.PAYROLL_CALC, Step.RETIREMENT_CALC, Step.TAX_CALC)


class StatementIncomplete(ValueError):
    """A CALCULATED employee whose recorded results cannot make a pay statement."""


def step_results(item: Mapping[str, Any]) -> dict[Step, Any]:
    """The results of the statement's steps an EmployeeStatus item holds, by step
    (``contracts.stored_results``; unreadable ones raise, naming the attribute)."""
    try:
        stored = stored_results(item)
    except StoredResultsError as exc:
        raise StatementIncomplete(str(exc)) from exc
    return {step: stored[step.value] for step in STATEMENT_STEPS if step.value in stored}


def pay_statement(
    pay_run: PayRunRef, employer_id: str, employee_id: str, results: Mapping[Step, Any]
) -> dict[str, Any]:
    """One employee's ledger row from the results of payroll, retirement and tax calc."""
    missing = [step.value for step in STATEMENT_STEPS if step not in results]
    if missing:
        raise StatementIncomplete(f"employee {employee_id} has no result for {missing}")
    try:
        gross = GrossPayResult.model_validate(results[Step.PAYROLL_CALC])
        retirement = RetirementResult.model_validate(results[Step.RETIREMENT_CALC])
        tax = TaxResult.model_validate(results[Step.TAX_CALC])
    except ValidationError as exc:
        raise StatementIncomplete(f"employee {employee_id}: {exc.errors()[0]['msg']}") from exc
    return {
        "pay_run_id": pay_run.pay_run_id,
        "employee_id": employee_id,
        "employer_id": employer_id,
        "pay_date": pay_run.pay_date,
        "tax_year": pay_run.tax_year,
        "gross_pay": gross.gross_pay,
        "taxable_wages": tax.taxable_wages,
        "federal_income_tax": tax.federal_income_tax,
        "social_security": tax.social_security,
        "medicare": tax.medicare,
        "additional_medicare": tax.additional_medicare,
        "state_income_tax": tax.state_income_tax,
        "retirement_deferral": retirement.deferral,
        "roth": retirement.roth,
        "employer_match": retirement.employer_match,
        "employer_social_security": tax.employer_social_security,
        "employer_medicare": tax.employer_medicare,
        "futa": tax.futa,
        "section125": gross.section125,
        "net_pay": tax.net_pay,
    }


def statements_to_commit(
    pay_run: PayRunRef, employer_id: str, items: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Statements of the employees still CALCULATED.

    PAID employees (and COMMITTED ones a former version left) are in the ledger
    already. A CALCULATED one may be too, committed by an earlier delivery of the same
    completion: the ledger keeps the statement it has (unique on pay run and employee)
    and counts nothing twice.
    """
    statements: list[dict[str, Any]] = []
    for item in sorted(items, key=lambda i: str(i["employee_id"])):
        if item.get("status") != EmployeeState.CALCULATED.value:
            continue
        employee_id = str(item["employee_id"])
        statements.append(pay_statement(pay_run, employer_id, employee_id, step_results(item)))
    return statements


def push_payment(pay_run: PayRunRef, employer_id: str, net_pays: Iterable[Decimal]) -> PushPayment:
    """The one PushPayment of an employer: how many statements, and their net total."""
    amounts = list(net_pays)
    return PushPayment(
        pay_run=pay_run,
        employer_id=employer_id,
        statements=len(amounts),
        net_total=sum(amounts, Decimal("0.00")),
    )
