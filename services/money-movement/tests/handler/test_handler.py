"""The real handler against moto: PushPayment is validated and logged, and not paid yet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from payroll_shared import aws

REGION = "us-east-1"


@pytest.fixture
def own_dlq(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.reset_clients()
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="payroll-test-push-payment-dlq")["QueueUrl"]
        monkeypatch.setenv("OWN_DLQ_URL", url)
        yield sqs, url
        aws.reset_clients()


class Context:
    function_name = "money-movement"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:money-movement"
    aws_request_id = "req-1"


def push_payment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": "1",
        "pay_run": {
            "pay_run_id": "pr-weekly-2025-01-03",
            "pay_schedule": "weekly",
            "period_start": "2024-12-28",
            "period_end": "2025-01-03",
            "pay_date": "2025-01-03",
        },
        "employer_id": "er-1",
        "statements": 3,
        "net_total": "4567.89",
    }
    body.update(overrides)
    return body


def event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m-0",
                "receiptHandle": "rh-0",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:payroll-test-push-payment",
                "awsRegion": REGION,
            }
        ]
    }


def test_a_push_payment_is_logged_as_not_paid(
    own_dlq: tuple[Any, str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from money_movement.handler import lambda_handler, metrics

    added: list[dict[str, Any]] = []
    monkeypatch.setattr(metrics, "add_metric", lambda **metric: added.append(metric))

    assert lambda_handler(event(push_payment()), Context()) == {"batchItemFailures": []}  # type: ignore[arg-type]

    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "NOT paid" in warning.getMessage()
    assert (warning.pay_run_id, warning.employer_id, warning.net_total) == (  # type: ignore[attr-defined]
        "pr-weekly-2025-01-03",
        "er-1",
        "4567.89",
    )
    assert [(m["name"], m["value"]) for m in added] == [("PushPaymentsNotPaid", 1)]


def test_a_malformed_push_payment_goes_to_its_dlq(own_dlq: tuple[Any, str]) -> None:
    from money_movement.handler import lambda_handler

    sqs, url = own_dlq
    result = lambda_handler(event(push_payment(net_total=12.5)), Context())  # type: ignore[arg-type]

    assert result == {"batchItemFailures": []}
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"]["error_field"]["StringValue"] == "net_total"
