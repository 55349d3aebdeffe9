"""RedriveStack: schedule, IAM-only API, WAF, IAM scope, and cdk-nag's AwsSolutions checks."""

from __future__ import annotations

import os
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from stack import STACK_CLASS

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

DATA_SERVICES = ("sqs:", "dynamodb:", "s3:", "sns:")
DLQ_READ = frozenset(
    {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }
)
SEND = frozenset({"sqs:SendMessage"})
CONSUMER_ENV = {
    "EMPLOYER_COMPLETION_DLQ_URL": "/payroll/dev/employer-validation/dlq-url",
    "EMPLOYER_COMPLETION_QUEUE_URL": "/payroll/dev/employer-validation/queue-url",
    "PUSH_PAYMENT_DLQ_URL": "/payroll/dev/money-movement/dlq-url",
    "PUSH_PAYMENT_QUEUE_URL": "/payroll/dev/money-movement/queue-url",
}
SCHEDULED = "redrive.handler.scheduled"
API = "redrive.handler.api"


@pytest.fixture(scope="module")
def synth() -> tuple[cdk.Stack, Template]:
    app = cdk.App(context={"payroll:local": "true"})
    stack = STACK_CLASS(app, "RedriveTest")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    return stack, Template.from_stack(stack)


def resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


def ssm_ref(template: Template, value: Any) -> str:
    parameters = template.to_json()["Parameters"]
    return str(parameters[value["Ref"]]["Default"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, f["Properties"])
        for logical_id, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == handler
    ]
    return found


def sqs_grants(template: Template, handler: str) -> dict[str, set[str]]:
    """Every SQS action a function's role has, by queue (the SSM parameter naming its ARN)."""
    grants: dict[str, set[str]] = {}
    for statement in role_statements(template, handler):
        actions = as_list(statement["Action"])
        if not any(a.startswith("sqs:") for a in actions):
            continue
        for resource in as_list(statement["Resource"]):
            grants.setdefault(ssm_ref(template, resource), set()).update(actions)
    return grants


