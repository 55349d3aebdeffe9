"""Running one task-token step over a chunk: the part every step service shares.

A step service provides ``compute(record, results, context) -> result model`` (its pure
logic) and, if it needs data from outside, a ``prepare(request)`` that loads it for the
whole chunk at once. This module validates each employee, calls the logic, records
outcomes in EmployeeStatus with conditional writes, and answers the task token with the
chunk after the step: its outcomes folded into the items (``fold``), what the workflow
sends on to the next step.

What is written, and when (design.md 6, refined):

- **A failure** is written by the step that finds it, at once: the employee's status
  moves to FAILED with the failing step, its error and the fingerprint of the record
  the step read, so EmployerValidation dead-letters it and Redrive finds it.
- **A success of TimeEntry, PayrollCalc or RetirementCalc** is not written. It travels
  with the chunk in the workflow (the step folds it into the items it answers with) to
  the next step, like every earlier result.
- **A success of the last step (TaxCalc)** is written once, by one conditional write that
  moves the status to CALCULATED and stores every step's result, all four in one
  compressed attribute (``contracts.RESULTS_ATTRIBUTE``; ``contracts.stored_results``
  reads it), with the digest of the inputs the last step read (``input_tax_calc``: the
  record and every earlier result). One write instead of four (the three intermediate
  states, TIME_ENTERED to RETIREMENT_CALCULATED, were read by nothing but the next
  write's condition), and an item under 1 KB, so one write unit per write. The results
  recorded are those the workflow used, since they come from the chunk the workflow
  sent. A chunk's writes go in transactions of up to 100 (``record_outcomes``).

Exactly once per (pay run, employee, step): a delivery first reads the chunk's status
items (one consistent BatchGetItem per 100 employees). An employee whose result for
this step is on record, computed from the inputs this delivery carries, gets that
stored result back, not a new computation: every duplicate after the chunk was
calculated. A duplicate before that (of a step before the last, while the chunk is
still in flight) computes again from the same inputs: the steps are pure functions of
the record, the earlier results and what ``prepare`` reads, and nothing of it is
recorded, so there is nothing to double. Two deliveries of the last step racing on one
employee both compute, one write wins, and the loser answers with the winner's stored
result (``ReturnValuesOnConditionCheckFailure``), so every answer of it is the one on
record. A failure is not stored as an answer: a redrive after the record was
corrected computes again, with the same keys.

A stored result is reused only for the inputs it was computed from (``_stored_outcome``
checks them against ``input_tax_calc`` and the stored results). A
redrive after someone corrected the record (a 401(k) deferral that made tax fail, say)
brings a different record, so every step computes again from it instead of answering
with what the old record gave. Nothing computes again once the employee is
CALCULATED: only PAID follows it (the ledger commits its statement as it is), so a late
write is refused and answered from the record.

Powertools idempotency would add two writes per employee and step (an in-progress
record and its completion) in a separate table for the same guarantee.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from payroll_shared import aws, chunks, parallel, tasks
from payroll_shared.consumer import PoisonMessage
from payroll_shared.contracts import (
    EMPLOYEE_PREDECESSORS,
    RESULTS_ATTRIBUTE,
    STEP_DONE_STATE,
    ChunkState,
    EmployeeOutcome,
    EmployeeRecord,
    EmployeeState,
    FailedEmployee,
    OutcomeStatus,
    StepError,
    StepRequest,
    StepResponse,
    WorkItem,
    describe_validation_error,
    employee_pk,
    first_error_field,
    pack_results,
    record_fingerprint,
    stored_results,
)
from payroll_shared.names import STEP_ORDER, Env, Step
from payroll_shared.settings import setting


class StepRuleError(Exception):
    """A business rule an employee's data breaks: that employee fails, the chunk goes on."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


#: The queue-DLQ error code of a step message whose task token Step Functions rejects.
INVALID_TASK_TOKEN = "InvalidTaskToken"  # noqa: S105 - an error code, not a secret

Compute = Callable[[EmployeeRecord, dict[str, Any], Any], BaseModel]


