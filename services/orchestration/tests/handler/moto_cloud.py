"""A moto cloud and a seeded SQLite database for the orchestration handlers (fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from payroll_shared import aws

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "payroll-test-pay-runs"
EMPLOYER_STATUS = "payroll-test-employer-status"
EMPLOYEE_STATUS = "payroll-test-employee-status"
#: A Friday: weekly and biweekly employers are due on it.
PAY_DATE = date(2026, 3, 13)
STATE_MACHINE_NAME = "payroll-test-pay-run"


@dataclass
class Cloud:
    s3: Any
    dynamodb: Any
    sqs: Any
    sfn: Any
    dlq_url: str
    state_machine_arn: str
    env: dict[str, str] = field(default_factory=dict)

    def employee_rows(self, pk: str) -> dict[str, dict[str, Any]]:
        items = self.dynamodb.query(
            TableName=EMPLOYEE_STATUS,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )["Items"]
        return {item["employee_id"]["S"]: item for item in items}

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])

    def s3_json(self, key: str) -> Any:
        import json

        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def create_tables(dynamodb: Any) -> None:
    for name, pk, sk in (
        (EMPLOYEE_STATUS, "pk", "employee_id"),
        (EMPLOYER_STATUS, "pay_run_id", "employer_id"),
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


def role_arn(iam: Any) -> str:
    return str(
        iam.create_role(
            RoleName="payroll-test-role",
            AssumeRolePolicyDocument="{}",
        )["Role"]["Arn"]
    )


@pytest.fixture
def cloud_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Payroll",
        "PAYRUN_BUCKET": BUCKET,
        "EMPLOYEE_STATUS_TABLE": EMPLOYEE_STATUS,
        "EMPLOYER_STATUS_TABLE": EMPLOYER_STATUS,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "DB_PROXY_ENDPOINT", "CHUNK_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return env


@pytest.fixture
def cloud(cloud_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    with mock_aws():
        aws.reset_clients()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tables(dynamodb)
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="payroll-test-orchestration-dlq")["QueueUrl"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        # GetEmployers only starts it: a do-nothing definition is enough here.
        machine = sfn.create_state_machine(
            name=STATE_MACHINE_NAME,
            definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
            roleArn=role_arn(boto3.client("iam", region_name=REGION)),
            type="STANDARD",
        )
        monkeypatch.setenv("ORCHESTRATION_DLQ_URL", dlq_url)
        monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
        yield Cloud(s3, dynamodb, sqs, sfn, dlq_url, machine["stateMachineArn"], cloud_env)
        aws.reset_clients()


@dataclass(frozen=True)
class Database:
    url: str
    employer_ids: tuple[str, ...]
    employers_by_schedule: dict[str, list[str]]
    employees_by_employer: dict[str, list[str]]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A migrated SQLite file with the demo seed (small), as DATABASE_URL."""
    pytest.importorskip(
        "payroll_platform.db.repository",
        reason="payroll_platform.db (the relational layer) is not installed",
    )
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from payroll_platform.db.engine import dispose_engines, make_engine
    from payroll_platform.db.migrate import migrate
    from payroll_platform.db.models import Employee, Employer
    from payroll_platform.db.seed import seed

    url = f"sqlite:///{tmp_path / 'payroll.sqlite'}"
    engine = make_engine(url)
    migrate(engine=engine)
    summary = seed(engine, employers=6, employees=40, pay_date=PAY_DATE)
    with Session(engine) as session:
        by_schedule: dict[str, list[str]] = {}
        for employer in session.scalars(select(Employer).order_by(Employer.employer_id)):
            by_schedule.setdefault(employer.pay_schedule, []).append(employer.employer_id)
        by_employer: dict[str, list[str]] = {}
        for employee in session.scalars(
            select(Employee).where(Employee.active.is_(True)).order_by(Employee.employee_id)
        ):
            by_employer.setdefault(employee.employer_id, []).append(employee.employee_id)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    yield Database(url, summary.employer_ids, by_schedule, by_employer)
    dispose_engines()


class Context:
    function_name = "orchestration-test"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orchestration-test"
    aws_request_id = "req-1"
