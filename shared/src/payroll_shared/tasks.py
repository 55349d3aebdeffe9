"""Answering Step Functions task tokens.

A token can only be answered once. A late or duplicate answer (the state timed out,
or a redelivered message was already answered) gets TaskTimedOut, TaskDoesNotExist or
InvalidToken: the work is already accounted for, so it is logged and dropped rather
than retried.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pydantic import BaseModel

from payroll_shared import aws

STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
#: Step Functions does not know the token at all: forged or mangled, not merely late
#: (in AWS a token of a task that has ended answers TaskTimedOut or TaskDoesNotExist;
#: moto answers InvalidToken once the execution has ended, so locally a delivery after
#: its execution ended counts as one too).
INVALID_TOKEN = "InvalidToken"  # noqa: S105 - an error code, not a secret


class InvalidTaskToken(Exception):
    """The token of a message picked up is not one Step Functions issued (InvalidToken)."""


def _stale(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code", "") in STALE_TOKEN_ERRORS


def succeed(token: str, output: BaseModel, logger: Logger) -> bool:
    """Answer the token with ``output``; False if the token was already spent."""
    try:
        aws.client("stepfunctions").send_task_success(
            taskToken=token, output=output.model_dump_json()
        )
    except ClientError as exc:
        if _stale(exc):
            logger.warning("task token already answered or timed out", extra={"error": str(exc)})
            return False
        raise
    return True


def fail(token: str, error: str, cause: str, logger: Logger) -> bool:
    try:
        aws.client("stepfunctions").send_task_failure(
            taskToken=token, error=error[:256], cause=cause[:32768]
        )
    except ClientError as exc:
        if _stale(exc):
            logger.warning("task token already answered or timed out", extra={"error": str(exc)})
            return False
        raise
    return True


def heartbeat(token: str, logger: Logger) -> bool:
    """True while the workflow waits for the token; False once its task has ended.

    ``InvalidTaskToken`` when Step Functions does not know the token at all: the
    message was not sent by the workflow, and saying so beats dropping it unseen.
    """
    try:
        aws.client("stepfunctions").send_task_heartbeat(taskToken=token)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code", "") == INVALID_TOKEN:
            raise InvalidTaskToken(error.get("Message") or INVALID_TOKEN) from exc
        if _stale(exc):
            return False
        raise
    return True
