"""The synthesized pay-run state machine, executed by moto (design.md 1).

The definition comes from the CDK template, its CloudFormation references resolved to
moto resources. moto runs it with execution on; its Lambda invocations run the real
orchestration handlers in-process (moto would need Docker), and stand-in step
consumers answer the task tokens through the shared step runner, as the step services
do. One employee fails a business rule at payroll_calc; one chunk fails on
infrastructure at retirement_calc. The execution must still succeed, every employee
must end CALCULATED or FAILED, and each employer must get its completion message.
"""

from __future__ import annotations

import importlib
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Template
from aws_lambda_powertools import Logger
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto_cloud import (
    ACCOUNT,
    BUCKET,
    EMPLOYEE_STATUS,
    EMPLOYER_STATUS,
    PAY_DATE,
    REGION,
    Context,
    Database,
    create_tables,
    role_arn,
)
from orchestration import handler
from stack import STACK_CLASS

from payroll_platform.local import moto_compat
from payroll_shared import aws, chunks, tasks
from payroll_shared.consumer import PoisonMessage
from payroll_shared.contracts import (
    EmployeeRecord,
    EmployerCompletion,
    GrossPayResult,
    PayrollCalcRequest,
    RetirementCalcRequest,
    RetirementResult,
    StepRequest,
    TaxCalcRequest,
    TaxResult,
    TimeEntryRequest,
    TimeEntryResult,
)
from payroll_shared.names import Step
from payroll_shared.steps import INVALID_TASK_TOKEN, StepRuleError, run_step

pytestmark = pytest.mark.slow

STEP_SERVICES = {
    Step.TIME_ENTRY: ("time-entry", TimeEntryRequest),
    Step.PAYROLL_CALC: ("payroll-calc", PayrollCalcRequest),
    Step.RETIREMENT_CALC: ("retirement-calc", RetirementCalcRequest),
    Step.TAX_CALC: ("tax-calc", TaxCalcRequest),
}
CHUNK_SIZE = 2
EXECUTION_TIMEOUT_SECONDS = 300
_quiet = Logger(service="stand-in-steps", level="WARNING")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    # Shorter task-token timeouts: a stuck test fails in minutes, not half an hour. No
    # chunk here is meant to time out, and a busy machine (moto's executions share the
    # process and its GIL) once took 30 s to pick a message up: a minute and a half.
    app = cdk.App(
        context={
            "payroll:local": "true",
            "payroll:step-timeout-seconds": "240",
            "payroll:step-heartbeat-seconds": "90",
        }
    )
    return dict(Template.from_stack(STACK_CLASS(app, "OrchestrationWorkflow")).to_json())


# --- Resolving the template's references to moto resources -----------------------------


class Resolver:
    def __init__(self, template: dict[str, Any], values: dict[str, str], arns: dict[str, str]):
        self.parameters = {
            logical_id: parameter.get("Default")
            for logical_id, parameter in template.get("Parameters", {}).items()
        }
        self.values = values  # SSM parameter name -> value
        self.arns = arns  # logical id -> ARN

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "Ref" in node:
            ref = node["Ref"]
            pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                      "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip
            if ref in pseudo:
                return pseudo[ref]
            if ref in self.parameters:
                return self.values[self.parameters[ref]]
            return self.arns[ref]
        if "Fn::GetAtt" in node:
            logical_id, attribute = node["Fn::GetAtt"]
            assert attribute == "Arn", attribute
            return self.arns[logical_id]
        if "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(str(self(part)) for part in parts)
        if "Fn::Select" in node:
            index, items = node["Fn::Select"]
            return self(items)[int(index)]
        if "Fn::Split" in node:
            separator, text = node["Fn::Split"]
            return str(self(text)).split(separator)
        return {key: self(value) for key, value in node.items()}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


