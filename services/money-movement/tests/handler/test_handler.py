"""The real handler against moto, a SQLite ledger and the payment provider emulator."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from payroll_platform.db.engine import dispose_engines, get_engine
from payroll_platform.db.ledger import commit_statements, payments_for
from payroll_platform.db.migrate import migrate
from payroll_platform.db.models import Employee, Employer
from payroll_platform.local.payment_emulator import PaymentEmulator
from payroll_shared import aws
from payroll_shared.contracts import CompletionNotice, DeadLetterRecord

REGION = "us-east-1"
PAY_RUN_ID = "pr-weekly-2025-01-03"
EMPLOYER_ID = "er-1"
EMPLOYEE_TABLE = "payroll-test-employee-status"
EMPLOYER_TABLE = "payroll-test-employer-status"


#: moto runs state machines only when told to.
EXECUTE = {"stepfunctions": {"execute_state_machine": True}}


def notice_definition(topic: str) -> dict[str, Any]:
    """The notice workflow as the stack defines it (its synthesized definition is run by
    the e2e tests; ``tests/infra`` checks the stack's)."""
    return {
        "StartAt": "PublishNotice",
        "States": {
            "PublishNotice": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": topic,
                    "Message.$": "$.message",
                    "MessageAttributes": {
                        "employer_id": {"DataType": "String", "StringValue.$": "$.employer_id"},
                        "status": {"DataType": "String", "StringValue.$": "$.status"},
                    },
                },
                "ResultPath": None,
                "End": True,
            }
        },
    }


@dataclass
class Cloud:
    dynamodb: Any
    sqs: Any
    own_dlq_url: str
    process_dlq_url: str
    notices_url: str
    notice_machine: str
    db: Engine
    emulator: PaymentEmulator


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cloud]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Payroll",
        "EMPLOYEE_STATUS_TABLE": EMPLOYEE_TABLE,
        "EMPLOYER_STATUS_TABLE": EMPLOYER_TABLE,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'payroll.sqlite'}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from money_movement import adapters

    # Short timeouts and no backoff sleep, so faults are tested in seconds.
    monkeypatch.setattr(
        adapters.PaymentClient,
        "from_environment",
        classmethod(
            lambda cls: cls(
                adapters.setting(adapters.Env.PAYMENT_API_URL),
                read_timeout=0.5,
                backoff_factor=0,
            )
        ),
    )
    with mock_aws(config=EXECUTE), PaymentEmulator(tmp_path / "payments.sqlite") as emulator:
        aws.reset_clients()
        monkeypatch.setenv("PAYMENT_API_URL", emulator.url)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for name, pk, sk in (
            (EMPLOYEE_TABLE, "pk", "employee_id"),
            (EMPLOYER_TABLE, "pay_run_id", "employer_id"),
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
        own = sqs.create_queue(QueueName="payroll-test-push-payment-dlq")["QueueUrl"]
        process = sqs.create_queue(QueueName="payroll-test-process-dlq")["QueueUrl"]
        notices = sqs.create_queue(QueueName="payroll-test-notices")["QueueUrl"]
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="payroll-test-completion")["TopicArn"]
        notices_arn = sqs.get_queue_attributes(QueueUrl=notices, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=notices_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        monkeypatch.setenv("OWN_DLQ_URL", own)
        monkeypatch.setenv("PROCESS_DLQ_URL", process)
        monkeypatch.setenv("COMPLETION_TOPIC_ARN", topic)
        machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="payroll-test-completion-notice",
            definition=json.dumps(notice_definition(topic)),
            roleArn="arn:aws:iam::123456789012:role/notice",
        )["stateMachineArn"]
        monkeypatch.setenv("NOTICE_STATE_MACHINE_ARN", machine)
        dispose_engines()
        db = get_engine()
        migrate(engine=db)
        yield Cloud(dynamodb, sqs, own, process, notices, machine, db, emulator)
        aws.reset_clients()
        dispose_engines()


