"""The composed app deployed into the local cloud: names, wiring, pollers, DLQs."""

import json
import time
from datetime import UTC, datetime

import pytest

from payroll_shared import names
from payroll_shared.contracts import employee_pk, stored_results
from payroll_shared.names import PlatformParam

pytestmark = pytest.mark.localcloud

PAY_RUN = {
    "pay_run_id": "pr-biweekly-2026-11-27",
    "pay_schedule": "biweekly",
    "period_start": "2026-11-14",
    "period_end": "2026-11-27",
    "pay_date": "2026-11-27",
}
RECORD = {
    "schema_version": "1",
    "employee_id": "e1",
    "employer_id": "er1",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "birth_date": "1985-12-10",
    "pay_type": "hourly",
    "pay_frequency": "biweekly",
    "hourly_rate": "25.00",
    "work_state": "TX",
    "w4": {"form_year": 2024, "filing_status": "single"},
    "bank_account_token": "tok_0001",
}


def tax_request(employee_id: str, token: str = "not-a-live-token") -> dict:
    return {
        "schema_version": "3",
        "step": "tax_calc",
        "task_token": token,
        "pay_run": PAY_RUN,
        "employer_id": "er1",
        "chunk_id": f"er1-{employee_id}",
        "items": [
            {
                "employee_id": employee_id,
                "record": {**RECORD, "employee_id": employee_id},
                "results": {
                    "payroll_calc": {"gross_pay": "2000.00"},
                    "retirement_calc": {"deferral": "100.00", "roth": False},
                },
            }
        ],
    }


def one_step_machine(cloud, service: str) -> str:
    """A state machine that sends one step request to a service's queue and waits for the
    task token, as the pay-run workflow does: a live token for the consumer to answer."""
    sfn = cloud.client("stepfunctions")
    name = f"test-one-step-{service}"
    existing = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name]
    if existing:
        return existing[0]["stateMachineArn"]
    body = {
        "schema_version": "3",
        "step.$": "$.step",
        "task_token.$": "$$.Task.Token",
        "pay_run.$": "$.pay_run",
        "employer_id.$": "$.employer_id",
        "chunk_id.$": "$.chunk_id",
        "items.$": "$.items",
    }
    definition = {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "TimeoutSeconds": 600,
                "HeartbeatSeconds": 300,
                "Parameters": {
                    "QueueUrl": cloud.service_param(service, names.QUEUE_URL),
                    "MessageBody": body,
                },
                "End": True,
            }
        },
    }
    role = "arn:aws:iam::123456789012:role/test-one-step"
    created = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)
    return created["stateMachineArn"]


def start_waiting(cloud, service: str, request: dict) -> str:
    """Start a one-step execution whose message carries a live task token."""
    machine = one_step_machine(cloud, service)
    execution = cloud.client("stepfunctions").start_execution(
        stateMachineArn=machine,
        input=json.dumps(
            {k: v for k, v in request.items() if k not in {"schema_version", "task_token"}}
        ),
    )
    return execution["executionArn"]


def execution_output(cloud, execution_arn: str) -> dict:
    sfn = cloud.client("stepfunctions")
    described = wait_for(
        lambda: (
            (d := sfn.describe_execution(executionArn=execution_arn))["status"] != "RUNNING" and d
        )
    )
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def put_status(cloud, employee_id: str, status: str) -> None:
    cloud.client("dynamodb").put_item(
        TableName=cloud.platform_param(PlatformParam.EMPLOYEE_STATUS_TABLE_NAME),
        Item={
            "pk": {"S": employee_pk(PAY_RUN["pay_run_id"], "er1")},
            "employee_id": {"S": employee_id},
            "status": {"S": status},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
        },
    )


def get_status(cloud, employee_id: str) -> dict:
    return (
        cloud.client("dynamodb")
        .get_item(
            TableName=cloud.platform_param(PlatformParam.EMPLOYEE_STATUS_TABLE_NAME),
            Key={
                "pk": {"S": employee_pk(PAY_RUN["pay_run_id"], "er1")},
                "employee_id": {"S": employee_id},
            },
            ConsistentRead=True,
        )
        .get("Item", {})
    )


