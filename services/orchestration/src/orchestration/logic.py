"""Pure orchestration rules: triggers, S3 keys, chunking, chunk and employer failures.

No boto3, no environment, no I/O: the handlers feed these functions what the adapters
read and hand what they return to the adapters.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from payroll_shared.contracts import (
    EMPLOYEE_PREDECESSORS,
    DeadLetterRecord,
    DeadLetterSource,
    EmployeeState,
    EmployeeStatusRecord,
    EmployerCompletion,
    PayRunRef,
    PayRunTrigger,
    RedriveEmployees,
    StepError,
    WorkItem,
    describe_validation_error,
    employee_pk,
    record_fingerprint,
)
from payroll_shared.names import PAY_RUN_PREFIX, Step
from payroll_shared.payrun import PayFrequency, pay_period, pay_run_id

#: Employees per work item when CHUNK_SIZE is not set (design.md 4).
DEFAULT_CHUNK_SIZE = 25
#: A StepRequest carries at most 1000 items (its contract): the hard ceiling, not a
#: target. A large chunk's items travel as an S3 key, so a map item stays far under the
#: 256 KiB state payload limit (``payroll_shared.chunks``).
MAX_CHUNK_SIZE = 1000
#: The key EventBridge Scheduler fills from ``<aws.scheduler.scheduled-time>``.
SCHEDULED_TIME = "scheduled_time"
#: StepError.message is at most 2000 characters.
_MAX_MESSAGE = 2000


class InvalidTrigger(ValueError):
    """A trigger that can never start a pay run (bad schedule, date or shape)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Triggers ----------------------------------------------------------------------


def latest_period_end(schedule: PayFrequency, on_or_before: date) -> date:
    """The latest date on or before ``on_or_before`` that ends a period of ``schedule``.

    Weekly and biweekly periods end on the day the schedule fires; semimonthly on the
    15th and the month's last day; monthly on the last day. Used when a schedule fires
    without a pay date, so a late or manual firing still names a real period.
    """
    if schedule in (PayFrequency.WEEKLY, PayFrequency.BIWEEKLY):
        return on_or_before
    last = calendar.monthrange(on_or_before.year, on_or_before.month)[1]
    if on_or_before.day == last:
        return on_or_before
    if schedule is PayFrequency.SEMIMONTHLY and on_or_before.day >= 15:
        return on_or_before.replace(day=15)
    return on_or_before.replace(day=1) - timedelta(days=1)


