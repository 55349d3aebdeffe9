"""boto3 clients, created once per process and reused across invocations.

boto3 honours ``AWS_ENDPOINT_URL`` (the local cloud sets it), so the same code talks
to AWS or to the local emulation.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=20,
)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)


@cache
def resource(service: str) -> Any:
    return boto3.session.Session().resource(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints between cases)."""
    client.cache_clear()
    resource.cache_clear()


#: BatchGetItem reads at most 100 keys per request.
BATCH_GET_KEYS = 100


def batch_get_items(
    table: str,
    keys: list[dict[str, Any]],
    *,
    projection: str,
    names: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The items of ``keys`` that exist (consistent reads), 100 keys per request,
    unprocessed keys asked again; in no particular order."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            "Keys": keys[start : start + BATCH_GET_KEYS],
            "ConsistentRead": True,
            "ProjectionExpression": projection,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        pending: dict[str, Any] = {table: request}
        while pending:
            response = client("dynamodb").batch_get_item(RequestItems=pending)
            found.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
    return found


#: Items in one TransactWriteItems (DynamoDB's limit).
TRANSACTION_ITEMS = 100


def transact_updates(updates: list[dict[str, Any]]) -> bool:
    """Every UpdateItem request of ``updates`` (at most ``TRANSACTION_ITEMS``) in one
    ``TransactWriteItems``: True when it committed, False (nothing written) when it was
    cancelled (a condition that did not hold, a conflict with another write); any other
    error is raised."""
    try:
        client("dynamodb").transact_write_items(
            TransactItems=[{"Update": update} for update in updates]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        return False
    return True
