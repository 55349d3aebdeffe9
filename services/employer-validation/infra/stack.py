"""EmployerValidationStack: the employer completion queue, its DLQ and its consumer.

The state machine sends one ``EmployerCompletion`` per employer to this queue when the
employer's child map has finished. The consumer validates the employer's employees,
dead-letters the failed ones to the platform's process DLQ and moves EmployerStatus.
It runs in the platform's VPC (``database``): the ledger commit that comes with the
employer-completion issue writes pay statements through RDS Proxy.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from payroll_shared import names
from payroll_shared.infra.constructs import ConsumerQueue, ServiceFunction, ServiceStack, publish
from payroll_shared.names import Env

SERVICE = "employer-validation"
#: One message is one whole employer (a paged read of its employees, one DLQ record per
#: failure, later the ledger commit): 120 s, so the queue's visibility timeout is 720 s.
CONSUMER_TIMEOUT = Duration.seconds(120)


class EmployerValidationStack(ServiceStack):
    service = SERVICE

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        platform = self.platform
        push_payment_queue_url = self.lookup("money-movement", names.QUEUE_URL)
        push_payment_queue_arn = self.lookup("money-movement", names.QUEUE_ARN)

        self.consumer = ServiceFunction(
            self,
            "Consumer",
            service=SERVICE,
            handler="employer_validation.handler.lambda_handler",
            description="EmployerValidation: validates an employer's employees after its map",
            environment={
                **platform.table_environment(),
                Env.PROCESS_DLQ_URL.value: platform.process_dlq.queue_url,
                Env.PUSH_PAYMENT_QUEUE_URL.value: push_payment_queue_url,
            },
            timeout=CONSUMER_TIMEOUT,
            database=platform,
        )
        self.completions = ConsumerQueue(
            self,
            "EmployerCompletion",
            queue_name="employer-completion",
            consumer=self.consumer,
            # Each message is a whole employer; one at a time keeps a retry to that employer.
            batch_size=1,
        )

        role = self.consumer.role
        platform.employee_status.grant_read_write_data(role)
        platform.employer_status.grant_read_write_data(role)
        platform.process_dlq.grant_send_messages(role)
        # The PushPayment queue belongs to money-movement; it is known by its ARN only.
        role.add_to_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[push_payment_queue_arn])
        )

        queue, dlq = self.completions.queue, self.completions.dlq
        publish(self, names.QUEUE_URL, queue.queue_url, service=SERVICE,
                description="Employer completion queue URL")  # fmt: skip
        publish(self, names.QUEUE_ARN, queue.queue_arn, service=SERVICE,
                description="Employer completion queue ARN")  # fmt: skip
        publish(self, names.DLQ_URL, dlq.queue_url, service=SERVICE,
                description="Employer completion DLQ URL")  # fmt: skip
        publish(self, names.DLQ_ARN, dlq.queue_arn, service=SERVICE,
                description="Employer completion DLQ ARN (for Redrive)")  # fmt: skip


STACK_CLASS = EmployerValidationStack