def _scheduled_date(value: Any) -> date:
    if not isinstance(value, str) or not value.strip():
        raise InvalidTrigger(f"{SCHEDULED_TIME}: expected an ISO 8601 time, got {value!r}")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidTrigger(f"{SCHEDULED_TIME}: not an ISO 8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Scheduler reports the scheduled time in UTC; the pay date is that UTC day.
    return moment.astimezone(UTC).date()


def parse_trigger(event: Mapping[str, Any]) -> PayRunTrigger:
    """A ``PayRunTrigger`` from a trigger event.

    Two shapes are accepted: the contract itself (``payroll run``, a redriven trigger),
    and the schedule's input, which has no ``pay_date`` but a ``scheduled_time`` that
    EventBridge Scheduler fills in; the pay date is then the latest period end on or
    before that day.
    """
    if not isinstance(event, Mapping):
        raise InvalidTrigger(f"a trigger is a JSON object, got {type(event).__name__}")
    data = dict(event)
    scheduled = data.pop(SCHEDULED_TIME, None)
    if data.get("pay_date") is None:
        data.pop("pay_date", None)
        day = _scheduled_date(scheduled)
        try:
            schedule = PayFrequency(str(data.get("pay_schedule")))
        except ValueError as exc:
            raise InvalidTrigger(
                f"pay_schedule: expected one of {[f.value for f in PayFrequency]}, "
                f"got {data.get('pay_schedule')!r}"
            ) from exc
        data["pay_date"] = latest_period_end(schedule, day).isoformat()
    try:
        return PayRunTrigger.model_validate(data)
    except ValidationError as exc:
        raise InvalidTrigger(describe_validation_error(exc, record="trigger")) from exc


def pay_run_ref(trigger: PayRunTrigger) -> PayRunRef:
    """The pay run a trigger names; its id is the execution name (design.md 6)."""
    try:
        period = pay_period(trigger.pay_schedule, trigger.pay_date)
    except ValueError as exc:
        raise InvalidTrigger(str(exc)) from exc
    return PayRunRef(
        pay_run_id=pay_run_id(trigger.pay_schedule, trigger.pay_date),
        pay_schedule=trigger.pay_schedule,
        period_start=period.period_start,
        period_end=period.period_end,
        pay_date=period.pay_date,
    )


# --- S3 layout and the execution input ----------------------------------------------


def employers_key(pay_run_id: str) -> str:
    return f"{PAY_RUN_PREFIX}/{pay_run_id}/employers.json"


def chunks_key(pay_run_id: str, employer_id: str, attempt: int = 1) -> str:
    """The employer's chunks; a redrive (attempt > 1) writes its own next to them."""
    suffix = "" if attempt == 1 else f"redrive-{attempt:03d}/"
    return f"{PAY_RUN_PREFIX}/{pay_run_id}/employers/{employer_id}/{suffix}chunks.json"


def redrive_employers_key(pay_run_id: str, execution_name: str) -> str:
    return f"{PAY_RUN_PREFIX}/{pay_run_id}/redrives/{execution_name}/employers.json"


class S3Location(_Model):
    bucket: str = Field(min_length=1)
    key: str = Field(min_length=1)


class RedriveScope(_Model):
    """Which employees of each employer an execution runs.

    A pay run's first execution runs every active employee (no ids, attempt 1). A
    redrive execution runs the listed employees of its one employer again, as attempt
    ``attempt``. Always present in the execution input (never null) so the state
    machine's paths to it resolve in both cases.
    """

    attempt: int = Field(default=1, ge=1)
    employee_ids: list[str] = Field(default_factory=list, max_length=1000)


class ExecutionInput(_Model):
    """What GetEmployers starts the pay-run state machine with."""

    pay_run: PayRunRef
    employers: S3Location
    redrive: RedriveScope = Field(default_factory=RedriveScope)


class DueEmployer(_Model):
    """One line of ``employers.json``: an item of the parent map."""

    employer_id: str = Field(min_length=1, max_length=64)
    name: str


StartStatus = Literal["started", "already-exists", "no-employers-due", "rejected"]


class StartResult(_Model):
    """What GetEmployers answers."""

    status: StartStatus
    pay_run_id: str | None = None
    execution_arn: str | None = None
    employers: int = 0
    reason: str | None = None


# --- GetEmployees: work items and chunks --------------------------------------------


def parse_chunk_size(value: str | int | None) -> int:
    """CHUNK_SIZE as an int in 1..MAX_CHUNK_SIZE; empty means the default."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_CHUNK_SIZE
    try:
        size = int(value)
    except ValueError as exc:
        raise ValueError(f"CHUNK_SIZE must be an integer, got {value!r}") from exc
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise ValueError(f"CHUNK_SIZE must be between 1 and {MAX_CHUNK_SIZE}, got {size}")
    return size


class EmployeesRequest(_Model):
    """GetEmployees' input: one employer of the pay run."""

    pay_run: PayRunRef
    employer_id: str = Field(min_length=1, max_length=64)
    redrive: RedriveScope = Field(default_factory=RedriveScope)


class Chunk(_Model):
    """One item of the child map: the employees one task-token message carries."""

    chunk_id: str = Field(min_length=1, max_length=256)
    items: list[WorkItem] = Field(min_length=1, max_length=MAX_CHUNK_SIZE)


class ListedChunk(_Model):
    """An element of chunks.json, a child-map item: a chunk with its items inline, or
    the key of the object that holds them (a large chunk: ``payroll_shared.chunks``)."""

    chunk_id: str = Field(min_length=1, max_length=256)
    items: list[WorkItem] = Field(default_factory=list, max_length=MAX_CHUNK_SIZE)
    items_key: str | None = None
    employees: int = Field(ge=1)


def listed_chunk(chunk: Chunk, items_key: str | None) -> ListedChunk:
    """``chunk`` as chunks.json lists it: by ``items_key`` when its items are in an object."""
    return ListedChunk(
        chunk_id=chunk.chunk_id,
        items=[] if items_key else chunk.items,
        items_key=items_key,
        employees=len(chunk.items),
    )


class EmployeesResult(_Model):
    """GetEmployees' answer: where the chunks are and how many."""

    bucket: str
    key: str
    employees: int = Field(ge=0)
    chunks: int = Field(ge=0)


def chunk_id(employer_id: str, index: int) -> str:
    """Deterministic per employer and position, so a re-run names the same chunks."""
    return f"{employer_id}-c{index:05d}"


def work_item(record: Mapping[str, Any]) -> WorkItem:
    """A work item for an employee record as the database gives it (not validated here:
    a bad record fails that employee in the step that reads it, naming the field)."""
    return WorkItem(employee_id=str(record["employee_id"]), record=dict(record), results={})


def build_chunks(employer_id: str, items: Iterable[WorkItem], size: int) -> Iterator[Chunk]:
    """Group work items into chunks of ``size`` in order, lazily (one chunk in memory)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    batch: list[WorkItem] = []
    index = 0
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield Chunk(chunk_id=chunk_id(employer_id, index), items=batch)
            index += 1
            batch = []
    if batch:
        yield Chunk(chunk_id=chunk_id(employer_id, index), items=batch)


def begin_status(
    pay_run: PayRunRef, employer_id: str, employee_id: str, now: datetime
) -> EmployeeStatusRecord:
    """The EmployeeStatus row GetEmployees writes (only if the employee has none yet)."""
    return EmployeeStatusRecord(
        pk=employee_pk(pay_run.pay_run_id, employer_id),
        employee_id=employee_id,
        pay_run_id=pay_run.pay_run_id,
        employer_id=employer_id,
        status=EmployeeState.BEGIN,
        updated_at=now,
    )


# --- A chunk that failed on infrastructure --------------------------------------------


class StatesError(_Model):
    """What a Step Functions Catch puts at its ResultPath."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Error: str = "States.TaskFailed"
    Cause: str | None = None


class ChunkFailure(_Model):
    """record_chunk_failure's input: the employees still going when the chunk failed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    pay_run: PayRunRef
    employer_id: str
    chunk_id: str
    #: The employees still going: inline, or in the object ``items_key`` names.
    items: list[WorkItem] = Field(default_factory=list)
    items_key: str | None = None
    failed_step: Step | None = None
    error: StatesError


class ChunkFailureResult(_Model):
    chunk_id: str
    marked_failed: int
    unchanged: int


def chunk_error(failure: ChunkFailure) -> StepError:
    """The StepError recorded for every employee of a failed chunk."""
    code = (failure.error.Error or "States.TaskFailed")[:64]
    where = f" at {failure.failed_step.value}" if failure.failed_step else ""
    cause = (failure.error.Cause or "").strip() or "no cause given"
    message = f"chunk {failure.chunk_id} failed{where}: {code}: {cause}"
    return StepError(code=code, message=message[:_MAX_MESSAGE], retryable=True)


class EmployerFailure(_Model):
    """dead_letter_employer's input: an employer whose listing or chunk map failed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    pay_run: PayRunRef
    employer_id: str
    redrive: RedriveScope = Field(default_factory=lambda: RedriveScope())
    execution_arn: str | None = None
    error: StatesError


def employer_record_id(pay_run_id: str, employer_id: str, attempt: int) -> str:
    return f"{pay_run_id}#{employer_id}#employer#{attempt}"


def employer_dead_letter(failure: EmployerFailure, now: datetime) -> DeadLetterRecord:
    """The one record a person (and the schedule) sees for an employer nobody of which
    could be run: its pay run, the attempt and the error; no employee, no step."""
    code = (failure.error.Error or "States.TaskFailed")[:64]
    cause = (failure.error.Cause or "").strip() or "no cause given"
    message = (
        f"employer {failure.employer_id}: its employees could not be listed or its "
        f"chunks not run ({code}): {cause}"
    )
    payload: dict[str, Any] = {"pay_run": failure.pay_run.model_dump(mode="json")}
    if failure.execution_arn:
        payload["execution_arn"] = failure.execution_arn
    attempt = failure.redrive.attempt
    return DeadLetterRecord(
        record_id=employer_record_id(failure.pay_run.pay_run_id, failure.employer_id, attempt),
        source=DeadLetterSource.ORCHESTRATION,
        pay_run_id=failure.pay_run.pay_run_id,
        employer_id=failure.employer_id,
        error=StepError(code=code, message=message[:_MAX_MESSAGE], retryable=True),
        attempts=attempt,
        first_failed_at=now,
        last_failed_at=now,
        payload=payload,
    )


def failable_states() -> frozenset[EmployeeState]:
    """States an employee may be marked FAILED from: any before CALCULATED."""
    return EMPLOYEE_PREDECESSORS[EmployeeState.FAILED]


# --- After the child map --------------------------------------------------------------


def employer_completion(
    pay_run: PayRunRef, employer_id: str, employees: int, execution_arn: str | None
) -> EmployerCompletion:
    """The message the state machine sends to the employer completion queue.

    The state machine renders it itself (an SQS integration, no Lambda); this is its
    reference shape, which the stack's tests compare the rendered body with.
    """
    return EmployerCompletion(
        pay_run=pay_run, employer_id=employer_id, employees=employees, execution_arn=execution_arn
    )


# --- Redrive: the failed employees of one employer, again -----------------------------

#: Step Functions execution names: at most 80 characters of [A-Za-z0-9-_].
_EXECUTION_NAME_MAX = 80


def redrive_execution_name(pay_run_id: str, employer_id: str, attempt: int, ids: list[str]) -> str:
    """Deterministic per (pay run, employer, attempt, employees).

    The same redrive asked twice (the schedule and a person at once, a retried
    invocation) names the same execution, so it starts once; another set of employees
    or the next attempt gets a new one.
    """
    digest = hashlib.sha256(
        "\n".join([employer_id, str(attempt), *sorted(ids)]).encode()
    ).hexdigest()
    name = f"{pay_run_id}-rd{attempt}-{digest[:16]}"
    if len(name) > _EXECUTION_NAME_MAX:
        raise ValueError(f"execution name too long: {name}")
    return name


class RedrivePlan(_Model):
    """Which of the requested employees run again, and why the others do not."""

    start: list[str]
    unchanged: list[str]
    missing: list[str]


def plan_redrive(
    request: RedriveEmployees, current: Mapping[str, Mapping[str, Any]]
) -> RedrivePlan:
    """Split the request by the employees' records as the database holds them now.

    ``current`` maps employee id to the record GetEmployees would write today (active
    employees of the employer only). An employee asked to run again only once its
    record changed (``unless_record_sha256``) and whose record has the same fingerprint
    stays where it is: running it again would fail the same way.
    """
    start: list[str] = []
    unchanged: list[str] = []
    missing: list[str] = []
    seen: set[str] = set()
    for employee in request.employees:
        if employee.employee_id in seen:
            continue
        seen.add(employee.employee_id)
        record = current.get(employee.employee_id)
        if record is None:
            missing.append(employee.employee_id)
        elif (
            employee.unless_record_sha256 is not None
            and record_fingerprint(record) == employee.unless_record_sha256
        ):
            unchanged.append(employee.employee_id)
        else:
            start.append(employee.employee_id)
    return RedrivePlan(start=start, unchanged=unchanged, missing=missing)
