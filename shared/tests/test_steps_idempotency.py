"""run_step against moto: one outcome per (pay run, employee, step), however often it runs."""

import json

import boto3
import pytest
from moto import mock_aws

from payroll_shared import aws, steps
from payroll_shared.contracts import TimeEntryRequest, TimeEntryResult
from payroll_shared.observability import powertools

from .factories import employee_record, step_request

logger, _, _ = powertools("test")


@pytest.fixture
def tables(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("EMPLOYEE_STATUS_TABLE", "employee-status")
    with mock_aws():
        aws.reset_clients()
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


def test_a_redelivered_step_returns_the_first_outcome(tables, monkeypatch):
    answers = []
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    calls = []

    def compute(record, results, context):
        calls.append(record.employee_id)
        return TimeEntryResult(regular_hours=str(70 + len(calls)))  # differs on every call

    request = TimeEntryRequest.model_validate(step_request("time_entry"))
    first = steps.run_step(request, compute, logger)
    second = steps.run_step(request, compute, logger)  # the same message, delivered again
    assert calls == ["e1"]
    assert first == second
    assert [a.outcomes[0].result["regular_hours"] for a in answers] == ["71", "71"]
    item = tables.get_item(
        TableName="employee-status",
        Key={"pk": {"S": "pr-biweekly-2026-11-27#er1"}, "employee_id": {"S": "e1"}},
    )["Item"]
    assert item["status"]["S"] == "TIME_ENTERED"
    assert json.loads(item["result_time_entry"]["S"])["regular_hours"] == "71"


def test_a_status_never_moves_back(tables, monkeypatch):
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: True)
    tables.put_item(
        TableName="employee-status",
        Item={
            "pk": {"S": "pr-biweekly-2026-11-27#er1"},
            "employee_id": {"S": "e1"},
            "status": {"S": "CALCULATED"},
        },
    )
    request = TimeEntryRequest.model_validate(step_request("time_entry"))
    steps.run_step(request, lambda r, res, c: TimeEntryResult(regular_hours="8"), logger)
    item = tables.get_item(
        TableName="employee-status",
        Key={"pk": {"S": "pr-biweekly-2026-11-27#er1"}, "employee_id": {"S": "e1"}},
    )["Item"]
    assert item["status"]["S"] == "CALCULATED"


def test_a_bad_record_is_a_failed_outcome_naming_the_field(tables, monkeypatch):
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    answers = []
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    body = step_request("time_entry")
    body["items"][0]["record"] = employee_record(hourly_rate=None)
    request = TimeEntryRequest.model_validate(body)
    steps.run_step(request, lambda r, res, c: TimeEntryResult(), logger)
    outcome = answers[0].outcomes[0]
    assert outcome.status == "failed"
    assert outcome.error.field == "hourly_rate"
    assert "hourly_rate is required" in outcome.error.message


def test_a_message_whose_token_is_dead_does_nothing(tables, monkeypatch):
    # The workflow timed out this chunk and recorded it FAILED; a late delivery must not
    # compute, answer, or move that employee's status.
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: False)
    answers = []
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    request = TimeEntryRequest.model_validate(step_request("time_entry"))
    result = steps.run_step(request, lambda r, res, c: TimeEntryResult(regular_hours="8"), logger)
    assert result is None and answers == []
    item = tables.get_item(
        TableName="employee-status",
        Key={"pk": {"S": "pr-biweekly-2026-11-27#er1"}, "employee_id": {"S": "e1"}},
    )["Item"]
    assert item["status"]["S"] == "BEGIN"


def test_a_failure_is_not_remembered_so_a_corrected_record_computes(tables, monkeypatch):
    from payroll_shared.contracts import record_fingerprint

    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    answers = []
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    key = {"pk": {"S": "pr-biweekly-2026-11-27#er1"}, "employee_id": {"S": "e1"}}
    bad = step_request("time_entry")
    bad["items"][0]["record"] = employee_record(hourly_rate=None)
    steps.run_step(
        TimeEntryRequest.model_validate(bad), lambda r, res, c: TimeEntryResult(), logger
    )
    item = tables.get_item(TableName="employee-status", Key=key)["Item"]
    assert item["status"]["S"] == "FAILED"
    assert item["failed_record_sha256"]["S"] == record_fingerprint(bad["items"][0]["record"])

    # The record is corrected and the employee redriven with the same keys: it computes.
    fixed = step_request("time_entry")
    steps.run_step(
        TimeEntryRequest.model_validate(fixed),
        lambda r, res, c: TimeEntryResult(regular_hours="80"),
        logger,
    )
    assert [a.outcomes[0].status for a in answers] == ["failed", "ok"]
    item = tables.get_item(TableName="employee-status", Key=key)["Item"]
    assert item["status"]["S"] == "TIME_ENTERED"
    assert "failed_record_sha256" not in item and "error_code" not in item
    # ... and that success is what a later redelivery gets back.
    steps.run_step(
        TimeEntryRequest.model_validate(fixed),
        lambda r, res, c: TimeEntryResult(regular_hours="99"),
        logger,
    )
    assert answers[-1].outcomes[0].result["regular_hours"] == "80"


