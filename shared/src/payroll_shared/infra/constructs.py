"""Constructs per concern: a service function, a consumer queue with its DLQ, platform refs."""

from __future__ import annotations

import subprocess
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    ArnFormat,
    BundlingOptions,
    DockerImage,
    Duration,
    Fn,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagSuppressions
from constructs import Construct

from payroll_shared import names
from payroll_shared.names import Env, PlatformParam

REPO_ROOT = Path(__file__).resolve().parents[4]
SHARED_DIR = REPO_ROOT / "shared"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
#: SQS visibility timeout is this many times the consumer's timeout (AWS guidance),
#: so a batch is never visible again while its function may still be running.
VISIBILITY_FACTOR = 6
#: Receives before SQS moves a message to the DLQ: enough for transient trouble
#: (throttling, a timeout) to clear, few enough that a stuck message surfaces fast.
DEFAULT_MAX_RECEIVE_COUNT = 5


def service_dir(service: str) -> Path:
    return REPO_ROOT / "services" / service


def stage_of(scope: Construct) -> str:
    value = scope.node.try_get_context("payroll:stage")
    return str(value) if value else names.DEFAULT_STAGE


def is_local(scope: Construct) -> bool:
    """The local cloud synthesizes without bundling: it runs handlers from the workspace."""
    return str(scope.node.try_get_context("payroll:local") or "").lower() == "true"


@jsii.implements(ILocalBundling)
class _PipBundling:
    """Bundle a service for Lambda without Docker: pip installs it and the shared package."""

    def __init__(self, service: str) -> None:
        self._service = service

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        packages = [str(SHARED_DIR)]
        if "payroll-platform" in (service_dir(self._service) / "pyproject.toml").read_text():
            # The database layer, with the PostgreSQL driver the RDS Proxy needs.
            packages.append(f"{REPO_ROOT / 'platform'}[postgres]")
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--target", output_dir,
            "--platform", "manylinux2014_x86_64", "--implementation", "cp",
            "--python-version", "3.14", "--only-binary=:all:", "--upgrade",
            *packages, str(service_dir(self._service)),
        ]  # fmt: skip
        subprocess.run(command, check=True)  # noqa: S603 - fixed arguments, no shell
        return True


def function_code(scope: Construct, service: str) -> lambda_.Code:
    source = service_dir(service) / "src"
    if is_local(scope):
        return lambda_.Code.from_asset(str(source))
    return lambda_.Code.from_asset(
        str(service_dir(service)),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
            local=_PipBundling(service),
        ),
    )


def publish(scope: Construct, key: str, value: str, *, service: str, description: str) -> None:
    """Publish a name or ARN for other stacks under ``/payroll/<stage>/<service>/<key>``."""
    ssm.StringParameter(
        scope,
        f"Param{''.join(p.capitalize() for p in key.split('-'))}",
        parameter_name=names.service_param(stage_of(scope), service, key),
        string_value=value,
        description=description,
    )


class ServiceStack(Stack):
    """A service's stack: deployable alone; finds the platform through SSM parameters."""

    service: str

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage_of(self)
        self.platform = PlatformRefs(self, "Platform", self.stage)

    def lookup(self, service: str, key: str) -> str:
        """A value another service published (its queue URL, say), read at deploy time."""
        return ssm.StringParameter.value_for_string_parameter(
            self, names.service_param(self.stage, service, key)
        )