def evaluate(item: WorkItem, compute: Compute, context: Any) -> EmployeeOutcome:
    """One employee: validate the record, run the logic, turn rule errors into outcomes."""
    try:
        record = EmployeeRecord.model_validate(item.record)
    except ValidationError as exc:
        return EmployeeOutcome(
            employee_id=item.employee_id,
            status=OutcomeStatus.FAILED,
            error=StepError(
                code="InvalidEmployeeRecord",
                message=describe_validation_error(exc, record=f"employee {item.employee_id}"),
                field=first_error_field(exc) or None,
            ),
        )
    try:
        result = compute(record, item.results, context)
    except StepRuleError as exc:
        # The status item and the dead letter keep the message, not the field: the
        # message must name it.
        message = exc.message
        if exc.field and exc.field not in message:
            message = f"{exc.field}: {message}"
        return EmployeeOutcome(
            employee_id=item.employee_id,
            status=OutcomeStatus.FAILED,
            error=StepError(
                code=exc.code,
                message=f"employee {item.employee_id}: {message}",
                field=exc.field,
            ),
        )
    return EmployeeOutcome(
        employee_id=item.employee_id,
        status=OutcomeStatus.OK,
        result=result.model_dump(mode="json"),
    )


def _status_key(request: StepRequest, employee_id: str) -> dict[str, Any]:
    return {
        "pk": {"S": employee_pk(request.pay_run.pay_run_id, request.employer_id)},
        "employee_id": {"S": employee_id},
    }


def _input_attribute(step: Step) -> str:
    return f"input_{step.value}"


#: The digest of the last step's inputs: the record and every earlier result.
_INPUTS = _input_attribute(STEP_ORDER[-1])


def input_fingerprint(item: WorkItem) -> str:
    """The digest of what a step reads for one employee: the record and earlier results."""
    return record_fingerprint({"record": item.record, "results": item.results})


def _stored_outcome(
    request: StepRequest, item: Mapping[str, Any], work: WorkItem | None = None
) -> EmployeeOutcome | None:
    """The outcome a status item holds for this step, if it holds one (for the inputs
    ``work`` carries, when given: a result stored from other inputs is not this
    delivery's answer).

    The item keeps one digest, of the last step's inputs (``_INPUTS``): the record and
    every earlier result. This step's inputs are the same as those its stored result
    came from exactly when that digest is also the digest of ``work``'s record and
    results with the stored results of this step and the later ones before the last
    added: the same record, the same earlier results.
    """
    results = stored_results(item)
    stored = results.get(request.step.value)
    if stored is None:
        return None
    digest = item.get(_INPUTS, {}).get("S")
    if work is not None and digest is not None:
        later = STEP_ORDER[STEP_ORDER.index(request.step) : -1]
        if any(step.value not in results for step in later):
            return None
        carried = {**work.results, **{step.value: results[step.value] for step in later}}
        if record_fingerprint({"record": work.record, "results": carried}) != digest:
            return None
    return EmployeeOutcome(
        employee_id=item["employee_id"]["S"], status=OutcomeStatus.OK, result=stored
    )


#: Conditional writes of one chunk in flight at once.
STATUS_WRITERS = parallel.WORKERS


def stored_outcomes(request: StepRequest) -> dict[str, EmployeeOutcome]:
    """This step's results already on record for the chunk's employees (consistent
    reads), those computed from the inputs this request carries."""
    work = {item.employee_id: item for item in request.items}
    legacy = [f"result_{step.value}" for step in STEP_ORDER]
    items = aws.batch_get_items(
        setting(Env.EMPLOYEE_STATUS_TABLE),
        [_status_key(request, e) for e in sorted(work)],
        projection=f"employee_id, {RESULTS_ATTRIBUTE}, #i, {', '.join(legacy)}",
        names={"#i": _INPUTS},
    )
    found: dict[str, EmployeeOutcome] = {}
    for item in items:
        outcome = _stored_outcome(request, item, work[item["employee_id"]["S"]])
        if outcome is not None:
            found[outcome.employee_id] = outcome
    return found


def records_successes(step: Step) -> bool:
    """Whether ``step`` writes its successes: only the last one does (with every result)."""
    return step is STEP_ORDER[-1]


def _recorded_results(
    request: StepRequest, outcome: EmployeeOutcome, item: WorkItem | None
) -> dict[str, Any]:
    """The results a success records, by step: those of the earlier steps the ``item``
    carries and this step's."""
    carried = item.results if item is not None else {}
    results: dict[str, Any] = {
        step.value: carried[step.value] for step in STEP_ORDER if step.value in carried
    }
    results[request.step.value] = outcome.result
    return results


