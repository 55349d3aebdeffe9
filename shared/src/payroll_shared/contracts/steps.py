"""The task-token steps: what the state machine sends, what each step answers.

The state machine sends one ``StepRequest`` per work item (a chunk of employees) to a
step's queue with ``sqs:sendMessage.waitForTaskToken``. Each item carries the
employee's record as the pay run read it (validated per employee by the step, so one
bad record fails one employee, not the chunk) and the results of the earlier steps.
A chunk's items travel inline while they are small, and otherwise as ``items_key``, the
key of a JSON object in the pay-run bucket that holds them (``payroll_shared.chunks``):
the workflow's state and the queue messages then carry a key, not the employees.
The step works out a ``StepResponse`` (one outcome per employee) and answers
``SendTaskSuccess`` with the chunk after it, a ``ChunkState``: the outcomes folded into
the items, the employees it failed moved to ``failed``. The workflow takes that as the
chunk's state and sends it on to the next step, so no Lambda merges between steps.
Business failures are outcomes; only infrastructure trouble fails the task.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from payroll_shared.contracts.base import Contract, Part
from payroll_shared.money import Money, Quantity
from payroll_shared.names import Step
from payroll_shared.payrun import PayFrequency

ZERO = Decimal("0.00")


class PayRunRef(Part):
    pay_run_id: str = Field(pattern=r"^pr-(weekly|biweekly|semimonthly|monthly)-\d{4}-\d{2}-\d{2}$")
    pay_schedule: PayFrequency
    period_start: date
    period_end: date
    pay_date: date

    @property
    def tax_year(self) -> int:
        return self.pay_date.year


class WorkItem(Part):
    """One employee inside a chunk: the raw record and what earlier steps produced."""

    employee_id: str = Field(min_length=1, max_length=64)
    record: dict[str, Any]
    results: dict[str, Any] = Field(default_factory=dict)


class OutcomeStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


class StepError(Part):
    """Why one employee failed a step: a code, and a message that names the field or rule."""

    code: str = Field(min_length=1, max_length=64)
    message: str = Field(min_length=1, max_length=2000)
    field: str | None = None
    retryable: bool = False


class FailedEmployee(Part):
    """An employee a step failed: out of the chunk's later steps (its EmployeeStatus is
    FAILED, written by that step)."""

    employee_id: str
    step: Step
    error: StepError


class StepRequest(Contract):
    """The task-token envelope: the SQS body of a step's request queue."""

    schema_version: Literal["3"] = "3"
    step: Step
    task_token: str = Field(min_length=1, max_length=8192)
    pay_run: PayRunRef
    employer_id: str = Field(min_length=1, max_length=64)
    chunk_id: str = Field(min_length=1, max_length=256)
    #: The key of the object that holds the chunk's items (a large chunk: the step loads
    #: them, ``chunks.load``), or None when ``items`` carries them.
    items_key: str | None = Field(default=None, min_length=1, max_length=1024)
    #: The employees still going, inline (a small chunk), or empty with ``items_key``
    #: (validated when absent too: a request without either names this field).
    items: list[WorkItem] = Field(default_factory=list, max_length=1000, validate_default=True)
    #: The chunk's employees earlier steps failed, carried on into the step's answer.
    failed: list[FailedEmployee] = Field(default_factory=list, max_length=1000)

    @field_validator("items", mode="after")
    @classmethod
    def _each_employee_once(cls, items: list[WorkItem], info: ValidationInfo) -> list[WorkItem]:
        # Validated after items_key (declared before it): an empty chunk without a key to
        # its items is an error of this field.
        if not items and info.data.get("items_key") is None:
            raise ValueError("a request carries its employees, or items_key to them")
        # One outcome per employee: a chunk naming an employee twice cannot be answered.
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.employee_id in seen:
                raise ValueError(f"employee {item.employee_id!r} appears twice (item {index})")
            seen.add(item.employee_id)
        return items


class TimeEntryRequest(StepRequest):
    schema_version: Literal["3"] = "3"
    step: Literal[Step.TIME_ENTRY] = Step.TIME_ENTRY


class PayrollCalcRequest(StepRequest):
    schema_version: Literal["3"] = "3"
    step: Literal[Step.PAYROLL_CALC] = Step.PAYROLL_CALC


class RetirementCalcRequest(StepRequest):
    schema_version: Literal["3"] = "3"
    step: Literal[Step.RETIREMENT_CALC] = Step.RETIREMENT_CALC


