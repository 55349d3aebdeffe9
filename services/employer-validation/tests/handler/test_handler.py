"""The real handler against moto: EmployeeStatus in, DLQ records and EmployerStatus out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws

from payroll_shared import aws
from payroll_shared.contracts import DeadLetterRecord

PAY_RUN_ID = "pr-weekly-2025-01-03"
EMPLOYER_ID = "er-1"
REGION = "us-east-1"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:payroll-test-employer-completion"


@dataclass
class Cloud:
    dynamodb: Any
    sqs: Any
    process_dlq_url: str
    own_dlq_url: str


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Payroll",
        "EMPLOYEE_STATUS_TABLE": "payroll-test-employee-status",
        "EMPLOYER_STATUS_TABLE": "payroll-test-employer-status",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.reset_clients()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for name, pk, sk in (
            ("payroll-test-employee-status", "pk", "employee_id"),
            ("payroll-test-employer-status", "pay_run_id", "employer_id"),
        ):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": pk, "AttributeType": "S"},
                    {"AttributeName": sk, "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        sqs = boto3.client("sqs", region_name=REGION)
        process_dlq = sqs.create_queue(QueueName="payroll-test-process-dlq")["QueueUrl"]
        own_dlq = sqs.create_queue(QueueName="payroll-test-employer-completion-dlq")["QueueUrl"]
        monkeypatch.setenv("PROCESS_DLQ_URL", process_dlq)
        monkeypatch.setenv("OWN_DLQ_URL", own_dlq)
        yield Cloud(dynamodb, sqs, process_dlq, own_dlq)
        aws.reset_clients()


class Context:
    function_name = "employer-validation"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:employer-validation"
    aws_request_id = "req-1"


def completion(employees: int) -> dict[str, Any]:
    return {
        "schema_version": "1",
        "pay_run": {
            "pay_run_id": PAY_RUN_ID,
            "pay_schedule": "weekly",
            "period_start": "2024-12-28",
            "period_end": "2025-01-03",
            "pay_date": "2025-01-03",
        },
        "employer_id": EMPLOYER_ID,
        "employees": employees,
    }


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"rh-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": REGION,
            }
            for index, body in enumerate(bodies)
        ]
    }


def seed_employer(cloud: Cloud, status: str = "BEGIN") -> None:
    cloud.dynamodb.put_item(
        TableName="payroll-test-employer-status",
        Item={
            "pay_run_id": {"S": PAY_RUN_ID},
            "employer_id": {"S": EMPLOYER_ID},
            "status": {"S": status},
            "updated_at": {"S": "2025-01-03T09:00:00+00:00"},
        },
    )


def seed_employee(cloud: Cloud, employee_id: str, status: str, **extra: str) -> None:
    item = {
        "pk": {"S": f"{PAY_RUN_ID}#{EMPLOYER_ID}"},
        "employee_id": {"S": employee_id},
        "pay_run_id": {"S": PAY_RUN_ID},
        "employer_id": {"S": EMPLOYER_ID},
        "status": {"S": status},
        "attempts": {"N": "1"},
        "updated_at": {"S": "2025-01-03T10:00:00+00:00"},
        # Step results are large; validation must not need them.
        "result_tax_calc": {"S": json.dumps({"net_pay": "100.00"})},
    }
    item.update({key: {"S": value} for key, value in extra.items()})
    cloud.dynamodb.put_item(TableName="payroll-test-employee-status", Item=item)


def employer_status(cloud: Cloud) -> dict[str, Any]:
    item = cloud.dynamodb.get_item(
        TableName="payroll-test-employer-status",
        Key={"pay_run_id": {"S": PAY_RUN_ID}, "employer_id": {"S": EMPLOYER_ID}},
    )["Item"]
    return {key: next(iter(value.values())) for key, value in item.items()}


def drain(cloud: Cloud, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        page = cloud.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not page:
            return messages
        messages.extend(page)


def run(*bodies: str) -> dict[str, Any]:
    from employer_validation.handler import lambda_handler

    return lambda_handler(sqs_event(*bodies), Context())  # type: ignore[arg-type]


def test_all_calculated_moves_employer_to_calculated(cloud: Cloud) -> None:
    seed_employer(cloud)
    for index in range(3):
        seed_employee(cloud, f"e{index}", "CALCULATED")

    assert run(json.dumps(completion(3))) == {"batchItemFailures": []}

    status = employer_status(cloud)
    assert (status["status"], status["employees"], status["failed"]) == ("CALCULATED", "3", "0")
    assert drain(cloud, cloud.process_dlq_url) == []


def test_failed_employees_are_dead_lettered_and_employer_needs_redrive(cloud: Cloud) -> None:
    seed_employer(cloud)
    seed_employee(cloud, "e1", "CALCULATED")
    seed_employee(
        cloud,
        "e2",
        "FAILED",
        failed_step="payroll_calc",
        error_code="InvalidEmployeeRecord",
        error_message="employee e2: hourly_rate: Field required",
    )
    seed_employee(
        cloud,
        "e3",
        "FAILED",
        failed_step="tax_calc",
        error_code="UnsupportedState",
        error_message="employee e3: no tax table for ZZ",
    )

    assert run(json.dumps(completion(3))) == {"batchItemFailures": []}

    status = employer_status(cloud)
    assert (status["status"], status["failed"]) == ("NEEDS_REDRIVE", "2")
    messages = drain(cloud, cloud.process_dlq_url)
    records = sorted(
        (DeadLetterRecord.model_validate_json(m["Body"]) for m in messages),
        key=lambda r: r.record_id,
    )
    assert [r.record_id for r in records] == [
        f"{PAY_RUN_ID}/{EMPLOYER_ID}/e2",
        f"{PAY_RUN_ID}/{EMPLOYER_ID}/e3",
    ]
    assert [(r.step.value if r.step else None, r.error.code) for r in records] == [
        ("payroll_calc", "InvalidEmployeeRecord"),
        ("tax_calc", "UnsupportedState"),
    ]
    attributes = {m["MessageAttributes"]["record_id"]["StringValue"]: m for m in messages}
    e2 = attributes[f"{PAY_RUN_ID}/{EMPLOYER_ID}/e2"]["MessageAttributes"]
    assert e2["error_code"]["StringValue"] == "InvalidEmployeeRecord"
    assert e2["source"]["StringValue"] == "process"


def test_many_failures_are_sent_in_batches(cloud: Cloud) -> None:
    seed_employer(cloud)
    for index in range(23):
        seed_employee(
            cloud,
            f"e{index:02}",
            "FAILED",
            failed_step="time_entry",
            error_code="NoTime",
            error_message="x",
        )

    assert run(json.dumps(completion(23))) == {"batchItemFailures": []}

    assert len(drain(cloud, cloud.process_dlq_url)) == 23


def test_unfinished_employees_retry_the_message(cloud: Cloud) -> None:
    seed_employer(cloud)
    seed_employee(cloud, "e1", "CALCULATED")
    seed_employee(cloud, "e2", "GROSS_CALCULATED")

    # Every record of the batch failed: Powertools fails the invocation, SQS redelivers.
    with pytest.raises(BatchProcessingError, match="not finished"):
        run(json.dumps(completion(2)))

    assert employer_status(cloud)["status"] == "BEGIN"
    assert drain(cloud, cloud.process_dlq_url) == []


def test_missing_employees_retry_the_message(cloud: Cloud) -> None:
    seed_employer(cloud)
    seed_employee(cloud, "e1", "CALCULATED")

    with pytest.raises(BatchProcessingError, match="'missing': 1"):
        run(json.dumps(completion(2)))
    assert employer_status(cloud)["status"] == "BEGIN"


def test_a_late_duplicate_does_not_move_the_employer_back(cloud: Cloud) -> None:
    seed_employer(cloud, status="COMMITTED")
    seed_employee(cloud, "e1", "COMMITTED")

    assert run(json.dumps(completion(1))) == {"batchItemFailures": []}
    assert employer_status(cloud)["status"] == "COMMITTED"


def test_a_bad_message_goes_to_its_own_dlq_with_the_reason(cloud: Cloud) -> None:
    body = completion(1)
    del body["employer_id"]

    assert run(json.dumps(body)) == {"batchItemFailures": []}

    (poison,) = drain(cloud, cloud.own_dlq_url)
    assert poison["MessageAttributes"]["error_field"]["StringValue"] == "employer_id"


def test_one_bad_record_does_not_fail_the_batch(cloud: Cloud) -> None:
    seed_employer(cloud)
    seed_employee(cloud, "e1", "CALCULATED")
    result = run(json.dumps(completion(1)), json.dumps(completion(5)))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert employer_status(cloud)["status"] == "CALCULATED"


def test_paged_read_sees_every_employee(cloud: Cloud) -> None:
    seed_employer(cloud)
    padding = "p" * 40_000  # about 40 KB per item: 1 MB query pages hold ~25 items
    for index in range(60):
        seed_employee(cloud, f"e{index:03}", "CALCULATED", padding=padding)

    assert run(json.dumps(completion(60))) == {"batchItemFailures": []}
    assert employer_status(cloud)["employees"] == "60"
