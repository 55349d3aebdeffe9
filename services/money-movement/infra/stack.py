"""MoneyMovementStack: the PushPayment queue, its DLQ and the MoneyMovement consumer.

The consumer pays each employee through the external payment API and publishes one
completion notice per employer to the platform's (KMS-encrypted) completion topic.
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
from constructs import Construct

from payroll_shared import names
from payroll_shared.infra.constructs import ConsumerQueue, ServiceFunction, ServiceStack, publish
from payroll_shared.names import Env, PlatformParam

SERVICE = "money-movement"
PAYMENT_API_URL_KEY = "payment-api-url"
#: One message is one employer's payments, each an HTTP call with up to three retries
#: (about 20 s worst case per call): 300 s, so the queue's visibility timeout is 1800 s.
CONSUMER_TIMEOUT = Duration.seconds(300)


class MoneyMovementStack(ServiceStack):
    service = SERVICE

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        platform = self.platform

        self.consumer = ServiceFunction(
            self,
            "Consumer",
            service=SERVICE,
            handler="money_movement.handler.lambda_handler",
            description="MoneyMovement: pays an employer's committed statements and notifies",
            environment={
                **platform.table_environment(),
                Env.COMPLETION_TOPIC_ARN.value: platform.completion_topic.topic_arn,
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
        platform.completion_topic.grant_publish(role)
        # The topic is encrypted with the platform key: publishing needs a data key.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[platform.value(PlatformParam.KMS_KEY_ARN)],
            )
        )
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


STACK_CLASS = MoneyMovementStack