class Context:
    function_name = "money-movement"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:money-movement"
    aws_request_id = "req-1"


def push_payment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": "2",
        "pay_run": {
            "pay_run_id": PAY_RUN_ID,
            "pay_schedule": "weekly",
            "period_start": "2024-12-28",
            "period_end": "2025-01-03",
            "pay_date": "2025-01-03",
        },
        "employer_id": EMPLOYER_ID,
        "statements": 3,
        "net_total": "300.03",
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


def run(body: dict[str, Any] | None = None) -> dict[str, Any]:
    from money_movement.handler import lambda_handler

    return lambda_handler(event(body or push_payment()), Context())  # type: ignore[arg-type]


def seed(
    cloud: Cloud, tokens: dict[str, str] | None = None, employee_status: str = "CALCULATED"
) -> None:
    """A COMMITTED employer of three employees with their statements in the ledger (the
    employees CALCULATED, as EmployerValidation leaves them)."""
    tokens = tokens or {f"e{i}": f"tok_e{i}" for i in range(3)}
    cloud.dynamodb.put_item(
        TableName=EMPLOYER_TABLE,
        Item={
            "pay_run_id": {"S": PAY_RUN_ID},
            "employer_id": {"S": EMPLOYER_ID},
            "status": {"S": "COMMITTED"},
            "updated_at": {"S": "2025-01-03T09:00:00+00:00"},
        },
    )
    with Session(cloud.db) as session, session.begin():
        session.add(
            Employer(employer_id=EMPLOYER_ID, name="Acme", pay_schedule="weekly", fein="**-***1")
        )
        for index, (employee_id, token) in enumerate(sorted(tokens.items())):
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
                    bank_account_token=token,
                    tax_id_token="tok_x",
                )
            )
            cloud.dynamodb.put_item(
                TableName=EMPLOYEE_TABLE,
                Item={
                    "pk": {"S": f"{PAY_RUN_ID}#{EMPLOYER_ID}"},
                    "employee_id": {"S": employee_id},
                    "status": {"S": employee_status},
                },
            )
            session.flush()
            commit_statements(session, [statement(employee_id, f"100.0{index}")])


def statement(employee_id: str, net_pay: str) -> dict[str, Any]:
    money = {
        "gross_pay": "150.00",
        "taxable_wages": "137.50",
        "federal_income_tax": "10.00",
        "social_security": "8.53",
        "medicare": "1.99",
        "additional_medicare": "0.00",
        "state_income_tax": "1.98",
        "retirement_deferral": "7.50",
        "employer_match": "3.75",
        "employer_social_security": "8.53",
        "employer_medicare": "1.99",
        "futa": "0.83",
        "section125": "5.00",
        "net_pay": net_pay,
    }
    return {
        "pay_run_id": PAY_RUN_ID,
        "employee_id": employee_id,
        "employer_id": EMPLOYER_ID,
        "pay_date": date(2025, 1, 3),
        "tax_year": 2025,
        "roth": False,
        **{key: Decimal(value) for key, value in money.items()},
    }


def drain(cloud: Cloud, url: str) -> list[dict[str, Any]]:
    if url == cloud.notices_url:
        settle_notices(cloud)
    messages: list[dict[str, Any]] = []
    while True:
        page = cloud.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not page:
            return messages
        messages.extend(page)


