"""The bad-input corpus, message by message: every queue contract, missing and wrong-typed.

Each body below is sent to the queue of the service that consumes it, the way a buggy
or hostile producer would, and must end on that queue's own DLQ with the reason as
message attributes: an error code, and a reason and ``error_field`` naming the field
(what ``test_bad_input.py`` checks for a few cases; these cover every field of every
queue contract that crosses a boundary, so a contract loosened by mistake shows up
here). Besides the malformed ones:

- a well-formed step request whose task token Step Functions never issued (forged,
  for a pay run that exists or not): the step does nothing (no status written) and
  the message lands on the DLQ naming ``task_token`` (error code InvalidTaskToken);
- an employer completion or a PushPayment for a pay run that does not exist: straight
  to the DLQ naming ``pay_run.pay_run_id`` (UnknownPayRun), not retried 5 times;
- a chunk naming one employee twice, and one of 1001 employees: the contract refuses
  it naming ``items``;
- a body over the queue's maximum message size: SQS itself refuses the SendMessage.

All bodies are sent at once and their dead letters collected together (one round of
consumer cold starts, not one per case).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from corpus_support import attributes_of, collect, dlq_url, queue_url

from payroll_shared.contracts import employee_pk
from payroll_shared.names import PlatformParam

pytestmark = pytest.mark.localcloud

PAY_RUN = {
    "pay_run_id": "pr-weekly-2026-07-31",
    "pay_schedule": "weekly",
    "period_start": "2026-07-25",
    "period_end": "2026-07-31",
    "pay_date": "2026-07-31",
}
#: A pay run nobody ever started (a valid id, no execution, no status items).
NO_SUCH_PAY_RUN = {
    "pay_run_id": "pr-weekly-2031-01-03",
    "pay_schedule": "weekly",
    "period_start": "2030-12-28",
    "period_end": "2031-01-03",
    "pay_date": "2031-01-03",
}
STEP_SERVICES = {
    "time_entry": "time-entry",
    "payroll_calc": "payroll-calc",
    "retirement_calc": "retirement-calc",
    "tax_calc": "tax-calc",
}
CONTRACT_VIOLATION = "ContractViolation"
MISSING = object()


def step_request(step_name: str, case: str, **changes: Any) -> dict[str, Any]:
    """A well-formed StepRequest for ``step_name`` with ``changes`` applied (MISSING drops a
    field); the chunk id names the case so every body is unique."""
    body: dict[str, Any] = {
        "schema_version": "3",
        "step": step_name,
        "task_token": "forged-token",
        "pay_run": PAY_RUN,
        "employer_id": "er-corpus-msg",
        "chunk_id": f"corpus-{step_name}-{case}",
        "items": [{"employee_id": "ee-corpus-msg-1", "record": {}, "results": {}}],
    }
    return _apply(body, changes)


def _apply(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    for key, value in changes.items():
        if value is MISSING:
            out.pop(key, None)
        else:
            out[key] = value
    return out


COMPLETION = {
    "schema_version": "1",
    "pay_run": PAY_RUN,
    "employer_id": "er-corpus-msg",
    "employees": 3,
}
PUSH = {
    "schema_version": "2",
    "pay_run": PAY_RUN,
    "employer_id": "er-corpus-msg",
    "statements": 1,
    "net_total": "10.00",
}

# Every required field missing, every field wrong-typed (StepRequest's ``step`` and
# ``schema_version`` have defaults in the step's own request model: only wrong-typed).
STEP_MISSING = ("task_token", "pay_run", "employer_id", "chunk_id", "items")
STEP_WRONG_TYPED: dict[str, Any] = {
    "schema_version": 1,
    "step": 3,
    "task_token": 12345,
    "pay_run": "pr-weekly-2026-07-31",
    "employer_id": ["er-corpus-msg"],
    "chunk_id": {"id": 1},
    "items": {"employee_id": "ee-corpus-msg-1"},
}
# Nested fields and extras, one step each (the model is the same for all four).
STEP_NESTED: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "time_entry",
        "period-end-missing",
        {"pay_run": {k: v for k, v in PAY_RUN.items() if k != "period_end"}},
        "pay_run.period_end",
    ),
    (
        "payroll_calc",
        "pay-date-not-a-date",
        {"pay_run": {**PAY_RUN, "pay_date": "31/07/2026"}},
        "pay_run.pay_date",
    ),
    (
        "retirement_calc",
        "item-without-employee",
        {"items": [{"record": {}, "results": {}}]},
        "items.0.employee_id",
    ),
    (
        "tax_calc",
        "record-not-an-object",
        {"items": [{"employee_id": "ee-corpus-msg-1", "record": "Robert'); DROP TABLE--"}]},
        "items.0.record",
    ),
    (
        "time_entry",
        "results-not-an-object",
        {"items": [{"employee_id": "ee-corpus-msg-1", "record": {}, "results": []}]},
        "items.0.results",
    ),
    ("payroll_calc", "unknown-field", {"priority": "high"}, "priority"),
    (
        "retirement_calc",
        "employee-twice",
        {
            "items": [
                {"employee_id": "ee-corpus-msg-1", "record": {}},
                {"employee_id": "ee-corpus-msg-1", "record": {}},
            ]
        },
        "items",
    ),
    (
        "tax_calc",
        "1001-employees",
        {"items": [{"employee_id": f"e{i}", "record": {}} for i in range(1001)]},
        "items",
    ),
]

# (case id, service, body, error code, field the reason names)
Case = tuple[str, str, dict[str, Any], str, str]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for step, service in STEP_SERVICES.items():
        for field in STEP_MISSING:
            body = step_request(step, f"no-{field}", **{field: MISSING})
            cases.append((f"{service}-missing-{field}", service, body, CONTRACT_VIOLATION, field))
        for field, value in STEP_WRONG_TYPED.items():
            body = step_request(step, f"bad-{field}", **{field: value})
            cases.append((f"{service}-wrong-{field}", service, body, CONTRACT_VIOLATION, field))
        # Well-formed, but the token was never issued: nothing may happen but a dead letter.
        cases.append(
            (
                f"{service}-forged-token",
                service,
                step_request(step, "forged", task_token=f"forged-{step}-AAAA=="),
                "InvalidTaskToken",
                "task_token",
            )
        )
    cases.append(
        (
            "time-entry-forged-token-no-such-pay-run",
            "time-entry",
            step_request("time_entry", "forged-no-run", pay_run=NO_SUCH_PAY_RUN),
            "InvalidTaskToken",
            "task_token",
        )
    )
    for step, case, changes, field in STEP_NESTED:
        service = STEP_SERVICES[step]
        body = step_request(step, case, **changes)
        cases.append((f"{service}-{case}", service, body, CONTRACT_VIOLATION, field))

    completion: list[tuple[str, dict[str, Any], str]] = [
        # (test_bad_input.py: employer_id missing, employees "many" and -1.)
        ("missing-pay_run", _apply(COMPLETION, {"pay_run": MISSING}), "pay_run"),
        ("missing-employees", _apply(COMPLETION, {"employees": MISSING}), "employees"),
        ("wrong-schema_version", {**COMPLETION, "schema_version": 1}, "schema_version"),
        ("wrong-pay_run", {**COMPLETION, "pay_run": ["pr-weekly-2026-07-31"]}, "pay_run"),
        ("wrong-employer_id", {**COMPLETION, "employer_id": 42}, "employer_id"),
        ("empty-employer_id", {**COMPLETION, "employer_id": ""}, "employer_id"),
        ("wrong-execution_arn", {**COMPLETION, "execution_arn": 7}, "execution_arn"),
        ("unknown-field", {**COMPLETION, "status": "PAID"}, "status"),
        (
            "pay_run_id-missing",
            {**COMPLETION, "pay_run": {k: v for k, v in PAY_RUN.items() if k != "pay_run_id"}},
            "pay_run.pay_run_id",
        ),
        (
            "unknown-schedule",
            {**COMPLETION, "pay_run": {**PAY_RUN, "pay_schedule": "hourly"}},
            "pay_run.pay_schedule",
        ),
    ]
    for case, body, field in completion:
        cases.append(
            (f"employer-validation-{case}", "employer-validation", body, CONTRACT_VIOLATION, field)
        )
    for employees in (2, 0):
        cases.append(
            (
                f"employer-validation-no-such-pay-run-{employees}",
                "employer-validation",
                {**COMPLETION, "pay_run": NO_SUCH_PAY_RUN, "employees": employees},
                "UnknownPayRun",
                "pay_run.pay_run_id",
            )
        )

    push: list[tuple[str, dict[str, Any], str]] = [
        # (test_bad_input.py: net_total "ten dollars", payment_attempt 0, schema_version "9".)
        ("missing-pay_run", _apply(PUSH, {"pay_run": MISSING}), "pay_run"),
        ("missing-employer_id", _apply(PUSH, {"employer_id": MISSING}), "employer_id"),
        ("missing-statements", _apply(PUSH, {"statements": MISSING}), "statements"),
        ("missing-net_total", _apply(PUSH, {"net_total": MISSING}), "net_total"),
        ("wrong-schema_version", {**PUSH, "schema_version": 2}, "schema_version"),
        ("wrong-employer_id", {**PUSH, "employer_id": None}, "employer_id"),
        ("wrong-statements", {**PUSH, "statements": "one"}, "statements"),
        ("negative-statements", {**PUSH, "statements": -1}, "statements"),
        # A float cannot hold cents exactly: money travels as a two-decimal string.
        ("float-net_total", {**PUSH, "net_total": 10.5}, "net_total"),
        ("sub-cent-net_total", {**PUSH, "net_total": "10.001"}, "net_total"),
        ("wrong-payment_attempt", {**PUSH, "payment_attempt": "first"}, "payment_attempt"),
        (
            "period_start-not-a-date",
            {**PUSH, "pay_run": {**PAY_RUN, "period_start": "soon"}},
            "pay_run.period_start",
        ),
        ("unknown-field", {**PUSH, "amount": "10.00"}, "amount"),
    ]
    for case, body, field in push:
        cases.append((f"money-movement-{case}", "money-movement", body, CONTRACT_VIOLATION, field))
    for statements, net in ((1, "10.00"), (0, "0.00")):
        cases.append(
            (
                f"money-movement-no-such-pay-run-{statements}",
                "money-movement",
                {**PUSH, "pay_run": NO_SUCH_PAY_RUN, "statements": statements, "net_total": net},
                "UnknownPayRun",
                "pay_run.pay_run_id",
            )
        )
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def dead_letters(environment) -> dict[str, dict[str, Any]]:
    """Send every case's body to its queue at once; body -> its dead letter."""
    cloud = environment.cloud
    sqs = cloud.client("sqs")
    by_service: dict[str, list[str]] = {}
    for _, service, body, _, _ in CASES:
        by_service.setdefault(service, []).append(json.dumps(body))
    for service, bodies in by_service.items():
        assert len(set(bodies)) == len(bodies), f"two {service} cases share a body"
        queue = queue_url(cloud, service)
        for text in bodies:
            sqs.send_message(QueueUrl=queue, MessageBody=text)
    found: dict[str, dict[str, Any]] = {}
    for service, bodies in by_service.items():
        queue = queue_url(cloud, service)
        found.update(collect(cloud, dlq_url(cloud, queue), bodies))
    return found