def role_statements(template: Template, handler: str) -> list[dict[str, Any]]:
    _, props = function(template, handler)
    role_id = props["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_no_aws_solutions_errors(synth: tuple[cdk.Stack, Template]) -> None:
    stack, _ = synth
    errors = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert [e.entry.data for e in errors] == []


# ---------------------------------------------------------------- the schedule


def test_rule_runs_the_scheduled_function_every_15_minutes(
    synth: tuple[cdk.Stack, Template],
) -> None:
    _, template = synth
    function_id, _ = function(template, SCHEDULED)
    (rule,) = resources(template, "AWS::Events::Rule").values()
    props = rule["Properties"]
    assert props["ScheduleExpression"] == "cron(*/15 * * * ? *)"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    dlq_arn = target["DeadLetterConfig"]["Arn"]
    dlq = resources(template, "AWS::SQS::Queue")[dlq_arn["Fn::GetAtt"][0]]
    assert dlq["Properties"]["SqsManagedSseEnabled"] is True


def test_scheduled_function_environment(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    _, props = function(template, SCHEDULED)
    env = props["Environment"]["Variables"]
    assert ssm_ref(template, env["PROCESS_DLQ_URL"]) == "/payroll/dev/platform/process-dlq-url"
    assert ssm_ref(template, env["ORCHESTRATION_DLQ_URL"]) == "/payroll/dev/orchestration/dlq-url"
    assert {"EMPLOYEE_STATUS_TABLE", "EMPLOYER_STATUS_TABLE"} <= set(env)
    # The consumer DLQs it replays and the queues it replays them to.
    assert {name: ssm_ref(template, env[name]) for name in CONSUMER_ENV} == CONSUMER_ENV


def test_scheduled_function_sqs_grants_are_exactly_its_dlqs_and_the_replay_targets(
    synth: tuple[cdk.Stack, Template],
) -> None:
    _, template = synth
    assert sqs_grants(template, SCHEDULED) == {
        # Read, hide, delete: the four DLQs it works through.
        "/payroll/dev/platform/process-dlq-arn": DLQ_READ,
        "/payroll/dev/orchestration/dlq-arn": DLQ_READ,
        "/payroll/dev/employer-validation/dlq-arn": DLQ_READ,
        "/payroll/dev/money-movement/dlq-arn": DLQ_READ,
        # Send: payment redrives and PushPayment replays; employer completion replays.
        "/payroll/dev/money-movement/queue-arn": SEND,
        "/payroll/dev/employer-validation/queue-arn": SEND,
    }


# ---------------------------------------------------------------- the API


def test_every_method_requires_iam(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    methods = resources(template, "AWS::ApiGateway::Method")
    assert len(methods) == 5
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        assert "RequestValidatorId" in method["Properties"]


def test_routes(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    api_resources = resources(template, "AWS::ApiGateway::Resource")

    def path(logical_id: str) -> str:
        props = api_resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path(parent["Ref"])
        return f"{prefix}/{props['PathPart']}"

    routes = {
        (m["Properties"]["HttpMethod"], path(m["Properties"]["ResourceId"]["Ref"]))
        for m in resources(template, "AWS::ApiGateway::Method").values()
    }
    assert routes == {
        ("GET", "/dead-letters"),
        ("POST", "/dead-letters/redrive"),
        ("GET", "/dead-letters/{record_key}"),
        ("POST", "/dead-letters/{record_key}/redrive"),
        ("POST", "/dead-letters/{record_key}/discard"),
    }
    api_function_id, _ = function(template, API)
    for method in resources(template, "AWS::ApiGateway::Method").values():
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert api_function_id in str(integration["Uri"])


def test_discard_body_is_validated_by_a_model(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestBody": True, "ValidateRequestParameters": True},
    )
    (model,) = resources(template, "AWS::ApiGateway::Model").values()
    assert model["Properties"]["Schema"]["required"] == ["reason"]


def test_stage_logs_traces_and_hides_data(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    (stage,) = resources(template, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    assert "DestinationArn" in props["AccessLogSetting"]
    (settings,) = props["MethodSettings"]
    assert settings["LoggingLevel"] in ("ERROR", "INFO")
    assert settings["DataTraceEnabled"] is False


def test_web_acl_rules(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    (acl,) = resources(template, "AWS::WAFv2::WebACL").values()
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL"
    assert props["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in props["Rules"]}
    assert set(rules) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "RateLimitPerIp",
    }
    for name in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        statement = rules[name]["Statement"]["ManagedRuleGroupStatement"]
        assert (statement["VendorName"], statement["Name"]) == ("AWS", name)
    rate = rules["RateLimitPerIp"]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == 300
    assert len({rule["Priority"] for rule in props["Rules"]}) == 3
    for rule in [*props["Rules"], props]:
        config = rule["VisibilityConfig"]
        assert config["CloudWatchMetricsEnabled"] and config["SampledRequestsEnabled"]


def test_web_acl_is_on_the_stage(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    (acl_id,) = resources(template, "AWS::WAFv2::WebACL")
    (stage_id,) = resources(template, "AWS::ApiGateway::Stage")
    (association,) = resources(template, "AWS::WAFv2::WebACLAssociation").values()
    props = association["Properties"]
    assert props["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert {"Ref": stage_id} in props["ResourceArn"]["Fn::Join"][1]


@pytest.mark.parametrize("handler", [SCHEDULED, API])
def test_redrive_goes_back_to_work_through_get_employers_and_the_push_payment_queue(
    synth: tuple[cdk.Stack, Template], handler: str
) -> None:
    _, template = synth
    statements = role_statements(template, handler)
    assert sqs_grants(template, handler)["/payroll/dev/money-movement/queue-arn"] == SEND
    (invoke,) = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    joined = invoke["Resource"]["Fn::Join"][1]
    assert ssm_ref(template, joined[-1]) == "/payroll/dev/orchestration/function-name"
    assert ":function:" in joined[-2]
    env = function(template, handler)[1]["Environment"]["Variables"]
    assert ssm_ref(template, env["GET_EMPLOYERS_FUNCTION"]) == (
        "/payroll/dev/orchestration/function-name"
    )
    assert ssm_ref(template, env["PUSH_PAYMENT_QUEUE_URL"]) == (
        "/payroll/dev/money-movement/queue-url"
    )


def test_scheduled_parks_after_the_configured_attempts(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    env = function(template, SCHEDULED)[1]["Environment"]["Variables"]
    assert env["REDRIVE_MAX_ATTEMPTS"] == "3"


def test_api_function_grants(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    statements = role_statements(template, API)
    # The process DLQ and the PushPayment queue only: the consumer DLQs are the schedule's.
    assert sqs_grants(template, API) == {
        "/payroll/dev/platform/process-dlq-arn": DLQ_READ,
        "/payroll/dev/money-movement/queue-arn": SEND,
    }
    env = function(template, API)[1]["Environment"]["Variables"]
    assert not {"EMPLOYER_COMPLETION_DLQ_URL", "EMPLOYER_COMPLETION_QUEUE_URL"} & set(env)
    assert "PUSH_PAYMENT_DLQ_URL" not in env
    (s3,) = [s for s in statements if as_list(s["Action"]) == ["s3:PutObject"]]
    joined = s3["Resource"]["Fn::Join"][1]
    assert ssm_ref(template, joined[0]) == "/payroll/dev/platform/pay-run-bucket-arn"
    assert joined[1] == "/audit/dead-letters/*"


def test_iam_has_no_wildcard_actions_or_data_resources(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = as_list(statement["Action"])
            assert all(a != "*" and not a.endswith(":*") for a in actions), statement
            if any(a.startswith(DATA_SERVICES) for a in actions):
                assert "*" not in as_list(statement["Resource"]), statement


def test_publishes_api_url_and_function_names(synth: tuple[cdk.Stack, Template]) -> None:
    _, template = synth
    names = {p["Properties"]["Name"] for p in resources(template, "AWS::SSM::Parameter").values()}
    assert {
        "/payroll/dev/redrive/api-url",
        "/payroll/dev/redrive/api-function-name",
        "/payroll/dev/redrive/scheduled-function-name",
    } <= names
