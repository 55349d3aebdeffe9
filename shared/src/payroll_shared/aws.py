"""boto3 clients, created once per process and reused across invocations.

boto3 honours ``AWS_ENDPOINT_URL`` (the local cloud sets it), so the same code talks
to AWS or to the local emulation. Every client comes from one session per process, so
botocore reads its data files (endpoints, partitions, each service's model) once, not
once per client: most of a cold start's own time. ``preload`` reads them before any
invocation (the local runtime does it once, before it forks its workers).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=20,
)

#: Every AWS service the handlers call (``client``'s names).
SERVICES = ("dynamodb", "lambda", "s3", "sqs", "stepfunctions")

# A session is not safe to share between threads while it makes clients (the clients
# are): making them holds the lock.
_LOCK = threading.Lock()
_sessions: list[tuple[botocore.session.Session, boto3.session.Session]] = []
_clients: dict[str, Any] = {}


def _session() -> tuple[botocore.session.Session, boto3.session.Session]:
    """This process's botocore session and the boto3 session around it."""
    if not _sessions:
        core = botocore.session.get_session()
        _sessions.append((core, boto3.session.Session(botocore_session=core)))
    return _sessions[0]


def client(service: str) -> Any:
    """This process's client of ``service`` (made on first use, with its region,
    credentials and endpoint read from the environment then)."""
    found = _clients.get(service)
    if found is None:
        with _LOCK:
            found = _clients.get(service)
            if found is None:
                found = _clients[service] = _session()[1].client(service, config=_CONFIG)
    return found


def preload(services: Iterable[str] = SERVICES) -> None:
    """Read botocore's data for ``services`` into this process's session, as a client
    of each would, without a region or credentials of the session's: the clients made
    here are thrown away, and ``client`` still reads the environment when it makes its
    own."""
    with _LOCK:
        core = _session()[0]
        for service in services:
            core.create_client(
                service,
                region_name="us-east-1",
                aws_access_key_id="preload",
                aws_secret_access_key="preload",  # noqa: S106 - never sent anywhere
                config=_CONFIG,
            )


def reset_clients() -> None:
    """Forget the session and its clients (tests that switch endpoints between cases)."""
    with _LOCK:
        _clients.clear()
        _sessions.clear()


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
