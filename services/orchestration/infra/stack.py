"""OrchestrationStack: GetEmployers, GetEmployees, the pay-run state machine, the schedules.

The state machine (``payroll-<stage>-pay-run``, STANDARD)::

    ForEachEmployer (distributed map over employers.json, S3 JSON ItemReader)
      RecordEmployerBegin   dynamodb:putItem EmployerStatus BEGIN, only if absent or BEGIN
                            (ConditionalCheckFailed on a re-run: go on)
      GetEmployees          Lambda: EmployeeStatus BEGIN rows + chunks.json in S3 (all
                            active employees, or only those a redrive names; a large
                            chunk's employees in an object of their own, listed by key)
      HasEmployees?         no chunks -> NotifyEmployerComplete
      ForEachChunk (distributed map over chunks.json, S3 JSON ItemReader)
        for each step in STEP_ORDER (TimeEntry, PayrollCalc, RetirementCalc, TaxCalc):
          Send<Step>        sqs:sendMessage.waitForTaskToken, a StepRequest body;
                            the answer (a ChunkState: results[step] in the items,
                            failed employees out) becomes the chunk's state;
                            TimeoutSeconds + HeartbeatSeconds, retries on transient
                            errors and once on a heartbeat timeout (a lost answer),
                            catches the rest -> <Step>Failed -> RecordChunkFailure
          <Step>AnyLeft?    no employee left -> ChunkDone
        RecordChunkFailure  Lambda: the chunk's remaining employees -> FAILED
        ChunkDone
      NotifyEmployerComplete  sqs:sendMessage EmployerCompletion to employer-validation
      RecordEmployerFailure   (GetEmployees or the chunk map failed) EmployerStatus
                              -> NEEDS_REDRIVE with the error
      DeadLetterEmployer      Lambda: one DeadLetterRecord (source orchestration) for
                              the employer on the process DLQ; Redrive runs it again
      EmployerDone

Choices worth knowing:

- EmployeeStatus BEGIN is written by GetEmployees for the employees without a row
  (BatchGetItem, then BatchWriteItem), before chunks.json exists, so before any step
  can run: every step finds the row it moves forward, and a re-run never resets one.
- Neither ItemBatcher nor ToleratedFailurePercentage is used (design.md 4): a map
  item is a chunk GetEmployees built, and a chunk that fails on infrastructure is
  caught and recorded, so no map item fails and no tolerance is needed.
- Each step answers with the chunk after it (``ChunkState``: its outcomes folded into
  the items, ``payroll_shared.steps.fold``), and the task's ResultPath is ``$``: the
  answer is the next step's input as it is. No Lambda merges between steps (one
  invocation and one state transition per step and chunk fewer than a merge would
  cost), and the StepRequest each step gets carries the chunk's items with the earlier
  steps' results and only the employees still going.
- A chunk's items travel inline only while they are small (16 KiB encoded); a larger
  chunk's state, step messages and answers carry ``items_key``, the key of the object
  holding its items (``payroll_shared.chunks``; every state passes both fields, one of
  them empty). The executor then copies a key through the chunk's states, not 100-150
  KB of employees, and no chunk size meets the 256 KiB limit of a state or an answer.
- Map results are discarded (ResultPath null) and every iteration ends with a tiny
  output, so a large pay run never meets the 256 KiB state payload limit.
- Execution data (employee records) is not logged: PII stays out of CloudWatch.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import ArnFormat, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from cdk_nag import NagSuppressions
from constructs import Construct

from payroll_shared import names
from payroll_shared.contracts import EmployerState, StepRequest
from payroll_shared.infra.constructs import (
    ServiceFunction,
    ServiceStack,
    grant_describe_executions,
    publish,
    standard_workflow,
)
from payroll_shared.names import Env, PlatformParam, Step
from payroll_shared.payrun import PayFrequency

SERVICE = "orchestration"
#: The StepRequest version the Send states build (the contract's own).
STEP_REQUEST_VERSION: str = StepRequest.model_fields["schema_version"].default
COMPLETION_SERVICE = "employer-validation"

#: Context keys (``cdk -c key=value``) and their defaults.
CHUNK_SIZE_CONTEXT = "payroll:chunk-size"
DEFAULT_CHUNK_SIZE = "25"
EMPLOYER_CONCURRENCY_CONTEXT = "payroll:employer-concurrency"
DEFAULT_EMPLOYER_CONCURRENCY = 10
CHUNK_CONCURRENCY_CONTEXT = "payroll:chunk-concurrency"
DEFAULT_CHUNK_CONCURRENCY = 20
STEP_TIMEOUT_CONTEXT = "payroll:step-timeout-seconds"
STEP_HEARTBEAT_CONTEXT = "payroll:step-heartbeat-seconds"
BIWEEKLY_START_CONTEXT = "payroll:biweekly-start"
#: The first biweekly pay date (a Friday); rate(14 days) counts from it.
DEFAULT_BIWEEKLY_START = "2026-01-02T06:00:00Z"

#: A step's consumer answers a chunk in seconds, but its message may wait in the queue
#: behind others, and a failed batch is only seen again after the queue's visibility
#: timeout (6 x 60 s). The heartbeat (no answer at all: a lost message, a dead
#: consumer) is therefore above one redelivery, the timeout above a few.
DEFAULT_STEP_HEARTBEAT_SECONDS = 600
DEFAULT_STEP_TIMEOUT_SECONDS = 1800
#: The whole pay run: a ceiling so nothing can hang for the 1-year STANDARD maximum.
PAY_RUN_TIMEOUT = Duration.hours(24)

#: Errors worth another try with backoff: throttling and transport trouble of the SQS
#: integration, and the name a step may fail a token with for transient trouble.
TRANSIENT_STEP_ERRORS = (
    "TransientStepError",
    "ThrottlingException",
    "SQS.SdkClientException",
    "SQS.AmazonSQSException",
    "SQS.KmsThrottledException",
    "SQS.RequestThrottledException",
)
TRANSIENT_DYNAMODB_ERRORS = (
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.SdkClientException",
)
CONDITIONAL_CHECK_FAILED = "DynamoDB.ConditionalCheckFailedException"

#: One schedule per pay schedule (name suffix, frequency, expression). Semimonthly
#: needs two: EventBridge cron (Quartz) does not take ``L`` in a list (``15,L``).
SCHEDULES: tuple[tuple[str, PayFrequency, str], ...] = (
    ("weekly", PayFrequency.WEEKLY, "cron(0 6 ? * FRI *)"),
    ("biweekly", PayFrequency.BIWEEKLY, "rate(14 days)"),
    ("semimonthly-mid", PayFrequency.SEMIMONTHLY, "cron(0 6 15 * ? *)"),
    ("semimonthly-end", PayFrequency.SEMIMONTHLY, "cron(0 6 L * ? *)"),
    ("monthly", PayFrequency.MONTHLY, "cron(0 6 L * ? *)"),
)


def _context_int(scope: Construct, key: str, default: int) -> int:
    value = scope.node.try_get_context(key)
    return int(value) if value not in (None, "") else default


def step_state_name(step: Step) -> str:
    return "".join(part.capitalize() for part in step.value.split("_"))


class OrchestrationStack(ServiceStack):
    service = SERVICE

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.state_machine_name = names.resource_name(self.stage, "pay-run")
        # Built from the name (not the construct) so GetEmployers and the state machine
        # do not depend on each other.
        self.state_machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.bucket = self.platform.bucket
        self.bucket_name = self.platform.value(PlatformParam.PAYRUN_BUCKET_NAME)

        self.dlq = self._orchestration_dlq()
        self.get_employers = self._get_employers()
        self.get_employees = self._get_employees()
        self.chunk_failure = self._chunk_failure_function()
        self.employer_failure = self._employer_failure_function()
        # The states' own scope: their names (construct ids) may repeat function names.
        self.flow = Construct(self, "PayRunFlow")
        self.state_machine = self._state_machine()
        self.schedules = self._schedules()
        self._publish()

    # --- Functions and queues ---------------------------------------------------------

    def _orchestration_dlq(self) -> sqs.Queue:
        dlq = sqs.Queue(
            self,
            "OrchestrationDlq",
            queue_name=names.resource_name(self.stage, "orchestration-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        NagSuppressions.add_resource_suppressions(
            dlq,
            [
                {
                    "id": "AwsSolutions-SQS3",
                    "reason": "This queue is itself a dead-letter store: pay-run triggers "
                    "whose start failed, kept for review and redriven by the redrive service.",
                }
            ],
        )
        return dlq

    def _grant_dead_letter(self, role: iam.IRole) -> None:
        """sqs:SendMessage to the orchestration DLQ, nothing else (SQS-managed SSE: no KMS)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dlq.queue_arn])
        )

    def _grant_pay_run_objects(self, function: ServiceFunction) -> None:
        """Read and write objects under pay-runs/ only, with the bucket's key."""
        self.platform.grant_pay_run_objects(
            function.role, ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
        )

    def _get_employers(self) -> ServiceFunction:
        function = ServiceFunction(
            self,
            "GetEmployers",
            service=SERVICE,
            handler="orchestration.handler.get_employers",
            description="GetEmployers: due employers to S3, then start the pay run",
            environment={
                **self.platform.table_environment(),
                Env.PAYRUN_BUCKET.value: self.bucket_name,
                Env.STATE_MACHINE_ARN.value: self.state_machine_arn,
                Env.ORCHESTRATION_DLQ_URL.value: self.dlq.queue_url,
            },
            timeout=Duration.minutes(5),
            database=self.platform,
        )
        self._grant_pay_run_objects(function)
        function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"], resources=[self.state_machine_arn]
            )
        )
        # To see whether the run already exists before rewriting its employers.json.
        grant_describe_executions(function.role, self.state_machine_name)
        # A redrive marks the employees it runs again (only FAILED ones), or the employer
        # (only NEEDS_REDRIVE), with the attempt.
        function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[
                    self.platform.employee_status.table_arn,
                    self.platform.employer_status.table_arn,
                ],
            )
        )
        self._grant_dead_letter(function.role)
        return function

    def _get_employees(self) -> ServiceFunction:
        function = ServiceFunction(
            self,
            "GetEmployees",
            service=SERVICE,
            handler="orchestration.handler.get_employees",
            description="GetEmployees: an employer's employees to S3 chunks, BEGIN rows",
            environment={
                **self.platform.table_environment(),
                Env.PAYRUN_BUCKET.value: self.bucket_name,
                Env.CHUNK_SIZE.value: str(
                    self.node.try_get_context(CHUNK_SIZE_CONTEXT) or DEFAULT_CHUNK_SIZE
                ),
            },
            # A large employer: thousands of conditional puts and a multipart upload.
            timeout=Duration.minutes(15),
            memory_size=1024,
            database=self.platform,
        )
        self._grant_pay_run_objects(function)
        # BEGIN rows: read which exist, batch-write the others (see put_employees_begin).
        function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"],
                resources=[self.platform.employee_status.table_arn],
            )
        )
        return function

    def _chunk_failure_function(self) -> ServiceFunction:
        function = ServiceFunction(
            self,
            "RecordChunkFailure",
            service=SERVICE,
            handler="orchestration.handler.record_chunk_failure",
            description="Pay run: mark a failed chunk's employees FAILED in EmployeeStatus",
            environment={
                **self.platform.table_environment(),
                **self.platform.bucket_environment(),
            },
            timeout=Duration.seconds(60),
            memory_size=256,
        )
        function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[self.platform.employee_status.table_arn],
            )
        )
        # A large chunk's employees are in an object (payroll_shared.chunks).
        self.platform.grant_pay_run_objects(function.role, ["s3:GetObject"])
        return function

    def _employer_failure_function(self) -> ServiceFunction:
        function = ServiceFunction(
            self,
            "DeadLetterEmployer",
            service=SERVICE,
            handler="orchestration.handler.dead_letter_employer",
            description="Pay run: an employer that could not be run -> one process dead letter",
            environment={Env.PROCESS_DLQ_URL.value: self.platform.process_dlq.queue_url},
            timeout=Duration.seconds(30),
            memory_size=256,
        )
        self.platform.process_dlq.grant_send_messages(function.role)
        return function

    # --- The state machine ------------------------------------------------------------

    def _lambda_task(
        self, construct_id: str, function: ServiceFunction, payload: dict[str, Any], **kwargs: Any
    ) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self.flow,
            construct_id,
            lambda_function=function.function,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=True,
            **kwargs,
        )

    def _chunk_flow(self) -> sfn.IChainable:
        """One child-map item: the four task-token steps over a chunk."""
        timeout = _context_int(self, STEP_TIMEOUT_CONTEXT, DEFAULT_STEP_TIMEOUT_SECONDS)
        heartbeat = _context_int(self, STEP_HEARTBEAT_CONTEXT, DEFAULT_STEP_HEARTBEAT_SECONDS)

        chunk_done = sfn.Pass(
            self.flow,
            "ChunkDone",
            comment="A tiny output: the map's results are discarded anyway",
            parameters={"chunk_id": sfn.JsonPath.string_at("$.chunk_id")},
        )
        record_failure = self._lambda_task(
            "RecordChunkFailure",
            self.chunk_failure,
            {
                "pay_run": sfn.JsonPath.object_at("$.pay_run"),
                "employer_id": sfn.JsonPath.string_at("$.employer_id"),
                "chunk_id": sfn.JsonPath.string_at("$.chunk_id"),
                "items": sfn.JsonPath.list_at("$.items"),
                "items_key": sfn.JsonPath.string_at("$.items_key"),
                "failed_step": sfn.JsonPath.string_at("$.failed_step"),
                "error": sfn.JsonPath.object_at("$.error"),
            },
            result_path=sfn.JsonPath.DISCARD,
            comment="Infrastructure failure: the chunk's employees still going become FAILED",
        )
        record_failure.add_retry(
            errors=["States.ALL"],
            interval=Duration.seconds(2),
            backoff_rate=2,
            max_attempts=3,
        )
        record_failure.next(chunk_done)

        first: sfn.IChainable | None = None
        previous: sfn.Choice | None = None
        for index, step in enumerate(names.STEP_ORDER):
            title = step_state_name(step)
            queue = sqs.Queue.from_queue_attributes(
                self,
                f"{title}Queue",
                queue_arn=self.lookup(step.service, names.QUEUE_ARN),
                queue_url=self.lookup(step.service, names.QUEUE_URL),
            )
            send = tasks.SqsSendMessage(
                self.flow,
                f"Send{title}",
                queue=queue,
                integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
                # Exactly the StepRequest contract.
                message_body=sfn.TaskInput.from_object(
                    {
                        "schema_version": STEP_REQUEST_VERSION,
                        "step": step.value,
                        "task_token": sfn.JsonPath.task_token,
                        "pay_run": sfn.JsonPath.object_at("$.pay_run"),
                        "employer_id": sfn.JsonPath.string_at("$.employer_id"),
                        "chunk_id": sfn.JsonPath.string_at("$.chunk_id"),
                        "items": sfn.JsonPath.list_at("$.items"),
                        "items_key": sfn.JsonPath.string_at("$.items_key"),
                        "failed": sfn.JsonPath.list_at("$.failed"),
                    }
                ),
                task_timeout=sfn.Timeout.duration(Duration.seconds(timeout)),
                heartbeat_timeout=sfn.Timeout.duration(Duration.seconds(heartbeat)),
                # The answer is the chunk after the step (ChunkState): the next state's input.
                result_path="$",
                comment=f"{step.value}: one StepRequest; the answer is the chunk after it",
            )
            send.add_retry(
                errors=list(TRANSIENT_STEP_ERRORS),
                interval=Duration.seconds(2),
                backoff_rate=2,
                max_attempts=3,
                jitter_strategy=sfn.JitterType.FULL,
            )
            # No answer within the heartbeat: the message or its answer was lost (a
            # crashed consumer, a dropped SendTaskSuccess). Ask once more with a new
            # token; the step answers from its stored results (steps.py) if it ran.
            send.add_retry(
                errors=["States.HeartbeatTimeout"],
                interval=Duration.seconds(1),
                max_attempts=1,
            )
            note_failure = sfn.Pass(
                self.flow,
                f"{title}Failed",
                result=sfn.Result.from_string(step.value),
                result_path="$.failed_step",
            )
            note_failure.next(record_failure)
            send.add_catch(note_failure, errors=["States.ALL"], result_path="$.error")

            if previous is not None:
                previous.when(sfn.Condition.number_greater_than("$.remaining", 0), send)
                previous.otherwise(chunk_done)
            else:
                first = send
            if index == len(names.STEP_ORDER) - 1:
                send.next(chunk_done)
                previous = None
            else:
                previous = sfn.Choice(self.flow, f"{title}AnyLeft")
                send.next(previous)
        assert first is not None
        return first

    def _employer_flow(self, chunk_flow: sfn.IChainable) -> sfn.IChainable:
        """One parent-map item: an employer."""
        table = self.platform.employer_status
        employer_done = sfn.Pass(
            self.flow,
            "EmployerDone",
            parameters={"employer_id": sfn.JsonPath.string_at("$.employer_id")},
        )

        begin = tasks.DynamoPutItem(
            self.flow,
            "RecordEmployerBegin",
            table=table,
            item={
                "schema_version": tasks.DynamoAttributeValue.from_string("1"),
                "pay_run_id": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$.pay_run.pay_run_id")
                ),
                "employer_id": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$.employer_id")
                ),
                "status": tasks.DynamoAttributeValue.from_string(EmployerState.BEGIN.value),
                "employees": tasks.DynamoAttributeValue.from_number(0),
                "failed": tasks.DynamoAttributeValue.from_number(0),
                "updated_at": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$$.State.EnteredTime")
                ),
                "execution_arn": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$.execution_arn")
                ),
            },
            # BEGIN only where there is nothing yet or BEGIN again: never moves back.
            condition_expression="attribute_not_exists(employer_id) OR #s = :begin",
            expression_attribute_names={"#s": "status"},
            expression_attribute_values={
                ":begin": tasks.DynamoAttributeValue.from_string(EmployerState.BEGIN.value)
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        begin.add_retry(
            errors=list(TRANSIENT_DYNAMODB_ERRORS),
            interval=Duration.seconds(1),
            backoff_rate=2,
            max_attempts=4,
            jitter_strategy=sfn.JitterType.FULL,
        )

        get_employees = self._lambda_task(
            "GetEmployees",
            self.get_employees,
            {
                "pay_run": sfn.JsonPath.object_at("$.pay_run"),
                "employer_id": sfn.JsonPath.string_at("$.employer_id"),
                "redrive": sfn.JsonPath.object_at("$.redrive"),
            },
            result_path="$.employees",
            task_timeout=sfn.Timeout.duration(Duration.minutes(16)),
        )
        # Idempotent (overwrites its object, conditional rows): any failure is retried.
        get_employees.add_retry(
            errors=["States.ALL"], interval=Duration.seconds(5), backoff_rate=2, max_attempts=2
        )
        begin.add_catch(get_employees, errors=[CONDITIONAL_CHECK_FAILED], result_path="$.begin")

        for_each_chunk = sfn.DistributedMap(
            self.flow,
            "ForEachChunk",
            comment="The employer's chunks, each through the four steps",
            item_reader=sfn.S3JsonItemReader(
                bucket_name_path=sfn.JsonPath.string_at("$.employees.bucket"),
                key=sfn.JsonPath.string_at("$.employees.key"),
            ),
            item_selector={
                "pay_run": sfn.JsonPath.object_at("$.pay_run"),
                "employer_id": sfn.JsonPath.string_at("$.employer_id"),
                "chunk_id": sfn.JsonPath.string_at("$$.Map.Item.Value.chunk_id"),
                "items": sfn.JsonPath.list_at("$$.Map.Item.Value.items"),
                "items_key": sfn.JsonPath.string_at("$$.Map.Item.Value.items_key"),
                "failed": [],
            },
            max_concurrency=_context_int(
                self, CHUNK_CONCURRENCY_CONTEXT, DEFAULT_CHUNK_CONCURRENCY
            ),
            map_execution_type=sfn.StateMachineType.STANDARD,
            label="Chunks",
            result_path=sfn.JsonPath.DISCARD,
        )
        for_each_chunk.item_processor(chunk_flow)

        notify = tasks.SqsSendMessage(
            self.flow,
            "NotifyEmployerComplete",
            queue=sqs.Queue.from_queue_attributes(
                self,
                "EmployerCompletionQueue",
                queue_arn=self.lookup(COMPLETION_SERVICE, names.QUEUE_ARN),
                queue_url=self.lookup(COMPLETION_SERVICE, names.QUEUE_URL),
            ),
            # Exactly the EmployerCompletion contract.
            message_body=sfn.TaskInput.from_object(
                {
                    "schema_version": "1",
                    "pay_run": sfn.JsonPath.object_at("$.pay_run"),
                    "employer_id": sfn.JsonPath.string_at("$.employer_id"),
                    "employees": sfn.JsonPath.number_at("$.employees.employees"),
                    "execution_arn": sfn.JsonPath.string_at("$.execution_arn"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        notify.add_retry(
            errors=["States.ALL"], interval=Duration.seconds(2), backoff_rate=2, max_attempts=4
        )
        notify.next(employer_done)

        has_employees = sfn.Choice(self.flow, "HasEmployees")
        has_employees.when(
            sfn.Condition.number_greater_than("$.employees.chunks", 0), for_each_chunk
        )
        has_employees.otherwise(notify)
        for_each_chunk.next(notify)

        record_failure = tasks.DynamoUpdateItem(
            self.flow,
            "RecordEmployerFailure",
            table=self.platform.employer_status,
            key={
                "pay_run_id": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$.pay_run.pay_run_id")
                ),
                "employer_id": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$.employer_id")
                ),
            },
            update_expression=(
                "SET #s = :redrive, error_code = :code, error_message = :msg, updated_at = :now"
            ),
            condition_expression="#s IN (:begin, :redrive)",
            expression_attribute_names={"#s": "status"},
            expression_attribute_values={
                ":redrive": tasks.DynamoAttributeValue.from_string(
                    EmployerState.NEEDS_REDRIVE.value
                ),
                ":begin": tasks.DynamoAttributeValue.from_string(EmployerState.BEGIN.value),
                ":code": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$.error.Error")
                ),
                ":msg": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$.error.Cause")
                ),
                ":now": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$$.State.EnteredTime")
                ),
            },
            result_path=sfn.JsonPath.DISCARD,
            comment="The employer could not be listed or its chunks not run: redrive it",
        )
        record_failure.add_retry(
            errors=list(TRANSIENT_DYNAMODB_ERRORS),
            interval=Duration.seconds(1),
            backoff_rate=2,
            max_attempts=4,
        )
        record_failure.add_catch(
            employer_done, errors=[CONDITIONAL_CHECK_FAILED], result_path="$.record"
        )
        # Nobody of the employer is known to have failed, so no employee's dead letter
        # will say why it is unpaid: one record for the employer, redriven as a whole.
        dead_letter = self._lambda_task(
            "DeadLetterEmployer",
            self.employer_failure,
            {
                "pay_run": sfn.JsonPath.object_at("$.pay_run"),
                "employer_id": sfn.JsonPath.string_at("$.employer_id"),
                "redrive": sfn.JsonPath.object_at("$.redrive"),
                "execution_arn": sfn.JsonPath.string_at("$.execution_arn"),
                "error": sfn.JsonPath.object_at("$.error"),
            },
            result_path=sfn.JsonPath.DISCARD,
            comment="One DeadLetterRecord (source orchestration) naming the employer",
        )
        dead_letter.add_retry(
            errors=["States.ALL"], interval=Duration.seconds(2), backoff_rate=2, max_attempts=3
        )
        dead_letter.add_catch(employer_done, errors=["States.ALL"], result_path="$.dead_letter")
        record_failure.next(dead_letter).next(employer_done)
        get_employees.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")
        for_each_chunk.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")

        return begin.next(get_employees).next(has_employees)

    def _state_machine(self) -> sfn.StateMachine:
        for_each_employer = sfn.DistributedMap(
            self.flow,
            "ForEachEmployer",
            comment="The pay run's employers (employers.json written by GetEmployers)",
            item_reader=sfn.S3JsonItemReader(
                bucket_name_path=sfn.JsonPath.string_at("$.employers.bucket"),
                key=sfn.JsonPath.string_at("$.employers.key"),
            ),
            item_selector={
                "pay_run": sfn.JsonPath.object_at("$.pay_run"),
                "employer_id": sfn.JsonPath.string_at("$$.Map.Item.Value.employer_id"),
                "execution_arn": sfn.JsonPath.string_at("$$.Execution.Id"),
                # Which employees: all (a pay run) or the ones a redrive names.
                "redrive": sfn.JsonPath.object_at("$.redrive"),
            },
            max_concurrency=_context_int(
                self, EMPLOYER_CONCURRENCY_CONTEXT, DEFAULT_EMPLOYER_CONCURRENCY
            ),
            map_execution_type=sfn.StateMachineType.STANDARD,
            label="Employers",
            result_path=sfn.JsonPath.DISCARD,
        )
        for_each_employer.item_processor(self._employer_flow(self._chunk_flow()))

        state_machine = standard_workflow(
            self,
            "PayRun",
            name=self.state_machine_name,
            definition=for_each_employer,
            timeout=PAY_RUN_TIMEOUT,
        )
        role = state_machine.role
        # Both item readers read objects under pay-runs/ only (they take their bucket
        # from the input, so CDK adds no statement of its own). The bucket and the
        # status tables are encrypted with the platform key.
        self.platform.grant_pay_run_objects(role, ["s3:GetObject"])
        # The role's default policy and the DistributedMapPolicy are children.
        NagSuppressions.add_resource_suppressions(
            state_machine,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Scoped wildcards only: objects under pay-runs/ of the pay-run "
                    "bucket; versions of this stack's functions (Lambda invoke); executions "
                    "of this state machine's own map runs; the platform key's GenerateDataKey*"
                    "/ReEncrypt*; and X-Ray / log delivery, which take no resource ARN.",
                }
            ],
            apply_to_children=True,
        )
        return state_machine

    # --- Schedules --------------------------------------------------------------------

    def _schedules(self) -> list[scheduler.CfnSchedule]:
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            ),
            description="Pay-run schedules: invoke GetEmployers, dead-letter what fails",
        )
        function = self.get_employers.function
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[function.function_arn]
            )
        )
        # Scheduler writes undeliverable invocations to the DLQ with this role.
        self._grant_dead_letter(role)
        biweekly_start = str(
            self.node.try_get_context(BIWEEKLY_START_CONTEXT) or DEFAULT_BIWEEKLY_START
        )
        schedules = []
        for suffix, frequency, expression in SCHEDULES:
            title = "".join(part.capitalize() for part in suffix.split("-"))
            schedules.append(
                scheduler.CfnSchedule(
                    self,
                    f"{title}Schedule",
                    name=names.resource_name(self.stage, f"pay-run-{suffix}"),
                    description=f"Starts the {frequency.value} pay run",
                    schedule_expression=expression,
                    schedule_expression_timezone="UTC",
                    start_date=biweekly_start if frequency is PayFrequency.BIWEEKLY else None,
                    flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(
                        mode="OFF"
                    ),
                    state="ENABLED",
                    target=scheduler.CfnSchedule.TargetProperty(
                        arn=function.function_arn,
                        role_arn=role.role_arn,
                        # A PayRunTrigger without pay_date: GetEmployers takes the pay
                        # date from the time the schedule was due.
                        input=json.dumps(
                            {
                                "schema_version": "1",
                                "pay_schedule": frequency.value,
                                "requested_by": "schedule",
                                "scheduled_time": "<aws.scheduler.scheduled-time>",
                            }
                        ),
                        dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                            arn=self.dlq.queue_arn
                        ),
                        retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                            maximum_retry_attempts=10,
                            maximum_event_age_in_seconds=6 * 3600,
                        ),
                    ),
                )
            )
        return schedules

    # --- What other services read ------------------------------------------------------

    def _publish(self) -> None:
        published = (
            (names.STATE_MACHINE_ARN, self.state_machine.state_machine_arn,
             "Pay-run state machine ARN"),
            (names.FUNCTION_NAME, self.get_employers.function.function_name,
             "GetEmployers function name (start a pay run)"),
            (names.DLQ_URL, self.dlq.queue_url,
             "Orchestration DLQ URL: pay-run triggers that did not start"),
            (names.DLQ_ARN, self.dlq.queue_arn, "Orchestration DLQ ARN"),
        )  # fmt: skip
        for key, value, description in published:
            publish(self, key, value, service=SERVICE, description=description)


STACK_CLASS = OrchestrationStack

__all__ = ["STACK_CLASS", "OrchestrationStack"]