def settle_notices(cloud: Cloud, timeout_s: float = 10.0) -> None:
    """Wait until no notice workflow runs: a started notice is published by then."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout_s
    while sfn.list_executions(stateMachineArn=cloud.notice_machine, statusFilter="RUNNING")[
        "executions"
    ]:
        assert time.monotonic() < deadline, "a notice workflow is still running"
        time.sleep(0.02)


def notice_executions(cloud: Cloud) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    executions: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=cloud.notice_machine)[
        "executions"
    ]
    return executions


def status(cloud: Cloud, table: str, key: dict[str, Any]) -> str:
    return str(cloud.dynamodb.get_item(TableName=table, Key=key)["Item"]["status"]["S"])


def employer_state(cloud: Cloud) -> str:
    key = {"pay_run_id": {"S": PAY_RUN_ID}, "employer_id": {"S": EMPLOYER_ID}}
    return status(cloud, EMPLOYER_TABLE, key)


def employee_state(cloud: Cloud, employee_id: str) -> str:
    key = {"pk": {"S": f"{PAY_RUN_ID}#{EMPLOYER_ID}"}, "employee_id": {"S": employee_id}}
    return status(cloud, EMPLOYEE_TABLE, key)


def paid(cloud: Cloud) -> dict[str, str]:
    return {
        p["reference"]: p["amount"] for p in cloud.emulator.payments() if p["status"] == "accepted"
    }


EXPECTED = {f"{PAY_RUN_ID}/e{i}": f"100.0{i}" for i in range(3)}


def test_a_push_payment_delivered_twice_pays_each_employee_once_and_notifies_once(
    cloud: Cloud,
) -> None:
    seed(cloud)

    assert run() == {"batchItemFailures": []}
    assert run() == {"batchItemFailures": []}

    assert len(cloud.emulator.payments()) == 3
    assert paid(cloud) == EXPECTED
    assert employer_state(cloud) == "PAID"
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["PAID"] * 3
    (message,) = drain(cloud, cloud.notices_url)
    notice = CompletionNotice.model_validate_json(message["Body"])
    assert (notice.employees_paid, notice.net_total, notice.gross_total) == (
        3,
        Decimal("300.03"),
        Decimal("450.00"),
    )
    assert notice.employee_taxes_total == Decimal("67.50")
    assert notice.employer_taxes_total == Decimal("34.05")
    assert notice.employer_cost == Decimal("495.30")
    assert message["MessageAttributes"]["employer_id"]["StringValue"] == EMPLOYER_ID
    assert message["MessageAttributes"]["status"]["StringValue"] == "PAID"
    with Session(cloud.db) as session:
        rows = payments_for(session, PAY_RUN_ID)
        assert [(r.status, r.idempotency_key) for r in rows] == [
            ("ACCEPTED", f"{PAY_RUN_ID}:e{i}") for i in range(3)
        ]
        assert all(r.provider_payment_id for r in rows)


def test_the_delivery_that_moves_the_employer_to_paid_does_not_read_the_notice_record(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first delivery moved the employer: no notice can be on record, nothing is
    read; the redelivery (the employer PAID already) reads it and publishes nothing."""
    from money_movement import adapters

    seed(cloud)
    reads: list[str] = []
    real_notice_due = adapters.notice_due

    def notice_due(pay_run_id: str, employer_id: str) -> bool:
        reads.append(employer_id)
        return real_notice_due(pay_run_id, employer_id)

    monkeypatch.setattr(adapters, "notice_due", notice_due)
    assert run() == {"batchItemFailures": []}
    assert reads == []
    assert run() == {"batchItemFailures": []}
    assert reads == [EMPLOYER_ID]
    assert len(drain(cloud, cloud.notices_url)) == 1


