"""The real handlers against moto: the dead-letter API and the scheduled function."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from redrive import logic

from payroll_shared import aws
from payroll_shared.consumer import CONTRACT_VIOLATION
from payroll_shared.contracts import DeadLetterRecord

REGION = "us-east-1"
BUCKET = "payroll-test-pay-run"
OPERATOR = "arn:aws:iam::123456789012:user/ops"


@dataclass
class ConsumerQueues:
    """A consumer's source queue and its own DLQ (SQS moves a message after 5 receives)."""

    queue: str
    dlq: str


@dataclass
class Cloud:
    sqs: Any
    s3: Any
    process_dlq: str
    orchestration_dlq: str
    #: employer-validation (employer completions) and money-movement (PushPayments).
    consumers: dict[str, ConsumerQueues]


MAX_RECEIVE_COUNT = 5
CONSUMERS = {
    "employer-validation": (
        "employer-completion",
        "EMPLOYER_COMPLETION_QUEUE_URL",
        "EMPLOYER_COMPLETION_DLQ_URL",
    ),
    "money-movement": ("push-payment", "PUSH_PAYMENT_QUEUE_URL", "PUSH_PAYMENT_DLQ_URL"),
}


def consumer_queues(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, ConsumerQueues]:
    """The two consumers' queues as ConsumerQueue makes them: a redrive policy to the DLQ."""
    made = {}
    for consumer, (name, queue_env, dlq_env) in CONSUMERS.items():
        dlq = sqs.create_queue(QueueName=f"payroll-test-{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
        queue = sqs.create_queue(
            QueueName=f"payroll-test-{name}", Attributes={"RedrivePolicy": json.dumps(policy)}
        )["QueueUrl"]
        monkeypatch.setenv(queue_env, queue)
        monkeypatch.setenv(dlq_env, dlq)
        made[consumer] = ConsumerQueues(queue=queue, dlq=dlq)
    return made


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
        consumers = consumer_queues(sqs, monkeypatch)
        yield Cloud(sqs, s3, process, orchestration, consumers)
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


# --- Redrive -------------------------------------------------------------------------

PAY_RUN = {
    "pay_run_id": "pr-weekly-2025-01-03",
    "pay_schedule": "weekly",
    "period_start": "2024-12-28",
    "period_end": "2025-01-03",
    "pay_date": "2025-01-03",
}
FINGERPRINT = "ab" * 32


def failure(
    employee_id: str,
    employer_id: str = "er-1",
    *,
    code: str = "InvalidEmployeeRecord",
    attempts: int = 1,
    data_error: bool = True,
) -> DeadLetterRecord:
    rec = record(employee_id, employer_id, code)
    payload: dict[str, Any] = {"pay_run": PAY_RUN}
    if data_error:
        payload["record_sha256"] = FINGERPRINT
    return rec.model_copy(update={"payload": payload, "attempts": attempts})


def refused_payment(employee_id: str, attempts: int = 1) -> DeadLetterRecord:
    at = datetime(2025, 1, 3, 10, 0, tzinfo=UTC)
    push = {
        "schema_version": "2",
        "pay_run": PAY_RUN,
        "employer_id": "er-1",
        "statements": 3,
        "net_total": "300.03",
        "payment_attempt": attempts,
    }
    return DeadLetterRecord(
        record_id=f"pr-weekly-2025-01-03/er-1/{employee_id}/payment",
        source="payment",
        pay_run_id="pr-weekly-2025-01-03",
        employer_id="er-1",
        employee_id=employee_id,
        error={"code": "account_closed", "message": "the account is closed"},
        attempts=attempts,
        first_failed_at=at,
        last_failed_at=at,
        payload={"push_payment": push},
    )


class GetEmployers:
    """A stand-in GetEmployers in moto's Lambda: records requests, answers like the real one.

    ``unchanged`` employees answer as not corrected (only when the request asks for a
    change); ``employer_status`` is the answer to an employer's redrive (whose event is
    recorded whole, to show its key); ``fail`` makes the function raise.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.unchanged: set[str] = set()
        self.employer_status = "started"
        self.fail = False

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("database unavailable")
        if "redrive_employer" in event:
            self.requests.append(event)
            employer = event["redrive_employer"]
            return {
                "schema_version": "1",
                "status": self.employer_status,
                "pay_run_id": employer["pay_run"]["pay_run_id"],
                "employer_id": employer["employer_id"],
                "attempt": employer["attempt"],
                "execution_arn": None
                if self.employer_status == "nothing-to-redrive"
                else "arn:aws:states:us-east-1:123456789012:execution:pay-run:er",
            }
        if "redrive" not in event:
            self.requests.append(event)
            return {"status": "started", "pay_run_id": "pr-weekly-2025-01-03"}
        request = event["redrive"]
        self.requests.append(request)
        started, unchanged = [], []
        for employee in request["employees"]:
            if employee["employee_id"] in self.unchanged and employee["unless_record_sha256"]:
                unchanged.append(employee["employee_id"])
            else:
                started.append(employee["employee_id"])
        return {
            "schema_version": "1",
            "status": "started" if started else "nothing-to-redrive",
            "pay_run_id": request["pay_run"]["pay_run_id"],
            "employer_id": request["employer_id"],
            "attempt": request["attempt"],
            "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:pay-run:x"
            if started
            else None,
            "started": started,
            "unchanged": unchanged,
        }


@pytest.fixture
def get_employers(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> GetEmployers:
    from moto.awslambda.models import LambdaFunction

    fake = GetEmployers()
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="get-employers", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="payroll-test-get-employers",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": buffer.getvalue()},
    )

    def invoke(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        try:
            payload = json.loads(event) if isinstance(event, str | bytes) else event
            return json.dumps(fake(payload)), False, ""
        except Exception as exc:
            return json.dumps({"errorMessage": str(exc)}), True, ""

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)
    monkeypatch.setenv("GET_EMPLOYERS_FUNCTION", "payroll-test-get-employers")
    return fake


def redrive_one(employee_id: str) -> tuple[int, Any]:
    k = key(employee_id)
    return call(
        request(
            "POST",
            f"/dead-letters/{k}/redrive",
            "/dead-letters/{record_key}/redrive",
            path_parameters={"record_key": k},
        )
    )


def remaining(cloud: Cloud) -> list[str]:
    _, page = call(request("GET", "/dead-letters", "/dead-letters"))
    return [r["record"]["record_id"] for r in page["records"]]


def test_redrive_one_runs_that_employee_again_and_removes_its_record(
    cloud: Cloud, get_employers: GetEmployers
) -> None:
    put(cloud, failure("e1"), failure("e1"), failure("e2"))

    status, body = redrive_one("e1")

    assert status == 200, body
    (sent,) = get_employers.requests
    assert sent["employer_id"] == "er-1" and sent["attempt"] == 2
    assert sent["pay_run"] == PAY_RUN
    # A person's redrive: the record is run whatever its fingerprint.
    assert sent["employees"] == [
        {
            "employee_id": "e1",
            "first_failed_at": "2025-01-03T10:00:00Z",
            "unless_record_sha256": None,
        }
    ]
    (outcome,) = body["outcomes"]
    assert outcome["action"] == "started" and outcome["attempt"] == 2
    assert body["redriven"] == 1 and body["left"] == 0
    # Both copies of e1 are gone; e2 is untouched.
    assert remaining(cloud) == ["pr-weekly-2025-01-03/er-1/e2"]
    assert visible(cloud) == 1


def test_redrive_of_an_unknown_record_is_404(cloud: Cloud, get_employers: GetEmployers) -> None:
    put(cloud, failure("e1"))
    status, _ = redrive_one("e9")
    assert status == 404
    assert get_employers.requests == [] and visible(cloud) == 1


def test_redrive_matching_groups_by_employer_and_attempt(
    cloud: Cloud, get_employers: GetEmployers
) -> None:
    put(cloud, failure("e1"), failure("e2", attempts=2), failure("e3"), failure("e4", "er-2"))

    status, body = call(
        request(
            "POST",
            "/dead-letters/redrive",
            "/dead-letters/redrive",
            query={"pay_run_id": "pr-weekly-2025-01-03", "employer_id": "er-1"},
        )
    )

    assert status == 200, body
    sent = sorted(
        (r["employer_id"], r["attempt"], [e["employee_id"] for e in r["employees"]])
        for r in get_employers.requests
    )
    assert sent == [("er-1", 2, ["e1", "e3"]), ("er-1", 3, ["e2"])]
    assert body["redriven"] == 3
    assert remaining(cloud) == ["pr-weekly-2025-01-03/er-2/e4"]


def test_redrive_matching_needs_a_filter(cloud: Cloud, get_employers: GetEmployers) -> None:
    put(cloud, failure("e1"))
    status, _ = call(request("POST", "/dead-letters/redrive", "/dead-letters/redrive"))
    assert status == 400
    assert get_employers.requests == [] and visible(cloud) == 1


def test_a_failed_redrive_call_leaves_the_record(cloud: Cloud, get_employers: GetEmployers) -> None:
    put(cloud, failure("e1"))
    get_employers.fail = True

    status, body = redrive_one("e1")

    assert status == 200
    (outcome,) = body["outcomes"]
    assert outcome["action"] == "error" and "database unavailable" in outcome["detail"]
    assert remaining(cloud) == ["pr-weekly-2025-01-03/er-1/e1"]


def test_redrive_of_a_refused_payment_sends_the_next_attempt(
    cloud: Cloud, get_employers: GetEmployers
) -> None:
    put(cloud, refused_payment("e1"))
    k = logic.record_key("pr-weekly-2025-01-03/er-1/e1/payment")

    status, body = call(
        request(
            "POST",
            f"/dead-letters/{k}/redrive",
            "/dead-letters/{record_key}/redrive",
            path_parameters={"record_key": k},
        )
    )

    assert status == 200, body
    assert body["outcomes"][0]["action"] == "payment-sent"
    queue = cloud.sqs.get_queue_url(QueueName="payroll-test-push-payment")["QueueUrl"]
    (message,) = cloud.sqs.receive_message(QueueUrl=queue)["Messages"]
    push = json.loads(message["Body"])
    assert push["payment_attempt"] == 2 and push["employer_id"] == "er-1"
    assert get_employers.requests == [] and visible(cloud) == 0


def test_scheduled_redrives_what_can_have_changed_and_parks_the_rest(
    cloud: Cloud, get_employers: GetEmployers
) -> None:
    from redrive.handler import scheduled

    get_employers.unchanged = {"e2"}
    put(
        cloud,
        failure("e1", code="States.HeartbeatTimeout", data_error=False),  # transient
        failure("e2"),  # a data error nobody corrected
        failure("e3"),  # a data error that was corrected
        failure("e4", attempts=3),  # at the limit: parked
        refused_payment("e5"),  # a person's decision
    )

    result = scheduled({"source": "aws.events"}, Context())  # type: ignore[arg-type]

    actions = {o["record_id"].split("/")[2]: o["action"] for o in result["process"]["outcomes"]}
    assert actions == {
        "e1": "started",
        "e2": "unchanged",
        "e3": "started",
        "e4": "parked",
        "e5": "needs-person",
    }
    (sent,) = get_employers.requests
    asked = {e["employee_id"]: e["unless_record_sha256"] for e in sent["employees"]}
    # The schedule asks for a change only where the failure was the data's.
    assert asked == {"e1": None, "e2": FINGERPRINT, "e3": FINGERPRINT}
    assert sorted(r.split("/")[2] for r in remaining(cloud)) == ["e2", "e4", "e5"]
    assert result["depths"]["process"]["visible"] == 5


def employer_failure(employer_id: str = "er-1", attempts: int = 1) -> DeadLetterRecord:
    """An employer the orchestration service could not list: one record, no employee."""
    at = datetime(2025, 1, 3, 10, 0, tzinfo=UTC)
    return DeadLetterRecord(
        record_id=f"pr-weekly-2025-01-03#{employer_id}#employer#{attempts}",
        source="orchestration",
        pay_run_id="pr-weekly-2025-01-03",
        employer_id=employer_id,
        error={"code": "States.TaskFailed", "message": f"employer {employer_id}: not listed"},
        attempts=attempts,
        first_failed_at=at,
        last_failed_at=at,
        payload={"pay_run": PAY_RUN},
    )


def redrive_record(record_id: str) -> tuple[int, Any]:
    k = logic.record_key(record_id)
    return call(
        request(
            "POST",
            f"/dead-letters/{k}/redrive",
            "/dead-letters/{record_key}/redrive",
            path_parameters={"record_key": k},
        )
    )


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("started", "started"),
        ("already-started", "started"),
        ("nothing-to-redrive", "already-running"),  # stale: no longer NEEDS_REDRIVE
    ],
)
def test_redrive_of_an_employer_runs_it_again_and_removes_its_record(
    cloud: Cloud, get_employers: GetEmployers, status: str, action: str
) -> None:
    get_employers.employer_status = status
    put(cloud, employer_failure(), employer_failure("er-2"))

    status_code, body = redrive_record("pr-weekly-2025-01-03#er-1#employer#1")

    assert status_code == 200, body
    (sent,) = get_employers.requests
    assert sent == {
        "redrive_employer": {
            "schema_version": "1",
            "pay_run": PAY_RUN,
            "employer_id": "er-1",
            "attempt": 2,
            "requested_by": f"api:{OPERATOR}",
        }
    }
    (outcome,) = body["outcomes"]
    assert (outcome["action"], outcome["attempt"]) == (action, 2)
    assert body["redriven"] == 1 and body["left"] == 0
    assert remaining(cloud) == ["pr-weekly-2025-01-03#er-2#employer#1"]


def test_a_failed_employer_redrive_leaves_the_record(
    cloud: Cloud, get_employers: GetEmployers
) -> None:
    put(cloud, employer_failure())
    get_employers.fail = True

    status, body = redrive_record("pr-weekly-2025-01-03#er-1#employer#1")

    assert status == 200
    (outcome,) = body["outcomes"]
    assert outcome["action"] == "error" and "database unavailable" in outcome["detail"]
    assert body["redriven"] == 0 and body["left"] == 1
    assert remaining(cloud) == ["pr-weekly-2025-01-03#er-1#employer#1"]


def test_scheduled_redrives_employers_and_drops_superseded_attempts(
    cloud: Cloud, get_employers: GetEmployers
) -> None:
    from redrive.handler import scheduled

    put(
        cloud,
        employer_failure("er-1", attempts=1),  # superseded by its attempt 2: stale
        employer_failure("er-1", attempts=2),
        employer_failure("er-2", attempts=3),  # at the limit: parked
        failure("e1", "er-3", code="States.Timeout", data_error=False),
    )

    result = scheduled({"source": "aws.events"}, Context())  # type: ignore[arg-type]

    actions = {o["record_id"]: o["action"] for o in result["process"]["outcomes"]}
    assert actions == {
        "pr-weekly-2025-01-03#er-1#employer#1": "already-running",
        "pr-weekly-2025-01-03#er-1#employer#2": "started",
        "pr-weekly-2025-01-03#er-2#employer#3": "parked",
        "pr-weekly-2025-01-03/er-3/e1": "started",
    }
    employers = [r["redrive_employer"] for r in get_employers.requests if "redrive_employer" in r]
    assert [(r["employer_id"], r["attempt"], r["requested_by"]) for r in employers] == [
        ("er-1", 3, "schedule")
    ]
    assert remaining(cloud) == ["pr-weekly-2025-01-03#er-2#employer#3"]


def test_scheduled_replays_triggers_that_did_not_start(
    cloud: Cloud, get_employers: GetEmployers
) -> None:
    from redrive.handler import scheduled

    trigger = {"schema_version": "1", "pay_schedule": "weekly", "pay_date": "2025-01-03"}
    cloud.sqs.send_message(
        QueueUrl=cloud.orchestration_dlq,
        MessageBody=json.dumps(trigger),
        MessageAttributes={"error_code": {"DataType": "String", "StringValue": "ClientError"}},
    )
    cloud.sqs.send_message(
        QueueUrl=cloud.orchestration_dlq,
        MessageBody=json.dumps({"pay_schedule": "daily"}),
        MessageAttributes={"error_code": {"DataType": "String", "StringValue": "InvalidTrigger"}},
    )

    result = scheduled({"source": "aws.events"}, Context())  # type: ignore[arg-type]

    assert result["triggers"] == {"replayed": 1, "parked": 0, "needs_person": 1, "failed": 0}
    (replayed,) = get_employers.requests
    assert replayed == {**trigger, "requested_by": "redrive"}
    left = cloud.sqs.receive_message(
        QueueUrl=cloud.orchestration_dlq, MessageAttributeNames=["All"]
    )["Messages"]
    assert [m["MessageAttributes"]["error_code"]["StringValue"] for m in left] == ["InvalidTrigger"]


def test_scheduled_with_empty_queues_does_nothing(
    cloud: Cloud, get_employers: GetEmployers
) -> None:
    from redrive.handler import scheduled

    result = scheduled({"source": "aws.events"}, Context())  # type: ignore[arg-type]

    assert result["process"] == {"outcomes": [], "redriven": 0, "left": 0}
    assert result["triggers"] == {"replayed": 0, "parked": 0, "needs_person": 0, "failed": 0}
    assert result["consumer_dlqs"] == {
        "employer-validation": {"replayed": 0, "parked": 0, "needs_person": 0, "failed": 0},
        "money-movement": {"replayed": 0, "parked": 0, "needs_person": 0, "failed": 0},
    }
    assert set(result["depths"]) == {"process", "orchestration"}
    assert get_employers.requests == []


# --- The consumers' own DLQs --------------------------------------------------------

COMPLETION = {"schema_version": "1", "pay_run": PAY_RUN, "employer_id": "er-1", "employees": 3}
PUSH = {
    "schema_version": "2",
    "pay_run": PAY_RUN,
    "employer_id": "er-2",
    "statements": 3,
    "net_total": "300.03",
    "payment_attempt": 1,
}


def string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def replays(n: int) -> dict[str, dict[str, str]]:
    return {"redrive_replays": {"DataType": "Number", "StringValue": str(n)}}


def dies_on(cloud: Cloud, consumer: str, body: Any, **attributes: dict[str, str]) -> None:
    """Send a message to a consumer's queue and fail every delivery: SQS dead-letters it."""
    queues = cloud.consumers[consumer]
    sent: dict[str, Any] = {"QueueUrl": queues.queue, "MessageBody": json.dumps(body)}
    if attributes:
        sent["MessageAttributes"] = attributes
    cloud.sqs.send_message(**sent)
    fail_deliveries(cloud, consumer, body)


def fail_deliveries(cloud: Cloud, consumer: str, body: Any) -> dict[str, Any]:
    """Fail the one message on a consumer's queue maxReceiveCount times; the last delivery."""
    queues = cloud.consumers[consumer]
    for _ in range(MAX_RECEIVE_COUNT):
        (delivery,) = cloud.sqs.receive_message(
            QueueUrl=queues.queue, VisibilityTimeout=0, MessageAttributeNames=["All"]
        )["Messages"]
        assert json.loads(delivery["Body"]) == body
    # The receive after the last delivery finds it gone to the DLQ.
    assert "Messages" not in cloud.sqs.receive_message(QueueUrl=queues.queue)
    assert depth(cloud, queues.dlq) == (1, 0)
    return dict(delivery)


def poisoned(cloud: Cloud, consumer: str, body: str) -> None:
    """What the consumer does with a malformed message: its own DLQ, with the reason."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from redrive.observability import logger

    from payroll_shared.consumer import dead_letter

    queues = cloud.consumers[consumer]
    record = SQSRecord(
        {"messageId": "m-poison", "body": body, "eventSourceARN": "arn:aws:sqs:::source"}
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OWN_DLQ_URL", queues.dlq)
        dead_letter(record, "message m-poison: employer_id: Field required", "employer_id", logger)


def depth(cloud: Cloud, queue: str) -> tuple[int, int]:
    """(visible, in flight): a released message is visible again at once."""
    attributes = cloud.sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def messages(cloud: Cloud, queue: str) -> list[dict[str, Any]]:
    return list(
        cloud.sqs.receive_message(
            QueueUrl=queue,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
    )


def attribute_values(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


def test_scheduled_replays_what_sqs_dead_lettered_and_leaves_the_rest(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redrive.handler import scheduled

    monkeypatch.setenv("REDRIVE_MAX_ATTEMPTS", "3")
    validation, money = cloud.consumers["employer-validation"], cloud.consumers["money-movement"]
    # Transient deaths: 5 failed deliveries each, SQS moved them.
    dies_on(cloud, "employer-validation", COMPLETION)
    # (this one was replayed once already)
    dies_on(cloud, "money-movement", PUSH, employer_id=string("er-2"), **replays(1))
    # Malformed: dead-lettered by the consumer with its reason.
    poisoned(cloud, "employer-validation", '{"pay_run": {}}')
    # Replayed max_attempts times already: parked.
    cloud.sqs.send_message(
        QueueUrl=money.dlq,
        MessageBody=json.dumps({**PUSH, "employer_id": "er-3"}),
        MessageAttributes=replays(3),
    )

    result = scheduled({"source": "aws.events"}, Context())  # type: ignore[arg-type]

    assert result["consumer_dlqs"] == {
        "employer-validation": {"replayed": 1, "parked": 0, "needs_person": 1, "failed": 0},
        "money-movement": {"replayed": 1, "parked": 1, "needs_person": 0, "failed": 0},
    }
    (completion,) = messages(cloud, validation.queue)
    assert json.loads(completion["Body"]) == COMPLETION
    assert attribute_values(completion) == {"redrive_replays": "1"}
    (push,) = messages(cloud, money.queue)
    assert json.loads(push["Body"]) == PUSH
    assert attribute_values(push) == {"employer_id": "er-2", "redrive_replays": "2"}
    # What was replayed left the DLQ; what stays is visible again at once (released).
    assert depth(cloud, validation.dlq) == (1, 0)
    (poison,) = messages(cloud, validation.dlq)
    assert attribute_values(poison)["error_code"] == CONTRACT_VIOLATION
    assert depth(cloud, money.dlq) == (1, 0)
    (parked,) = messages(cloud, money.dlq)
    assert json.loads(parked["Body"])["employer_id"] == "er-3"
    # The existing answers are as they were.
    assert result["triggers"] == {"replayed": 0, "parked": 0, "needs_person": 0, "failed": 0}
    assert result["process"] == {"outcomes": [], "redriven": 0, "left": 0}


def test_a_message_that_keeps_dying_is_parked_after_max_attempts_replays(cloud: Cloud) -> None:
    from redrive import redriving

    queues = cloud.consumers["employer-validation"]
    dies_on(cloud, "employer-validation", COMPLETION)
    for replay in (1, 2):
        tally = redriving.replay_consumer_dlq("employer-validation", queues.dlq, queues.queue, 2)
        assert tally == {"replayed": 1, "parked": 0, "needs_person": 0, "failed": 0}
        assert depth(cloud, queues.dlq) == (0, 0)
        # The replay dies like the original: SQS moves it back, its count with it.
        last = fail_deliveries(cloud, "employer-validation", COMPLETION)
        assert attribute_values(last) == {"redrive_replays": str(replay)}

    tally = redriving.replay_consumer_dlq("employer-validation", queues.dlq, queues.queue, 2)

    assert tally == {"replayed": 0, "parked": 1, "needs_person": 0, "failed": 0}
    assert depth(cloud, queues.dlq) == (1, 0) and depth(cloud, queues.queue) == (0, 0)


def test_a_replay_that_cannot_be_sent_stays_on_the_dlq(cloud: Cloud) -> None:
    from redrive import redriving

    queues = cloud.consumers["money-movement"]
    dies_on(cloud, "money-movement", PUSH)
    gone = f"{queues.queue}-deleted"

    tally = redriving.replay_consumer_dlq("money-movement", queues.dlq, gone, 3)

    assert tally == {"replayed": 0, "parked": 0, "needs_person": 0, "failed": 1}
    assert depth(cloud, queues.dlq) == (1, 0)
    (message,) = messages(cloud, queues.dlq)
    assert json.loads(message["Body"]) == PUSH and "MessageAttributes" not in message
