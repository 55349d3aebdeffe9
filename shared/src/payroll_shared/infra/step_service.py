"""The stack shape the four task-token step services share."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from payroll_shared import names
from payroll_shared.infra.constructs import ConsumerQueue, ServiceFunction, ServiceStack, publish
from payroll_shared.names import Step

#: A step's consumer answers one chunk per record; a chunk of up to 100 employees takes
#: seconds, so 60 s leaves room and the queue's visibility timeout becomes 360 s.
STEP_TIMEOUT = Duration.seconds(60)


class StepServiceStack(ServiceStack):
    """Request queue + DLQ + consumer function that answers Step Functions task tokens."""

    step: Step
    handler: str
    uses_database: bool = False

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.service = self.step.service
        self.consumer = ServiceFunction(
            self,
            "Consumer",
            service=self.service,
            handler=self.handler,
            description=f"{self.step.value}: task-token consumer of the pay-run workflow",
            environment={
                **self.platform.table_environment(),
                **self.platform.bucket_environment(),
            },
            timeout=STEP_TIMEOUT,
            database=self.platform if self.uses_database else None,
        )
        self.requests = ConsumerQueue(
            self,
            "Requests",
            queue_name=f"{self.service}-requests",
            consumer=self.consumer,
            batch_size=5,
        )
        self.platform.employee_status.grant_read_write_data(self.consumer.role)
        # A large chunk's items travel as an object (payroll_shared.chunks).
        self.platform.grant_pay_run_objects(self.consumer.role, ["s3:GetObject", "s3:PutObject"])
        # Answer task tokens of the pay-run state machine only.
        self.consumer.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "states:SendTaskSuccess",
                    "states:SendTaskFailure",
                    "states:SendTaskHeartbeat",
                ],
                resources=[
                    self.format_arn(
                        service="states",
                        resource="stateMachine",
                        resource_name=names.resource_name(self.stage, "pay-run"),
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        publish(self, names.QUEUE_URL, self.requests.queue.queue_url, service=self.service,
                description=f"{self.step.value} request queue URL")  # fmt: skip
        publish(self, names.QUEUE_ARN, self.requests.queue.queue_arn, service=self.service,
                description=f"{self.step.value} request queue ARN")  # fmt: skip
        publish(self, names.DLQ_URL, self.requests.dlq.queue_url, service=self.service,
                description=f"{self.step.value} DLQ URL")  # fmt: skip
        publish(self, names.DLQ_ARN, self.requests.dlq.queue_arn, service=self.service,
                description=f"{self.step.value} DLQ ARN")  # fmt: skip
