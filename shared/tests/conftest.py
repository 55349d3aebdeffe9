import boto3
import pytest
import pytest_socket
from moto import mock_aws

from payroll_shared import aws


def pytest_runtest_setup():
    # Unit tests have no network.
    pytest_socket.disable_socket(allow_unix_socket=True)


@pytest.fixture
def tables(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("EMPLOYEE_STATUS_TABLE", "employee-status")
    monkeypatch.setenv("PAYRUN_BUCKET", "pay-runs")
    with mock_aws():
        aws.reset_clients()
        boto3.client("s3").create_bucket(Bucket="pay-runs")
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="employee-status",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "employee_id", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "employee_id", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(
            TableName="employee-status",
            Item={
                "pk": {"S": "pr-biweekly-2026-11-27#er1"},
                "employee_id": {"S": "e1"},
                "status": {"S": "BEGIN"},
            },
        )
        yield dynamodb
        aws.reset_clients()