def test_the_rows_are_written_per_employer_and_a_stop_before_the_answers_pays_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every PENDING row in one transaction before any payment, every answer in one
    after the last; a delivery that stops between them (payments sent, their rows
    PENDING) is redelivered, sends the same keys, and nobody is paid twice."""
    from money_movement import adapters

    seed(cloud)
    original = adapters.record_payments
    calls: list[list[tuple[str, str]]] = []

    def recording(rows):
        calls.append([(row[0].employee_id, row[1]) for row in rows])
        if len(calls) == 2:
            raise ConnectionError("the function stopped before the answers were recorded")
        original(rows)

    monkeypatch.setattr(adapters, "record_payments", recording)
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError, match="stopped before the answers"):
        run()
    assert calls == [[(f"e{i}", "PENDING") for i in range(3)],
                     [(f"e{i}", "ACCEPTED") for i in range(3)]]  # fmt: skip
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["CALCULATED"] * 3

    calls.clear()
    monkeypatch.setattr(adapters, "record_payments", original)
    assert run() == {"batchItemFailures": []}
    assert len(cloud.emulator.payments()) == 3  # the same keys: replayed, not paid again
    assert paid(cloud) == EXPECTED
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["PAID"] * 3
    with Session(cloud.db) as session:
        assert [r.status for r in payments_for(session, PAY_RUN_ID)] == ["ACCEPTED"] * 3


def test_employees_a_former_version_moved_to_committed_are_paid_too(cloud: Cloud) -> None:
    seed(cloud, employee_status="COMMITTED")

    assert run() == {"batchItemFailures": []}

    assert paid(cloud) == EXPECTED
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["PAID"] * 3
    assert employer_state(cloud) == "PAID"


def test_a_notice_lost_after_the_paid_move_is_published_by_the_redelivery(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The function stops between EmployerStatus PAID and the publish (a crash, Step
    Functions unavailable): the next delivery pays nobody again and publishes once."""
    from money_movement import adapters

    seed(cloud)
    real_publish = adapters.publish_notice

    def unavailable(notice: Any) -> None:
        raise ConnectionError("Step Functions unreachable")

    monkeypatch.setattr(adapters, "publish_notice", unavailable)
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError, match="unreachable"):
        run()
    assert employer_state(cloud) == "PAID"
    assert drain(cloud, cloud.notices_url) == []

    monkeypatch.setattr(adapters, "publish_notice", real_publish)
    assert run() == {"batchItemFailures": []}
    assert run() == {"batchItemFailures": []}  # and once more: nothing more

    assert paid(cloud) == EXPECTED
    assert len(cloud.emulator.payments()) == 3
    (message,) = drain(cloud, cloud.notices_url)
    assert CompletionNotice.model_validate_json(message["Body"]).employees_paid == 3


