"""EmployerValidationStack: the properties that matter, and cdk-nag's AwsSolutions checks."""

from __future__ import annotations

import os
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from stack import CONSUMER_TIMEOUT, STACK_CLASS

from payroll_shared.infra.constructs import VISIBILITY_FACTOR

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

DATA_SERVICES = ("sqs:", "dynamodb:", "s3:", "sns:")
HANDLER = "employer_validation.handler.lambda_handler"


@pytest.fixture(scope="module")
def synth() -> tuple[cdk.Stack, Template]:
    app = cdk.App(context={"payroll:local": "true"})
    stack = STACK_CLASS(app, "EmployerValidationTest")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    return stack, Template.from_stack(stack)


def resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


def ssm_ref(template: Template, value: Any) -> str:
    """The SSM parameter name behind a ``{"Ref": <CfnParameter>}``."""
    parameters = template.to_json()["Parameters"]
    return str(parameters[value["Ref"]]["Default"])


def test_no_aws_solutions_errors(synth: tuple[cdk.Stack, Template]) -> None:
    stack, _ = synth
    errors = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert [e.entry.data for e in errors] == []


def test_queues_are_encrypted_and_tls_only(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    queues = resources(template, "AWS::SQS::Queue")
    assert len(queues) == 2
    for queue in queues.values():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId")
    policies = resources(template, "AWS::SQS::QueuePolicy")
    secured = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(secured) == 2


def test_completion_queue_has_dlq_and_visibility(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    queues = resources(template, "AWS::SQS::Queue")
    by_name = {q["Properties"]["QueueName"]: (lid, q["Properties"]) for lid, q in queues.items()}
    _, queue = by_name["payroll-dev-employer-completion"]
    dlq_id, _ = by_name["payroll-dev-employer-completion-dlq"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    functions = resources(template, "AWS::Lambda::Function")
    (consumer,) = [f for f in functions.values() if f["Properties"]["Handler"] == HANDLER]
    timeout = consumer["Properties"]["Timeout"]
    assert timeout == CONSUMER_TIMEOUT.to_seconds()
    assert queue["VisibilityTimeout"] >= VISIBILITY_FACTOR * timeout


def test_consumer_reports_partial_batch_failures(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 1},
    )


def test_consumer_environment(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    functions = resources(template, "AWS::Lambda::Function")
    (consumer,) = [f for f in functions.values() if f["Properties"]["Handler"] == HANDLER]
    env = consumer["Properties"]["Environment"]["Variables"]
    assert ssm_ref(template, env["PUSH_PAYMENT_QUEUE_URL"]) == (
        "/payroll/dev/money-movement/queue-url"
    )
    assert ssm_ref(template, env["PROCESS_DLQ_URL"]) == "/payroll/dev/platform/process-dlq-url"
    for name in (
        "EMPLOYEE_STATUS_TABLE",
        "EMPLOYER_STATUS_TABLE",
        "OWN_DLQ_URL",
        "DB_PROXY_ENDPOINT",
    ):
        assert name in env
    # In the platform's VPC, to reach RDS Proxy for the ledger commit.
    assert "VpcConfig" in consumer["Properties"]


def statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_iam_has_no_wildcard_actions_or_data_resources(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    for statement in statements(template):
        actions = as_list(statement["Action"])
        assert all(a != "*" and not a.endswith(":*") for a in actions), statement
        if any(a.startswith(DATA_SERVICES) for a in actions):
            assert "*" not in as_list(statement["Resource"]), statement


def test_send_to_push_payment_queue_only_by_its_arn(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    sends = [s for s in statements(template) if as_list(s["Action"]) == ["sqs:SendMessage"]]
    assert [ssm_ref(template, s["Resource"]) for s in sends] == [
        "/payroll/dev/money-movement/queue-arn"
    ]


def test_status_tables_and_process_dlq_grants(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    granted: dict[str, set[str]] = {}
    for statement in statements(template):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Ref" in resource:
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
        "/payroll/dev/employer-validation/queue-url",
        "/payroll/dev/employer-validation/queue-arn",
        "/payroll/dev/employer-validation/dlq-url",
        "/payroll/dev/employer-validation/dlq-arn",
    } <= names