def _outcome_update(
    request: StepRequest, outcome: EmployeeOutcome, item: WorkItem | None
) -> dict[str, Any]:
    """The conditional UpdateItem that records ``outcome`` (``record_outcome``)."""
    ok = outcome.status is OutcomeStatus.OK
    target = STEP_DONE_STATE[request.step] if ok else EmployeeState.FAILED
    if ok and not records_successes(request.step):
        raise ValueError(f"{request.step.value} does not record successes (only the last step)")
    allowed = sorted(EMPLOYEE_PREDECESSORS[target])
    values: dict[str, Any] = {
        ":target": {"S": target.value},
        ":now": {"S": datetime.now(UTC).isoformat()},
        ":zero": {"N": "0"},
        ":one": {"N": "1"},
    }
    values.update({f":p{i}": {"S": state.value} for i, state in enumerate(allowed)})
    update = "SET #s = :target, updated_at = :now, attempts = if_not_exists(attempts, :zero) + :one"
    if ok:
        values[":results"] = {"B": pack_results(_recorded_results(request, outcome, item))}
        update += f", {RESULTS_ATTRIBUTE} = :results"
        if item is not None:
            values[":inputs"] = {"S": input_fingerprint(item)}
            update += f", {_INPUTS} = :inputs"
        update += " REMOVE failed_step, error_code, error_message, failed_record_sha256"
    else:
        assert outcome.error is not None
        values[":step"] = {"S": request.step.value}
        values[":code"] = {"S": outcome.error.code}
        values[":msg"] = {"S": outcome.error.message}
        update += ", failed_step = :step, error_code = :code, error_message = :msg"
        if item is not None:
            values[":fp"] = {"S": record_fingerprint(item.record)}
            update += ", failed_record_sha256 = :fp"
    previous = ", ".join(f":p{i}" for i in range(len(allowed)))
    return {
        "TableName": setting(Env.EMPLOYEE_STATUS_TABLE),
        "Key": _status_key(request, outcome.employee_id),
        "UpdateExpression": update,
        "ConditionExpression": f"#s IN ({previous})",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": values,
    }


