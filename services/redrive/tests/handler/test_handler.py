"""The real handlers against moto: the dead-letter API and the scheduled function."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from redrive import logic

from payroll_shared import aws
from payroll_shared.contracts import DeadLetterRecord

REGION = "us-east-1"
BUCKET = "payroll-test-pay-run"
OPERATOR = "arn:aws:iam::123456789012:user/ops"


@dataclass
class Cloud:
    sqs: Any
    s3: Any
    process_dlq: str
    orchestration_dlq: str


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PAYRUN_BUCKET": BUCKET,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.reset_clients()
        sqs = boto3.client("sqs", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        process = sqs.create_queue(QueueName="payroll-test-process-dlq")["QueueUrl"]
        orchestration = sqs.create_queue(QueueName="payroll-test-orchestration-dlq")["QueueUrl"]
        monkeypatch.setenv("PROCESS_DLQ_URL", process)
        monkeypatch.setenv("ORCHESTRATION_DLQ_URL", orchestration)
        yield Cloud(sqs, s3, process, orchestration)
        aws.reset_clients()


class Context:
    function_name = "redrive-api"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:redrive-api"
    aws_request_id = "req-1"


def record(
    employee_id: str, employer_id: str = "er-1", code: str = "InvalidEmployeeRecord"
) -> DeadLetterRecord:
    at = datetime(2025, 1, 3, 10, 0, tzinfo=UTC)
    return DeadLetterRecord(
        record_id=f"pr-weekly-2025-01-03/{employer_id}/{employee_id}",
        source="process",
        pay_run_id="pr-weekly-2025-01-03",
        employer_id=employer_id,
        employee_id=employee_id,
        step="payroll_calc",
        error={"code": code, "message": f"employee {employee_id}: hourly_rate: Field required"},
        first_failed_at=at,
        last_failed_at=at,
    )


def put(cloud: Cloud, *records: DeadLetterRecord) -> None:
    for rec in records:
        cloud.sqs.send_message(QueueUrl=cloud.process_dlq, MessageBody=rec.model_dump_json())


def key(employee_id: str, employer_id: str = "er-1") -> str:
    return logic.record_key(f"pr-weekly-2025-01-03/{employer_id}/{employee_id}")


def request(
    method: str,
    path: str,
    resource: str,
    *,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    body: Any = None,
) -> dict[str, Any]:
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "api-req-1",
            "accountId": "123456789012",
            "apiId": "abc123",
            "identity": {
                "userArn": OPERATOR,
                "caller": "AIDAEXAMPLE",
                "accountId": "123456789012",
                "sourceIp": "198.51.100.7",
            },
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def call(event: dict[str, Any]) -> tuple[int, Any]:
    from redrive.handler import api

    response = api(event, Context())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def visible(cloud: Cloud) -> int:
    attributes = cloud.sqs.get_queue_attributes(
        QueueUrl=cloud.process_dlq, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_list_reads_without_removing(cloud: Cloud) -> None:
    put(cloud, record("e1"), record("e2", code="Timeout"), record("e3", "er-2"))

    status, page = call(request("GET", "/dead-letters", "/dead-letters"))

    assert status == 200
    assert page["count"] == 3 and page["approximate_total"] == 3
    assert [r["record"]["employee_id"] for r in page["records"]] == ["e1", "e2", "e3"]
    assert page["records"][0]["record_key"] == key("e1")
    assert visible(cloud) == 3


def test_list_filters(cloud: Cloud) -> None:
    put(cloud, record("e1"), record("e2", code="Timeout"), record("e3", "er-2", code="Timeout"))

    status, page = call(
        request(
            "GET",
            "/dead-letters",
            "/dead-letters",
            query={"employer_id": "er-1", "error_code": "Timeout"},
        )
    )
    assert status == 200
    assert [r["record"]["employee_id"] for r in page["records"]] == ["e2"]


def test_list_collapses_copies_and_shows_unreadable(cloud: Cloud) -> None:
    put(cloud, record("e1"), record("e1"))
    cloud.sqs.send_message(QueueUrl=cloud.process_dlq, MessageBody="{not a record")

    _, page = call(request("GET", "/dead-letters", "/dead-letters"))

    (entry,) = page["records"]
    assert entry["copies"] == 2
    assert len(page["unreadable"]) == 1


def test_list_of_an_empty_queue(cloud: Cloud) -> None:
    status, page = call(request("GET", "/dead-letters", "/dead-letters"))
    assert status == 200 and page["records"] == [] and page["count"] == 0


def test_show(cloud: Cloud) -> None:
    put(cloud, record("e1"), record("e2"))
    status, entry = call(
        request(
            "GET",
            f"/dead-letters/{key('e2')}",
            "/dead-letters/{record_key}",
            path_parameters={"record_key": key("e2")},
        )
    )
    assert status == 200
    assert entry["record"]["record_id"] == "pr-weekly-2025-01-03/er-1/e2"


def test_show_unknown_and_malformed_keys(cloud: Cloud) -> None:
    put(cloud, record("e1"))
    status, _ = call(
        request(
            "GET",
            f"/dead-letters/{key('e9')}",
            "/dead-letters/{record_key}",
            path_parameters={"record_key": key("e9")},
        )
    )
    assert status == 404
    status, body = call(
        request(
            "GET",
            "/dead-letters/!!",
            "/dead-letters/{record_key}",
            path_parameters={"record_key": "!!"},
        )
    )
    assert status == 400
    assert "not a record key" in body["message"]


def test_discard_deletes_every_copy_and_audits(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    put(cloud, record("e1"), record("e1"), record("e2"))

    status, result = call(
        request(
            "POST",
            f"/dead-letters/{key('e1')}/discard",
            "/dead-letters/{record_key}/discard",
            path_parameters={"record_key": key("e1")},
            body={"reason": "terminated before the pay date; paid off-cycle"},
        )
    )

    assert status == 200
    assert result["discarded_messages"] == 2
    assert result["audit_key"] == "audit/dead-letters/pr-weekly-2025-01-03/er-1/e1.json"
    audit = json.loads(cloud.s3.get_object(Bucket=BUCKET, Key=result["audit_key"])["Body"].read())
    assert audit["reason"] == "terminated before the pay date; paid off-cycle"
    assert audit["actor"]["user_arn"] == OPERATOR
    assert audit["record"]["employee_id"] == "e1"
    # The other record is back on the queue at once, not hidden for the claim's timeout.
    assert visible(cloud) == 1
    _, page = call(request("GET", "/dead-letters", "/dead-letters"))
    assert [r["record"]["employee_id"] for r in page["records"]] == ["e2"]
    (line,) = [r for r in caplog.records if r.getMessage() == "dead letter discarded"]
    assert line.record_id == "pr-weekly-2025-01-03/er-1/e1"  # type: ignore[attr-defined]
    assert line.actor["user_arn"] == OPERATOR  # type: ignore[attr-defined]
    assert line.audit_key == result["audit_key"]  # type: ignore[attr-defined]


def test_discard_needs_a_reason(cloud: Cloud) -> None:
    put(cloud, record("e1"))
    status, _ = call(
        request(
            "POST",
            f"/dead-letters/{key('e1')}/discard",
            "/dead-letters/{record_key}/discard",
            path_parameters={"record_key": key("e1")},
            body={"reason": ""},
        )
    )
    assert status == 422
    assert visible(cloud) == 1


def test_discard_of_an_unknown_record_releases_what_it_looked_at(cloud: Cloud) -> None:
    put(cloud, record("e1"), record("e2"))
    status, _ = call(
        request(
            "POST",
            f"/dead-letters/{key('e9')}/discard",
            "/dead-letters/{record_key}/discard",
            path_parameters={"record_key": key("e9")},
            body={"reason": "x"},
        )
    )
    assert status == 404
    assert visible(cloud) == 2
    assert "Contents" not in cloud.s3.list_objects_v2(Bucket=BUCKET)


@pytest.mark.parametrize(
    ("path", "resource", "parameters"),
    [
        ("/dead-letters/redrive", "/dead-letters/redrive", None),
        (
            f"/dead-letters/{key('e1')}/redrive",
            "/dead-letters/{record_key}/redrive",
            {"record_key": key("e1")},
        ),
    ],
)
def test_redrive_says_it_is_not_available_yet(
    cloud: Cloud, path: str, resource: str, parameters: dict[str, str] | None
) -> None:
    put(cloud, record("e1"))
    status, body = call(request("POST", path, resource, path_parameters=parameters))
    assert status == 501
    assert body == {
        "error": "redrive of process records arrives with the employer-completion issue"
    }
    assert visible(cloud) == 1


def test_scheduled_logs_both_queue_depths_and_touches_nothing(cloud: Cloud) -> None:
    from redrive.handler import scheduled

    put(cloud, record("e1"), record("e2"))
    cloud.sqs.send_message(QueueUrl=cloud.orchestration_dlq, MessageBody="{}")

    result = scheduled({"source": "aws.events"}, Context())  # type: ignore[arg-type]

    assert result == {
        "process": {"visible": 2, "in_flight": 0, "delayed": 0},
        "orchestration": {"visible": 1, "in_flight": 0, "delayed": 0},
    }
    assert visible(cloud) == 2
