"""MoneyMovementStack: the properties that matter, and cdk-nag's AwsSolutions checks."""

from __future__ import annotations

import json
import os
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from stack import STACK_CLASS

from payroll_shared.infra import assertions

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

DATA_SERVICES = ("sqs:", "dynamodb:", "s3:", "sns:")
HANDLER = "money_movement.handler.lambda_handler"


@pytest.fixture(scope="module")
def synth() -> tuple[cdk.Stack, Template]:
    app = cdk.App(context={"payroll:local": "true"})
    stack = STACK_CLASS(app, "MoneyMovementTest")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    return stack, Template.from_stack(stack)


def test_the_properties_every_consumer_stack_has(synth: tuple[cdk.Stack, Template]) -> None:
    """cdk-nag AwsSolutions clean; SSE and TLS-only queues, each with a DLQ and a deliberate
    maxReceiveCount; visibility >= 6x the consumer's timeout; no wildcard actions and no
    data actions on Resource '*'."""
    stack, template = synth
    assert assertions.nag_errors(stack) == []
    assertions.assert_queues_encrypted_with_dlq(template)
    assertions.assert_visibility_covers_consumer(template)
    assertions.assert_least_privilege(template)


def resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


def ssm_ref(template: Template, value: Any) -> str:
    """The SSM parameter name behind a ``{"Ref": <CfnParameter>}``."""
    parameters = template.to_json()["Parameters"]
    return str(parameters[value["Ref"]]["Default"])


def test_consumer_reports_partial_batch_failures(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 1,
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )


def test_consumer_environment(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    functions = resources(template, "AWS::Lambda::Function")
    (consumer,) = [f for f in functions.values() if f["Properties"]["Handler"] == HANDLER]
    env = consumer["Properties"]["Environment"]["Variables"]
    # The payment API URL is the operator's SSM parameter, read at deploy time.
    assert (
        ssm_ref(template, env["PAYMENT_API_URL"]) == "/payroll/dev/money-movement/payment-api-url"
    )
    assert env["NOTICE_STATE_MACHINE_ARN"] == {"Ref": logical_id(template, "Notice")}
    assert ssm_ref(template, env["PROCESS_DLQ_URL"]) == "/payroll/dev/platform/process-dlq-url"
    for name in (
        "EMPLOYEE_STATUS_TABLE",
        "EMPLOYER_STATUS_TABLE",
        "OWN_DLQ_URL",
        "DB_PROXY_ENDPOINT",
    ):
        assert name in env
    assert "VpcConfig" in consumer["Properties"]


def logical_id(template: Template, prefix: str) -> str:
    (found,) = [
        logical
        for logical in resources(template, "AWS::StepFunctions::StateMachine")
        if logical.startswith(prefix)
    ]
    return found


def statements(template: Template, role_prefix: str | None = None) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if role_prefix is None
        or any(r["Ref"].startswith(role_prefix) for r in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_notice_workflow_publishes_to_the_completion_topic_with_its_key(
    synth: tuple[cdk.Stack, Template],
) -> None:
    """Only the notice workflow publishes (the consumer starts it, once per name, and
    reads how a start ended); its one state retries SNS's transient errors."""
    _, template = synth
    by_resource: dict[str, set[str]] = {}
    for statement in statements(template, role_prefix="NoticeRole"):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Ref" in resource:
                by_resource.setdefault(ssm_ref(template, resource), set()).update(
                    as_list(statement["Action"])
                )
    assert by_resource["/payroll/dev/platform/completion-topic-arn"] == {"sns:Publish"}
    assert {"kms:GenerateDataKey", "kms:Decrypt"} <= by_resource[
        "/payroll/dev/platform/kms-key-arn"
    ]
    consumer_actions = {
        action
        for statement in statements(template, role_prefix="ConsumerRole")
        for action in as_list(statement["Action"])
    }
    assert "sns:Publish" not in consumer_actions
    assert {"states:StartExecution", "states:DescribeExecution"} <= consumer_actions

    machine = resources(template, "AWS::StepFunctions::StateMachine")[
        logical_id(template, "Notice")
    ]
    assert machine["Properties"]["StateMachineType"] == "STANDARD"
    body = machine["Properties"]["DefinitionString"]
    definition = json.loads(
        "".join(part if isinstance(part, str) else "TOPIC" for part in body["Fn::Join"][1])
    )
    (state,) = definition["States"].values()
    assert state["Resource"].endswith(":states:::sns:publish")
    assert state["Parameters"]["Message.$"] == "$.message"
    assert set(state["Parameters"]["MessageAttributes"]) == {"employer_id", "status"}
    (retry,) = state["Retry"]
    assert "SNS.ThrottledException" in retry["ErrorEquals"]
    assert "States.Timeout" not in retry["ErrorEquals"]  # it may have published


def test_status_tables_and_process_dlq_grants(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    granted: dict[str, set[str]] = {}
    parameters = template.to_json()["Parameters"]
    for statement in statements(template):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and resource.get("Ref") in parameters:
                name = ssm_ref(template, resource)
                granted.setdefault(name, set()).update(as_list(statement["Action"]))
    for table in ("employee-status", "employer-status"):
        actions = granted[f"/payroll/dev/platform/{table}-table-arn"]
        assert {"dynamodb:Query", "dynamodb:UpdateItem"} <= actions
    assert "sqs:SendMessage" in granted["/payroll/dev/platform/process-dlq-arn"]


def test_publishes_its_queue(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    names = {p["Properties"]["Name"] for p in resources(template, "AWS::SSM::Parameter").values()}
    assert {
        "/payroll/dev/money-movement/queue-url",
        "/payroll/dev/money-movement/queue-arn",
        "/payroll/dev/money-movement/dlq-url",
        "/payroll/dev/money-movement/dlq-arn",
    } <= names