def wait_for(predicate, timeout_s=30.0, interval_s=0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError("condition not met in time")


def drain(cloud, queue_url: str, wait_s: int = 1) -> list[dict]:
    messages = cloud.client("sqs").receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait_s,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    )
    return messages.get("Messages", [])


def test_every_published_resource_exists(local_cloud):
    cloud = local_cloud
    stage = cloud.config.stage
    dynamodb = cloud.client("dynamodb")
    for which in (
        PlatformParam.EMPLOYER_STATUS_TABLE_NAME,
        PlatformParam.EMPLOYEE_STATUS_TABLE_NAME,
    ):
        table = cloud.platform_param(which)
        assert table.startswith(f"payroll-{stage}-")
        assert dynamodb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    cloud.client("s3").head_bucket(Bucket=cloud.platform_param(PlatformParam.PAYRUN_BUCKET_NAME))
    cloud.client("sns").get_topic_attributes(
        TopicArn=cloud.platform_param(PlatformParam.COMPLETION_TOPIC_ARN)
    )
    sqs = cloud.client("sqs")
    sqs.get_queue_attributes(QueueUrl=cloud.platform_param(PlatformParam.PROCESS_DLQ_URL))
    for service in ("time-entry", "payroll-calc", "retirement-calc", "tax-calc"):
        url = cloud.service_param(service, names.QUEUE_URL)
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f"payroll-{stage}-{service}-requests-dlq")
        assert int(redrive["maxReceiveCount"]) == 5
    for service in ("employer-validation", "money-movement"):
        sqs.get_queue_attributes(QueueUrl=cloud.service_param(service, names.QUEUE_URL))
    machine_arn = cloud.service_param("orchestration", names.STATE_MACHINE_ARN)
    described = cloud.client("stepfunctions").describe_state_machine(stateMachineArn=machine_arn)
    assert described["name"] == f"payroll-{stage}-pay-run"
    assert "DISTRIBUTED" in described["definition"]


def test_the_functions_of_a_pay_run_are_initialized_when_the_cloud_starts(local_cloud):
    """Each queue's consumer, the trigger and the functions the workflow invokes ran
    their INIT phase at start-up (a warm worker each); the redrive's did not."""
    cloud = local_cloud
    initialized = set(cloud.initialized)
    assert {poller.function_name for poller in cloud.pollers} <= initialized
    assert cloud.function_name("orchestration", "GetEmployers") in initialized
    assert cloud.function_name("orchestration", "GetEmployees") in initialized
    assert cloud.function_name("redrive", "Api") not in initialized
    assert len(initialized) == 10


def test_a_message_reaches_the_real_handler_through_the_poller(local_cloud):
    cloud = local_cloud
    put_status(cloud, "e-ok", "BEGIN")
    execution = start_waiting(cloud, "tax-calc", tax_request("e-ok"))
    # The consumer answered the task token with the chunk after the step (ChunkState).
    answer = execution_output(cloud, execution)
    assert answer["remaining"] == 1 and answer["failed"] == []
    assert [i["employee_id"] for i in answer["items"]] == ["e-ok"]
    assert answer["items"][0]["results"]["tax_calc"]["net_pay"] == "1602.85"
    item = wait_for(
        lambda: (s := get_status(cloud, "e-ok")) and s["status"]["S"] == "CALCULATED" and s
    )
    result = stored_results(item)["tax_calc"]
    # FICA wages 2000: SS 124.00, Medicare 29.00. Federal (2026, single, biweekly):
    # (2000 - 100 pre-tax deferral) x 26 = 49,400 - 8,600 = 40,800 -> 1,240 + 12% x
    # (40,800 - 19,900) = 3,748 / 26 = 144.15. TX: no state tax.
    # net = 2000 - 144.15 - 124.00 - 29.00 - 100 deferral = 1602.85
    assert result["social_security"] == "124.00"
    assert result["federal_income_tax"] == "144.15"
    assert result["net_pay"] == "1602.85"