def _in_process_invoke(handlers: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    """LambdaFunction._invoke_lambda that runs the real handler in this process."""

    def invoke(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        function = handlers[self.handler]
        payload = json.loads(event) if isinstance(event, str) else (event or {})
        try:
            return json.dumps(function(payload, Context())), False, ""
        except Exception as exc:  # reported like Lambda: the error type names it
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True, ""

    return invoke


# --- Stand-in step consumers ------------------------------------------------------------

MONEY = Decimal("1000.00")


def compute_for(step: Step, failing_employee: str, problems: list[str]) -> Callable[..., Any]:
    def compute(record: EmployeeRecord, results: dict[str, Any], _context: Any) -> Any:
        earlier = {s.value for s in Step if list(Step).index(s) < list(Step).index(step)}
        if set(results) != earlier:
            problems.append(f"{step.value} {record.employee_id}: got results {sorted(results)}")
        if step is Step.TIME_ENTRY:
            return TimeEntryResult(regular_hours=Decimal("80.00"), entries=10)
        if step is Step.PAYROLL_CALC:
            if record.employee_id == failing_employee:
                raise StepRuleError("RuleBroken", "a rule this employee's data breaks", "w4")
            return GrossPayResult(regular_pay=MONEY, gross_pay=MONEY)
        if step is Step.RETIREMENT_CALC:
            return RetirementResult()
        zero = Decimal("0.00")
        return TaxResult(
            taxable_wages=MONEY, federal_income_tax=zero, social_security=zero, medicare=zero,
            employer_social_security=zero, employer_medicare=zero, net_pay=MONEY,
        )  # fmt: skip

    return compute


class StepConsumers:
    """Poll the four step queues and answer like the step services do."""

    def __init__(self, queues: dict[Step, str], failing_employee: str, failing_chunk: str):
        self.queues = queues
        self.failing_employee = failing_employee
        self.failing_chunk = failing_chunk
        self.problems: list[str] = []
        self.requests: list[StepRequest] = []
        self.by_key: list[bool] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StepConsumers:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        sqs = boto3.client("sqs", region_name=REGION)
        while not self._stop.is_set():
            idle = True
            for step, url in self.queues.items():
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                for message in messages.get("Messages", []):
                    idle = False
                    try:
                        self._answer(step, message["Body"])
                    except PoisonMessage as exc:
                        # A token moto no longer knows (a delivery that came after its
                        # state ended, on a busy machine): production dead-letters it.
                        if exc.code != INVALID_TASK_TOKEN:
                            self.problems.append(f"{step.value}: PoisonMessage: {exc}")
                    except Exception as exc:
                        self.problems.append(f"{step.value}: {type(exc).__name__}: {exc}")
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if idle:
                time.sleep(0.05)

    def _answer(self, step: Step, body: str) -> None:
        _, model = STEP_SERVICES[step]
        request = model.model_validate_json(body)  # the body is exactly the contract
        self.by_key.append(not request.items and request.items_key is not None)
        # What the step works on: the items, read from their object if it came by key.
        self.requests.append(chunks.load(request))
        if step is Step.RETIREMENT_CALC and request.chunk_id == self.failing_chunk:
            tasks.fail(request.task_token, "DownstreamUnavailable", "retirement is down", _quiet)
            return
        run_step(request, compute_for(step, self.failing_employee, self.problems), _quiet)


# --- The test -----------------------------------------------------------------------------


@pytest.fixture
def moto_cloud(
    cloud_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("CHUNK_SIZE", str(CHUNK_SIZE))
    # moto's Step Functions as the local cloud runs it: heartbeats as AWS takes them (one
    # sent on pick-up, before moto had started the timer, was refused and the chunk
    # stalled for its heartbeat) and a missed one named States.HeartbeatTimeout.
    moto_compat.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        aws.reset_clients()
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        create_tables(boto3.client("dynamodb", region_name=REGION))
        sqs = boto3.client("sqs", region_name=REGION)
        yield {"sqs": sqs, "role": role_arn(boto3.client("iam", region_name=REGION))}
        aws.reset_clients()


@pytest.mark.parametrize(
    "inline_limit", [chunks.INLINE_LIMIT, 0], ids=["items-inline", "items-by-key"]
)
def test_a_pay_run_executes_end_to_end(
    template: dict[str, Any],
    moto_cloud: dict[str, Any],
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    inline_limit: int,
) -> None:
    # The chunks here are small: at 0 every chunk's items travel by key (GetEmployees'
    # listing, each step's answer, RecordChunkFailure), as large chunks do.
    monkeypatch.setattr(chunks, "INLINE_LIMIT", inline_limit)
    sqs = moto_cloud["sqs"]
    values = {
        "/payroll/dev/platform/pay-run-bucket-name": BUCKET,
        "/payroll/dev/platform/pay-run-bucket-arn": f"arn:aws:s3:::{BUCKET}",
        "/payroll/dev/platform/employer-status-table-arn":
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{EMPLOYER_STATUS}",
        "/payroll/dev/platform/employee-status-table-arn":
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{EMPLOYEE_STATUS}",
    }  # fmt: skip
    step_queues: dict[Step, str] = {}
    for step, (service, _) in STEP_SERVICES.items():
        url = sqs.create_queue(QueueName=f"payroll-dev-{service}-requests")["QueueUrl"]
        step_queues[step] = url
        values[f"/payroll/dev/{service}/queue-url"] = url
        values[f"/payroll/dev/{service}/queue-arn"] = (
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:payroll-dev-{service}-requests"
        )
    completion_url = sqs.create_queue(QueueName="payroll-dev-employer-completion")["QueueUrl"]
    values["/payroll/dev/employer-validation/queue-url"] = completion_url
    values["/payroll/dev/employer-validation/queue-arn"] = (
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:payroll-dev-employer-completion"
    )

    # The four functions, created in moto under their logical ids; run in-process.
    lambda_client = boto3.client("lambda", region_name=REGION)
    arns: dict[str, str] = {}
    handlers: dict[str, Callable[..., Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        handler_path = resource["Properties"]["Handler"]
        module, _, name = handler_path.rpartition(".")
        handlers[handler_path] = getattr(importlib.import_module(module), name)
        created = lambda_client.create_function(
            FunctionName=logical_id, Runtime="python3.12", Role=moto_cloud["role"],
            Handler=handler_path, Code={"ZipFile": _zip()},
        )  # fmt: skip
        arns[logical_id] = created["FunctionArn"]
    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", _in_process_invoke(handlers))

    (machine,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    definition = Resolver(template, values, arns)(machine["Properties"]["DefinitionString"])
    sfn = boto3.client("stepfunctions", region_name=REGION)
    state_machine_arn = sfn.create_state_machine(
        name=machine["Properties"]["StateMachineName"],
        definition=definition,
        roleArn=moto_cloud["role"],
        type="STANDARD",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", state_machine_arn)
    monkeypatch.setenv(
        "ORCHESTRATION_DLQ_URL",
        sqs.create_queue(QueueName="payroll-dev-orchestration-dlq")["QueueUrl"],
    )

    due = database.employers_by_schedule["weekly"]
    employees = {e: database.employees_by_employer.get(e, []) for e in due}
    biggest = max(due, key=lambda e: len(employees[e]))
    assert len(employees[biggest]) > 2 * CHUNK_SIZE, "the test needs a few chunks"
    failing_employee = employees[biggest][0]  # in the first chunk
    failing_chunk = f"{biggest}-c00001"  # the second chunk

    with StepConsumers(step_queues, failing_employee, failing_chunk) as consumers:
        started = handler.get_employers(
            {"pay_schedule": "weekly", "scheduled_time": f"{PAY_DATE}T06:00:00Z"}, Context()
        )
        assert started["status"] == "started", started
        deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
        while True:
            execution = sfn.describe_execution(executionArn=started["execution_arn"])
            if execution["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert execution["status"] == "SUCCEEDED", sfn.get_execution_history(
        executionArn=started["execution_arn"]
    )["events"][-5:]
    assert consumers.problems == []
    assert consumers.by_key == [inline_limit == 0] * len(consumers.requests)
    # Every step saw every chunk that reached it (the failed chunk stops at retirement).
    sent = {step: {r.chunk_id for r in consumers.requests if r.step is step} for step in Step}
    all_chunks = {f"{e}-c{i:05d}" for e in due for i in range(-(-len(employees[e]) // CHUNK_SIZE))}
    assert sent[Step.TIME_ENTRY] == sent[Step.PAYROLL_CALC] == all_chunks
    assert sent[Step.RETIREMENT_CALC] == all_chunks
    assert sent[Step.TAX_CALC] == all_chunks - {failing_chunk}

    pay_run_id = started["pay_run_id"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)

    # EmployerStatus: BEGIN for every due employer, written by the state machine.
    employer_rows = dynamodb.scan(TableName=EMPLOYER_STATUS)["Items"]
    assert sorted(r["employer_id"]["S"] for r in employer_rows) == sorted(due)
    assert all(r["status"]["S"] == "BEGIN" for r in employer_rows)
    assert all(r["execution_arn"]["S"] == started["execution_arn"] for r in employer_rows)

    # EmployeeStatus: CALCULATED, except the rule failure and the failed chunk.
    failed_chunk_members = employees[biggest][CHUNK_SIZE : 2 * CHUNK_SIZE]
    for employer_id in due:
        rows = {
            item["employee_id"]["S"]: item
            for item in dynamodb.query(
                TableName=EMPLOYEE_STATUS,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{pay_run_id}#{employer_id}"}},
            )["Items"]
        }
        assert sorted(rows) == employees[employer_id]
        for employee_id, row in rows.items():
            if employee_id == failing_employee:
                assert row["status"]["S"] == "FAILED"
                assert row["failed_step"]["S"] == "payroll_calc"
                assert row["error_code"]["S"] == "RuleBroken"
            elif employee_id in failed_chunk_members:
                assert row["status"]["S"] == "FAILED"
                assert row["failed_step"]["S"] == "retirement_calc"
                assert row["error_code"]["S"] == "DownstreamUnavailable"
            else:
                assert row["status"]["S"] == "CALCULATED", (employee_id, row)

    # The failed employee was not sent to the later steps.
    later = [r for r in consumers.requests if r.step is not Step.TIME_ENTRY
             and r.step is not Step.PAYROLL_CALC]  # fmt: skip
    assert all(failing_employee not in [i.employee_id for i in r.items] for r in later)

    # One EmployerCompletion per employer, with its employee count.
    completions = []
    while True:
        batch = sqs.receive_message(QueueUrl=completion_url, MaxNumberOfMessages=10)
        if not batch.get("Messages"):
            break
        completions += [
            EmployerCompletion.model_validate_json(m["Body"]) for m in batch["Messages"]
        ]
    assert sorted((c.employer_id, c.employees) for c in completions) == sorted(
        (e, len(employees[e])) for e in due
    )
    assert all(c.pay_run.pay_run_id == pay_run_id for c in completions)
    assert all(c.execution_arn == started["execution_arn"] for c in completions)

    # --- Redrive: the same state machine, the failed employees only ------------------
    failing_row = dynamodb.get_item(
        TableName=EMPLOYEE_STATUS,
        Key={"pk": {"S": f"{pay_run_id}#{biggest}"}, "employee_id": {"S": failing_employee}},
    )["Item"]
    fingerprint = failing_row["failed_record_sha256"]["S"]
    first_failed_at = failing_row["updated_at"]["S"]
    request = {
        "pay_run": completions[0].pay_run.model_dump(mode="json"),
        "employer_id": biggest,
        "attempt": 2,
        "employees": [
            # The rule failure asks to run only once its record changed: it has not.
            {"employee_id": failing_employee, "first_failed_at": first_failed_at,
             "unless_record_sha256": fingerprint},
            *({"employee_id": e, "first_failed_at": first_failed_at}
              for e in failed_chunk_members),
            {"employee_id": "no-such-employee", "first_failed_at": first_failed_at},
        ],
    }  # fmt: skip
    consumers.requests.clear()
    with StepConsumers(step_queues, failing_employee, failing_chunk="none") as again:
        answer = handler.get_employers({"redrive": request}, Context())
        assert answer["status"] == "started", answer
        assert answer["unchanged"] == [failing_employee]
        assert answer["missing"] == ["no-such-employee"]
        assert sorted(answer["started"]) == sorted(failed_chunk_members)
        assert f":{pay_run_id}-rd2-" in answer["execution_arn"]
        # The same request again names the same execution: nothing starts twice.
        repeat = handler.get_employers({"redrive": request}, Context())
        assert repeat["status"] == "nothing-to-redrive"
        assert sorted(repeat["not_failed"]) == sorted(failed_chunk_members)
        deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
        while True:
            execution = sfn.describe_execution(executionArn=answer["execution_arn"])
            if execution["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert execution["status"] == "SUCCEEDED"
    assert again.problems == []
    # Only the redriven employees went through the steps.
    assert {i.employee_id for r in again.requests for i in r.items} == set(failed_chunk_members)
    rows = {
        item["employee_id"]["S"]: item
        for item in dynamodb.query(
            TableName=EMPLOYEE_STATUS,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{pay_run_id}#{biggest}"}},
        )["Items"]
    }
    for employee_id in failed_chunk_members:
        assert rows[employee_id]["status"]["S"] == "CALCULATED"
        assert rows[employee_id]["redrive_attempt"]["N"] == "2"
        assert rows[employee_id]["first_failed_at"]["S"] == first_failed_at
        assert "error_code" not in rows[employee_id]
    assert rows[failing_employee]["status"]["S"] == "FAILED"
    (completion,) = [
        EmployerCompletion.model_validate_json(m["Body"])
        for m in sqs.receive_message(QueueUrl=completion_url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert (completion.employer_id, completion.employees) == (biggest, len(failed_chunk_members))
    assert completion.execution_arn == answer["execution_arn"]
