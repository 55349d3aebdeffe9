"""Redrive -> GetEmployers: run the failed employees of one employer again.

The redrive service (scheduled or ad hoc) reads dead-letter records and asks the
orchestration service, which owns the pay-run state machine and reads the employee
records, to run exactly those employees through the steps again: the same pay run id
and the same idempotency keys (design.md 6), in an execution of the same state machine
limited to them. GetEmployers answers synchronously with what it did for each
employee, so Redrive knows which dead letters are now in hand and which stay.

An employer that could not be listed or whose chunks could not be run (GetEmployees or
the chunk map failed: the employer is NEEDS_REDRIVE with nobody of it known to have
failed) is one dead-letter record of source ``orchestration`` naming no employee;
redriving it sends ``RedriveEmployer``: every active employee of that employer runs
again in an execution of its own (steps that succeeded answer from their stored
results), with the same answer shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from payroll_shared.contracts.base import Contract, Part
from payroll_shared.contracts.steps import PayRunRef

#: Employees per redrive execution: their ids travel in the execution input.
MAX_REDRIVE_EMPLOYEES = 500


class RedriveEmployee(Part):
    employee_id: str = Field(min_length=1, max_length=64)
    #: When the employee first failed in this pay run (kept across attempts).
    first_failed_at: datetime
    #: Run again only if the employee's record in the database no longer has this
    #: fingerprint (``record_fingerprint``): a data error is redriven once corrected.
    #: None runs the employee again whatever the record (transient errors, or a person
    #: who says it is fixed).
    unless_record_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class RedriveEmployees(Contract):
    """The request: one employer of one pay run, the employees to run again."""

    schema_version: Literal["1"] = "1"
    pay_run: PayRunRef
    employer_id: str = Field(min_length=1, max_length=64)
    #: The attempt this redrive is (the first run is attempt 1).
    attempt: int = Field(ge=2, le=1000)
    employees: list[RedriveEmployee] = Field(min_length=1, max_length=MAX_REDRIVE_EMPLOYEES)
    requested_by: str = Field(default="redrive", max_length=256)


class RedriveEmployer(Contract):
    """The request: every active employee of one employer of one pay run, again."""

    schema_version: Literal["1"] = "1"
    pay_run: PayRunRef
    employer_id: str = Field(min_length=1, max_length=64)
    #: The attempt this redrive is (the first run is attempt 1).
    attempt: int = Field(ge=2, le=1000)
    requested_by: str = Field(default="redrive", max_length=256)


RedriveStatus = Literal["started", "already-started", "nothing-to-redrive"]


class RedriveEmployeesResult(Contract):
    """GetEmployers' answer: what happened to each requested employee."""

    schema_version: Literal["1"] = "1"
    status: RedriveStatus
    pay_run_id: str
    employer_id: str
    attempt: int
    execution_arn: str | None = None
    #: Now running again: their dead letters are in hand.
    started: list[str] = Field(default_factory=list)
    #: A data error whose record is unchanged: left for a person.
    unchanged: list[str] = Field(default_factory=list)
    #: No longer FAILED (already redriven, or past it): their dead letters are stale.
    not_failed: list[str] = Field(default_factory=list)
    #: Not an active employee of that employer any more: left for a person.
    missing: list[str] = Field(default_factory=list)
