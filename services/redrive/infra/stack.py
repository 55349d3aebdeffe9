"""RedriveStack: the scheduled Redrive function and the ad-hoc dead-letter API with WAF.

- Scheduled: an EventBridge rule runs ``redrive.handler.scheduled`` every 15 minutes;
  the rule's target retries twice and keeps undeliverable events on its own DLQ. It
  reads the process and orchestration DLQs and the own DLQs of employer-validation
  (employer completions) and money-movement (PushPayments), and sends replays back to
  those two services' queues.
- Ad hoc: an API Gateway REST API (regional) whose every method requires IAM (SigV4)
  authorization, proxies to ``redrive.handler.api``. The stage writes JSON access
  logs, is traced with X-Ray, logs errors per method (never request data), and
  validates requests (the discard body against a model) before Lambda runs.
- AWS WAF (a regional web ACL on the stage): the AWS common rule set, the known bad
  inputs rule set, and a per-IP rate limit. AWS Shield Standard protects the API at
  layers 3 and 4 with no resource to declare: it is on for every AWS account.

The API needs API Gateway's account-level CloudWatch Logs role to write its logs;
this stack creates it (retained on delete) because it is the only REST API of the
system.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_wafv2 as wafv2
from cdk_nag import NagSuppressions
from constructs import Construct

from payroll_shared import names
from payroll_shared.infra.constructs import ServiceFunction, ServiceStack, publish
from payroll_shared.names import Env, PlatformParam

SERVICE = "redrive"
PAYMENT_SERVICE = "money-movement"
VALIDATION_SERVICE = "employer-validation"
#: Attempts (the first run counts) after which the schedule parks a dead letter.
MAX_ATTEMPTS_CONTEXT = "payroll:redrive-max-attempts"
DEFAULT_MAX_ATTEMPTS = 3
SCHEDULE = events.Schedule.cron(minute="*/15")
API_STAGE = "v1"
#: Requests per IP in the rate rule's window before WAF blocks that IP.
RATE_LIMIT = 300
RATE_WINDOW_SECONDS = 300
DLQ_READ_ACTIONS = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
]
AUDIT_PREFIX = "audit/dead-letters/"


class RedriveStack(ServiceStack):
    service = SERVICE

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.orchestration_dlq_url = self.lookup("orchestration", names.DLQ_URL)
        self.orchestration_dlq_arn = self.lookup("orchestration", names.DLQ_ARN)
        # The two ways back to work: GetEmployers (employees) and the PushPayment queue.
        self.get_employers_name = self.lookup("orchestration", names.FUNCTION_NAME)
        self.get_employers_arn = self.format_arn(
            service="lambda",
            resource="function",
            resource_name=self.get_employers_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.push_payment_url = self.lookup(PAYMENT_SERVICE, names.QUEUE_URL)
        self.push_payment_arn = self.lookup(PAYMENT_SERVICE, names.QUEUE_ARN)
        self._scheduled()
        self._api()
        self._firewall()
        self._publish()

    # ------------------------------------------------------------------ redrive

    def _redrive_environment(self) -> dict[str, str]:
        return {
            Env.PROCESS_DLQ_URL.value: self.platform.process_dlq.queue_url,
            Env.GET_EMPLOYERS_FUNCTION.value: self.get_employers_name,
            Env.PUSH_PAYMENT_QUEUE_URL.value: self.push_payment_url,
        }

    def _grant_redrive(self, role: iam.IRole) -> None:
        """Invoke GetEmployers (employees run again) and send PushPayments (payments)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[self.get_employers_arn]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.push_payment_arn])
        )

    # ------------------------------------------------------------------ scheduled

    def _consumer_dlq_environment(self) -> dict[str, str]:
        """The consumer DLQs the schedule replays, and the employer completion queue it
        replays to (the PushPayment queue is the redrive's already: ``_redrive_*``)."""
        return {
            Env.EMPLOYER_COMPLETION_DLQ_URL.value: self.lookup(VALIDATION_SERVICE, names.DLQ_URL),
            Env.EMPLOYER_COMPLETION_QUEUE_URL.value: self.lookup(
                VALIDATION_SERVICE, names.QUEUE_URL
            ),
            Env.PUSH_PAYMENT_DLQ_URL.value: self.lookup(PAYMENT_SERVICE, names.DLQ_URL),
        }

    def _grant_consumer_dlq_replay(self, role: iam.IRole) -> None:
        """Read, hide and delete on the two consumer DLQs; send to the completion queue.

        sqs:SendMessage on the PushPayment queue comes with ``_grant_redrive``. All these
        queues are SSE-SQS (``ConsumerQueue``), like the process DLQ: no KMS key to grant.
        """
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=DLQ_READ_ACTIONS,
                resources=[
                    self.lookup(VALIDATION_SERVICE, names.DLQ_ARN),
                    self.lookup(PAYMENT_SERVICE, names.DLQ_ARN),
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"],
                resources=[self.lookup(VALIDATION_SERVICE, names.QUEUE_ARN)],
            )
        )

    def _scheduled(self) -> None:
        platform = self.platform
        self.scheduled = ServiceFunction(
            self,
            "Scheduled",
            service=SERVICE,
            handler="redrive.handler.scheduled",
            description="Redrive: reprocess what can succeed now from the process, "
            "orchestration, employer-validation and money-movement DLQs",
            environment={
                **platform.table_environment(),
                **self._redrive_environment(),
                **self._consumer_dlq_environment(),
                Env.ORCHESTRATION_DLQ_URL.value: self.orchestration_dlq_url,
                Env.REDRIVE_MAX_ATTEMPTS.value: str(
                    self.node.try_get_context(MAX_ATTEMPTS_CONTEXT) or DEFAULT_MAX_ATTEMPTS
                ),
            },
            timeout=Duration.minutes(5),
        )
        self._grant_redrive(self.scheduled.role)
        # Reading, hiding and deleting the records it reprocesses.
        self.scheduled.role.add_to_policy(
            iam.PolicyStatement(
                actions=DLQ_READ_ACTIONS,
                resources=[platform.process_dlq.queue_arn, self.orchestration_dlq_arn],
            )
        )
        # Replaying employer-validation's and money-movement's own DLQs.
        self._grant_consumer_dlq_replay(self.scheduled.role)
        self.schedule_dlq = sqs.Queue(
            self,
            "ScheduleDlq",
            queue_name=names.resource_name(self.stage, "redrive-schedule-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        NagSuppressions.add_resource_suppressions(
            self.schedule_dlq,
            [
                {
                    "id": "AwsSolutions-SQS3",
                    "reason": "This queue is the dead-letter queue of the schedule's target; "
                    "a dead-letter queue has no dead-letter queue of its own.",
                }
            ],
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            rule_name=names.resource_name(self.stage, "redrive-schedule"),
            description="Runs the scheduled Redrive function every 15 minutes",
            schedule=SCHEDULE,
            targets=[
                targets.LambdaFunction(
                    self.scheduled.function,
                    retry_attempts=2,
                    # A run that cannot start within the next schedule slot is superseded.
                    max_event_age=Duration.minutes(15),
                    dead_letter_queue=self.schedule_dlq,
                )
            ],
        )

    # ------------------------------------------------------------------ API

    def _api(self) -> None:
        platform = self.platform
        self.api_function = ServiceFunction(
            self,
            "Api",
            service=SERVICE,
            handler="redrive.handler.api",
            description="Redrive: the ad-hoc dead-letter API",
            environment={
                **self._redrive_environment(),
                Env.PAYRUN_BUCKET.value: platform.value(PlatformParam.PAYRUN_BUCKET_NAME),
            },
            # API Gateway gives up after 29 s; the function must not outlive the request.
            timeout=Duration.seconds(29),
        )
        role = self.api_function.role
        self._grant_redrive(role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=DLQ_READ_ACTIONS, resources=[platform.process_dlq.queue_arn]
            )
        )
        # Audit entries of discards, and nothing else in the pay-run bucket.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[f"{platform.bucket.bucket_arn}/{AUDIT_PREFIX}*"],
            )
        )
        # The bucket's default encryption is the platform key: a put needs a data key.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey"],
                resources=[platform.value(PlatformParam.KMS_KEY_ARN)],
            )
        )

        self.access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            # The access log is the record of who called the dead-letter API.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.api = apigateway.RestApi(
            self,
            "DeadLetterApi",
            rest_api_name=names.resource_name(self.stage, "dead-letter-api"),
            description="Ad-hoc access to the payroll process dead-letter queue",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=API_STAGE,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                tracing_enabled=True,
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                # Full request/response logging would put dead-letter payloads in logs.
                data_trace_enabled=False,
                metrics_enabled=True,
                throttling_rate_limit=20,
                throttling_burst_limit=40,
            ),
        )
        validator = self.api.add_request_validator(
            "Validator",
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        options = apigateway.MethodOptions(
            authorization_type=apigateway.AuthorizationType.IAM,
            request_validator=validator,
        )
        integration = apigateway.LambdaIntegration(
            self.api_function.function, proxy=True, allow_test_invoke=False
        )
        filters = {
            f"method.request.querystring.{name}": False
            for name in ("pay_run_id", "employer_id", "error_code")
        }
        record_key = {"method.request.path.record_key": True}
        discard_model = self.api.add_model(
            "DiscardRequest",
            content_type="application/json",
            model_name="DiscardRequest",
            schema=apigateway.JsonSchema(
                schema=apigateway.JsonSchemaVersion.DRAFT4,
                title="DiscardRequest",
                type=apigateway.JsonSchemaType.OBJECT,
                required=["reason"],
                additional_properties=False,
                properties={
                    "reason": apigateway.JsonSchema(
                        type=apigateway.JsonSchemaType.STRING, min_length=1, max_length=1000
                    )
                },
            ),
        )

        def method(resource: apigateway.IResource, verb: str, **extra: Any) -> None:
            resource.add_method(
                verb,
                integration,
                authorization_type=options.authorization_type,
                request_validator=options.request_validator,
                **extra,
            )

        dead_letters = self.api.root.add_resource("dead-letters")
        method(dead_letters, "GET", request_parameters=filters)
        method(dead_letters.add_resource("redrive"), "POST", request_parameters=filters)
        one = dead_letters.add_resource("{record_key}")
        method(one, "GET", request_parameters=record_key)
        method(one.add_resource("redrive"), "POST", request_parameters=record_key)
        method(
            one.add_resource("discard"),
            "POST",
            request_parameters=record_key,
            request_models={"application/json": discard_model},
        )

        NagSuppressions.add_resource_suppressions(
            self.api,
            [
                {
                    "id": "AwsSolutions-COG4",
                    "reason": "Callers are operators and tools with IAM roles: every method "
                    "uses IAM (SigV4) authorization instead of a Cognito user pool.",
                },
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "API Gateway's account-level CloudWatch role uses the AWS managed "
                    "AmazonAPIGatewayPushToCloudWatchLogs policy, the documented setup.",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AmazonAPIGatewayPushToCloudWatchLogs"
                    ],
                },
            ],
            apply_to_children=True,
        )

    # ------------------------------------------------------------------ WAF

    def _firewall(self) -> None:
        def visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"payroll-{self.stage}-redrive-{metric}",
                sampled_requests_enabled=True,
            )

        def managed(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name
                    )
                ),
                visibility_config=visibility(name),
            )

        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=names.resource_name(self.stage, "dead-letter-api"),
            description="Protects the dead-letter API: common exploits, bad inputs, floods",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("web-acl"),
            rules=[
                managed("AWSManagedRulesCommonRuleSet", 0),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 1),
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=2,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=RATE_LIMIT,
                            evaluation_window_sec=RATE_WINDOW_SECONDS,
                        )
                    ),
                    visibility_config=visibility("rate-limit"),
                ),
            ],
        )
        stage = self.api.deployment_stage
        # The stage ARN refers to the stage, so the association waits for the stage.
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )

    # ------------------------------------------------------------------ publish

    def _publish(self) -> None:
        publish(self, "api-url", self.api.url, service=SERVICE,
                description="Dead-letter API base URL (IAM authorized)")  # fmt: skip
        publish(self, "api-id", self.api.rest_api_id, service=SERVICE,
                description="Dead-letter API id")  # fmt: skip
        publish(self, f"api-{names.FUNCTION_NAME}", self.api_function.function.function_name,
                service=SERVICE, description="Dead-letter API function name")  # fmt: skip
        publish(self, f"scheduled-{names.FUNCTION_NAME}",
                self.scheduled.function.function_name, service=SERVICE,
                description="Scheduled Redrive function name")  # fmt: skip


STACK_CLASS = RedriveStack