def run_killed_before_the_record(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, settled: bool
) -> None:
    """One delivery that starts the notice and dies before ``mark_notice_published``
    (after the notice workflow ended if ``settled``, else while it may still run)."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
    from money_movement import adapters

    def killed(pay_run_id: str, employer_id: str) -> bool:
        if settled:
            settle_notices(cloud)
        raise ConnectionError("killed before the record")

    with monkeypatch.context() as patched:
        patched.setattr(adapters, "mark_notice_published", killed)
        with pytest.raises(BatchProcessingError, match="killed before the record"):
            run()


@pytest.mark.parametrize("settled", [True, False], ids=["after-it-ran", "while-it-runs"])
def test_a_delivery_that_died_after_publishing_is_not_published_again(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, settled: bool
) -> None:
    """The function started the notice and died before recording it (the window a
    chaos run found): the redelivery, whether the workflow has finished or still runs,
    starts the same name and publishes nothing more."""
    seed(cloud)
    run_killed_before_the_record(cloud, monkeypatch, settled)
    assert run() == {"batchItemFailures": []}
    assert run() == {"batchItemFailures": []}

    (message,) = drain(cloud, cloud.notices_url)
    assert CompletionNotice.model_validate_json(message["Body"]).employer_id == EMPLOYER_ID
    (execution,) = notice_executions(cloud)
    assert execution["name"] == f"{PAY_RUN_ID}.{EMPLOYER_ID}"
    assert execution["status"] == "SUCCEEDED"
    assert paid(cloud) == EXPECTED


def test_a_notice_workflow_that_failed_is_not_taken_for_published(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workflow ran under the name and failed (SNS refused the notice): the next
    delivery must not count it as published; it fails and comes back for a person."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    seed(cloud)
    boto3.client("sns", region_name=REGION).delete_topic(
        TopicArn=os.environ["COMPLETION_TOPIC_ARN"]
    )
    run_killed_before_the_record(cloud, monkeypatch, settled=True)
    with pytest.raises(BatchProcessingError, match="ended FAILED"):
        run()
    assert employer_state(cloud) == "PAID"


def test_a_long_or_odd_employer_id_gets_a_valid_execution_name() -> None:
    from money_movement.adapters import notice_execution_name

    assert notice_execution_name("pr-weekly-2025-01-03", "er-1") == "pr-weekly-2025-01-03.er-1"
    odd = notice_execution_name("pr-weekly-2025-01-03", "acme: east/west #1")
    long = notice_execution_name("pr-weekly-2025-01-03", "x" * 80)
    for name in (odd, long):
        assert name.startswith("notice-") and len(name) <= 80
    assert odd != long
    assert odd == notice_execution_name("pr-weekly-2025-01-03", "acme: east/west #1")


def test_a_500_then_success_pays_once(cloud: Cloud) -> None:
    seed(cloud)
    cloud.emulator.set_faults(script=["error_500", "ok", "error_500"])

    assert run() == {"batchItemFailures": []}

    assert paid(cloud) == EXPECTED
    assert len(cloud.emulator.payments()) == 3
    assert employer_state(cloud) == "PAID"


def test_accepted_then_timed_out_is_paid_once(cloud: Cloud) -> None:
    seed(cloud)
    # The first payment is recorded, then the answer comes after the client gave up;
    # the retry (same key) is answered from the provider's idempotency store.
    cloud.emulator.set_faults(script=["accept_then_timeout"], delay_s=1.5)

    assert run() == {"batchItemFailures": []}

    assert paid(cloud) == EXPECTED
    assert len(cloud.emulator.payments()) == 3
    assert len(drain(cloud, cloud.notices_url)) == 1


def test_an_unavailable_api_fails_the_message_and_the_retry_pays_once(cloud: Cloud) -> None:
    seed(cloud)
    # Every request of the first delivery (3 employees x 4 attempts, in any order, as
    # they are paid a few at once) is accepted and answered 500.
    cloud.emulator.set_faults(script=["accept_then_500"] * 12)

    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError, match="unavailable"):
        run()
    assert employer_state(cloud) == "COMMITTED"
    assert drain(cloud, cloud.notices_url) == []

    assert run() == {"batchItemFailures": []}
    assert paid(cloud) == EXPECTED
    assert len(cloud.emulator.payments()) == 3
    assert len(drain(cloud, cloud.notices_url)) == 1


def test_an_invalid_account_is_dead_lettered_and_nobody_else_is_affected(cloud: Cloud) -> None:
    seed(cloud, {"e0": "tok_e0", "e1": "tok_invalid_closed", "e2": "tok_e2"})

    assert run() == {"batchItemFailures": []}

    assert paid(cloud) == {k: v for k, v in EXPECTED.items() if not k.endswith("e1")}
    (message,) = drain(cloud, cloud.process_dlq_url)
    record = DeadLetterRecord.model_validate_json(message["Body"])
    assert (record.employee_id, record.source.value, record.error.code) == (
        "e1",
        "payment",
        "account_invalid",
    )
    assert record.error.message
    assert employer_state(cloud) == "COMMITTED"
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["PAID", "CALCULATED", "PAID"]
    assert drain(cloud, cloud.notices_url) == []
    with Session(cloud.db) as session:
        rejected = payments_for(session, PAY_RUN_ID, ["e1"])[0]
        assert rejected.status == "REJECTED"
        assert rejected.reason and rejected.reason.startswith("account_invalid")


def test_statements_not_in_the_ledger_yet_retry_the_message(cloud: Cloud) -> None:
    seed(cloud)
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError, match="ledger holds 3"):
        run(push_payment(statements=4))
    assert cloud.emulator.payments() == []


def test_a_malformed_push_payment_goes_to_its_dlq(cloud: Cloud) -> None:
    result = run(push_payment(net_total=12.5))

    assert result == {"batchItemFailures": []}
    (message,) = drain(cloud, cloud.own_dlq_url)
    assert message["MessageAttributes"]["error_field"]["StringValue"] == "net_total"


# ------------------------------------------- a refused payment, corrected and redriven


def dead_letters(cloud: Cloud) -> list[DeadLetterRecord]:
    return [
        DeadLetterRecord.model_validate_json(m["Body"]) for m in drain(cloud, cloud.process_dlq_url)
    ]


def correct_account(cloud: Cloud, employee_id: str, token: str) -> None:
    with Session(cloud.db) as session, session.begin():
        employee = session.get(Employee, employee_id)
        assert employee is not None
        employee.bank_account_token = token


def redrive(record: DeadLetterRecord) -> dict[str, Any]:
    """What the redrive service sends: the record's PushPayment at the next attempt."""
    return {**record.payload["push_payment"], "payment_attempt": record.attempts + 1}


