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
    try:
        aws.client("stepfunctions").send_task_heartbeat(taskToken=token)
    except ClientError as exc:
        if _stale(exc):
            return False
        raise
    return True
