"""OrchestrationStack: the properties that matter, and cdk-nag's AwsSolutions checks."""

from __future__ import annotations

import json
import os
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from stack import DEFAULT_STEP_HEARTBEAT_SECONDS, DEFAULT_STEP_TIMEOUT_SECONDS, STACK_CLASS

from payroll_shared.contracts import ChunkState, EmployerCompletion, StepRequest
from payroll_shared.names import STEP_ORDER

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

STATE_MACHINE = "AWS::StepFunctions::StateMachine"
TASK_TOKEN_RESOURCE = "sqs:sendMessage.waitForTaskToken"
STEP_QUEUE_SERVICES = ("time-entry", "payroll-calc", "retirement-calc", "tax-calc")


@pytest.fixture(scope="module")
def synth() -> tuple[cdk.Stack, Template]:
    app = cdk.App(context={"payroll:local": "true"})
    stack = STACK_CLASS(app, "OrchestrationTest")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    return stack, Template.from_stack(stack)


@pytest.fixture(scope="module")
def template(synth: tuple[cdk.Stack, Template]) -> Template:
    return synth[1]


def _render(value: Any) -> str:
    """A CloudFormation string expression as text, references as ``<LogicalId>``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    return "<expr>"


@pytest.fixture(scope="module")
def definition(template: Template) -> dict[str, Any]:
    (machine,) = template.find_resources(STATE_MACHINE).values()
    return json.loads(_render(machine["Properties"]["DefinitionString"]))


@pytest.fixture(scope="module")
def definition_text(template: Template) -> str:
    (machine,) = template.find_resources(STATE_MACHINE).values()
    return _render(machine["Properties"]["DefinitionString"])


def all_states(states: dict[str, Any]) -> dict[str, Any]:
    """Every state, nested map processors included."""
    found: dict[str, Any] = {}
    for name, state in states.items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(all_states(processor["States"]))
    return found


def ssm_name(template: Template, value: Any) -> str:
    """The SSM parameter name behind a ``{"Ref": <CfnParameter>}``."""
    parameters = template.to_json()["Parameters"]
    return str(parameters[value["Ref"]]["Default"])


def ssm_ref_of(template: Template, parameter_name: str) -> str:
    for logical_id, parameter in template.to_json()["Parameters"].items():
        if parameter.get("Default") == parameter_name:
            return f"<{logical_id}>"
    raise AssertionError(f"no SSM parameter {parameter_name}")


def statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found.append((logical_id, statement))
    return found


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


# --- cdk-nag -------------------------------------------------------------------------


def test_no_aws_solutions_errors(synth: tuple[cdk.Stack, Template]) -> None:
    stack, _ = synth
    errors = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert [e.entry.data for e in errors] == []


# --- The state machine ----------------------------------------------------------------


def test_state_machine_is_standard_named_logged_and_traced(template: Template) -> None:
    template.has_resource_properties(
        STATE_MACHINE,
        {
            "StateMachineName": "payroll-dev-pay-run",
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like(
                {"Level": "ALL", "IncludeExecutionData": False}
            ),
        },
    )


def test_two_distributed_maps_read_their_items_from_s3_json(definition: dict[str, Any]) -> None:
    states = all_states(definition["States"])
    maps = {name: s for name, s in states.items() if s["Type"] == "Map"}
    assert set(maps) == {"ForEachEmployer", "ForEachChunk"}
    assert definition["StartAt"] == "ForEachEmployer"
    assert "ForEachChunk" in definition["States"]["ForEachEmployer"]["ItemProcessor"]["States"]
    for state in maps.values():
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert state["ItemReader"]["Resource"].endswith(":states:::s3:getObject")
        assert state["ItemReader"]["ReaderConfig"]["InputType"] == "JSON"
        assert state["MaxConcurrency"] > 0
        assert state["ResultPath"] is None  # results discarded: no 256 KiB surprise
    assert maps["ForEachEmployer"]["ItemReader"]["Parameters"] == {
        "Bucket.$": "$.employers.bucket", "Key.$": "$.employers.key",
    }  # fmt: skip
    assert maps["ForEachChunk"]["ItemReader"]["Parameters"] == {
        "Bucket.$": "$.employees.bucket", "Key.$": "$.employees.key",
    }  # fmt: skip
    assert maps["ForEachEmployer"]["MaxConcurrency"] == 10
    assert maps["ForEachChunk"]["MaxConcurrency"] == 20


def test_nothing_moto_cannot_run(definition_text: str) -> None:
    # design.md 4: no ItemBatcher, no tolerated failure settings.
    for forbidden in ("ItemBatcher", "ToleratedFailurePercentage", "ToleratedFailureCount"):
        assert forbidden not in definition_text


def test_four_task_token_steps_in_design_order(
    template: Template, definition: dict[str, Any]
) -> None:
    states = all_states(definition["States"])
    token_states = {
        name: s for name, s in states.items() if s.get("Resource", "").endswith(TASK_TOKEN_RESOURCE)
    }
    assert len(token_states) == 4
    # Follow the chain from the chunk flow's start: steps in STEP_ORDER.
    chunk_flow = all_states(definition["States"])["ForEachChunk"]["ItemProcessor"]
    order, name = [], chunk_flow["StartAt"]
    while name != "ChunkDone":
        state = states[name]
        if name in token_states:
            order.append(state["Parameters"]["MessageBody"]["step"])
        name = state["Next"] if "Next" in state else state["Choices"][0]["Next"]
    assert order == [step.value for step in STEP_ORDER]
    for service, step in zip(STEP_QUEUE_SERVICES, STEP_ORDER, strict=True):
        (state,) = [
            s for s in token_states.values() if s["Parameters"]["MessageBody"]["step"] == step.value
        ]
        assert state["Parameters"]["QueueUrl"] == ssm_ref_of(
            template, f"/payroll/dev/{service}/queue-url"
        )


def test_every_task_token_state_times_out_retries_and_catches(definition: dict[str, Any]) -> None:
    states = all_states(definition["States"])
    token_states = [
        s for s in states.values() if s.get("Resource", "").endswith(TASK_TOKEN_RESOURCE)
    ]
    for state in token_states:
        assert state["TimeoutSeconds"] == DEFAULT_STEP_TIMEOUT_SECONDS
        assert state["HeartbeatSeconds"] == DEFAULT_STEP_HEARTBEAT_SECONDS
        assert state["HeartbeatSeconds"] < state["TimeoutSeconds"]
        retry, lost_answer = state["Retry"]
        assert "States.ALL" not in retry["ErrorEquals"]  # only transient errors
        assert "TransientStepError" in retry["ErrorEquals"]
        assert retry["IntervalSeconds"] == 2
        assert retry["BackoffRate"] == 2
        assert retry["MaxAttempts"] == 3
        # A lost message or answer: asked once more, then caught (the chunk fails).
        assert lost_answer["ErrorEquals"] == ["States.HeartbeatTimeout"]
        assert lost_answer["MaxAttempts"] == 1
        (catch,) = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["ResultPath"] == "$.error"
        # The catch records the chunk's failure, then the item ends well.
        noted = states[catch["Next"]]
        assert noted["Type"] == "Pass"
        assert noted["Next"] == "RecordChunkFailure"
        assert states["RecordChunkFailure"]["Next"] == "ChunkDone"


def test_step_request_body_is_the_contract(definition: dict[str, Any]) -> None:
    states = all_states(definition["States"])
    fields = set(StepRequest.model_fields)
    for state in states.values():
        if not state.get("Resource", "").endswith(TASK_TOKEN_RESOURCE):
            continue
        body = state["Parameters"]["MessageBody"]
        assert {key.removesuffix(".$") for key in body} == fields
        assert body["task_token.$"] == "$$.Task.Token"
        assert body["schema_version"] == StepRequest.model_fields["schema_version"].default
        assert body["items.$"] == "$.items"
        assert body["items_key.$"] == "$.items_key"
        assert body["failed.$"] == "$.failed"
    # A map item is a chunks.json entry: its items inline, or the key of their object.
    selector = states["ForEachChunk"]["ItemSelector"]
    assert selector["items.$"] == "$$.Map.Item.Value.items"
    assert selector["items_key.$"] == "$$.Map.Item.Value.items_key"
    failure = states["RecordChunkFailure"]["Parameters"]
    assert failure["items.$"] == "$.items" and failure["items_key.$"] == "$.items_key"


def test_each_answer_is_the_chunk_the_next_step_gets(definition: dict[str, Any]) -> None:
    """No merge between steps: a step's answer (a ChunkState) replaces the state, and the
    next Send reads items and failed from it; nobody left skips the remaining steps."""
    states = all_states(definition["States"])
    assert not any("Merge" in name for name in states)
    for step in STEP_ORDER:
        send = next(
            s for s in states.values()
            if s.get("Parameters", {}).get("MessageBody", {}).get("step") == step.value
            and s["Resource"].endswith(TASK_TOKEN_RESOURCE)
        )  # fmt: skip
        assert send["ResultPath"] == "$"
        assert send["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        assert send["Catch"][0]["ResultPath"] == "$.error"
        after = states[send["Next"]]
        if step is STEP_ORDER[-1]:
            assert send["Next"] == "ChunkDone"
        else:
            assert after["Type"] == "Choice"
            assert after["Choices"][0]["Variable"] == "$.remaining"
            assert after["Default"] == "ChunkDone"
    assert set(ChunkState.model_fields) >= {"pay_run", "employer_id", "chunk_id", "items",
                                            "items_key", "failed", "remaining"}  # fmt: skip


def test_employer_begin_is_a_conditional_put_that_tolerates_reruns(
    definition: dict[str, Any],
) -> None:
    states = all_states(definition["States"])
    begin = states["RecordEmployerBegin"]
    assert begin["Resource"].endswith(":states:::dynamodb:putItem")
    params = begin["Parameters"]
    assert params["ConditionExpression"] == "attribute_not_exists(employer_id) OR #s = :begin"
    assert params["ExpressionAttributeValues"] == {":begin": {"S": "BEGIN"}}
    assert params["Item"]["status"] == {"S": "BEGIN"}
    (catch,) = begin["Catch"]
    assert catch["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert catch["Next"] == "GetEmployees"
    assert begin["Next"] == "GetEmployees"


def test_get_employees_retries_and_failures_are_recorded(definition: dict[str, Any]) -> None:
    states = all_states(definition["States"])
    get_employees = states["GetEmployees"]
    assert get_employees["ResultPath"] == "$.employees"
    assert any("Lambda.ServiceException" in r["ErrorEquals"] for r in get_employees["Retry"])
    assert get_employees["Catch"][0]["Next"] == "RecordEmployerFailure"
    failure = states["RecordEmployerFailure"]
    assert failure["Resource"].endswith(":states:::dynamodb:updateItem")
    assert failure["Parameters"]["ConditionExpression"] == "#s IN (:begin, :redrive)"
    # Then one dead letter for the employer (not when the employer was already past it).
    assert failure["Next"] == "DeadLetterEmployer"
    assert failure["Catch"][0]["Next"] == "EmployerDone"
    dead_letter = states["DeadLetterEmployer"]
    assert dead_letter["Next"] == "EmployerDone"
    assert set(dead_letter["Parameters"]) == {
        "pay_run.$",
        "employer_id.$",
        "redrive.$",
        "execution_arn.$",
        "error.$",
    }


def test_employer_completion_body_is_the_contract(
    template: Template, definition: dict[str, Any]
) -> None:
    notify = all_states(definition["States"])["NotifyEmployerComplete"]
    assert notify["Resource"].endswith(":states:::sqs:sendMessage")
    body = notify["Parameters"]["MessageBody"]
    assert {key.removesuffix(".$") for key in body} == set(EmployerCompletion.model_fields)
    assert notify["Parameters"]["QueueUrl"] == ssm_ref_of(
        template, "/payroll/dev/employer-validation/queue-url"
    )
    assert "Retry" in notify


# --- IAM ------------------------------------------------------------------------------


def test_no_wildcard_action(template: Template) -> None:
    for logical_id, statement in statements(template):
        for action in actions_of(statement):
            assert action != "*", logical_id
            assert not action.endswith(":*"), (logical_id, action)


def policy_roles(template: Template) -> dict[str, set[str]]:
    """Policy logical id -> the logical ids of the roles it is attached to."""
    return {
        logical_id: {role["Ref"] for role in policy["Properties"].get("Roles", [])}
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
    }


def test_sqs_send_goes_to_the_step_and_completion_queues_only(template: Template) -> None:
    queue_arns = {
        ssm_ref_of(template, f"/payroll/dev/{service}/queue-arn")
        for service in (*STEP_QUEUE_SERVICES, "employer-validation")
    }
    process_dlq = ssm_ref_of(template, "/payroll/dev/platform/process-dlq-arn")
    (machine,) = template.find_resources(STATE_MACHINE).values()
    machine_role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    roles = policy_roles(template)
    machine_sends = set()
    for logical_id, statement in statements(template):
        if "sqs:SendMessage" not in actions_of(statement):
            continue
        rendered = {_render(r) for r in resources_of(statement)}
        if machine_role in roles[logical_id]:
            machine_sends |= rendered
        elif logical_id.startswith("DeadLetterEmployerRole"):
            # An employer that could not be run: its one record on the process DLQ.
            assert rendered == {process_dlq}, (logical_id, rendered)
        else:
            # Everyone else may only dead-letter into the orchestration DLQ.
            assert rendered == {"<OrchestrationDlq3BBFEE14.Arn>"}, (logical_id, rendered)
    assert machine_sends == queue_arns


def test_get_employers_may_start_only_the_pay_run(template: Template) -> None:
    starts = [
        (lid, s) for lid, s in statements(template) if "states:StartExecution" in actions_of(s)
    ]
    by_policy = {lid: [_render(r) for r in resources_of(s)] for lid, s in starts}
    get_employers = [lid for lid in by_policy if lid.startswith("GetEmployersRole")]
    assert len(get_employers) == 1
    assert by_policy[get_employers[0]] == [
        "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:payroll-dev-pay-run"
    ]


def test_employee_status_writes_by_function(template: Template) -> None:
    """GetEmployees batch-reads and batch-writes BEGIN rows; GetEmployers and
    RecordChunkFailure only update (a redrive's attempt, a chunk's failure); GetEmployers
    also marks a NEEDS_REDRIVE employer it runs again in EmployerStatus."""
    found: dict[str, set[str]] = {}
    for logical_id, statement in statements(template):
        dynamo = {a for a in actions_of(statement) if a.startswith("dynamodb:")}
        if dynamo and logical_id.split("Role")[0] in {
            "GetEmployees",
            "GetEmployers",
            "RecordChunkFailure",
        }:
            found.setdefault(logical_id.split("Role")[0], set()).update(dynamo)
            rendered = {_render(r).lower() for r in resources_of(statement)}
            tables = ("employeestatustablearn", "employerstatustablearn")
            allowed = tables if logical_id.startswith("GetEmployers") else tables[:1]
            assert all(any(t in r for t in allowed) for r in rendered), (logical_id, rendered)
    assert found == {
        "GetEmployees": {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"},
        "GetEmployers": {"dynamodb:UpdateItem"},
        "RecordChunkFailure": {"dynamodb:UpdateItem"},
    }


def test_data_access_is_scoped_to_the_pay_run_prefix(template: Template) -> None:
    for logical_id, statement in statements(template):
        if any(a.startswith("s3:") for a in actions_of(statement)):
            for resource in resources_of(statement):
                assert _render(resource).endswith("/pay-runs/*"), logical_id


def test_functions_get_their_settings(template: Template) -> None:
    functions = template.find_resources("AWS::Lambda::Function")
    by_handler = {f["Properties"]["Handler"]: f["Properties"] for f in functions.values()}
    assert set(by_handler) == {
        "orchestration.handler.get_employers",
        "orchestration.handler.get_employees",
        "orchestration.handler.record_chunk_failure",
        "orchestration.handler.dead_letter_employer",
    }
    # A failed chunk's employees may be in an object (payroll_shared.chunks).
    chunk_failure = by_handler["orchestration.handler.record_chunk_failure"]
    assert "PAYRUN_BUCKET" in chunk_failure["Environment"]["Variables"]
    dead_letter = by_handler["orchestration.handler.dead_letter_employer"]
    assert set(dead_letter["Environment"]["Variables"]) >= {"PROCESS_DLQ_URL"}
    employers = by_handler["orchestration.handler.get_employers"]["Environment"]["Variables"]
    assert _render(employers["STATE_MACHINE_ARN"]).endswith(":stateMachine:payroll-dev-pay-run")
    assert {"PAYRUN_BUCKET", "ORCHESTRATION_DLQ_URL", "DB_PROXY_ENDPOINT"} <= set(employers)
    employees = by_handler["orchestration.handler.get_employees"]["Environment"]["Variables"]
    assert employees["CHUNK_SIZE"] == "25"
    assert {"PAYRUN_BUCKET", "EMPLOYEE_STATUS_TABLE", "DB_PROXY_ENDPOINT"} <= set(employees)
    for handler in ("get_employers", "get_employees"):
        assert "VpcConfig" in by_handler[f"orchestration.handler.{handler}"]


def test_chunk_size_comes_from_context() -> None:
    app = cdk.App(context={"payroll:local": "true", "payroll:chunk-size": "1"})
    stack = STACK_CLASS(app, "OrchestrationChunkOne")
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "orchestration.handler.get_employees",
            "Environment": {"Variables": Match.object_like({"CHUNK_SIZE": "1"})},
        },
    )


# --- The DLQ and the schedules ---------------------------------------------------------


def test_orchestration_dlq(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": "payroll-dev-orchestration-dlq",
            "SqsManagedSseEnabled": True,
            "MessageRetentionPeriod": 14 * 24 * 3600,
        },
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_schedules_start_get_employers_with_a_dlq_and_retries(template: Template) -> None:
    schedules = template.find_resources("AWS::Scheduler::Schedule")
    expressions = {}
    for schedule in schedules.values():
        props = schedule["Properties"]
        target = props["Target"]
        assert target["Arn"]["Fn::GetAtt"][0].startswith("GetEmployersFunction")
        assert target["RoleArn"]["Fn::GetAtt"][0].startswith("SchedulerRole")
        assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("OrchestrationDlq")
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        trigger = json.loads(target["Input"])
        assert trigger["schema_version"] == "1"
        assert trigger["requested_by"] == "schedule"
        assert trigger["scheduled_time"] == "<aws.scheduler.scheduled-time>"
        expressions[props["Name"]] = (trigger["pay_schedule"], props["ScheduleExpression"])
        if trigger["pay_schedule"] == "biweekly":
            assert props["StartDate"]
    # Semimonthly is two schedules: EventBridge cron does not take "15,L".
    assert expressions == {
        "payroll-dev-pay-run-weekly": ("weekly", "cron(0 6 ? * FRI *)"),
        "payroll-dev-pay-run-biweekly": ("biweekly", "rate(14 days)"),
        "payroll-dev-pay-run-semimonthly-mid": ("semimonthly", "cron(0 6 15 * ? *)"),
        "payroll-dev-pay-run-semimonthly-end": ("semimonthly", "cron(0 6 L * ? *)"),
        "payroll-dev-pay-run-monthly": ("monthly", "cron(0 6 L * ? *)"),
    }
    assert {pay for pay, _ in expressions.values()} == {
        "weekly", "biweekly", "semimonthly", "monthly",
    }  # fmt: skip


def test_scheduler_role_may_only_invoke_get_employers_and_dead_letter(template: Template) -> None:
    granted = [
        (actions_of(s), [_render(r) for r in resources_of(s)])
        for lid, s in statements(template)
        if lid.startswith("SchedulerRole")
    ]
    assert sorted(granted) == sorted(
        [
            (["lambda:InvokeFunction"], ["<GetEmployersFunction2A8183C6.Arn>"]),
            (["sqs:SendMessage"], ["<OrchestrationDlq3BBFEE14.Arn>"]),
        ]
    )


def test_published_parameters(template: Template) -> None:
    names = {
        p["Properties"]["Name"] for p in template.find_resources("AWS::SSM::Parameter").values()
    }
    assert names == {
        "/payroll/dev/orchestration/state-machine-arn",
        "/payroll/dev/orchestration/function-name",
        "/payroll/dev/orchestration/dlq-url",
        "/payroll/dev/orchestration/dlq-arn",
    }
