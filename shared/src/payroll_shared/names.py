"""Every resource name and SSM parameter path, in one place.

Stacks name their resources with these functions and publish them as SSM parameters
under ``/payroll/<stage>/...``; handlers get them as environment variables set from
those parameters. Services never import each other, only this module.
"""

from __future__ import annotations

from enum import StrEnum

DEFAULT_STAGE = "dev"
SERVICES = (
    "orchestration",
    "time-entry",
    "payroll-calc",
    "retirement-calc",
    "tax-calc",
    "employer-validation",
    "money-movement",
    "redrive",
)


class Step(StrEnum):
    """The four task-token steps, in the order the workflow runs them (design.md 5)."""

    TIME_ENTRY = "time_entry"
    PAYROLL_CALC = "payroll_calc"
    RETIREMENT_CALC = "retirement_calc"
    TAX_CALC = "tax_calc"

    @property
    def service(self) -> str:
        return self.value.replace("_", "-")


STEP_ORDER: tuple[Step, ...] = (
    Step.TIME_ENTRY,
    Step.PAYROLL_CALC,
    Step.RETIREMENT_CALC,
    Step.TAX_CALC,
)


def resource_name(stage: str, name: str) -> str:
    """Physical name of a resource: ``payroll-<stage>-<name>``."""
    return f"payroll-{stage}-{name}"


def stack_name(stage: str, component: str) -> str:
    """CloudFormation stack name of the platform or a service."""
    title = "".join(part.capitalize() for part in component.split("-"))
    return f"Payroll{stage.capitalize()}{title}"


def param(stage: str, *parts: str) -> str:
    """SSM parameter path: ``/payroll/<stage>/<part>/<part>``."""
    return "/".join(("", "payroll", stage, *parts))


class PlatformParam(StrEnum):
    """What the platform stack publishes (path suffixes under ``/payroll/<stage>/platform``)."""

    KMS_KEY_ARN = "kms-key-arn"
    PAYRUN_BUCKET_NAME = "pay-run-bucket-name"
    PAYRUN_BUCKET_ARN = "pay-run-bucket-arn"
    EMPLOYER_STATUS_TABLE_NAME = "employer-status-table-name"
    EMPLOYER_STATUS_TABLE_ARN = "employer-status-table-arn"
    EMPLOYEE_STATUS_TABLE_NAME = "employee-status-table-name"
    EMPLOYEE_STATUS_TABLE_ARN = "employee-status-table-arn"
    PROCESS_DLQ_URL = "process-dlq-url"
    PROCESS_DLQ_ARN = "process-dlq-arn"
    COMPLETION_TOPIC_ARN = "completion-topic-arn"
    VPC_ID = "vpc-id"
    LAMBDA_SECURITY_GROUP_ID = "lambda-security-group-id"
    PRIVATE_SUBNET_IDS = "private-subnet-ids"
    DB_PROXY_ENDPOINT = "db-proxy-endpoint"
    DB_PROXY_ARN = "db-proxy-arn"
    DB_NAME = "db-name"
    DB_USER = "db-user"


def platform_param(stage: str, which: PlatformParam) -> str:
    return param(stage, "platform", which.value)


def service_param(stage: str, service: str, key: str) -> str:
    """What a service publishes for others, e.g. its request queue's URL."""
    return param(stage, service, key)


#: Where a pay run's files live in the pay-run bucket (``pay-runs/<pay_run_id>/...``).
PAY_RUN_PREFIX = "pay-runs"


def chunk_directory(pay_run_id: str, employer_id: str, chunk_id: str) -> str:
    """The folder of a chunk's item objects (``payroll_shared.chunks``)."""
    return f"{PAY_RUN_PREFIX}/{pay_run_id}/employers/{employer_id}/chunks/{chunk_id}"


# Keys services publish (under /payroll/<stage>/<service>/...).
QUEUE_URL = "queue-url"
QUEUE_ARN = "queue-arn"
DLQ_URL = "dlq-url"
DLQ_ARN = "dlq-arn"
STATE_MACHINE_ARN = "state-machine-arn"
FUNCTION_NAME = "function-name"


class Env(StrEnum):
    """Environment variables a handler reads (set by its stack from SSM parameters)."""

    STAGE = "PAYROLL_STAGE"
    PAYRUN_BUCKET = "PAYRUN_BUCKET"
    EMPLOYER_STATUS_TABLE = "EMPLOYER_STATUS_TABLE"
    EMPLOYEE_STATUS_TABLE = "EMPLOYEE_STATUS_TABLE"
    PROCESS_DLQ_URL = "PROCESS_DLQ_URL"
    OWN_DLQ_URL = "OWN_DLQ_URL"
    COMPLETION_TOPIC_ARN = "COMPLETION_TOPIC_ARN"
    #: money-movement's one-state workflow that publishes a completion notice.
    NOTICE_STATE_MACHINE_ARN = "NOTICE_STATE_MACHINE_ARN"
    EMPLOYER_COMPLETION_QUEUE_URL = "EMPLOYER_COMPLETION_QUEUE_URL"
    PUSH_PAYMENT_QUEUE_URL = "PUSH_PAYMENT_QUEUE_URL"
    #: The own DLQs of those two queues (the scheduled Redrive replays them).
    EMPLOYER_COMPLETION_DLQ_URL = "EMPLOYER_COMPLETION_DLQ_URL"
    PUSH_PAYMENT_DLQ_URL = "PUSH_PAYMENT_DLQ_URL"
    ORCHESTRATION_DLQ_URL = "ORCHESTRATION_DLQ_URL"
    STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
    DATABASE_URL = "DATABASE_URL"
    DB_PROXY_ENDPOINT = "DB_PROXY_ENDPOINT"
    DB_NAME = "DB_NAME"
    DB_USER = "DB_USER"
    PAYMENT_API_URL = "PAYMENT_API_URL"
    #: Seconds to wait for the payment API's answer (default 10).
    PAYMENT_API_READ_TIMEOUT = "PAYMENT_API_READ_TIMEOUT_SECONDS"
    CHUNK_SIZE = "CHUNK_SIZE"
    #: Bytes up to which a chunk's items travel inline (``payroll_shared.chunks``;
    #: default 16 KiB; the chaos runs set 0 so every chunk travels by key).
    CHUNK_INLINE_BYTES = "CHUNK_INLINE_BYTES"
    MAX_RECEIVE_COUNT = "MAX_RECEIVE_COUNT"
    GET_EMPLOYERS_FUNCTION = "GET_EMPLOYERS_FUNCTION"
    REDRIVE_MAX_ATTEMPTS = "REDRIVE_MAX_ATTEMPTS"