def emulator_payments_of(cloud: Cloud, employee_id: str) -> list[tuple[str, str, str]]:
    return [
        (p["idempotency_key"], p["status"], p["account_token"])
        for p in cloud.emulator.payments()
        if p["reference"] == f"{PAY_RUN_ID}/{employee_id}"
    ]


def test_a_refused_payment_is_paid_once_on_redrive_after_the_account_is_corrected(
    cloud: Cloud,
) -> None:
    seed(cloud, {"e0": "tok_e0", "e1": "tok_invalid_closed", "e2": "tok_e2"})

    # The first delivery: e1's account is refused and dead-lettered at attempt 1.
    assert run() == {"batchItemFailures": []}
    (record,) = dead_letters(cloud)
    assert (record.record_id, record.employee_id, record.attempts) == (
        f"{PAY_RUN_ID}/{EMPLOYER_ID}/e1/payment",
        "e1",
        1,
    )
    assert record.payload["push_payment"] == push_payment(payment_attempt=1)
    assert record.payload["account_sha256"] == hashlib.sha256(b"tok_invalid_closed").hexdigest()
    assert "tok_invalid_closed" not in json.dumps(record.payload)
    assert len(cloud.emulator.payments()) == 3

    # A plain redelivery: nobody paid, no second dead letter, nothing published.
    assert run() == {"batchItemFailures": []}
    assert len(cloud.emulator.payments()) == 3
    assert dead_letters(cloud) == []
    assert drain(cloud, cloud.notices_url) == []
    assert employer_state(cloud) == "COMMITTED"

    # A person corrects the account; the redrive sends attempt 2.
    correct_account(cloud, "e1", "tok_e1_corrected")
    assert redrive(record)["payment_attempt"] == 2
    assert run(redrive(record)) == {"batchItemFailures": []}

    assert emulator_payments_of(cloud, "e1") == [
        (f"{PAY_RUN_ID}:e1", "rejected", "tok_invalid_closed"),
        (f"{PAY_RUN_ID}:e1:a2", "accepted", "tok_e1_corrected"),
    ]
    for other in ("e0", "e2"):
        assert emulator_payments_of(cloud, other) == [
            (f"{PAY_RUN_ID}:{other}", "accepted", f"tok_{other}")
        ]
    assert paid(cloud) == EXPECTED
    assert cloud.emulator.totals_by_reference() == {k: Decimal(v) for k, v in EXPECTED.items()}
    assert employer_state(cloud) == "PAID"
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["PAID"] * 3
    assert dead_letters(cloud) == []
    (message,) = drain(cloud, cloud.notices_url)
    notice = CompletionNotice.model_validate_json(message["Body"])
    assert (notice.employees_paid, notice.net_total) == (3, Decimal("300.03"))
    with Session(cloud.db) as session:
        rows = payments_for(session, PAY_RUN_ID)
        assert [(r.employee_id, r.status, r.idempotency_key) for r in rows] == [
            ("e0", "ACCEPTED", f"{PAY_RUN_ID}:e0"),
            ("e1", "ACCEPTED", f"{PAY_RUN_ID}:e1:a2"),
            ("e2", "ACCEPTED", f"{PAY_RUN_ID}:e2"),
        ]
        e1 = rows[1]
        assert e1.reason is None
        assert e1.provider_payment_id == next(
            p["payment_id"]
            for p in cloud.emulator.payments()
            if p["idempotency_key"] == f"{PAY_RUN_ID}:e1:a2"
        )

    # The redrive delivered again, or the first PushPayment again: nothing at all.
    for body in (redrive(record), push_payment()):
        assert run(body) == {"batchItemFailures": []}
    assert len(cloud.emulator.payments()) == 4
    assert dead_letters(cloud) == []
    assert drain(cloud, cloud.notices_url) == []
    assert employer_state(cloud) == "PAID"