class TaxCalcRequest(StepRequest):
    schema_version: Literal["3"] = "3"
    step: Literal[Step.TAX_CALC] = Step.TAX_CALC


class WeekHours(Part):
    """One workweek's hours by kind (the FLSA regular rate is computed per workweek)."""

    regular_hours: Quantity = ZERO
    overtime_hours: Quantity = ZERO
    double_time_hours: Quantity = ZERO


class TimeEntryResult(Part):
    regular_hours: Quantity = ZERO
    overtime_hours: Quantity = ZERO
    double_time_hours: Quantity = ZERO
    entries: int = Field(default=0, ge=0)
    weeks: list[WeekHours] = Field(default_factory=list)


class GrossPayResult(Part):
    regular_pay: Money = ZERO
    overtime_pay: Money = ZERO
    other_earnings: Money = ZERO
    gross_pay: Money
    section125: Money = ZERO


class RetirementResult(Part):
    deferral: Money = ZERO
    roth: bool = False
    employer_match: Money = ZERO
    #: The deferral split: pre-tax (reduces income-tax wages) and Roth (does not).
    pre_tax_deferral: Money = ZERO
    roth_deferral: Money = ZERO
    catch_up: Money = ZERO


class TaxResult(Part):
    taxable_wages: Money
    federal_income_tax: Money
    social_security: Money
    medicare: Money
    additional_medicare: Money = ZERO
    state_income_tax: Money = ZERO
    employer_social_security: Money
    employer_medicare: Money
    futa: Money = ZERO
    net_pay: Money


class EmployeeOutcome(Part):
    employee_id: str
    status: OutcomeStatus
    result: dict[str, Any] | None = None
    error: StepError | None = None

    @model_validator(mode="after")
    def _result_or_error(self) -> EmployeeOutcome:
        if self.status is OutcomeStatus.OK and self.result is None:
            raise ValueError("an ok outcome carries a result")
        if self.status is OutcomeStatus.FAILED and self.error is None:
            raise ValueError("a failed outcome carries an error")
        return self


RESULT_MODELS: dict[Step, type[Part]] = {
    Step.TIME_ENTRY: TimeEntryResult,
    Step.PAYROLL_CALC: GrossPayResult,
    Step.RETIREMENT_CALC: RetirementResult,
    Step.TAX_CALC: TaxResult,
}


class StepResponse(Contract):
    """The task-token answer: one outcome per employee of the chunk, in chunk order."""

    # Since StepRequest v2 the token is answered with the ChunkState these outcomes fold
    # into (payroll_shared.steps.fold); the outcomes stay what a step works out.

    schema_version: Literal["1"] = "1"
    step: Step
    pay_run_id: str
    employer_id: str
    chunk_id: str
    outcomes: list[EmployeeOutcome]

    @model_validator(mode="after")
    def _results_match_step(self) -> StepResponse:
        model = RESULT_MODELS[self.step]
        for outcome in self.outcomes:
            if outcome.result is not None:
                model.model_validate(outcome.result)
        return self


class ChunkState(Contract):
    """A step's answer to its task token, and the workflow's state of the chunk after it.

    The step folds its outcomes into the chunk it was sent: an employee it computed
    keeps going with ``results[step]`` added, one it failed leaves ``items`` for
    ``failed``. The workflow takes the answer as the chunk's state as it is (the task's
    ``ResultPath`` is ``$``), sends its ``items``, ``items_key`` and ``failed`` to the
    next step, and ends the chunk when ``remaining`` is 0.

    The items going on are inline, or (a large chunk) in the object ``items_key`` names,
    with ``items`` empty: ``remaining`` counts them either way.
    """

    schema_version: Literal["2"] = "2"
    pay_run: PayRunRef
    employer_id: str = Field(min_length=1, max_length=64)
    chunk_id: str = Field(min_length=1, max_length=256)
    items: list[WorkItem] = Field(default_factory=list, max_length=1000)
    items_key: str | None = Field(default=None, min_length=1, max_length=1024)
    failed: list[FailedEmployee] = Field(default_factory=list, max_length=1000)
    remaining: int = Field(ge=0)

    @model_validator(mode="after")
    def _remaining_counts_items(self) -> ChunkState:
        if self.items_key is not None:
            if self.items or self.remaining < 1:
                raise ValueError(
                    "items_key names the items going on: items must be empty and remaining "
                    f"at least 1 (items {len(self.items)}, remaining {self.remaining})"
                )
        elif self.remaining != len(self.items):
            raise ValueError(f"remaining is {self.remaining}, but {len(self.items)} items go on")
        return self
