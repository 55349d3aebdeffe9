"""The real handler against moto and a SQLite ledger.

EmployeeStatus in; ledger statements, PushPayment, DLQ records and EmployerStatus out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from payroll_platform.db.engine import dispose_engines, get_engine
from payroll_platform.db.ledger import statements_for
from payroll_platform.db.migrate import migrate
from payroll_platform.db.models import Employee, Employer
from payroll_shared import aws
from payroll_shared.contracts import (
    RESULTS_ATTRIBUTE,
    DeadLetterRecord,
    PushPayment,
    pack_results,
)

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
    push_payment_url: str
    db: Engine


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cloud]:
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
        push = sqs.create_queue(QueueName="payroll-test-push-payment")["QueueUrl"]
        monkeypatch.setenv("PROCESS_DLQ_URL", process_dlq)
        monkeypatch.setenv("OWN_DLQ_URL", own_dlq)
        monkeypatch.setenv("PUSH_PAYMENT_QUEUE_URL", push)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'payroll.sqlite'}")
        dispose_engines()
        db = get_engine()
        migrate(engine=db)
        with Session(db) as session, session.begin():
            session.add(
                Employer(
                    employer_id=EMPLOYER_ID, name="Acme", pay_schedule="weekly", fein="**-***1"
                )
            )
        yield Cloud(dynamodb, sqs, process_dlq, own_dlq, push, db)
        aws.reset_clients()
        dispose_engines()


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


def results(net_pay: str = "100.00") -> dict[str, dict[str, Any]]:
    """The three step results a CALCULATED employee carries, by step."""
    return {
        "payroll_calc": {"regular_pay": "150.00", "gross_pay": "150.00", "section125": "5.00"},
        "retirement_calc": {"deferral": "7.50", "roth": False, "employer_match": "3.75"},
        "tax_calc": {
            "taxable_wages": "137.50",
            "federal_income_tax": "10.00",
            "social_security": "8.53",
            "medicare": "1.99",
            "state_income_tax": "1.98",
            "employer_social_security": "8.53",
            "employer_medicare": "1.99",
            "futa": "0.83",
            "net_pay": net_pay,
        },
    }


def seed_employee(
    cloud: Cloud,
    employee_id: str,
    status: str,
    packed: dict[str, Any] | None = None,
    **extra: str,
) -> None:
    """An EmployeeStatus item; a CALCULATED one holds ``packed`` (default ``results()``)
    as the steps store them (``pack_results``); ``extra`` string attributes added."""
    item = {
        "pk": {"S": f"{PAY_RUN_ID}#{EMPLOYER_ID}"},
        "employee_id": {"S": employee_id},
        "pay_run_id": {"S": PAY_RUN_ID},
        "employer_id": {"S": EMPLOYER_ID},
        "status": {"S": status},
        "attempts": {"N": "1"},
        "updated_at": {"S": "2025-01-03T10:00:00+00:00"},
    }
    if status == "CALCULATED":
        stored = results() if packed is None else packed
        if stored:
            item[RESULTS_ATTRIBUTE] = {"B": pack_results(stored)}
    item.update({key: {"S": value} for key, value in extra.items()})
    cloud.dynamodb.put_item(TableName="payroll-test-employee-status", Item=item)
    with Session(cloud.db) as session, session.begin():
        session.add(
            Employee(
                employee_id=employee_id,
                employer_id=EMPLOYER_ID,
                first_name="Ada",
                last_name="Lovelace",
                birth_date=date(1990, 12, 10),
                hire_date=date(2020, 1, 6),
                pay_type="hourly",
                pay_frequency="weekly",
                hourly_rate=Decimal("15.0000"),
                work_state="PA",
                w4={"form_year": 2024, "filing_status": "single"},
                bank_account_token=f"tok_{employee_id}",
                tax_id_token="tok_x",
            )
        )


def employee_states(cloud: Cloud) -> dict[str, str]:
    items = cloud.dynamodb.query(
        TableName="payroll-test-employee-status",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{PAY_RUN_ID}#{EMPLOYER_ID}"}},
    )["Items"]
    return {i["employee_id"]["S"]: i["status"]["S"] for i in items}


def ledger(cloud: Cloud) -> list[tuple[str, Decimal]]:
    with Session(cloud.db) as session:
        return [
            (s.employee_id, s.net_pay) for s in statements_for(session, PAY_RUN_ID, EMPLOYER_ID)
        ]


def push_payments(cloud: Cloud) -> list[PushPayment]:
    return [
        PushPayment.model_validate_json(m["Body"]) for m in drain(cloud, cloud.push_payment_url)
    ]


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


def test_all_calculated_commits_the_statements_once_and_queues_one_push_payment(
    cloud: Cloud,
) -> None:
    seed_employer(cloud)
    for index in range(3):
        seed_employee(cloud, f"e{index}", "CALCULATED")

    assert run(json.dumps(completion(3))) == {"batchItemFailures": []}

    status = employer_status(cloud)
    assert (status["status"], status["employees"], status["failed"]) == ("COMMITTED", "3", "0")
    # The commit is the ledger's and the employer's: nobody is written per employee, and
    # each stays CALCULATED until MoneyMovement pays it.
    assert employee_states(cloud) == {"e0": "CALCULATED", "e1": "CALCULATED", "e2": "CALCULATED"}
    assert ledger(cloud) == [(f"e{i}", Decimal("100.00")) for i in range(3)]
    with Session(cloud.db) as session:
        (first, *_) = statements_for(session, PAY_RUN_ID, EMPLOYER_ID)
        assert (first.gross_pay, first.section125, first.retirement_deferral) == (
            Decimal("150.00"),
            Decimal("5.00"),
            Decimal("7.50"),
        )
        assert (first.futa, first.employer_match, first.tax_year) == (
            Decimal("0.83"),
            Decimal("3.75"),
            2025,
        )
    (push,) = push_payments(cloud)
    assert (push.pay_run.pay_run_id, push.employer_id, push.statements, push.net_total) == (
        PAY_RUN_ID,
        EMPLOYER_ID,
        3,
        Decimal("300.00"),
    )
    assert drain(cloud, cloud.process_dlq_url) == []


def test_a_former_versions_result_strings_are_committed_too(cloud: Cloud) -> None:
    """An employee calculated by a version that stored ``result_<step>`` strings."""
    seed_employer(cloud)
    legacy = {f"result_{step}": json.dumps(result) for step, result in results("42.00").items()}
    seed_employee(cloud, "e0", "CALCULATED", packed={}, **legacy)

    assert run(json.dumps(completion(1))) == {"batchItemFailures": []}

    assert ledger(cloud) == [("e0", Decimal("42.00"))]


def test_a_redelivery_commits_nothing_twice_and_queues_the_payment_again(cloud: Cloud) -> None:
    seed_employer(cloud)
    for index in range(2):
        seed_employee(cloud, f"e{index}", "CALCULATED")

    assert run(json.dumps(completion(2))) == {"batchItemFailures": []}
    assert run(json.dumps(completion(2))) == {"batchItemFailures": []}

    # The second delivery offers both statements again; the ledger keeps the first.
    assert ledger(cloud) == [("e0", Decimal("100.00")), ("e1", Decimal("100.00"))]
    assert employer_status(cloud)["status"] == "COMMITTED"
    # Not PAID yet: each delivery queues it; MoneyMovement pays each employee once.
    assert [(p.statements, p.net_total) for p in push_payments(cloud)] == [
        (2, Decimal("200.00")),
        (2, Decimal("200.00")),
    ]


def test_a_crash_after_the_commit_is_finished_by_the_redelivery(cloud: Cloud) -> None:
    """Ledger committed, then the function died before the employer moved."""
    from employer_validation import adapters

    seed_employer(cloud)
    for index in range(2):
        seed_employee(cloud, f"e{index}", "CALCULATED")
    original = adapters.move_employer
    adapters.move_employer = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("died"))  # type: ignore[assignment]
    try:
        with pytest.raises(BatchProcessingError):
            run(json.dumps(completion(2)))
    finally:
        adapters.move_employer = original
    assert employer_status(cloud)["status"] == "BEGIN"
    assert push_payments(cloud) == []

    assert run(json.dumps(completion(2))) == {"batchItemFailures": []}

    assert len(ledger(cloud)) == 2
    assert employer_status(cloud)["status"] == "COMMITTED"
    assert [p.statements for p in push_payments(cloud)] == [2]


def test_a_paid_employer_is_not_queued_again(cloud: Cloud) -> None:
    seed_employer(cloud, status="PAID")
    seed_employee(cloud, "e1", "PAID")

    assert run(json.dumps(completion(1))) == {"batchItemFailures": []}

    assert employer_status(cloud)["status"] == "PAID"
    assert push_payments(cloud) == []


def test_a_calculated_employee_without_results_retries_the_message(cloud: Cloud) -> None:
    seed_employer(cloud)
    seed_employee(cloud, "e1", "CALCULATED", packed={**results(), "tax_calc": {"net_pay": "1.00"}})

    with pytest.raises(BatchProcessingError, match="e1"):
        run(json.dumps(completion(1)))

    assert ledger(cloud) == []
    assert employer_status(cloud)["status"] == "BEGIN"
    assert push_payments(cloud) == []


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


@pytest.mark.parametrize("employee", ["CALCULATED", "COMMITTED"])
def test_a_late_duplicate_does_not_move_the_employer_back(cloud: Cloud, employee: str) -> None:
    # COMMITTED: an item a former version moved per employee still counts as calculated.
    seed_employer(cloud, status="COMMITTED")
    seed_employee(cloud, "e1", employee)

    assert run(json.dumps(completion(1))) == {"batchItemFailures": []}
    assert employer_status(cloud)["status"] == "COMMITTED"
    assert employee_states(cloud) == {"e1": employee}


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
    assert employer_status(cloud)["status"] == "COMMITTED"


def test_paged_read_sees_every_employee(cloud: Cloud) -> None:
    seed_employer(cloud)
    padding = "p" * 40_000  # about 40 KB per item: 1 MB query pages hold ~25 items
    for index in range(60):
        seed_employee(cloud, f"e{index:03}", "CALCULATED", padding=padding)

    assert run(json.dumps(completion(60))) == {"batchItemFailures": []}
    assert employer_status(cloud)["employees"] == "60"
    assert len(ledger(cloud)) == 60
    assert [p.statements for p in push_payments(cloud)] == [60]