def test_a_redrive_before_the_correction_is_refused_again_at_its_attempt(cloud: Cloud) -> None:
    seed(cloud, {"e0": "tok_e0", "e1": "tok_invalid_closed", "e2": "tok_e2"})
    assert run() == {"batchItemFailures": []}
    (first,) = dead_letters(cloud)

    # Redriven without correcting the account: refused again, under the new key.
    assert run(redrive(first)) == {"batchItemFailures": []}
    (second,) = dead_letters(cloud)
    assert (second.record_id, second.attempts) == (first.record_id, 2)
    assert second.payload["push_payment"] == push_payment(payment_attempt=2)
    assert second.payload["account_sha256"] == first.payload["account_sha256"]
    assert [key for key, _, _ in emulator_payments_of(cloud, "e1")] == [
        f"{PAY_RUN_ID}:e1",
        f"{PAY_RUN_ID}:e1:a2",
    ]
    # Attempt 2 delivered again: skipped, not dead-lettered a third time.
    assert run(redrive(first)) == {"batchItemFailures": []}
    assert dead_letters(cloud) == []
    assert len(cloud.emulator.payments()) == 4
    assert employer_state(cloud) == "COMMITTED"
    assert drain(cloud, cloud.notices_url) == []

    correct_account(cloud, "e1", "tok_e1_corrected")
    assert run(redrive(second)) == {"batchItemFailures": []}
    assert emulator_payments_of(cloud, "e1")[-1] == (
        f"{PAY_RUN_ID}:e1:a3",
        "accepted",
        "tok_e1_corrected",
    )
    assert paid(cloud) == EXPECTED
    assert employer_state(cloud) == "PAID"
    assert len(drain(cloud, cloud.notices_url)) == 1


def test_an_accepted_payment_is_never_sent_again_on_a_redrive(cloud: Cloud) -> None:
    seed(cloud)
    assert run() == {"batchItemFailures": []}
    assert len(drain(cloud, cloud.notices_url)) == 1
    # As if the function had stopped after the provider accepted e0, before PAID.
    cloud.dynamodb.put_item(
        TableName=EMPLOYEE_TABLE,
        Item={
            "pk": {"S": f"{PAY_RUN_ID}#{EMPLOYER_ID}"},
            "employee_id": {"S": "e0"},
            "status": {"S": "CALCULATED"},
        },
    )

    assert run(push_payment(payment_attempt=2)) == {"batchItemFailures": []}

    assert len(cloud.emulator.payments()) == 3
    assert paid(cloud) == EXPECTED
    assert employee_state(cloud, "e0") == "PAID"
    assert dead_letters(cloud) == []
    assert drain(cloud, cloud.notices_url) == []


