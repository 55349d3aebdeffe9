"""Running one task-token step over a chunk: the part every step service shares.

A step service provides ``compute(record, results, context) -> result model`` (its pure
logic) and, if it needs data from outside, a ``prepare(request)`` that loads it for the
whole chunk at once. This module validates each employee, calls the logic, records
each employee's state in EmployeeStatus with a conditional write, and answers the task
token with one outcome per employee.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from payroll_shared import aws, tasks
from payroll_shared.consumer import LAMBDA_CONTEXT
from payroll_shared.contracts import (
    EMPLOYEE_PREDECESSORS,
    STEP_DONE_STATE,
    EmployeeOutcome,
    EmployeeRecord,
    EmployeeState,
    OutcomeStatus,
    StepError,
    StepRequest,
    StepResponse,
    WorkItem,
    describe_validation_error,
    employee_pk,
    first_error_field,
    record_fingerprint,
)
from payroll_shared.names import Env
from payroll_shared.settings import setting


class StepRuleError(Exception):
    """A business rule an employee's data breaks: that employee fails, the chunk goes on."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


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
        return EmployeeOutcome(
            employee_id=item.employee_id,
            status=OutcomeStatus.FAILED,
            error=StepError(
                code=exc.code,
                message=f"employee {item.employee_id}: {exc.message}",
                field=exc.field,
            ),
        )
    return EmployeeOutcome(
        employee_id=item.employee_id,
        status=OutcomeStatus.OK,
        result=result.model_dump(mode="json"),
    )


def record_outcome(
    request: StepRequest, outcome: EmployeeOutcome, record: Mapping[str, Any] | None = None
) -> None:
    """Move the employee's status forward (never back) with a conditional update.

    A failure also records the failing step, its error and the fingerprint of the
    ``record`` the step read.
    """
    ok = outcome.status is OutcomeStatus.OK
    target = STEP_DONE_STATE[request.step] if ok else EmployeeState.FAILED
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
        values[":result"] = {"S": json.dumps(outcome.result, sort_keys=True)}
        update += (
            f", result_{request.step.value} = :result"
            " REMOVE failed_step, error_code, error_message, failed_record_sha256"
        )
    else:
        assert outcome.error is not None
        values[":step"] = {"S": request.step.value}
        values[":code"] = {"S": outcome.error.code}
        values[":msg"] = {"S": outcome.error.message}
        update += ", failed_step = :step, error_code = :code, error_message = :msg"
        if record is not None:
            values[":fp"] = {"S": record_fingerprint(record)}
            update += ", failed_record_sha256 = :fp"
    previous = ", ".join(f":p{i}" for i in range(len(allowed)))
    try:
        aws.client("dynamodb").update_item(
            TableName=setting(Env.EMPLOYEE_STATUS_TABLE),
            Key={
                "pk": {"S": employee_pk(request.pay_run.pay_run_id, request.employer_id)},
                "employee_id": {"S": outcome.employee_id},
            },
            UpdateExpression=update,
            ConditionExpression=f"#s IN ({previous})",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        # Already past this step (a duplicate or late delivery): nothing moves back.


class _NotRemembered(Exception):
    """Carries a failed outcome out of the idempotent function without storing it."""

    def __init__(self, outcome: EmployeeOutcome) -> None:
        super().__init__(outcome.employee_id)
        self.outcome = outcome


#: How long an employee's step outcome is remembered: longer than a pay run and its
#: redrives take, so a late redelivery still finds the first answer.
IDEMPOTENCY_TTL_S = 35 * 24 * 3600


@cache
def _idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[pay_run_id, employee_id, step]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_S,
    )


@cache
def _idempotent_evaluate() -> Callable[..., dict[str, Any]]:
    """``evaluate`` made idempotent on (pay run, employee, step) with Powertools.

    A redelivered or redriven message gets the stored outcome of the first successful
    run instead of a new computation, so a retry can never produce a second, different
    answer. A failed outcome is not remembered (``_NotRemembered`` makes Powertools
    delete the record): it has no effect beyond the FAILED status, and a redrive after
    the record was corrected must compute again, with the same keys.
    """
    persistence = DynamoDBPersistenceLayer(table_name=setting(Env.IDEMPOTENCY_TABLE))
    config = _idempotency_config()

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="key", persistence_store=persistence, config=config
    )
    def run(
        *, key: dict[str, str], item: WorkItem, compute: Compute, context: Any
    ) -> dict[str, Any]:
        outcome = evaluate(item, compute, context)
        if outcome.status is OutcomeStatus.FAILED:
            raise _NotRemembered(outcome)
        return outcome.model_dump(mode="json")

    return run  # type: ignore[no-any-return]


def evaluate_once(
    request: StepRequest, item: WorkItem, compute: Compute, context: Any
) -> EmployeeOutcome:
    key = {
        "pay_run_id": request.pay_run.pay_run_id,
        "employee_id": item.employee_id,
        "step": request.step.value,
    }
    invocation = LAMBDA_CONTEXT.get()
    if invocation is not None:
        # Lets Powertools expire an in-progress record when the invocation times out.
        _idempotency_config().register_lambda_context(invocation)
    try:
        stored = _idempotent_evaluate()(key=key, item=item, compute=compute, context=context)
    except _NotRemembered as failed:
        return failed.outcome
    return EmployeeOutcome.model_validate(stored)


def run_step(
    request: StepRequest,
    compute: Compute,
    logger: Logger,
    prepare: Callable[[StepRequest], Any] | None = None,
) -> StepResponse | None:
    """Evaluate every employee of the chunk, record each, answer the task token.

    None when the token was already dead on arrival (nothing done).
    """
    # A heartbeat on pick-up tells the workflow the chunk arrived (a chunk never picked
    # up times out on its heartbeat, a slow one does not). A token that is no longer
    # alive means the workflow has stopped waiting (the state timed out and recorded the
    # chunk as failed): doing the work now would move statuses behind its back.
    if not tasks.heartbeat(request.task_token, logger):
        logger.warning(
            "stale task token: the workflow no longer waits for this chunk; dropped",
            extra={"pay_run_id": request.pay_run.pay_run_id, "chunk_id": request.chunk_id},
        )
        return None
    context = prepare(request) if prepare is not None else None
    outcomes = [evaluate_once(request, item, compute, context) for item in request.items]
    for item, outcome in zip(request.items, outcomes, strict=True):
        record_outcome(request, outcome, item.record)
    response = StepResponse(
        step=request.step,
        pay_run_id=request.pay_run.pay_run_id,
        employer_id=request.employer_id,
        chunk_id=request.chunk_id,
        outcomes=outcomes,
    )
    tasks.succeed(request.task_token, response, logger)
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
