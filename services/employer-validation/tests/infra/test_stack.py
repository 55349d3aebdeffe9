"""EmployerValidationStack: the properties that matter, and cdk-nag's AwsSolutions checks."""

from __future__ import annotations

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
HANDLER = "employer_validation.handler.lambda_handler"


@pytest.fixture(scope="module")
def synth() -> tuple[cdk.Stack, Template]:
    app = cdk.App(context={"payroll:local": "true"})
    stack = STACK_CLASS(app, "EmployerValidationTest")
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
