"""CDK assertions every stack's infra tests apply: the properties that matter."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from payroll_shared.infra.constructs import VISIBILITY_FACTOR

DATA_SERVICES = ("sqs:", "dynamodb:", "s3:", "sns:", "kms:", "states:", "lambda:")


def synth_stack(stack_class: type[cdk.Stack], stack_id: str = "Test") -> tuple[cdk.Stack, Template]:
    """Synthesize one stack alone (as its own app would) with cdk-nag AwsSolutions on."""
    app = cdk.App(context={"payroll:local": "true", "payroll:stage": "test"})
    stack = stack_class(app, stack_id)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    template = Template.from_stack(stack)
    return stack, template


def nag_errors(stack: cdk.Stack) -> list[str]:
    errors = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    return [f"{e.id}: {str(e.entry.data)[:200]}" for e in errors]


def resources(template: Template, resource_type: str) -> dict[str, Any]:
    found: dict[str, Any] = dict(template.find_resources(resource_type))
    return found


def assert_queues_encrypted_with_dlq(template: Template) -> None:
    """Every queue is encrypted and TLS-only; every non-DLQ queue redrives to a DLQ."""
    queues = resources(template, "AWS::SQS::Queue")
    assert queues, "no queues"
    dlq_ids = set()
    for body in queues.values():
        redrive = body["Properties"].get("RedrivePolicy")
        if redrive:
            dlq_ids.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
    for logical, body in queues.items():
        props = body["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), logical
        if logical in dlq_ids:
            continue
        redrive = props.get("RedrivePolicy")
        assert redrive, f"{logical} has no DLQ"
        assert 1 < redrive["maxReceiveCount"] <= 10, f"{logical}: deliberate maxReceiveCount"
    policies = resources(template, "AWS::SQS::QueuePolicy")
    secure = json.dumps(policies)
    assert secure.count("aws:SecureTransport") >= len(queues), "every queue denies non-TLS"


def assert_visibility_covers_consumer(template: Template) -> None:
    """Visibility timeout >= 6x the timeout of the function consuming the queue."""
    functions = resources(template, "AWS::Lambda::Function")
    queues = resources(template, "AWS::SQS::Queue")
    for mapping in resources(template, "AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        queue = queues[props["EventSourceArn"]["Fn::GetAtt"][0]]
        function = functions[props["FunctionName"]["Ref"]]
        timeout = function["Properties"].get("Timeout", 3)
        visibility = queue["Properties"].get("VisibilityTimeout", 30)
        assert visibility >= VISIBILITY_FACTOR * timeout, (visibility, timeout)
        assert "ReportBatchItemFailures" in props.get("FunctionResponseTypes", [])


def _statements(template: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for body in resources(template, kind).values():
            statements += body["Properties"]["PolicyDocument"]["Statement"]
    for role in resources(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            statements += policy["PolicyDocument"]["Statement"]
    return statements


def assert_least_privilege(template: Template) -> None:
    """No ``*`` actions; data actions never on ``Resource: "*"``."""
    for statement in _statements(template):
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement
        targets = statement["Resource"]
        targets = [targets] if not isinstance(targets, list) else targets
        if "*" in targets:
            data = [a for a in actions if a.startswith(DATA_SERVICES)]
            assert not data, f"data actions on '*': {data}"


def assert_functions_traced_and_logged(template: Template) -> None:
    for logical, body in resources(template, "AWS::Lambda::Function").items():
        props = body["Properties"]
        assert props.get("TracingConfig", {}).get("Mode") == "Active", logical
        assert "LoggingConfig" in props, logical


def check_step_service_stack(stack_class: type[cdk.Stack], service: str) -> None:
    """Everything a task-token step service's stack must be (its infra test calls this)."""
    stack, template = synth_stack(stack_class)
    assert nag_errors(stack) == []
    assert_queues_encrypted_with_dlq(template)
    assert_visibility_covers_consumer(template)
    assert_least_privilege(template)
    assert_functions_traced_and_logged(template)
    text = json.dumps(template.to_json())
    # It answers task tokens of the pay-run state machine only.
    assert "states:SendTaskSuccess" in text
    assert "stateMachine:payroll-test-pay-run" in text
    published = {
        p["Properties"]["Name"] for p in resources(template, "AWS::SSM::Parameter").values()
    }
    for key in ("queue-url", "queue-arn", "dlq-url", "dlq-arn"):
        assert f"/payroll/test/{service}/{key}" in published, key
    # A large chunk's items travel as an object under pay-runs/ (payroll_shared.chunks):
    # the consumer reads and writes those objects, and nothing else of the bucket.
    (function,) = resources(template, "AWS::Lambda::Function").values()
    assert "PAYRUN_BUCKET" in function["Properties"]["Environment"]["Variables"]
    s3 = [
        s for s in _statements(template) if any(a.startswith("s3:") for a in _listed(s["Action"]))
    ]
    assert {a for s in s3 for a in _listed(s["Action"])} == {"s3:GetObject", "s3:PutObject"}
    for statement in s3:
        for resource in _listed(statement["Resource"]):
            assert json.dumps(resource).endswith('/pay-runs/*"]]}'), resource


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