class PlatformRefs(Construct):
    """What the platform stack published, as CDK references (SSM parameters at deploy time).

    Each reference is created on first use, so a stack reads only the parameters it needs.
    """

    def __init__(self, scope: Construct, construct_id: str, stage: str) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self._values: dict[PlatformParam, str] = {}

    def value(self, which: PlatformParam) -> str:
        if which not in self._values:
            self._values[which] = ssm.StringParameter.value_for_string_parameter(
                self, names.platform_param(self.stage, which)
            )
        return self._values[which]

    @cached_property
    def kms_key(self) -> kms.IKey:
        return kms.Key.from_key_arn(self, "Key", self.value(PlatformParam.KMS_KEY_ARN))

    @cached_property
    def bucket(self) -> s3.IBucket:
        return s3.Bucket.from_bucket_attributes(
            self,
            "Bucket",
            bucket_arn=self.value(PlatformParam.PAYRUN_BUCKET_ARN),
            bucket_name=self.value(PlatformParam.PAYRUN_BUCKET_NAME),
            encryption_key=self.kms_key,
        )

    def _table(self, construct_id: str, arn: PlatformParam) -> dynamodb.ITable:
        return dynamodb.Table.from_table_attributes(
            self, construct_id, table_arn=self.value(arn), encryption_key=self.kms_key
        )

    @cached_property
    def employer_status(self) -> dynamodb.ITable:
        return self._table("EmployerStatus", PlatformParam.EMPLOYER_STATUS_TABLE_ARN)

    @cached_property
    def employee_status(self) -> dynamodb.ITable:
        return self._table("EmployeeStatus", PlatformParam.EMPLOYEE_STATUS_TABLE_ARN)

    @cached_property
    def process_dlq(self) -> sqs.IQueue:
        return sqs.Queue.from_queue_attributes(
            self,
            "ProcessDlq",
            queue_arn=self.value(PlatformParam.PROCESS_DLQ_ARN),
            queue_url=self.value(PlatformParam.PROCESS_DLQ_URL),
        )

    @cached_property
    def completion_topic(self) -> sns.ITopic:
        return sns.Topic.from_topic_arn(
            self, "CompletionTopic", self.value(PlatformParam.COMPLETION_TOPIC_ARN)
        )

    def table_environment(self) -> dict[str, str]:
        return {
            Env.EMPLOYER_STATUS_TABLE.value: self.value(PlatformParam.EMPLOYER_STATUS_TABLE_NAME),
            Env.EMPLOYEE_STATUS_TABLE.value: self.value(PlatformParam.EMPLOYEE_STATUS_TABLE_NAME),
        }

    def bucket_environment(self) -> dict[str, str]:
        return {Env.PAYRUN_BUCKET.value: self.value(PlatformParam.PAYRUN_BUCKET_NAME)}

    def grant_pay_run_objects(self, role: iam.IRole, actions: list[str]) -> None:
        """``actions`` on the objects under ``pay-runs/`` only, with the bucket's key."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[self.bucket.arn_for_objects(f"{names.PAY_RUN_PREFIX}/*")],
            )
        )
        self.kms_key.grant_encrypt_decrypt(role)

    def database_environment(self) -> dict[str, str]:
        return {
            Env.DB_PROXY_ENDPOINT.value: self.value(PlatformParam.DB_PROXY_ENDPOINT),
            Env.DB_NAME.value: self.value(PlatformParam.DB_NAME),
            Env.DB_USER.value: self.value(PlatformParam.DB_USER),
        }


class ServiceFunction(Construct):
    """A service's Lambda function with its own role, log group, tracing and Powertools env."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service: str,
        handler: str,
        description: str,
        environment: dict[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int = 512,
        database: PlatformRefs | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stage = stage_of(self)
        self.timeout = timeout or Duration.seconds(60)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{service} {construct_id}: least privilege for this function only",
        )
        self.log_group.grant_write(self.role)
        env = {
            Env.STAGE.value: stage,
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": "Payroll",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **(environment or {}),
        }
        if database is not None:
            env.update(database.database_environment())
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=function_code(self, service),
            description=description,
            environment=env,
            timeout=self.timeout,
            memory_size=memory_size,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        if database is not None:
            self._attach_to_vpc(database)
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "X-Ray PutTraceSegments/PutTelemetryRecords and ENI management "
                    "support no resource-level permissions (Resource '*').",
                    "applies_to": ["Resource::*"],
                },
            ],
            apply_to_children=True,
        )

    def _attach_to_vpc(self, platform: PlatformRefs) -> None:
        """Put the function in the platform's private subnets to reach the RDS Proxy."""
        cfn = self.function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        subnets = platform.value(PlatformParam.PRIVATE_SUBNET_IDS)
        security_group = platform.value(PlatformParam.LAMBDA_SECURITY_GROUP_ID)
        cfn.add_property_override(
            "VpcConfig",
            {"SubnetIds": {"Fn::Split": [",", subnets]}, "SecurityGroupIds": [security_group]},
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                resources=["*"],
            )
        )
        # rds-db:connect is scoped to the proxy (prx-... is the ARN's last part) and one user.
        proxy_id = Fn.select(6, Fn.split(":", platform.value(PlatformParam.DB_PROXY_ARN)))
        db_user = platform.value(PlatformParam.DB_USER)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["rds-db:connect"],
                resources=[
                    Stack.of(self).format_arn(
                        service="rds-db",
                        resource="dbuser",
                        resource_name=f"{proxy_id}/{db_user}",
                    )
                ],
            )
        )


class ConsumerQueue(Construct):
    """A request queue with its DLQ, wired to a consumer with partial batch responses."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue_name: str,
        consumer: ServiceFunction,
        batch_size: int = 10,
        max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
        max_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stage = stage_of(self)
        self.max_receive_count = max_receive_count
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            queue_name=names.resource_name(stage, f"{queue_name}-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=names.resource_name(stage, queue_name),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(consumer.timeout.to_seconds() * VISIBILITY_FACTOR),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dlq, max_receive_count=max_receive_count
            ),
        )
        consumer.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=batch_size,
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )
        # Poison messages are written to the DLQ by the consumer itself, with the reason.
        self.dlq.grant_send_messages(consumer.role)
        consumer.function.add_environment(Env.OWN_DLQ_URL.value, self.dlq.queue_url)
        consumer.function.add_environment(Env.MAX_RECEIVE_COUNT.value, str(max_receive_count))


def standard_workflow(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    definition: sfn.IChainable,
    timeout: Duration,
) -> sfn.StateMachine:
    """A Standard state machine traced with X-Ray and logging ALL events to its own log
    group (``<construct_id>Logs``, three months) without execution data: inputs and
    outputs carry employee records and employer totals, kept out of the logs."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        log_group_name=f"/aws/vendedlogs/states/{name}",
        retention=logs.RetentionDays.THREE_MONTHS,
        removal_policy=RemovalPolicy.DESTROY,
    )
    return sfn.StateMachine(
        scope,
        construct_id,
        state_machine_name=name,
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False
        ),
    )


def grant_describe_executions(role: iam.IRole, state_machine_name: str) -> None:
    """Let ``role`` read how any execution of the named state machine (in the role's
    stack's account and region) stands: ``states:DescribeExecution`` on its executions."""
    stack = Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["states:DescribeExecution"],
            resources=[
                stack.format_arn(
                    service="states",
                    resource="execution",
                    resource_name=f"{state_machine_name}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
