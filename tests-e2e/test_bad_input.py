"""Bad input at the service boundaries: each message lands where a person sees it.

A body that breaks its queue's contract (missing or wrong-typed field, not JSON, a bad
pay run id, an empty chunk, a forged task token on a malformed request) goes straight
to that queue's DLQ with the reason naming the field as message attributes, and the
rest of the system is unaffected. (The employee-record cases, a record that breaks a
rule or lacks a field, are in ``test_pay_run.py``: they fail that employee only and
are dead-lettered on the process DLQ.)
"""

from __future__ import annotations

import json
import time

import pytest

from payroll_shared import names

pytestmark = pytest.mark.localcloud

PAY_RUN = {
    "pay_run_id": "pr-weekly-2026-07-31",
    "pay_schedule": "weekly",
    "period_start": "2026-07-25",
    "period_end": "2026-07-31",
    "pay_date": "2026-07-31",
}
STEP_REQUEST = {
    "schema_version": "3",
    "step": "tax_calc",
    "task_token": "forged-token",
    "pay_run": PAY_RUN,
    "employer_id": "er-corpus",
    "chunk_id": "er-corpus-c00000",
    "items": [{"employee_id": "e1", "record": {}, "results": {}}],
}
COMPLETION = {
    "schema_version": "1",
    "pay_run": PAY_RUN,
    "employer_id": "er-corpus",
    "employees": 3,
}
PUSH = {
    "schema_version": "2",
    "pay_run": PAY_RUN,
    "employer_id": "er-corpus",
    "statements": 1,
    "net_total": "10.00",
}


def without(body: dict, field: str) -> dict:
    return {k: v for k, v in body.items() if k != field}


CASES = [
    # (service, body, the field the error names)
    ("employer-validation", without(COMPLETION, "employer_id"), "employer_id"),
    ("employer-validation", {**COMPLETION, "employees": "many"}, "employees"),
    ("employer-validation", {**COMPLETION, "employees": -1}, "employees"),
    ("money-movement", {**PUSH, "net_total": "ten dollars"}, "net_total"),
    ("money-movement", {**PUSH, "payment_attempt": 0}, "payment_attempt"),
    ("money-movement", {**PUSH, "schema_version": "9"}, "schema_version"),
    ("time-entry", {**STEP_REQUEST, "step": "time_entry", "items": []}, "items"),
    (
        "payroll-calc",
        {**STEP_REQUEST, "step": "payroll_calc", "pay_run": {**PAY_RUN, "pay_run_id": "x'; --"}},
        "pay_run.pay_run_id",
    ),
    ("retirement-calc", {**STEP_REQUEST, "step": "tax_calc"}, "step"),
    ("tax-calc", {**STEP_REQUEST, "employer_id": "e" * 65}, "employer_id"),
    ("tax-calc", "{not json at all", ""),
]


def _dlq_url(cloud, queue_url: str) -> str:
    sqs = cloud.client("sqs")
    policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    arn = json.loads(policy["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    return str(sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"])


def _find(cloud, dlq_url: str, body: str, timeout_s: float = 60.0) -> dict:
    sqs = cloud.client("sqs")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
            WaitTimeSeconds=1,
        ).get("Messages", [])
        for message in messages:
            if message["Body"] == body:
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                return message
    raise AssertionError(f"not dead-lettered within {timeout_s} s: {body[:200]}")


@pytest.mark.parametrize(("service", "body", "field"), CASES)
def test_a_malformed_message_is_dead_lettered_naming_the_field(environment, service, body, field):
    cloud = environment.cloud
    queue = cloud.service_param(service, names.QUEUE_URL)
    text = body if isinstance(body, str) else json.dumps(body)
    cloud.client("sqs").send_message(QueueUrl=queue, MessageBody=text)

    message = _find(cloud, _dlq_url(cloud, queue), text)

    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["error_code"] == "ContractViolation"
    assert attributes.get("error_field", "") == field
    assert field in attributes["error_reason"]
    assert attributes["source_queue_arn"].endswith(queue.rsplit("/", 1)[1])