def test_a_malformed_message_goes_to_the_dlq_with_the_reason_and_the_batch_goes_on(local_cloud):
    cloud = local_cloud
    sqs = cloud.client("sqs")
    queue = cloud.service_param("payroll-calc", names.QUEUE_URL)
    # A malformed message and a good one on the same queue: the bad one is dead-lettered
    # with its reason; the good one is answered and recorded.
    dlq = cloud.service_param("payroll-calc", names.DLQ_URL)
    good = {**tax_request("e-batch"), "step": "payroll_calc"}
    good["items"][0]["results"] = {"time_entry": {"regular_hours": "80", "overtime_hours": "0"}}
    bad = {**tax_request("e-bad"), "step": "payroll_calc"}
    del bad["items"][0]["employee_id"]
    put_status(cloud, "e-batch", "BEGIN")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(bad))
    execution = start_waiting(cloud, "payroll-calc", good)
    # A success before the last step travels with the chunk: in the answer, not the table.
    answer = execution_output(cloud, execution)
    assert [i["results"]["payroll_calc"]["gross_pay"] for i in answer["items"]] == ["2000.00"]
    assert answer["items"][0]["results"]["time_entry"]["regular_hours"] == "80"
    assert get_status(cloud, "e-batch")["status"]["S"] == "BEGIN"
    dead = wait_for(lambda: drain(cloud, dlq))
    assert len(dead) == 1
    attributes = dead[0]["MessageAttributes"]
    assert attributes["error_code"]["StringValue"] == "ContractViolation"
    assert "items.0.employee_id: Field required" in attributes["error_reason"]["StringValue"]
    assert json.loads(dead[0]["Body"])["chunk_id"] == "er1-e-bad"


def test_a_failing_record_ends_in_the_dlq_after_its_receive_count(local_cloud):
    cloud = local_cloud
    function = cloud.function_name("retirement-calc", "Consumer")
    # Fault: the consumer's status table is missing, so every attempt raises.
    cloud.runtime.override(function, EMPLOYEE_STATUS_TABLE="no-such-table")
    try:
        body = {**tax_request("e-retry"), "step": "retirement_calc"}
        body["items"][0]["results"] = {"payroll_calc": {"gross_pay": "1000.00"}}
        execution = start_waiting(cloud, "retirement-calc", body)
        dlq = cloud.service_param("retirement-calc", names.DLQ_URL)
        dead = wait_for(lambda: drain(cloud, dlq), timeout_s=60)
        assert json.loads(dead[0]["Body"])["chunk_id"] == "er1-e-retry"
        # It was received maxReceiveCount (5) times before SQS moved it.
        assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 5
        poller = next(p for p in cloud.pollers if p.function_name == function)
        assert poller.stats.failed_records >= 5
        # On the last delivery the consumer failed the waiting task: no wait for a heartbeat.
        sfn = cloud.client("stepfunctions")
        described = wait_for(
            lambda: (
                (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d
            )
        )
        assert described["status"] == "FAILED"
        assert described["error"] == "StepInfrastructureError"
    finally:
        cloud.runtime.override(function)


def test_the_functions_of_a_service_are_its_stacks(local_cloud):
    cloud = local_cloud
    money_movement = cloud.functions_of("money-movement")
    assert money_movement == [cloud.function_name("money-movement", "Consumer")]
    orchestration = cloud.functions_of("orchestration")
    assert cloud.function_name("orchestration", "GetEmployers") in orchestration
    assert cloud.function_name("orchestration", "GetEmployees") in orchestration
    assert not set(orchestration) & set(money_movement)


def test_the_collector_is_quiet_while_the_cloud_runs_and_as_before_after(tmp_path):
    import gc

    from payroll_platform.local.cloud import GC_THRESHOLDS, LocalCloud, LocalCloudConfig

    before = gc.get_threshold()
    cloud = LocalCloud(LocalCloudConfig(run_dir=tmp_path, database_url="sqlite://"))
    cloud._quiet_collector()  # what start() does last
    try:
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # start-up's objects: out of the collector's sight
    finally:
        cloud.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
