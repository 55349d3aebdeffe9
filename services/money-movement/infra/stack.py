"""MoneyMovementStack: the PushPayment queue, its DLQ and the MoneyMovement consumer.

The consumer pays each employee through the external payment API and publishes one
completion notice per employer to the platform's (KMS-encrypted) completion topic.
The notice is published by a one-state Standard workflow (``Notice``) that the
consumer starts under an execution name derived from pay run and employer: Step
Functions starts a name once, so a delivery that dies after starting it and is
delivered again cannot publish a second notice (design.md 6).

It runs in the platform's VPC (``database``) to read committed statements from the
ledger through RDS Proxy, and reaches the payment API through the VPC's NAT gateway.

The payment API's base URL is an operator's setting, not something a stack creates:
before deploying, put it in the SSM parameter
``/payroll/<stage>/money-movement/payment-api-url``.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from cdk_nag import NagSuppressions
from constructs import Construct

from payroll_shared import names
from payroll_shared.infra.constructs import (
    ConsumerQueue,
    ServiceFunction,
    ServiceStack,
    grant_describe_executions,
    publish,
    standard_workflow,
)
from payroll_shared.names import Env, PlatformParam

SERVICE = "money-movement"
PAYMENT_API_URL_KEY = "payment-api-url"
#: One message is one employer's payments, each an HTTP call with up to three retries
#: (about 20 s worst case per call): 300 s, so the queue's visibility timeout is 1800 s.
CONSUMER_TIMEOUT = Duration.seconds(300)
#: SNS errors worth another try inside the notice workflow: refusals (throttling) and
#: SNS's own errors. Not ``States.Timeout``: a publish that timed out may have gone out,
#: and publishing it again would be the second notice this workflow exists to prevent;
#: the execution fails instead, and its PushPayment comes back to a person
#: (``adapters.NoticeNotPublished``).
TRANSIENT_SNS_ERRORS = [
    "SNS.ThrottledException",
    "SNS.InternalErrorException",
    "SNS.KMSThrottlingException",
]


class MoneyMovementStack(ServiceStack):
    service = SERVICE

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        platform = self.platform
        self.notice_machine = self._notice_state_machine()

        self.consumer = ServiceFunction(
            self,
            "Consumer",
            service=SERVICE,
            handler="money_movement.handler.lambda_handler",
            description="MoneyMovement: pays an employer's committed statements and notifies",
            environment={
                **platform.table_environment(),
                Env.NOTICE_STATE_MACHINE_ARN.value: self.notice_machine.state_machine_arn,
                Env.PAYMENT_API_URL.value: self.lookup(SERVICE, PAYMENT_API_URL_KEY),
                Env.PROCESS_DLQ_URL.value: platform.process_dlq.queue_url,
            },
            timeout=CONSUMER_TIMEOUT,
            database=platform,
        )
        self.payments = ConsumerQueue(
            self,
            "PushPayment",
            queue_name="push-payment",
            consumer=self.consumer,
            # One employer per invocation; the payment API sees at most this many at once.
            batch_size=1,
            max_concurrency=5,
        )

        role = self.consumer.role
        # Start the notice (once per name) and read how an earlier start ended.
        self.notice_machine.grant_start_execution(role)
        grant_describe_executions(role, self.notice_machine_name)
        platform.employee_status.grant_read_write_data(role)
        platform.employer_status.grant_read_write_data(role)
        platform.process_dlq.grant_send_messages(role)

        queue, dlq = self.payments.queue, self.payments.dlq
        publish(self, names.QUEUE_URL, queue.queue_url, service=SERVICE,
                description="PushPayment queue URL")  # fmt: skip
        publish(self, names.QUEUE_ARN, queue.queue_arn, service=SERVICE,
                description="PushPayment queue ARN")  # fmt: skip
        publish(self, names.DLQ_URL, dlq.queue_url, service=SERVICE,
                description="PushPayment DLQ URL")  # fmt: skip
        publish(self, names.DLQ_ARN, dlq.queue_arn, service=SERVICE,
                description="PushPayment DLQ ARN (for Redrive)")  # fmt: skip

    def _notice_state_machine(self) -> sfn.StateMachine:
        """Publish one completion notice: the input's ``message`` (the contract's JSON)
        with its ``employer_id`` and ``status`` attributes, to the completion topic."""
        publish_notice = tasks.SnsPublish(
            self,
            "PublishNotice",
            topic=self.platform.completion_topic,
            message=sfn.TaskInput.from_json_path_at("$.message"),
            message_attributes={
                "employer_id": tasks.MessageAttribute(
                    value=sfn.JsonPath.string_at("$.employer_id"),
                    data_type=tasks.MessageAttributeDataType.STRING,
                ),
                "status": tasks.MessageAttribute(
                    value=sfn.JsonPath.string_at("$.status"),
                    data_type=tasks.MessageAttributeDataType.STRING,
                ),
            },
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.seconds(60)),
        )
        publish_notice.add_retry(
            errors=TRANSIENT_SNS_ERRORS,
            interval=Duration.seconds(2),
            backoff_rate=2,
            max_attempts=6,
        )
        name = self.notice_machine_name = names.resource_name(self.stage, "completion-notice")
        machine = standard_workflow(
            self, "Notice", name=name, definition=publish_notice, timeout=Duration.minutes(15)
        )
        # The topic is encrypted with the platform key: publishing needs a data key.
        machine.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.platform.value(PlatformParam.KMS_KEY_ARN)],
            )
        )
        NagSuppressions.add_resource_suppressions(
            machine,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "X-Ray and log delivery take no resource ARN.",
                }
            ],
            apply_to_children=True,
        )
        return machine


STACK_CLASS = MoneyMovementStack
