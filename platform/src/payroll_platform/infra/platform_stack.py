"""PlatformStack: what the services share (design.md section 2).

KMS key, pay-run bucket, EmployerStatus / EmployeeStatus tables (EmployeeStatus is
also the steps' idempotency record), the process DLQ, the completion topic, the
network and Aurora PostgreSQL Serverless v2 behind RDS Proxy (IAM auth). Every name
and ARN a service needs is published as an SSM parameter under
``/payroll/<stage>/platform/``.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from cdk_nag import NagSuppressions
from constructs import Construct

from payroll_shared import names
from payroll_shared.infra.constructs import stage_of
from payroll_shared.names import PlatformParam

DB_NAME = "payroll"
DB_ADMIN_USER = "payroll_admin"
#: The application's database user (IAM auth through the proxy).
DB_APP_USER = "payroll_app"


class PlatformStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage = stage_of(self)

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/payroll-{stage}",
            description="Encrypts the pay-run bucket, status tables, topic and database",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot use a KMS key
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            self.access_logs,
            [{"id": "AwsSolutions-S1", "reason": "This is the access-log bucket itself."}],
        )
        self.bucket = s3.Bucket(
            self,
            "PayRunBucket",
            bucket_name=None,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="pay-run-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.employer_status = self._table(
            "EmployerStatus", "employer-status", "pay_run_id", "employer_id"
        )
        self.employee_status = self._table("EmployeeStatus", "employee-status", "pk", "employee_id")

        self.process_dlq = sqs.Queue(
            self,
            "ProcessDlq",
            queue_name=names.resource_name(stage, "process-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        NagSuppressions.add_resource_suppressions(
            self.process_dlq,
            [
                {
                    "id": "AwsSolutions-SQS3",
                    "reason": "The process DLQ is itself a dead-letter store; records are read "
                    "by the Redrive function and the ad-hoc API, never consumed by a trigger.",
                }
            ],
        )

        self.completion_topic = sns.Topic(
            self,
            "CompletionTopic",
            topic_name=names.resource_name(stage, "completion"),
            master_key=self.key,
            enforce_ssl=True,
        )

        self._network_and_database()
        self._publish()

    def _table(
        self, construct_id: str, name: str, pk: str, sk: str | None, ttl: str | None = None
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            table_name=names.resource_name(self.stage, name),
            partition_key=dynamodb.Attribute(name=pk, type=dynamodb.AttributeType.STRING),
            sort_key=(
                dynamodb.Attribute(name=sk, type=dynamodb.AttributeType.STRING) if sk else None
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=ttl,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _network_and_database(self) -> None:
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                        logs.LogGroup(self, "FlowLogs", retention=logs.RetentionDays.THREE_MONTHS)
                    )
                )
            },
        )
        self.lambda_sg = ec2.SecurityGroup(
            self,
            "LambdaSecurityGroup",
            vpc=self.vpc,
            description="Payroll functions that reach the database through RDS Proxy",
            allow_all_outbound=True,
        )
        db_sg = ec2.SecurityGroup(
            self,
            "DatabaseSecurityGroup",
            vpc=self.vpc,
            description="Aurora PostgreSQL and its RDS Proxy",
            allow_all_outbound=False,
        )
        db_sg.add_ingress_rule(self.lambda_sg, ec2.Port.tcp(5432), "functions to the proxy")
        db_sg.add_ingress_rule(db_sg, ec2.Port.tcp(5432), "proxy to the cluster")
        db_sg.add_egress_rule(db_sg, ec2.Port.tcp(5432), "proxy to the cluster")

        self.cluster = rds.DatabaseCluster(
            self,
            "Database",
            engine=rds.DatabaseClusterEngine.aurora_postgres(
                version=rds.AuroraPostgresEngineVersion.VER_16_4
            ),
            writer=rds.ClusterInstance.serverless_v2("writer"),
            readers=[rds.ClusterInstance.serverless_v2("reader", scale_with_writer=True)],
            serverless_v2_min_capacity=0.5,
            serverless_v2_max_capacity=8,
            credentials=rds.Credentials.from_generated_secret(DB_ADMIN_USER),
            default_database_name=DB_NAME,
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[db_sg],
            storage_encrypted=True,
            storage_encryption_key=self.key,
            iam_authentication=True,
            deletion_protection=True,
            backup=rds.BackupProps(retention=Duration.days(14)),
            cloudwatch_logs_exports=["postgresql"],
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        assert self.cluster.secret is not None
        self.proxy = self.cluster.add_proxy(
            "Proxy",
            secrets=[self.cluster.secret],
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[db_sg],
            iam_auth=True,
            require_tls=True,
            debug_logging=False,
        )
        NagSuppressions.add_resource_suppressions(
            self.cluster,
            [
                {
                    "id": "AwsSolutions-SMG4",
                    "reason": "The admin secret is used only by the proxy; applications "
                    "connect with IAM auth tokens. Rotation is added per account policy.",
                },
                {
                    "id": "AwsSolutions-RDS10",
                    "reason": "Deletion protection is on; the nag rule misreads the L2 prop.",
                },
            ],
            apply_to_children=True,
        )

    def _publish(self) -> None:
        private_subnets = self.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        ).subnet_ids
        values: dict[PlatformParam, str] = {
            PlatformParam.KMS_KEY_ARN: self.key.key_arn,
            PlatformParam.PAYRUN_BUCKET_NAME: self.bucket.bucket_name,
            PlatformParam.PAYRUN_BUCKET_ARN: self.bucket.bucket_arn,
            PlatformParam.EMPLOYER_STATUS_TABLE_NAME: self.employer_status.table_name,
            PlatformParam.EMPLOYER_STATUS_TABLE_ARN: self.employer_status.table_arn,
            PlatformParam.EMPLOYEE_STATUS_TABLE_NAME: self.employee_status.table_name,
            PlatformParam.EMPLOYEE_STATUS_TABLE_ARN: self.employee_status.table_arn,
            PlatformParam.PROCESS_DLQ_URL: self.process_dlq.queue_url,
            PlatformParam.PROCESS_DLQ_ARN: self.process_dlq.queue_arn,
            PlatformParam.COMPLETION_TOPIC_ARN: self.completion_topic.topic_arn,
            PlatformParam.VPC_ID: self.vpc.vpc_id,
            PlatformParam.LAMBDA_SECURITY_GROUP_ID: self.lambda_sg.security_group_id,
            PlatformParam.PRIVATE_SUBNET_IDS: ",".join(private_subnets),
            PlatformParam.DB_PROXY_ENDPOINT: self.proxy.endpoint,
            PlatformParam.DB_PROXY_ARN: self.proxy.db_proxy_arn,
            PlatformParam.DB_NAME: DB_NAME,
            PlatformParam.DB_USER: DB_APP_USER,
        }
        for which, value in values.items():
            ssm.StringParameter(
                self,
                f"Param{''.join(p.capitalize() for p in which.value.split('-'))}",
                parameter_name=names.platform_param(self.stage, which),
                string_value=value,
            )
