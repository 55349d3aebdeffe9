"""Helpers of the bad-input corpus (``test_corpus_*.py``): queues, dead letters, calls.

Many malformed messages are sent at once and their dead letters collected together,
so the corpus costs one round of consumer cold starts rather than one per case.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from payroll_shared import names


def queue_url(cloud: Any, service: str) -> str:
    return cloud.service_param(service, names.QUEUE_URL)


def dlq_url(cloud: Any, queue: str) -> str:
    """The queue's own DLQ, from its redrive policy (as SQS moves messages there)."""
    sqs = cloud.client("sqs")
    policy = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])
    arn = json.loads(policy["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    return str(sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"])


def attributes_of(message: Mapping[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


def collect(
    cloud: Any, dlq: str, bodies: Iterable[str], timeout_s: float = 120.0
) -> dict[str, dict[str, Any]]:
    """body -> the DLQ message carrying it, for every body wanted (each deleted once
    found, so a later run of the suite starts from an empty DLQ). Fails naming what
    did not arrive in time."""
    sqs = cloud.client("sqs")
    wanted = set(bodies)
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while wanted - set(found) and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            VisibilityTimeout=30,
            WaitTimeSeconds=1,
        ).get("Messages", [])
        for message in messages:
            if message["Body"] in wanted and message["Body"] not in found:
                found[message["Body"]] = message
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
            else:  # somebody else's: let it be seen again at once
                sqs.change_message_visibility(
                    QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
    missing = wanted - set(found)
    assert not missing, f"not dead-lettered within {timeout_s} s: {[b[:160] for b in missing]}"
    return found


def invoke(cloud: Any, function_name: str, event: Any) -> tuple[dict[str, Any] | Any, str | None]:
    """Invoke a function synchronously: (its answer, FunctionError or None)."""
    response = cloud.client("lambda").invoke(
        FunctionName=function_name, Payload=json.dumps(event).encode()
    )
    return json.loads(response["Payload"].read() or b"null"), response.get("FunctionError")


def function_env(cloud: Any, function_name: str) -> dict[str, str]:
    configuration = cloud.client("lambda").get_function_configuration(FunctionName=function_name)
    return dict(configuration.get("Environment", {}).get("Variables", {}))


def read_through(cloud: Any, queue: str) -> list[dict[str, Any]]:
    """Every message body on a queue, none consumed: each message received is hidden
    until the queue is read through, then made visible again. (The redrive API's
    listing peeks with a zero visibility timeout, which on moto keeps answering the same
    first messages: a listing of more than ten records is not complete locally.)"""
    sqs = cloud.client("sqs")
    bodies: dict[str, dict[str, Any]] = {}
    receipts: list[str] = []
    try:
        while True:
            got = sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=1
            ).get("Messages", [])
            if not got:
                break
            for message in got:
                bodies[message["MessageId"]] = json.loads(message["Body"])
                receipts.append(message["ReceiptHandle"])
    finally:
        for handle in receipts:
            sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=0)
    return list(bodies.values())