def _write_outcome(
    request: StepRequest, outcome: EmployeeOutcome, update: dict[str, Any]
) -> EmployeeOutcome:
    """One conditional UpdateItem; the outcome on record (``record_outcome``)."""
    try:
        aws.client("dynamodb").update_item(**update, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        # Already past this step (a duplicate or late delivery): nothing moves back, and
        # the answer is the one on record if there is one.
        stored = _stored_outcome(request, exc.response.get("Item") or {})
        return stored if stored is not None else outcome
    return outcome


def record_outcome(
    request: StepRequest, outcome: EmployeeOutcome, item: WorkItem | None = None
) -> EmployeeOutcome:
    """Move the employee's status forward (never back) with a conditional update.

    A success (the last step's only: ``records_successes``) stores its result and the
    earlier results the ``item`` carries, with the digest of its inputs; a failure
    records the failing step, its error and the fingerprint of the record the step
    read. Returns the outcome on record: this one, or, when the write lost to another
    (a duplicate delivery, a later state), the result stored before it.
    """
    return _write_outcome(request, outcome, _outcome_update(request, outcome, item))


def record_outcomes(
    request: StepRequest, outcomes: list[EmployeeOutcome], items: list[WorkItem]
) -> list[EmployeeOutcome]:
    """``record_outcome`` for a chunk, in chunk order, up to ``aws.TRANSACTION_ITEMS``
    writes in one ``TransactWriteItems``.

    Each employee's write keeps its own condition. A transaction is all or nothing: when
    it commits, every outcome is on record as written; when it is cancelled (an
    employee already past this step: a duplicate or late delivery; a conflict with
    another write), its writes are made again one conditional UpdateItem at a time
    (a few in flight), each answering for itself with the outcome on record. A single
    write is a plain UpdateItem. One request instead of one per employee, at twice the
    write units per item (the README's cost figures count them).
    """
    updates = [
        (outcome, _outcome_update(request, outcome, item))
        for outcome, item in zip(outcomes, items, strict=True)
    ]
    recorded: list[EmployeeOutcome] = []
    for start in range(0, len(updates), aws.TRANSACTION_ITEMS):
        batch = updates[start : start + aws.TRANSACTION_ITEMS]
        if len(batch) > 1 and aws.transact_updates([update for _, update in batch]):
            recorded.extend(outcome for outcome, _ in batch)
            continue
        recorded.extend(
            parallel.map_ordered(lambda pair: _write_outcome(request, *pair), batch, STATUS_WRITERS)
        )
    return recorded


def fold(request: StepRequest, response: StepResponse) -> ChunkState:
    """The chunk after this step: ``response``'s outcomes folded into the request's items.

    In chunk order, an ok outcome adds ``results[step]`` to its item and keeps it going;
    a failed one moves the employee to ``failed`` (its EmployeeStatus is FAILED, written
    by this step), after those earlier steps failed. ``response`` answers for exactly
    the chunk's employees, in its order (``run_step`` builds it from the request).
    """
    ids = [item.employee_id for item in request.items]
    answered = [outcome.employee_id for outcome in response.outcomes]
    if answered != ids or response.step is not request.step:
        raise ValueError(
            f"chunk {request.chunk_id}: the {response.step.value} outcomes do not answer the "
            f"chunk's employees in order"
        )
    items: list[WorkItem] = []
    failed = list(request.failed)
    for item, outcome in zip(request.items, response.outcomes, strict=True):
        if outcome.status is OutcomeStatus.OK:
            results = {**item.results, request.step.value: outcome.result}
            items.append(item.model_copy(update={"results": results}))
        else:
            assert outcome.error is not None  # the contract guarantees it
            failed.append(
                FailedEmployee(employee_id=item.employee_id, step=request.step, error=outcome.error)
            )
    return ChunkState(
        pay_run=request.pay_run,
        employer_id=request.employer_id,
        chunk_id=request.chunk_id,
        items=items,
        failed=failed,
        remaining=len(items),
    )


def run_step(
    request: StepRequest,
    compute: Compute,
    logger: Logger,
    prepare: Callable[[StepRequest], Any] | None = None,
) -> StepResponse | None:
    """Evaluate every employee of the chunk, record each, answer the task token with
    the chunk after this step (``fold``; its items by reference when they are large:
    ``chunks``). Returns the step's outcomes.

    None when the token was already dead on arrival (nothing done); ``PoisonMessage``
    (the message goes to the queue's DLQ naming ``task_token``) when Step Functions
    does not know the token at all.
    """
    # A heartbeat on pick-up tells the workflow the chunk arrived (a chunk never picked
    # up times out on its heartbeat, a slow one does not). A token that is no longer
    # alive means the workflow has stopped waiting (the state timed out and recorded the
    # chunk as failed): doing the work now would move statuses behind its back.
    try:
        alive = tasks.heartbeat(request.task_token, logger)
    except tasks.InvalidTaskToken as exc:
        # Not a late delivery: a token the workflow never issued (forged, mangled).
        raise PoisonMessage(
            f"task_token: not a task token of a running pay run ({exc}); chunk "
            f"{request.chunk_id} of {request.pay_run.pay_run_id} not processed",
            "task_token",
            INVALID_TASK_TOKEN,
        ) from exc
    if not alive:
        logger.warning(
            "stale task token: the workflow no longer waits for this chunk; dropped",
            extra={"pay_run_id": request.pay_run.pay_run_id, "chunk_id": request.chunk_id},
        )
        return None
    # A large chunk comes as a key to its items (payroll_shared.chunks).
    request = chunks.load(request)
    stored = stored_outcomes(request)
    fresh = [item for item in request.items if item.employee_id not in stored]
    answered: dict[str, EmployeeOutcome] = dict(stored)
    if fresh:
        context = prepare(request) if prepare is not None else None
        computed = [evaluate(item, compute, context) for item in fresh]
        answered.update((o.employee_id, o) for o in computed)
        if records_successes(request.step):
            written = list(zip(computed, fresh, strict=True))
        else:
            pairs = zip(computed, fresh, strict=True)
            written = [(o, i) for o, i in pairs if o.status is OutcomeStatus.FAILED]
        if written:
            recorded = record_outcomes(request, [o for o, _ in written], [i for _, i in written])
            answered.update((o.employee_id, o) for o in recorded)
    outcomes = [answered[item.employee_id] for item in request.items]
    response = StepResponse(
        step=request.step,
        pay_run_id=request.pay_run.pay_run_id,
        employer_id=request.employer_id,
        chunk_id=request.chunk_id,
        outcomes=outcomes,
    )
    tasks.succeed(request.task_token, chunks.store(fold(request, response), request), logger)
    failed = sum(1 for o in outcomes if o.status is OutcomeStatus.FAILED)
    logger.info(
        "step answered",
        extra={
            "step": request.step.value,
            "pay_run_id": request.pay_run.pay_run_id,
            "employer_id": request.employer_id,
            "chunk_id": request.chunk_id,
            "employees": len(outcomes),
            "failed": failed,
        },
    )
    return response
