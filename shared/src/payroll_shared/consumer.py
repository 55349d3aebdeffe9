"""The SQS consumer every service uses: contract validation, poison messages, partial batches.

- Each record's body is parsed into the queue's contract model.
- A body that does not parse (bad JSON, missing or wrong-typed field) is a poison
  message: retrying cannot help, so it goes straight to the queue's own DLQ with the
  reason (naming the field) as message attributes, and if it carried a task token the
  waiting state is failed with that reason instead of waiting for its timeout.
- A handler that finds a parsed message can never succeed either (it names a pay run
  or employer that does not exist, or a task token Step Functions never issued) raises
  ``PoisonMessage``: the message takes the same way, with the handler's error code.
- Any other exception is a partial batch failure: only that record comes back after
  its visibility timeout, and after ``maxReceiveCount`` SQS moves it to the DLQ. On that
  last delivery a task token the message carries is failed (``StepInfrastructureError``)
  so the workflow records the failure at once instead of waiting for its heartbeat.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ValidationError

from payroll_shared import aws, tasks
from payroll_shared.contracts.base import describe_validation_error, first_error_field
from payroll_shared.names import Env
from payroll_shared.settings import optional_setting, setting

M = TypeVar("M", bound=BaseModel)

CONTRACT_VIOLATION = "ContractViolation"
#: The error a step's task fails with when its message failed on every delivery.
STEP_INFRASTRUCTURE_ERROR = "StepInfrastructureError"
#: A message about a pay run that does not exist, or an employer that is not in it.
UNKNOWN_PAY_RUN = "UnknownPayRun"
UNKNOWN_EMPLOYER = "UnknownEmployer"


def _last_attempt(record: SQSRecord) -> bool:
    limit = optional_setting(Env.MAX_RECEIVE_COUNT)
    if not limit:
        return False
    return int(record.attributes.approximate_receive_count or "0") >= int(limit)


class PoisonMessage(Exception):
    """A message that can never succeed; carries the reason, the field and an error code."""

    def __init__(self, reason: str, field: str = "", code: str = CONTRACT_VIOLATION) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.code = code


def parse_body(body: str, model: type[M], message_id: str) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise PoisonMessage(
            describe_validation_error(exc, record=f"message {message_id}"),
            first_error_field(exc),
        ) from exc


def _task_token_of(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    token = data.get("task_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None


def dead_letter(
    record: SQSRecord, reason: str, field: str, logger: Logger, code: str = CONTRACT_VIOLATION
) -> None:
    """Move a poison message to this queue's DLQ with its reason attached."""
    dlq_url = optional_setting(Env.OWN_DLQ_URL)
    attributes = {
        "error_code": {"DataType": "String", "StringValue": code},
        "error_reason": {"DataType": "String", "StringValue": reason[:4000]},
        "source_message_id": {"DataType": "String", "StringValue": record.message_id},
        "source_queue_arn": {"DataType": "String", "StringValue": record.event_source_arn},
    }
    if field:
        attributes["error_field"] = {"DataType": "String", "StringValue": field}
    if not dlq_url:
        # Without a DLQ to write to, let SQS redrive it after maxReceiveCount.
        raise RuntimeError(f"poison message and no {Env.OWN_DLQ_URL.value}: {reason}")
    aws.client("sqs").send_message(
        QueueUrl=dlq_url, MessageBody=record.body, MessageAttributes=attributes
    )
    logger.warning(
        "poison message dead-lettered",
        extra={"message_id": record.message_id, "reason": reason, "field": field},
    )


def consume(
    event: dict[str, Any],
    context: Any,
    model: type[M],
    handle: Callable[[M], None],
    logger: Logger,
) -> dict[str, Any]:
    """Run ``handle`` on every record of an SQS event; return the partial batch response."""

    def poisoned(record: SQSRecord, poison: PoisonMessage) -> None:
        token = _task_token_of(record.body)
        if token:
            tasks.fail(token, poison.code, poison.reason, logger)
        dead_letter(record, poison.reason, poison.field, logger, poison.code)

    def record_handler(record: SQSRecord) -> None:
        try:
            message = parse_body(record.body, model, record.message_id)
        except PoisonMessage as poison:
            poisoned(record, poison)
            return
        try:
            handle(message)
        except PoisonMessage as poison:
            # Well-formed, but naming what cannot exist: retrying cannot help either.
            poisoned(record, poison)
        except Exception as exc:
            # The last delivery SQS will make: answer the waiting workflow now rather than
            # let it sit out its heartbeat; SQS still moves the message to the DLQ.
            token = _task_token_of(record.body)
            if token and _last_attempt(record):
                tasks.fail(token, STEP_INFRASTRUCTURE_ERROR, f"{type(exc).__name__}: {exc}", logger)
            raise

    processor = BatchProcessor(event_type=EventType.SQS)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def require_employer_of_pay_run(pay_run_id: str, employer_id: str) -> None:
    """``PoisonMessage`` unless EmployerStatus holds (pay run, employer).

    The workflow writes an employer's EmployerStatus item (BEGIN) before anything about
    that employer can be sent, so a message about an employer without one names a pay
    run that does not exist, or an employer that is not in it: retrying cannot help.
    The error names the field at fault (strongly consistent reads).
    """
    client = aws.client("dynamodb")
    table = setting(Env.EMPLOYER_STATUS_TABLE)
    found = client.get_item(
        TableName=table,
        Key={"pay_run_id": {"S": pay_run_id}, "employer_id": {"S": employer_id}},
        ProjectionExpression="employer_id",
        ConsistentRead=True,
    )
    if found.get("Item"):
        return
    pay_run = client.query(
        TableName=table,
        KeyConditionExpression="pay_run_id = :p",
        ExpressionAttributeValues={":p": {"S": pay_run_id}},
        ProjectionExpression="employer_id",
        ConsistentRead=True,
        Limit=1,
    )
    if pay_run.get("Items"):
        raise PoisonMessage(
            f"employer_id: {employer_id!r} is not an employer of pay run {pay_run_id}",
            "employer_id",
            UNKNOWN_EMPLOYER,
        )
    raise PoisonMessage(
        f"pay_run.pay_run_id: pay run {pay_run_id!r} does not exist",
        "pay_run.pay_run_id",
        UNKNOWN_PAY_RUN,
    )
