"""The only code of this service that talks to AWS: the DLQs, the audit bucket, and the
ways back to work (GetEmployers for employees, employers and triggers, the PushPayment
queue for payments, and the employer-completion and PushPayment queues for the replays
of their own DLQs).

SQS has no way to browse a queue. Two ways to read one are used here:

- ``peek`` (list, show): ReceiveMessage with ``VisibilityTimeout=0``, page after page.
  Nothing is hidden from other readers and nothing is deleted, but the same message
  can come back on a later page (de-duplicated by id) and a page is a sample, so the
  peek stops when it has seen as many messages as SQS reports, after a few pages that
  bring nothing new, or at a cap. Each receive counts in ApproximateReceiveCount; the
  DLQs have no redrive policy of their own, so the count moves nothing.
- ``claim`` (discard, redrive, the schedule's replays): ReceiveMessage with a
  visibility timeout, so each page brings messages not yet seen; the caller deletes
  what it acts on and ``release`` makes the rest visible again at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from payroll_shared import aws
from payroll_shared.contracts import (
    PushPayment,
    RedriveEmployees,
    RedriveEmployeesResult,
    RedriveEmployer,
)
from redrive.logic import MessageAttributes, QueueDepth, QueueMessage, queue_depth

#: A DLQ listing stops here; the page says how many messages SQS reports in total.
MAX_MESSAGES = 1000
#: Consecutive receives that bring no new message before a peek or claim stops.
IDLE_PAGES = 2
#: Long polling asks every SQS server, not a sample (short polls can miss a small queue).
WAIT_SECONDS = 1
#: How long a claimed message stays hidden if the function dies before releasing it.
CLAIM_SECONDS = 60
_BATCH = 10
_DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


@dataclass(frozen=True)
class ReceivedMessage(QueueMessage):
    receipt_handle: str
    #: The ``error_code`` message attribute (orchestration DLQ) and SQS's receive count.
    error_code: str | None = None
    receive_count: int = 0
    #: Every message attribute, as SQS answers it (a replay sends them on).
    message_attributes: MessageAttributes = field(default_factory=dict, hash=False)


def depth(queue_url: str, name: str) -> QueueDepth:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=_DEPTH_ATTRIBUTES
    )["Attributes"]
    return queue_depth(name, attributes)


def _receive(queue_url: str, visibility: int, wait: int) -> list[ReceivedMessage]:
    response = aws.client("sqs").receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=_BATCH,
        VisibilityTimeout=visibility,
        WaitTimeSeconds=wait,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )
    return [
        ReceivedMessage(
            message_id=m["MessageId"],
            body=m["Body"],
            receipt_handle=m["ReceiptHandle"],
            error_code=m.get("MessageAttributes", {}).get("error_code", {}).get("StringValue"),
            receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "0")),
            message_attributes=m.get("MessageAttributes", {}),
        )
        for m in response.get("Messages", [])
    ]


def _read(
    queue_url: str, *, visibility: int, expected: int, max_messages: int, wait: int
) -> list[ReceivedMessage]:
    seen: dict[str, ReceivedMessage] = {}
    idle = 0
    # SQS's count lags new messages by up to a minute: with none reported, read until idle.
    target = min(expected, max_messages) if expected > 0 else max_messages
    while len(seen) < target and idle < IDLE_PAGES:
        new = [m for m in _receive(queue_url, visibility, wait) if m.message_id not in seen]
        idle = 0 if new else idle + 1
        for message in new:
            seen[message.message_id] = message
    return list(seen.values())


def peek(
    queue_url: str, expected: int, *, max_messages: int = MAX_MESSAGES, wait: int = WAIT_SECONDS
) -> list[ReceivedMessage]:
    """Up to ``expected`` (SQS's count) distinct messages, none hidden or deleted."""
    return _read(queue_url, visibility=0, expected=expected, max_messages=max_messages, wait=wait)


def claim(
    queue_url: str, expected: int, *, max_messages: int = MAX_MESSAGES, wait: int = WAIT_SECONDS
) -> list[ReceivedMessage]:
    """Up to ``expected`` messages, hidden from other readers until deleted or released."""
    return _read(
        queue_url, visibility=CLAIM_SECONDS, expected=expected, max_messages=max_messages, wait=wait
    )


def _batches(messages: Sequence[ReceivedMessage]) -> Iterable[Sequence[ReceivedMessage]]:
    for start in range(0, len(messages), _BATCH):
        yield messages[start : start + _BATCH]


def delete(queue_url: str, messages: Sequence[ReceivedMessage]) -> None:
    client = aws.client("sqs")
    for batch in _batches(messages):
        response = client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(batch)
            ],
        )
        if response.get("Failed"):
            raise RuntimeError(f"could not delete {len(response['Failed'])} message(s)")


def release(queue_url: str, messages: Sequence[ReceivedMessage]) -> None:
    """Make claimed messages visible again now (best effort: they reappear anyway)."""
    client = aws.client("sqs")
    for batch in _batches(messages):
        client.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                for i, m in enumerate(batch)
            ],
        )


def write_audit(bucket: str, key: str, entry: dict[str, Any]) -> None:
    """The audit object; the bucket's default encryption (the platform key) applies."""
    aws.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(entry, sort_keys=True, indent=2).encode(),
        ContentType="application/json",
    )


# ------------------------------------------------------------------ redrive


class RedriveCallFailed(RuntimeError):
    """GetEmployers answered a redrive with an error."""


def invoke_get_employers(function_name: str, request: RedriveEmployees) -> RedriveEmployeesResult:
    """Ask the orchestration service to run the employees again; its answer, synchronously."""
    return _invoke_redrive(function_name, {"redrive": request.model_dump(mode="json")})


def invoke_redrive_employer(function_name: str, request: RedriveEmployer) -> RedriveEmployeesResult:
    """Ask the orchestration service to run an employer again; its answer, synchronously."""
    return _invoke_redrive(function_name, {"redrive_employer": request.model_dump(mode="json")})


def _invoke_redrive(function_name: str, event: dict[str, Any]) -> RedriveEmployeesResult:
    response = aws.client("lambda").invoke(
        FunctionName=function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    payload = response["Payload"].read()
    if response.get("FunctionError"):
        raise RedriveCallFailed(f"{function_name}: {payload[:1000].decode(errors='replace')}")
    return RedriveEmployeesResult.model_validate_json(payload)


def invoke_trigger(function_name: str, body: str) -> dict[str, Any]:
    """Give GetEmployers a pay-run trigger again; its answer."""
    response = aws.client("lambda").invoke(
        FunctionName=function_name, InvocationType="RequestResponse", Payload=body.encode()
    )
    payload = response["Payload"].read()
    if response.get("FunctionError"):
        raise RedriveCallFailed(f"{function_name}: {payload[:1000].decode(errors='replace')}")
    answer: dict[str, Any] = json.loads(payload)
    return answer


def send_push_payment(queue_url: str, push: PushPayment) -> None:
    aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=push.model_dump_json())


def send_replay(queue_url: str, body: str, attributes: MessageAttributes) -> None:
    """Send a dead-lettered message back to its source queue (same body, given attributes)."""
    aws.client("sqs").send_message(
        QueueUrl=queue_url, MessageBody=body, MessageAttributes=dict(attributes)
    )
