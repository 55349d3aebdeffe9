"""moto's Step Functions made to report a missed heartbeat as AWS does."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from payroll_platform.local import moto_compat

ROLE = "arn:aws:iam::123456789012:role/sfn"


def _definition(retry_on: str) -> str:
    """One task that waits for a token nobody answers, retried once on ``retry_on``."""
    return json.dumps(
        {
            "StartAt": "Wait",
            "States": {
                "Wait": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {
                        "QueueUrl.$": "$.queue",
                        "MessageBody": {"token.$": "$$.Task.Token"},
                    },
                    "HeartbeatSeconds": 1,
                    "TimeoutSeconds": 60,
                    "Retry": [{"ErrorEquals": [retry_on], "MaxAttempts": 1, "IntervalSeconds": 1}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Lost"}],
                    "End": True,
                },
                "Lost": {"Type": "Pass", "End": True},
            },
        }
    )


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moto_compat.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions"), boto3.client("sqs")


@pytest.mark.parametrize("retry_on", ["States.HeartbeatTimeout", "States.Timeout"])
def test_a_missed_heartbeat_is_a_heartbeat_timeout_that_either_name_retries(aws, retry_on):
    sfn, sqs = aws
    queue = sqs.create_queue(QueueName="steps")["QueueUrl"]
    machine = sfn.create_state_machine(
        name="heartbeat", definition=_definition(retry_on), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"queue": queue}))[
        "executionArn"
    ]

    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution never finished"
        time.sleep(0.2)

    events = sfn.get_execution_history(executionArn=execution)["events"]
    timed_out = [e["taskTimedOutEventDetails"] for e in events if e["type"] == "TaskTimedOut"]
    assert [t["error"] for t in timed_out] == ["States.HeartbeatTimeout"] * 2  # asked twice
    sent = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(sent) == 2
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"  # caught


def test_a_heartbeat_between_the_message_and_its_timer_is_accepted():
    """moto registers the token, sends the message, then starts the heartbeat timer: a
    consumer fast enough to heartbeat in between holds a live token (as in AWS)."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager

    moto_compat.apply()
    pool = CallbackPoolManager(activity_store={})
    endpoint = pool.add("token-1")
    assert pool.heartbeat("token-1") is True  # message sent, timer not started yet
    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=60)
    assert pool.heartbeat("token-1") is True
    assert heartbeat._next_heartbeat_event.is_set()  # the timer was told
    assert pool.heartbeat("never-issued") is False


def test_a_token_is_answered_while_another_execution_is_starting(aws):
    """An execution is RUNNING before its worker's thread has made its environment; a
    token answered at that moment reaches its own execution instead of failing on the
    one still starting."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn, sqs = aws
    queue = sqs.create_queue(QueueName="answers")["QueueUrl"]
    machine = sfn.create_state_machine(
        name="answered", definition=_definition("States.Timeout"), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"queue": queue}))[
        "executionArn"
    ]
    deadline = time.monotonic() + 30
    while not (sent := sqs.receive_message(QueueUrl=queue).get("Messages")):
        assert time.monotonic() < deadline, "the task never sent its message"
        # Not a busy loop: moto's executor runs on a thread of this process, and a loop
        # of receives without a pause kept it from the interpreter for tens of seconds
        # (the execution's first state entered 10 s after it started).
        time.sleep(0.02)
    token = json.loads(sent[0]["Body"])["token"]

    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    (running,) = backend._get_executions(ExecutionStatus.RUNNING)
    starting = type(running).__new__(type(running))
    starting.exec_status = ExecutionStatus.RUNNING
    # Its worker's thread is started, and has not made the environment yet.
    starting.exec_worker = type(running.exec_worker).__new__(type(running.exec_worker))
    starting.exec_worker.env = None
    first = next(m for m in backend.state_machines if m.arn == machine)
    first.executions.insert(0, starting)
    try:
        sfn.send_task_heartbeat(taskToken=token)
        sfn.send_task_success(taskToken=token, output=json.dumps({"answered": True}))
    finally:
        first.executions.remove(starting)

    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution never finished"
        time.sleep(0.1)
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"answered": True}