def test_a_result_is_reused_only_for_the_inputs_it_was_computed_from(tables, monkeypatch):
    """A later step failed; the record was corrected and the employee redriven: this
    step computes again from the corrected record, and a late delivery of the old
    record gets the new result on record, never its own."""
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    answers = []
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    key = {"pk": {"S": "pr-biweekly-2026-11-27#er1"}, "employee_id": {"S": "e1"}}

    def hours(record, results, context):
        return TimeEntryResult(regular_hours=str(record.hourly_rate))

    before = step_request("time_entry")
    steps.run_step(TimeEntryRequest.model_validate(before), hours, logger)
    tables.update_item(
        TableName="employee-status",
        Key=key,
        UpdateExpression="SET #s = :f",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":f": {"S": "FAILED"}},
    )
    corrected = step_request("time_entry")
    corrected["items"][0]["record"] = employee_record(hourly_rate="30.00")
    steps.run_step(TimeEntryRequest.model_validate(corrected), hours, logger)
    steps.run_step(TimeEntryRequest.model_validate(corrected), hours, logger)  # duplicate
    steps.run_step(TimeEntryRequest.model_validate(before), hours, logger)  # late, old

    assert [a.outcomes[0].result["regular_hours"] for a in answers] == [
        "25.00",
        "30.00",
        "30.00",
        "30.00",
    ]
    item = tables.get_item(TableName="employee-status", Key=key)["Item"]
    assert item["status"]["S"] == "TIME_ENTERED"
    assert json.loads(item["result_time_entry"]["S"])["regular_hours"] == "30.00"
    assert item["input_time_entry"]["S"] == steps.input_fingerprint(
        TimeEntryRequest.model_validate(corrected).items[0]
    )


def test_the_fingerprint_is_the_same_after_a_json_round_trip():
    from payroll_shared.contracts import record_fingerprint

    record = employee_record()
    assert record_fingerprint(json.loads(json.dumps(record))) == record_fingerprint(record)
    assert record_fingerprint({**record, "hourly_rate": "1.00"}) != record_fingerprint(record)


def test_a_delivery_that_loses_the_race_answers_with_the_result_on_record(tables, monkeypatch):
    # Another delivery of the same chunk wrote first (after this one read nothing).
    tables.put_item(
        TableName="employee-status",
        Item={
            "pk": {"S": "pr-biweekly-2026-11-27#er1"},
            "employee_id": {"S": "e1"},
            "status": {"S": "TIME_ENTERED"},
            "result_time_entry": {"S": json.dumps({"regular_hours": "71"})},
        },
    )
    monkeypatch.setattr(steps, "stored_outcomes", lambda request: {})
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    answers = []
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    request = TimeEntryRequest.model_validate(step_request("time_entry"))

    steps.run_step(request, lambda r, res, c: TimeEntryResult(regular_hours="99"), logger)

    assert answers[0].outcomes[0].result["regular_hours"] == "71"


def test_a_chunk_is_read_in_one_request_and_written_once_per_employee(tables, monkeypatch):
    from payroll_shared import aws as shared_aws

    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: True)
    body = step_request("time_entry")
    first = body["items"][0]
    body["items"] = [
        {**first, "employee_id": f"e{i}", "record": {**first["record"], "employee_id": f"e{i}"}}
        for i in range(30)
    ]
    for i in range(30):  # GetEmployees wrote BEGIN rows
        tables.put_item(
            TableName="employee-status",
            Item={
                "pk": {"S": "pr-biweekly-2026-11-27#er1"},
                "employee_id": {"S": f"e{i}"},
                "status": {"S": "BEGIN"},
            },
        )
    calls = []
    client = shared_aws.client("dynamodb")
    for name in ("batch_get_item", "update_item", "put_item"):
        original = getattr(client, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(client, name, counted)
    request = TimeEntryRequest.model_validate(body)
    steps.run_step(request, lambda r, res, c: TimeEntryResult(regular_hours="8"), logger)
    assert sorted(calls) == ["batch_get_item"] + ["update_item"] * 30
    calls.clear()
    steps.run_step(request, lambda r, res, c: TimeEntryResult(regular_hours="9"), logger)
    assert calls == ["batch_get_item"]  # a redelivery: everything is on record
