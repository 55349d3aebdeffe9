"""The only code of this service that talks to the outside.

AWS (EmployeeStatus, EmployerStatus, the process DLQ, the PushPayment queue) and the
ledger database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from payroll_platform.db import ledger
from payroll_platform.db.engine import session_scope
from payroll_shared import aws, dead_letters
from payroll_shared.contracts import (
    EMPLOYER_PREDECESSORS,
    RESULTS_ATTRIBUTE,
    EmployerState,
    PushPayment,
    employee_pk,
)
from payroll_shared.names import Env
from payroll_shared.settings import setting

_DESERIALIZER = TypeDeserializer()
#: The attributes validation reads (a status item also holds every step's result).
_PROJECTION = (
    "employee_id, #s, failed_step, error_code, error_message, updated_at, "
    "redrive_attempt, first_failed_at, failed_record_sha256"
)
#: What the commit reads as well: the results that make up a pay statement.
#: (A former version kept them as ``result_<step>`` strings: read those too.)
_RESULTS_PROJECTION = (
    f"{_PROJECTION}, {RESULTS_ATTRIBUTE}, result_payroll_calc, result_retirement_calc, "
    "result_tax_calc"
)
DeadLetterSendFailed = dead_letters.DeadLetterSendFailed


def read_employee_statuses(
    pay_run_id: str, employer_id: str, *, with_results: bool = False
) -> list[dict[str, Any]]:
    """Every EmployeeStatus item of the employer and pay run (strongly consistent, paged).

    ``with_results`` also reads the step results (large): only the commit needs them.
    """
    client = aws.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": setting(Env.EMPLOYEE_STATUS_TABLE),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": employee_pk(pay_run_id, employer_id)}},
        "ExpressionAttributeNames": {"#s": "status"},
        "ProjectionExpression": _RESULTS_PROJECTION if with_results else _PROJECTION,
        # The steps wrote these states just before the map finished: read them, not a replica.
        "ConsistentRead": True,
    }
    items: list[dict[str, Any]] = []
    while True:
        page = client.query(**request)
        items.extend(
            {key: _DESERIALIZER.deserialize(value) for key, value in item.items()}
            for item in page.get("Items", [])
        )
        last = page.get("LastEvaluatedKey")
        if not last:
            return items
        request["ExclusiveStartKey"] = last


#: The process DLQ: the shared sender (payroll_shared.dead_letters).
send_dead_letters = dead_letters.send


def move_employer(
    pay_run_id: str,
    employer_id: str,
    target: EmployerState,
    *,
    employees: int,
    failed: int,
    now: datetime,
) -> tuple[bool, str | None]:
    """Move EmployerStatus to ``target`` if its state allows it (never backwards).

    Returns (moved, current state when it did not move: None if there is no item).
    """
    allowed = sorted(EMPLOYER_PREDECESSORS[target])
    values: dict[str, Any] = {
        ":target": {"S": target.value},
        ":now": {"S": now.isoformat()},
        ":employees": {"N": str(employees)},
        ":failed": {"N": str(failed)},
    }
    values.update({f":p{i}": {"S": state.value} for i, state in enumerate(allowed)})
    previous = ", ".join(f":p{i}" for i in range(len(allowed)))
    try:
        aws.client("dynamodb").update_item(
            TableName=setting(Env.EMPLOYER_STATUS_TABLE),
            Key={"pay_run_id": {"S": pay_run_id}, "employer_id": {"S": employer_id}},
            UpdateExpression=(
                "SET #s = :target, updated_at = :now, employees = :employees, failed = :failed"
            ),
            ConditionExpression=f"#s IN ({previous})",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        old = exc.response.get("Item") or {}
        current = old.get("status", {}).get("S")
        return False, current
    return True, None


@dataclass(frozen=True)
class LedgerCommit:
    #: Statements this transaction inserted (0 on a redelivery).
    inserted: int
    #: Net pay of every statement of the employer and pay run now in the ledger.
    net_pays: tuple[Decimal, ...]


def commit_statements(
    pay_run_id: str, employer_id: str, statements: Sequence[dict[str, Any]]
) -> LedgerCommit:
    """Commit the statements in ONE transaction, then read back what the ledger holds."""
    with session_scope() as session:
        inserted = ledger.commit_statements(session, statements)
        committed = ledger.statements_for(session, pay_run_id, employer_id)
        return LedgerCommit(inserted, tuple(s.net_pay for s in committed))


def send_push_payment(push: PushPayment) -> None:
    """Queue the employer's one PushPayment (MoneyMovement is idempotent on a repeat)."""
    aws.client("sqs").send_message(
        QueueUrl=setting(Env.PUSH_PAYMENT_QUEUE_URL),
        MessageBody=push.model_dump_json(),
        MessageAttributes={
            "pay_run_id": {"DataType": "String", "StringValue": push.pay_run.pay_run_id},
            "employer_id": {"DataType": "String", "StringValue": push.employer_id},
        },
    )