@pytest.mark.parametrize(
    ("service", "body", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_a_bad_message_is_dead_lettered_on_its_queue_naming_the_field(
    environment, dead_letters, service, body, code, field
):
    message = dead_letters[json.dumps(body)]
    attributes = attributes_of(message)
    assert attributes["error_code"] == code, attributes
    assert attributes.get("error_field", "") == field, attributes
    assert field in attributes["error_reason"], attributes
    queue = queue_url(environment.cloud, service)
    # Moved by the consumer with its reason (SQS's own redrive after maxReceiveCount
    # would carry no attributes at all).
    assert attributes["source_queue_arn"].endswith(queue.rsplit("/", 1)[1])


def test_a_forged_token_moves_no_status(environment, dead_letters):
    """The forged step requests above were well-formed: had the steps worked on them,
    their employee would have an EmployeeStatus item now."""
    cloud = environment.cloud
    table = cloud.platform_param(PlatformParam.EMPLOYEE_STATUS_TABLE_NAME)
    for pay_run in (PAY_RUN, NO_SUCH_PAY_RUN):
        found = cloud.client("dynamodb").get_item(
            TableName=table,
            Key={
                "pk": {"S": employee_pk(pay_run["pay_run_id"], "er-corpus-msg")},
                "employee_id": {"S": "ee-corpus-msg-1"},
            },
            ConsistentRead=True,
        )
        assert "Item" not in found, found


def test_a_message_over_the_queue_size_limit_is_refused_by_sqs(environment):
    """An oversized body never reaches a consumer: SQS refuses the SendMessage (moto
    enforces the queue's MaximumMessageSize, 1 MiB by default as in AWS since 2025;
    Step Functions, the only legitimate sender of step requests, is held to its 256 KiB
    payload limit before that)."""
    cloud = environment.cloud
    sqs = cloud.client("sqs")
    queue = queue_url(cloud, "tax-calc")
    limit = int(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["MaximumMessageSize"])[
            "Attributes"
        ]["MaximumMessageSize"]
    )
    padding = "x" * (limit + 1)
    body = json.dumps(step_request("tax_calc", "oversized", chunk_id=padding))
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    error = refused.value.response["Error"]
    assert error["Code"] in {"InvalidParameterValue", "InvalidParameterValueException"}, error
    assert f"shorter than {limit} bytes" in error["Message"]
