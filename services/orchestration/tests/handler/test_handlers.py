"""The real handlers against moto (and a seeded SQLite database where they read one)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto_cloud import (
    BUCKET,
    EMPLOYEE_STATUS,
    EMPLOYER_STATUS,
    PAY_DATE,
    Cloud,
    Context,
    Database,
)
from orchestration import handler

from payroll_shared import chunks as shared_chunks
from payroll_shared.contracts import (
    DeadLetterRecord,
    DeadLetterSource,
    EmployeeRecord,
    PayRunTrigger,
    StepRequest,
)

PAY_RUN = {
    "pay_run_id": f"pr-weekly-{PAY_DATE.isoformat()}",
    "pay_schedule": "weekly",
    "period_start": "2026-03-07",
    "period_end": PAY_DATE.isoformat(),
    "pay_date": PAY_DATE.isoformat(),
}
PAY_RUN_ID = PAY_RUN["pay_run_id"]


def biggest_employer(database: Database) -> tuple[str, list[str]]:
    employer_id = max(
        database.employees_by_employer, key=lambda e: len(database.employees_by_employer[e])
    )
    return employer_id, database.employees_by_employer[employer_id]


# --- get_employees ---------------------------------------------------------------------


class TestGetEmployees:
    def test_writes_chunks_and_begin_rows(
        self, cloud: Cloud, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CHUNK_SIZE", "3")
        employer_id, employee_ids = biggest_employer(database)
        assert len(employee_ids) > 3

        answer = handler.get_employees({"pay_run": PAY_RUN, "employer_id": employer_id}, Context())

        key = f"pay-runs/{PAY_RUN_ID}/employers/{employer_id}/chunks.json"
        expected_chunks = -(-len(employee_ids) // 3)
        assert answer == {
            "bucket": BUCKET, "key": key, "employees": len(employee_ids), "chunks": expected_chunks,
        }  # fmt: skip
        chunks = cloud.s3_json(key)
        assert [c["chunk_id"] for c in chunks] == [
            f"{employer_id}-c{i:05d}" for i in range(expected_chunks)
        ]
        assert [len(c["items"]) for c in chunks][:-1] == [3] * (expected_chunks - 1)
        listed = [item["employee_id"] for c in chunks for item in c["items"]]
        assert listed == employee_ids  # every active employee once, in employee_id order
        for chunk in chunks:
            for item in chunk["items"]:
                assert item["results"] == {}
                assert item["record"]["employee_id"] == item["employee_id"]
                EmployeeRecord.model_validate(item["record"])  # the seed's records are valid
            # Small chunks travel inline.
            assert chunk["items_key"] is None and chunk.pop("employees") == len(chunk["items"])
            # Each chunk is a valid StepRequest payload as the state machine sends it.
            StepRequest.model_validate(
                {"step": "time_entry", "task_token": "t", "pay_run": PAY_RUN,
                 "employer_id": employer_id, **chunk}
            )  # fmt: skip

    def test_a_large_chunk_is_listed_by_the_key_of_its_employees(
        self, cloud: Cloud, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CHUNK_SIZE", "3")
        monkeypatch.setattr(shared_chunks, "INLINE_LIMIT", 0)  # every chunk is large
        employer_id, employee_ids = biggest_employer(database)
        handler.get_employees({"pay_run": PAY_RUN, "employer_id": employer_id}, Context())

        listing = cloud.s3_json(f"pay-runs/{PAY_RUN_ID}/employers/{employer_id}/chunks.json")
        loaded: list[str] = []
        for chunk in listing:
            folder = f"pay-runs/{PAY_RUN_ID}/employers/{employer_id}/chunks/{chunk['chunk_id']}/"
            assert chunk["items"] == [] and chunk["items_key"].startswith(folder + "employees-")
            body = {k: v for k, v in chunk.items() if k != "employees"}
            request = StepRequest.model_validate(
                {"step": "time_entry", "task_token": "t", "pay_run": PAY_RUN,
                 "employer_id": employer_id, **body}
            )  # fmt: skip
            items = shared_chunks.load(request).items
            assert len(items) == chunk["employees"]
            loaded += [item.employee_id for item in items]
        assert loaded == employee_ids

        rows = cloud.employee_rows(f"{PAY_RUN_ID}#{employer_id}")
        assert sorted(rows) == employee_ids
        for employee_id, row in rows.items():
            assert row["status"] == {"S": "BEGIN"}
            assert row["pay_run_id"] == {"S": PAY_RUN_ID}
            assert row["employer_id"] == {"S": employer_id}
            assert row["employee_id"] == {"S": employee_id}
            assert row["attempts"] == {"N": "0"}

    def test_chunk_size_one(
        self, cloud: Cloud, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CHUNK_SIZE", "1")
        employer_id, employee_ids = biggest_employer(database)
        answer = handler.get_employees({"pay_run": PAY_RUN, "employer_id": employer_id}, Context())
        assert answer["chunks"] == answer["employees"] == len(employee_ids)
        chunks = cloud.s3_json(answer["key"])
        assert [[i["employee_id"] for i in c["items"]] for c in chunks] == [
            [e] for e in employee_ids
        ]

    def test_a_rerun_never_moves_a_status_back(self, cloud: Cloud, database: Database) -> None:
        employer_id, employee_ids = biggest_employer(database)
        handler.get_employees({"pay_run": PAY_RUN, "employer_id": employer_id}, Context())
        pk = f"{PAY_RUN_ID}#{employer_id}"
        for employee_id, status in ((employee_ids[0], "FAILED"), (employee_ids[1], "CALCULATED")):
            cloud.dynamodb.update_item(
                TableName=EMPLOYEE_STATUS,
                Key={"pk": {"S": pk}, "employee_id": {"S": employee_id}},
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": status}},
            )
        answer = handler.get_employees({"pay_run": PAY_RUN, "employer_id": employer_id}, Context())
        assert answer["employees"] == len(employee_ids)
        rows = cloud.employee_rows(pk)
        assert rows[employee_ids[0]]["status"] == {"S": "FAILED"}
        assert rows[employee_ids[1]]["status"] == {"S": "CALCULATED"}
        assert rows[employee_ids[2]]["status"] == {"S": "BEGIN"}

    def test_an_employer_without_employees(self, cloud: Cloud, database: Database) -> None:
        answer = handler.get_employees({"pay_run": PAY_RUN, "employer_id": "er-none"}, Context())
        assert (answer["employees"], answer["chunks"]) == (0, 0)
        assert cloud.s3_json(answer["key"]) == []


# --- get_employers ---------------------------------------------------------------------


def weekly_trigger(**extra: Any) -> dict[str, Any]:
    return {"schema_version": "1", "pay_schedule": "weekly", "requested_by": "schedule",
            "scheduled_time": f"{PAY_DATE.isoformat()}T06:00:00Z", **extra}  # fmt: skip


class TestGetEmployers:
    def test_writes_due_employers_and_starts_the_run_named_after_it(
        self, cloud: Cloud, database: Database
    ) -> None:
        weekly = database.employers_by_schedule.get("weekly", [])
        assert weekly, "the seed has weekly employers"

        answer = handler.get_employers(weekly_trigger(), Context())

        assert answer["status"] == "started"
        assert answer["pay_run_id"] == PAY_RUN_ID
        assert answer["employers"] == len(weekly)
        assert answer["execution_arn"].endswith(f":execution:payroll-test-pay-run:{PAY_RUN_ID}")
        employers = cloud.s3_json(f"pay-runs/{PAY_RUN_ID}/employers.json")
        assert [e["employer_id"] for e in employers] == weekly
        assert all(e["name"] for e in employers)

        execution = cloud.sfn.describe_execution(executionArn=answer["execution_arn"])
        assert json.loads(execution["input"]) == {
            "pay_run": PAY_RUN,
            "employers": {"bucket": BUCKET, "key": f"pay-runs/{PAY_RUN_ID}/employers.json"},
            "redrive": {"attempt": 1, "employee_ids": []},  # every employee
        }
        assert cloud.dead_letters() == []

    def test_a_repeated_trigger_does_not_start_a_second_run(
        self, cloud: Cloud, database: Database
    ) -> None:
        first = handler.get_employers(weekly_trigger(), Context())
        # Same period from the CLI with an explicit pay date: same pay run.
        second = handler.get_employers(
            {"pay_schedule": "weekly", "pay_date": PAY_DATE.isoformat(), "requested_by": "cli"},
            Context(),
        )
        assert second["status"] == "already-exists"
        assert second["execution_arn"] == first["execution_arn"]
        executions = cloud.sfn.list_executions(stateMachineArn=cloud.state_machine_arn)
        assert len(executions["executions"]) == 1
        assert cloud.dead_letters() == []

    def test_execution_already_exists_at_start_is_not_an_error(
        self, cloud: Cloud, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The check missed it (a race with another trigger) and the run has closed:
        # StartExecution answers ExecutionAlreadyExists, which means "already started".
        first = handler.get_employers(weekly_trigger(), Context())
        cloud.sfn.stop_execution(executionArn=first["execution_arn"])
        monkeypatch.setattr(handler.adapters, "find_execution", lambda *_: None)
        second = handler.get_employers(weekly_trigger(), Context())
        assert second["status"] == "already-exists"
        assert second["execution_arn"] == first["execution_arn"]
        assert cloud.dead_letters() == []

    def test_a_race_on_a_running_run_gets_the_same_execution(
        self, cloud: Cloud, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # StartExecution is idempotent for a running STANDARD execution with the same
        # name and input: the same execution comes back, no second run.
        first = handler.get_employers(weekly_trigger(), Context())
        monkeypatch.setattr(handler.adapters, "find_execution", lambda *_: None)
        second = handler.get_employers(weekly_trigger(), Context())
        assert second["execution_arn"] == first["execution_arn"]
        executions = cloud.sfn.list_executions(stateMachineArn=cloud.state_machine_arn)
        assert len(executions["executions"]) == 1

    def test_nothing_due_starts_nothing(
        self, cloud: Cloud, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(handler.adapters, "due_employers", lambda schedule: iter(()))
        answer = handler.get_employers(weekly_trigger(), Context())
        assert answer["status"] == "no-employers-due"
        assert (
            cloud.sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"] == []
        )

    def test_an_invalid_trigger_is_dead_lettered_not_retried(self, cloud: Cloud) -> None:
        event = {"pay_schedule": "semimonthly", "pay_date": "2026-03-13"}
        answer = handler.get_employers(event, Context())
        assert answer["status"] == "rejected"
        (message,) = cloud.dead_letters()
        assert json.loads(message["Body"]) == event
        assert message["MessageAttributes"]["error_code"]["StringValue"] == "InvalidTrigger"
        assert "semimonthly" in message["MessageAttributes"]["error_reason"]["StringValue"]

    def test_a_failed_start_sends_the_trigger_to_the_dlq_and_raises(
        self, cloud: Cloud, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        missing = cloud.state_machine_arn.replace("payroll-test-pay-run", "payroll-test-missing")
        monkeypatch.setenv("STATE_MACHINE_ARN", missing)
        with pytest.raises(Exception, match=r"(?i)does not exist"):
            handler.get_employers(weekly_trigger(), Context())
        (message,) = cloud.dead_letters()
        trigger = PayRunTrigger.model_validate_json(message["Body"])
        assert trigger.pay_date == PAY_DATE  # resolved: a redrive replays the same period
        assert (
            message["MessageAttributes"]["error_code"]["StringValue"] == "StateMachineDoesNotExist"
        )


# --- record_chunk_failure --------------------------------------------------------------


def items(*employee_ids: str) -> list[dict[str, Any]]:
    return [{"employee_id": e, "record": {"employee_id": e}, "results": {}} for e in employee_ids]


def test_record_chunk_failure_marks_only_employees_before_calculated(cloud: Cloud) -> None:
    pk = f"{PAY_RUN_ID}#er-1"
    for employee_id, status in (("e1", "BEGIN"), ("e2", "GROSS_CALCULATED"), ("e3", "CALCULATED")):
        cloud.dynamodb.put_item(
            TableName=EMPLOYEE_STATUS,
            Item={"pk": {"S": pk}, "employee_id": {"S": employee_id}, "status": {"S": status},
                  "attempts": {"N": "1"}},
        )  # fmt: skip
    answer = handler.record_chunk_failure(
        {
            "pay_run": PAY_RUN,
            "employer_id": "er-1",
            "chunk_id": "er-1-c00000",
            "items": items("e1", "e2", "e3"),
            "failed_step": "retirement_calc",
            "error": {"Error": "States.HeartbeatTimeout", "Cause": "no answer in 600 s"},
        },
        Context(),
    )
    assert answer == {"chunk_id": "er-1-c00000", "marked_failed": 2, "unchanged": 1}
    rows = cloud.employee_rows(pk)
    for employee_id in ("e1", "e2"):
        row = rows[employee_id]
        assert row["status"] == {"S": "FAILED"}
        assert row["failed_step"] == {"S": "retirement_calc"}
        assert row["error_code"] == {"S": "States.HeartbeatTimeout"}
        assert "no answer in 600 s" in row["error_message"]["S"]
        assert row["attempts"] == {"N": "2"}
    assert rows["e3"]["status"] == {"S": "CALCULATED"}
    assert "error_code" not in rows["e3"]


# --- an employer that could not be run --------------------------------------------------


def test_an_employer_that_could_not_be_run_is_one_dead_letter(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    process_dlq = cloud.sqs.create_queue(QueueName="payroll-test-process-dlq")["QueueUrl"]
    monkeypatch.setenv("PROCESS_DLQ_URL", process_dlq)
    event = {
        "pay_run": PAY_RUN,
        "employer_id": "er-9",
        "redrive": {"attempt": 1, "employee_ids": []},
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:m:x",
        "error": {"Error": "Lambda.Unknown", "Cause": "GetEmployees timed out"},
    }
    answer = handler.dead_letter_employer(event, Context())

    (message,) = cloud.sqs.receive_message(
        QueueUrl=process_dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    record = DeadLetterRecord.model_validate_json(message["Body"])
    assert (
        answer == {"record_id": f"{PAY_RUN_ID}#er-9#employer#1"} == {"record_id": record.record_id}
    )
    assert record.source is DeadLetterSource.ORCHESTRATION
    assert (record.pay_run_id, record.employer_id, record.employee_id) == (
        PAY_RUN_ID,
        "er-9",
        None,
    )
    assert record.attempts == 1 and record.step is None
    assert record.error.code == "Lambda.Unknown"
    assert "employer er-9" in record.error.message
    assert "GetEmployees timed out" in record.error.message
    assert record.payload["pay_run"]["pay_run_id"] == PAY_RUN_ID
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {
        "record_id": record.record_id,
        "source": "orchestration",
        "error_code": "Lambda.Unknown",
        "pay_run_id": PAY_RUN_ID,
        "employer_id": "er-9",
    }


def _employer_status(cloud: Cloud, employer_id: str, status: str) -> None:
    cloud.dynamodb.put_item(
        TableName=EMPLOYER_STATUS,
        Item={
            "pay_run_id": {"S": PAY_RUN_ID},
            "employer_id": {"S": employer_id},
            "status": {"S": status},
        },
    )


def test_redriving_an_employer_runs_all_its_employees_once(cloud: Cloud) -> None:
    _employer_status(cloud, "er-9", "NEEDS_REDRIVE")
    request = {"pay_run": PAY_RUN, "employer_id": "er-9", "attempt": 2}

    answer = handler.get_employers({"redrive_employer": request}, Context())
    again = handler.get_employers({"redrive_employer": request}, Context())

    assert answer["status"] == "started", answer
    assert f":{PAY_RUN_ID}-rd2-" in answer["execution_arn"]
    assert again["status"] == "already-started"
    assert again["execution_arn"] == answer["execution_arn"]
    executions = cloud.sfn.list_executions(stateMachineArn=cloud.state_machine_arn)
    assert len(executions["executions"]) == 1
    started = json.loads(
        cloud.sfn.describe_execution(executionArn=answer["execution_arn"])["input"]
    )
    assert started["redrive"] == {"attempt": 2, "employee_ids": []}  # every employee
    assert cloud.s3_json(started["employers"]["key"]) == [{"employer_id": "er-9", "name": "er-9"}]
    item = cloud.dynamodb.get_item(
        TableName=EMPLOYER_STATUS,
        Key={"pay_run_id": {"S": PAY_RUN_ID}, "employer_id": {"S": "er-9"}},
    )["Item"]
    assert item["redrive_attempt"] == {"N": "2"}


def test_an_employer_no_longer_needing_a_redrive_is_not_run_again(cloud: Cloud) -> None:
    _employer_status(cloud, "er-9", "PAID")
    request = {"pay_run": PAY_RUN, "employer_id": "er-9", "attempt": 3}

    answer = handler.get_employers({"redrive_employer": request}, Context())

    assert answer["status"] == "nothing-to-redrive"
    assert cloud.sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"] == []