def calls_of(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record each status write MoneyMovement sends: (operation, items it moves). The
    handler's client is ``aws.client``'s one cached client."""
    client = aws.client("dynamodb")
    calls: list[tuple[str, int]] = []
    for name in ("transact_write_items", "update_item"):
        original = getattr(client, name)

        def call(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            items = kwargs.get("TransactItems")
            table = kwargs.get("TableName") or items[0]["Update"]["TableName"]
            if table == EMPLOYEE_TABLE:
                calls.append((_name, len(items) if items else 1))
            return _original(*args, **kwargs)

        monkeypatch.setattr(client, name, call)
    return calls


def test_the_paid_moves_go_in_transactions_of_a_hundred(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(cloud)
    from money_movement import adapters

    calls = calls_of(cloud, monkeypatch)
    assert run() == {"batchItemFailures": []}
    assert calls == [("transact_write_items", 3)]
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["PAID"] * 3

    # 250 moves: transactions of 100, 100 and 50, each item conditioned on its own.
    for index in range(3, 250):
        cloud.dynamodb.put_item(
            TableName=EMPLOYEE_TABLE,
            Item={
                "pk": {"S": f"{PAY_RUN_ID}#{EMPLOYER_ID}"},
                "employee_id": {"S": f"e{index}"},
                "status": {"S": "CALCULATED" if index % 2 else "COMMITTED"},
            },
        )
    calls.clear()
    ids = [f"e{i}" for i in range(3, 253)]
    moved = adapters.mark_employees_paid(PAY_RUN_ID, EMPLOYER_ID, ids)
    # e250-e252 have no item: the batch of 50 is cancelled and moved one at a time.
    assert moved == [True] * 247 + [False] * 3
    assert calls[:3] == [("transact_write_items", 100)] * 2 + [("transact_write_items", 50)]
    assert calls[3:] == [("update_item", 1)] * 50
    assert {employee_state(cloud, f"e{i}") for i in range(3, 250)} == {"PAID"}

    # One move is a plain UpdateItem; a move of a PAID employee does not move it.
    calls.clear()
    assert adapters.mark_employees_paid(PAY_RUN_ID, EMPLOYER_ID, ["e3"]) == [False]
    assert calls == [("update_item", 1)]


def test_a_transaction_lost_to_another_delivery_moves_the_rest_one_by_one(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another delivery moved e1 to PAID after this one read the states: this
    delivery's transaction is cancelled, e0 and e2 are still moved, nobody is paid
    twice and one notice goes out."""
    seed(cloud)
    from money_movement import adapters

    original = adapters.read_employee_states

    def read_then_lose_e1(pay_run_id: str, employer_id: str) -> dict[str, str]:
        states = original(pay_run_id, employer_id)
        cloud.dynamodb.update_item(
            TableName=EMPLOYEE_TABLE,
            Key={"pk": {"S": f"{PAY_RUN_ID}#{EMPLOYER_ID}"}, "employee_id": {"S": "e1"}},
            UpdateExpression="SET #s = :paid",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":paid": {"S": "PAID"}},
        )
        return states

    monkeypatch.setattr(adapters, "read_employee_states", read_then_lose_e1)
    calls = calls_of(cloud, monkeypatch)
    assert run() == {"batchItemFailures": []}
    assert calls == [("transact_write_items", 3)] + [("update_item", 1)] * 3
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["PAID"] * 3
    assert paid(cloud) == EXPECTED
    assert len(cloud.emulator.payments()) == 3
    assert employer_state(cloud) == "PAID"
    assert len(drain(cloud, cloud.notices_url)) == 1


def test_a_failed_paid_transaction_is_retried_by_the_redelivery_without_paying_again(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB refuses the PAID transaction (throttled) after every payment was
    accepted: the message fails, nobody is PAID, and its redelivery moves everyone to
    PAID without sending a payment again."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
    from botocore.exceptions import ClientError

    seed(cloud)
    client = aws.client("dynamodb")

    def throttled(**kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
            "TransactWriteItems",
        )

    with monkeypatch.context() as patched:
        patched.setattr(client, "transact_write_items", throttled)
        with pytest.raises(BatchProcessingError, match="ThrottlingException"):
            run()
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["CALCULATED"] * 3
    assert paid(cloud) == EXPECTED
    assert employer_state(cloud) == "COMMITTED"

    assert run() == {"batchItemFailures": []}
    assert [employee_state(cloud, f"e{i}") for i in range(3)] == ["PAID"] * 3
    assert len(cloud.emulator.payments()) == 3
    assert paid(cloud) == EXPECTED
    assert employer_state(cloud) == "PAID"
    assert len(drain(cloud, cloud.notices_url)) == 1
