"""orchestration: the Lambda functions of the pay run.

- ``get_employers``: the schedule's (or ``payroll run``'s) trigger -> employers.json in
  S3 -> StartExecution named after the pay run. Also Redrive's ``RedriveEmployees``
  (``{"redrive": {...}}``): the failed employees of one employer -> an execution of
  the same state machine limited to them (``redrive_employees``), and
  ``RedriveEmployer`` (``{"redrive_employer": {...}}``): every employee of an employer
  that could not be listed or run, again (``redrive_employer``).
- ``get_employees``: one employer (or the employees a redrive names) -> EmployeeStatus
  BEGIN rows and chunks.json in S3.
- ``record_chunk_failure``: a chunk that failed on infrastructure -> FAILED rows.
- ``dead_letter_employer``: an employer whose listing or chunk map failed (after its
  EmployerStatus became NEEDS_REDRIVE) -> one dead-letter record on the process DLQ.

Each parses its input into a model, calls the logic, and reports through the adapters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from orchestration import adapters, logic
from orchestration.observability import logger, metrics, tracer
from payroll_shared import chunks, dead_letters
from payroll_shared.contracts import (
    PayRunRef,
    PayRunTrigger,
    RedriveEmployees,
    RedriveEmployeesResult,
    RedriveEmployer,
)
from payroll_shared.names import Env, chunk_directory
from payroll_shared.settings import optional_setting, setting

#: ``requested_by`` of a trigger Redrive replays from the orchestration DLQ.
REDRIVE_REPLAY = "redrive"
#: Chunks whose BEGIN rows are written together (bounded memory, parallel puts).
_BEGIN_BATCH_EMPLOYEES = 200


def _dead_letter(body: str, error_code: str, reason: str) -> None:
    adapters.dead_letter_trigger(setting(Env.ORCHESTRATION_DLQ_URL), body, error_code, reason)


def start_pay_run(trigger: PayRunTrigger, pay_run: PayRunRef) -> logic.StartResult:
    state_machine_arn = setting(Env.STATE_MACHINE_ARN)
    existing = adapters.find_execution(state_machine_arn, pay_run.pay_run_id)
    if existing is not None:
        # Never rewrite employers.json under a run that may still be reading it.
        return logic.StartResult(
            status="already-exists", pay_run_id=pay_run.pay_run_id, execution_arn=existing
        )
    bucket = setting(Env.PAYRUN_BUCKET)
    key = logic.employers_key(pay_run.pay_run_id)
    employers = adapters.write_json_array(
        bucket,
        key,
        (
            logic.DueEmployer.model_validate(row)
            for row in adapters.due_employers(trigger.pay_schedule.value)
        ),
    )
    if employers == 0:
        return logic.StartResult(status="no-employers-due", pay_run_id=pay_run.pay_run_id)
    started = adapters.start_execution(
        state_machine_arn,
        pay_run.pay_run_id,
        logic.ExecutionInput(pay_run=pay_run, employers=logic.S3Location(bucket=bucket, key=key)),
    )
    return logic.StartResult(
        status="already-exists" if started.already_existed else "started",
        pay_run_id=pay_run.pay_run_id,
        execution_arn=started.execution_arn,
        employers=employers,
    )


def _start_redrive(
    pay_run: PayRunRef, employer_id: str, name: str, scope: logic.RedriveScope
) -> adapters.Started:
    """One execution of the pay-run state machine over one employer, named ``name``."""
    bucket = setting(Env.PAYRUN_BUCKET)
    key = logic.redrive_employers_key(pay_run.pay_run_id, name)
    adapters.write_json_array(bucket, key, [{"employer_id": employer_id, "name": employer_id}])
    return adapters.start_execution(
        setting(Env.STATE_MACHINE_ARN),
        name,
        logic.ExecutionInput(
            pay_run=pay_run, employers=logic.S3Location(bucket=bucket, key=key), redrive=scope
        ),
    )


def redrive_employees(request: RedriveEmployees) -> RedriveEmployeesResult:
    """Run the failed employees of one employer again, in their own execution.

    The employees' current records are read first: one whose data error is not
    corrected stays where it is, one no longer employed is reported. The others are
    marked with the attempt (only if still FAILED), and one execution of the pay-run
    state machine, named after the employer, the attempt and the employees, runs them
    through the steps with the pay run's id and idempotency keys; its employer then
    goes to validation and payment as usual.
    """
    pay_run = request.pay_run
    current = adapters.employee_records_by_id(
        request.employer_id, [e.employee_id for e in request.employees]
    )
    plan = logic.plan_redrive(request, current)
    table = setting(Env.EMPLOYEE_STATUS_TABLE)
    first_failed = {e.employee_id: e.first_failed_at for e in request.employees}
    start: list[str] = []
    not_failed: list[str] = []
    for employee_id in plan.start:
        marked = adapters.mark_redrive_attempt(
            table,
            pay_run_id=pay_run.pay_run_id,
            employer_id=request.employer_id,
            employee_id=employee_id,
            attempt=request.attempt,
            first_failed_at=first_failed[employee_id],
        )
        (start if marked else not_failed).append(employee_id)
    result = RedriveEmployeesResult(
        status="nothing-to-redrive",
        pay_run_id=pay_run.pay_run_id,
        employer_id=request.employer_id,
        attempt=request.attempt,
        unchanged=plan.unchanged,
        missing=plan.missing,
        not_failed=not_failed,
    )
    if not start:
        return result
    name = logic.redrive_execution_name(
        pay_run.pay_run_id, request.employer_id, request.attempt, start
    )
    started = _start_redrive(
        pay_run,
        request.employer_id,
        name,
        logic.RedriveScope(attempt=request.attempt, employee_ids=start),
    )
    return result.model_copy(
        update={
            "status": "already-started" if started.already_existed else "started",
            "execution_arn": started.execution_arn,
            "started": start,
        }
    )


def redrive_employer(request: RedriveEmployer) -> RedriveEmployeesResult:
    """Run every active employee of a NEEDS_REDRIVE employer again, in its own execution.

    The employer is marked with the attempt first (only if still NEEDS_REDRIVE and not
    already at that attempt); the execution, named after the employer and the attempt,
    lists its employees as the database holds them now, and the steps that succeeded
    before answer from their stored results. Asked twice, it starts once.
    """
    pay_run = request.pay_run
    state_machine_arn = setting(Env.STATE_MACHINE_ARN)
    name = logic.redrive_execution_name(
        pay_run.pay_run_id, request.employer_id, request.attempt, []
    )
    result = RedriveEmployeesResult(
        status="nothing-to-redrive",
        pay_run_id=pay_run.pay_run_id,
        employer_id=request.employer_id,
        attempt=request.attempt,
    )
    marked = adapters.mark_employer_redrive(
        setting(Env.EMPLOYER_STATUS_TABLE),
        pay_run_id=pay_run.pay_run_id,
        employer_id=request.employer_id,
        attempt=request.attempt,
    )
    if not marked:
        existing = adapters.find_execution(state_machine_arn, name)
        if existing is None:
            return result  # validated since, or not NEEDS_REDRIVE: the record is stale
        return result.model_copy(update={"status": "already-started", "execution_arn": existing})
    # No ids: every active employee of the employer.
    started = _start_redrive(
        pay_run, request.employer_id, name, logic.RedriveScope(attempt=request.attempt)
    )
    return result.model_copy(
        update={
            "status": "already-started" if started.already_existed else "started",
            "execution_arn": started.execution_arn,
        }
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def get_employers(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "redrive_employer" in event:
        employer_request = RedriveEmployer.model_validate(event["redrive_employer"])
        logger.append_keys(
            pay_run_id=employer_request.pay_run.pay_run_id,
            employer_id=employer_request.employer_id,
        )
        redriven = redrive_employer(employer_request)
        metrics.add_metric(
            name="EmployersRedriven",
            unit=MetricUnit.Count,
            value=1 if redriven.status == "started" else 0,
        )
        logger.info("employer redrive handled", extra=redriven.model_dump(mode="json"))
        return redriven.model_dump(mode="json")
    if isinstance(event, dict) and "redrive" in event:
        # Redrive's request: a contract breach raises (the caller sees the error).
        request = RedriveEmployees.model_validate(event["redrive"])
        logger.append_keys(pay_run_id=request.pay_run.pay_run_id, employer_id=request.employer_id)
        redriven = redrive_employees(request)
        metrics.add_metric(
            name="EmployeesRedriven", unit=MetricUnit.Count, value=len(redriven.started)
        )
        logger.info("redrive handled", extra=redriven.model_dump(mode="json"))
        return redriven.model_dump(mode="json")
    try:
        trigger = logic.parse_trigger(event)
        pay_run = logic.pay_run_ref(trigger)
    except logic.InvalidTrigger as exc:
        # Retrying cannot help: keep it for a person, answer, do not raise.
        logger.error("trigger rejected", extra={"reason": str(exc)})
        metrics.add_metric(name="PayRunTriggersRejected", unit=MetricUnit.Count, value=1)
        _dead_letter(json.dumps(event, default=str), "InvalidTrigger", str(exc))
        return logic.StartResult(status="rejected", reason=str(exc)).model_dump(mode="json")
    logger.append_keys(pay_run_id=pay_run.pay_run_id)
    try:
        result = start_pay_run(trigger, pay_run)
    except Exception as exc:
        # The run did not start: the trigger goes to the orchestration DLQ (redrive
        # replays it; the execution name makes a replay harmless) and the error surfaces.
        logger.exception("pay run did not start")
        metrics.add_metric(name="PayRunStartFailures", unit=MetricUnit.Count, value=1)
        if trigger.requested_by != REDRIVE_REPLAY:
            # A replay's original is still on the DLQ (Redrive keeps it): no second copy.
            _dead_letter(trigger.model_dump_json(), type(exc).__name__, str(exc))
        raise
    metrics.add_metric(name="PayRunsStarted", unit=MetricUnit.Count,
                       value=1 if result.status == "started" else 0)  # fmt: skip
    logger.info("pay run trigger handled", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")


def _with_begin_rows(
    table: str, request: logic.EmployeesRequest, chunks: Iterable[logic.Chunk], tally: list[int]
) -> Iterator[logic.Chunk]:
    """Pass chunks through once their employees have EmployeeStatus BEGIN rows.

    The rows are written before chunks.json exists, so before any step can run.
    """
    pending: list[logic.Chunk] = []

    def flush() -> Iterator[logic.Chunk]:
        now = datetime.now(UTC)
        rows = [
            logic.begin_status(request.pay_run, request.employer_id, item.employee_id, now)
            for chunk in pending
            for item in chunk.items
        ]
        adapters.put_employees_begin(table, rows)
        tally[0] += len(rows)
        yield from pending
        pending.clear()

    for chunk in chunks:
        pending.append(chunk)
        if sum(len(c.items) for c in pending) >= _BEGIN_BATCH_EMPLOYEES:
            yield from flush()
    if pending:
        yield from flush()


def _listed(request: logic.EmployeesRequest, chunk: logic.Chunk) -> logic.ListedChunk:
    """The chunk as chunks.json lists it, its items first written to their object when
    they are too large to travel inline (``payroll_shared.chunks``)."""
    directory = chunk_directory(request.pay_run.pay_run_id, request.employer_id, chunk.chunk_id)
    return logic.listed_chunk(chunk, chunks.put_items(directory, chunks.EMPLOYEES, chunk.items))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def get_employees(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = logic.EmployeesRequest.model_validate(event)
    logger.append_keys(pay_run_id=request.pay_run.pay_run_id, employer_id=request.employer_id)
    size = logic.parse_chunk_size(optional_setting(Env.CHUNK_SIZE))
    bucket = setting(Env.PAYRUN_BUCKET)
    scope = request.redrive
    key = logic.chunks_key(request.pay_run.pay_run_id, request.employer_id, scope.attempt)
    if scope.employee_ids:
        # A redrive: exactly the named employees, as the database holds them now.
        found = adapters.employee_records_by_id(request.employer_id, scope.employee_ids)
        records: Iterable[dict[str, Any]] = (found[i] for i in sorted(found))
    else:
        records = adapters.employee_records(request.employer_id)
    items = (logic.work_item(record) for record in records)
    built = logic.build_chunks(request.employer_id, items, size)
    employees = [0]
    ready = _with_begin_rows(setting(Env.EMPLOYEE_STATUS_TABLE), request, built, employees)
    written = adapters.write_json_array(bucket, key, (_listed(request, c) for c in ready))
    result = logic.EmployeesResult(bucket=bucket, key=key, employees=employees[0], chunks=written)
    metrics.add_metric(name="EmployeesListed", unit=MetricUnit.Count, value=result.employees)
    logger.info("employees listed", extra=result.model_dump())
    return result.model_dump()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def record_chunk_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failure = logic.ChunkFailure.model_validate(event)
    error = logic.chunk_error(failure)
    table = setting(Env.EMPLOYEE_STATUS_TABLE)
    allowed = logic.failable_states()
    now = datetime.now(UTC)
    going = chunks.employee_ids(failure.items, failure.items_key)
    marked = sum(
        adapters.mark_employee_failed(
            table,
            pay_run_id=failure.pay_run.pay_run_id,
            employer_id=failure.employer_id,
            employee_id=employee_id,
            step=failure.failed_step,
            error=error,
            allowed=allowed,
            now=now,
        )
        for employee_id in going
    )
    result = logic.ChunkFailureResult(
        chunk_id=failure.chunk_id, marked_failed=marked, unchanged=len(going) - marked
    )
    metrics.add_metric(name="ChunkFailures", unit=MetricUnit.Count, value=1)
    logger.warning(
        "chunk failed on infrastructure",
        extra={
            "pay_run_id": failure.pay_run.pay_run_id,
            "employer_id": failure.employer_id,
            "error_code": error.code,
            "failed_step": failure.failed_step.value if failure.failed_step else None,
            **result.model_dump(),
        },
    )
    return result.model_dump()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def dead_letter_employer(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failure = logic.EmployerFailure.model_validate(event)
    record = logic.employer_dead_letter(failure, datetime.now(UTC))
    dead_letters.send([record])
    metrics.add_metric(name="EmployerFailures", unit=MetricUnit.Count, value=1)
    logger.error(
        "employer could not be run: dead-lettered",
        extra={
            "pay_run_id": failure.pay_run.pay_run_id,
            "employer_id": failure.employer_id,
            "record_id": record.record_id,
            "error_code": record.error.code,
            "attempt": record.attempts,
        },
    )
    return {"record_id": record.record_id}
