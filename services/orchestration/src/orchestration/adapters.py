"""The only module that talks to AWS and the database."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel

from payroll_shared import aws
from payroll_shared.contracts import (
    EmployeeState,
    EmployeeStatusRecord,
    EmployerState,
    StepError,
    employee_pk,
)
from payroll_shared.names import Step

#: BatchWriteItem writes at most 25 items.
_BATCH_WRITE = 25
#: Rows a GetEmployers or GetEmployees database page holds.
DB_PAGE_SIZE = 500
_serializer = TypeSerializer()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _to_json(value: BaseModel | Mapping[str, Any]) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=_json_default, separators=(",", ":"))


# --- S3 ------------------------------------------------------------------------------


def write_json_array(
    bucket: str, key: str, elements: Iterable[BaseModel | Mapping[str, Any]]
) -> int:
    """Stream ``elements`` into one JSON array at ``s3://bucket/key``; return how many.

    Elements go to a temporary file as they come (one database page in memory at a
    time), then the file is uploaded (multipart when large).
    """
    count = 0
    with tempfile.TemporaryFile(mode="w+b") as spool:
        spool.write(b"[")
        for element in elements:
            if count:
                spool.write(b",\n")
            spool.write(_to_json(element).encode("utf-8"))
            count += 1
        spool.write(b"]")
        spool.seek(0)
        aws.client("s3").upload_fileobj(
            spool, bucket, key, ExtraArgs={"ContentType": "application/json"}
        )
    return count


# --- The relational database --------------------------------------------------------


@contextmanager
def _session() -> Iterator[Any]:
    # Imported here: only the two database functions ship and load SQLAlchemy.
    from payroll_platform.db.engine import session_scope

    with session_scope() as session:
        yield session


def due_employers(schedule: str, page_size: int = DB_PAGE_SIZE) -> Iterator[dict[str, str]]:
    """``{"employer_id", "name"}`` of each active employer on ``schedule``, page by page."""
    from payroll_platform.db.repository import iter_due_employers

    with _session() as session:
        for employer in iter_due_employers(session, [schedule], page_size):
            yield {"employer_id": employer.employer_id, "name": employer.name}


def employee_records(employer_id: str, page_size: int = DB_PAGE_SIZE) -> Iterator[dict[str, Any]]:
    """The EmployeeRecord-shaped dict of each active employee of an employer, in order."""
    from payroll_platform.db.repository import iter_employee_records

    with _session() as session:
        yield from iter_employee_records(session, employer_id, page_size)


def employee_records_by_id(employer_id: str, employee_ids: Iterable[str]) -> dict[str, Any]:
    """The records of the listed active employees of an employer, by id."""
    from payroll_platform.db.repository import employee_records_by_id as by_id

    with _session() as session:
        return by_id(session, employer_id, employee_ids)


# --- DynamoDB ------------------------------------------------------------------------


def _item(record: BaseModel) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude_none=True)
    return {key: _serializer.serialize(value) for key, value in data.items()}


def existing_employees(table: str, records: list[EmployeeStatusRecord]) -> set[str]:
    """Which of these employees already have an EmployeeStatus row (consistent reads)."""
    keys = [{"pk": {"S": r.pk}, "employee_id": {"S": r.employee_id}} for r in records]
    items = aws.batch_get_items(table, keys, projection="employee_id")
    return {item["employee_id"]["S"] for item in items}


def put_employees_begin(table: str, records: list[EmployeeStatusRecord]) -> int:
    """BEGIN rows for the employees that have none yet; how many were written.

    Read first (BatchGetItem), then write the absent ones with BatchWriteItem (which
    takes no condition): GetEmployees runs before any step of its employer can, and a
    redrive lists only employees that already have a row (FAILED), so nothing moves an
    absent row between the read and the write, and an existing row is never reset.
    One request per 100 reads and per 25 writes instead of one conditional put each.
    """
    if not records:
        return 0
    existing = existing_employees(table, records)
    new = [r for r in records if r.employee_id not in existing]
    client = aws.client("dynamodb")
    for start in range(0, len(new), _BATCH_WRITE):
        pending: dict[str, Any] = {
            table: [{"PutRequest": {"Item": _item(r)}} for r in new[start : start + _BATCH_WRITE]]
        }
        while pending:
            response = client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
    return len(new)


def conditional_update(**request: Any) -> bool:
    """One conditional UpdateItem; False when its condition did not hold (nothing moved)."""
    try:
        aws.client("dynamodb").update_item(**request)
    except ClientError as exc:
        if _error_code(exc) != "ConditionalCheckFailedException":
            raise
        return False
    return True


def mark_employee_failed(
    table: str,
    *,
    pay_run_id: str,
    employer_id: str,
    employee_id: str,
    step: Step | None,
    error: StepError,
    allowed: Iterable[EmployeeState],
    now: datetime,
) -> bool:
    """Move an employee to FAILED only from ``allowed`` states; True if it moved."""
    previous = sorted(state.value for state in allowed)
    values: dict[str, Any] = {
        ":failed": {"S": EmployeeState.FAILED.value},
        ":now": {"S": now.isoformat()},
        ":zero": {"N": "0"},
        ":one": {"N": "1"},
        ":code": {"S": error.code},
        ":msg": {"S": error.message},
    }
    values.update({f":p{i}": {"S": state} for i, state in enumerate(previous)})
    update = (
        "SET #s = :failed, updated_at = :now, error_code = :code, error_message = :msg, "
        "attempts = if_not_exists(attempts, :zero) + :one"
    )
    if step is not None:
        values[":step"] = {"S": step.value}
        update += ", failed_step = :step"
    return conditional_update(
        TableName=table,
        Key={
            "pk": {"S": employee_pk(pay_run_id, employer_id)},
            "employee_id": {"S": employee_id},
        },
        UpdateExpression=update,
        ConditionExpression=f"#s IN ({', '.join(f':p{i}' for i in range(len(previous)))})",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=values,
    )  # False: already CALCULATED or later, a late failure moves nothing back


def mark_redrive_attempt(
    table: str,
    *,
    pay_run_id: str,
    employer_id: str,
    employee_id: str,
    attempt: int,
    first_failed_at: datetime,
) -> bool:
    """Record that a FAILED employee is being run again as ``attempt``; True if it is.

    Only a FAILED employee moves (and only to a higher attempt): one already running
    again or past it is left alone, and the caller does not run it. The first failure's
    time is kept, so a dead letter written after this attempt still says when it began.
    """
    return conditional_update(
        TableName=table,
        Key={
            "pk": {"S": employee_pk(pay_run_id, employer_id)},
            "employee_id": {"S": employee_id},
        },
        UpdateExpression=(
            "SET redrive_attempt = :attempt, "
            "first_failed_at = if_not_exists(first_failed_at, :first)"
        ),
        ConditionExpression=(
            "#s = :failed AND (attribute_not_exists(redrive_attempt) OR redrive_attempt < :attempt)"
        ),
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":attempt": {"N": str(attempt)},
            ":first": {"S": first_failed_at.isoformat()},
            ":failed": {"S": EmployeeState.FAILED.value},
        },
    )


def mark_employer_redrive(table: str, *, pay_run_id: str, employer_id: str, attempt: int) -> bool:
    """Record that a NEEDS_REDRIVE employer runs again as ``attempt``; True if it does.

    Only a NEEDS_REDRIVE employer whose last redrive attempt is lower moves: the same
    redrive asked twice, or an employer validated since, is left alone.
    """
    return conditional_update(
        TableName=table,
        Key={"pay_run_id": {"S": pay_run_id}, "employer_id": {"S": employer_id}},
        UpdateExpression="SET redrive_attempt = :attempt",
        ConditionExpression=(
            "#s = :redrive AND (attribute_not_exists(redrive_attempt) "
            "OR redrive_attempt < :attempt)"
        ),
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":attempt": {"N": str(attempt)},
            ":redrive": {"S": EmployerState.NEEDS_REDRIVE.value},
        },
    )


# --- Step Functions ------------------------------------------------------------------


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:...:stateMachine:<sm>`` + name -> ``arn:...:execution:<sm>:<name>``."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    if not machine:
        raise ValueError(f"not a state machine ARN: {state_machine_arn}")
    return f"{prefix}:execution:{machine}:{name}"


def find_execution(state_machine_arn: str, name: str) -> str | None:
    """The ARN of the execution called ``name`` if there is one, else None."""
    arn = execution_arn(state_machine_arn, name)
    try:
        aws.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as exc:
        if _error_code(exc) == "ExecutionDoesNotExist":
            return None
        raise
    return arn


@dataclass(frozen=True)
class Started:
    execution_arn: str
    already_existed: bool


def start_execution(state_machine_arn: str, name: str, payload: BaseModel) -> Started:
    """Start the pay run named ``name``; a run with that name already counts as started."""
    client = aws.client("stepfunctions")
    try:
        response = client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=payload.model_dump_json()
        )
    except ClientError as exc:
        if _error_code(exc) != "ExecutionAlreadyExists":
            raise
        return Started(execution_arn(state_machine_arn, name), already_existed=True)
    return Started(str(response["executionArn"]), already_existed=False)


# --- SQS -----------------------------------------------------------------------------


def dead_letter_trigger(queue_url: str, body: str, error_code: str, reason: str) -> None:
    """Keep a trigger that could not start a pay run, with why, for review and redrive."""
    aws.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={
            "error_code": {"DataType": "String", "StringValue": error_code[:256] or "Error"},
            "error_reason": {"DataType": "String", "StringValue": reason[:4000] or "-"},
        },
    )
