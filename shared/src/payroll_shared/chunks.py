"""A chunk's items by reference: an object in the pay-run bucket, a key in the workflow.

A chunk of 100 employees with their records and the earlier steps' results is 100-150
KB of JSON. Carried inline, every state of the workflow copies it, every step message
carries it (billed per 64 KB by SQS), and a larger chunk would meet the 256 KiB limit
of a Step Functions state and of a task-token answer. So a chunk whose items encode to
more than ``INLINE_LIMIT`` bytes (or ``CHUNK_INLINE_BYTES``) travels as ``items_key``,
the key of a JSON array of its ``WorkItem``s (the claim-check pattern):

- GetEmployees writes each large chunk's employees (``employees-<digest>.json``) and
  lists the chunk with its key in ``chunks.json``.
- A step loads the items (``load``), works, and answers with the items going on after
  it: inline if they are small, else written first to ``<step>-<digest>.json``
  (``store``). All of a chunk's objects are in one folder (``names.chunk_directory``).
- A small chunk (chunk size 1, the seed's flow) stays inline: an object per step would
  cost more S3 requests than the copies it saves.

Every object is named by the SHA-256 of its bytes, so an object is never overwritten
with other content: a duplicate delivery writes the same bytes to the same key, and a
redrive, whose records or results differ, writes new keys while a late reader of the
old ones still finds them. The objects live with the pay run's other files under
``pay-runs/`` and go with the bucket's lifecycle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TypeVar

from pydantic import TypeAdapter

from payroll_shared import aws
from payroll_shared.contracts import ChunkState, StepRequest, WorkItem
from payroll_shared.names import Env, chunk_directory
from payroll_shared.settings import optional_setting, setting

#: Items that encode to at most this many bytes travel inline (a handful of employees).
INLINE_LIMIT = 16 * 1024
#: The first step's object: the employees as GetEmployees read them.
EMPLOYEES = "employees"

_ITEMS = TypeAdapter(list[WorkItem])
Request = TypeVar("Request", bound=StepRequest)


def inline_limit() -> int:
    """``INLINE_LIMIT``, or the bytes ``CHUNK_INLINE_BYTES`` sets (0: every chunk by key)."""
    value = optional_setting(Env.CHUNK_INLINE_BYTES).strip()
    if not value:
        return INLINE_LIMIT
    if not value.isdigit():
        raise ValueError(f"{Env.CHUNK_INLINE_BYTES.value}: expected a byte count, got {value!r}")
    return int(value)


def encode(items: Sequence[WorkItem]) -> bytes:
    """The JSON array of ``items``, as the object holds it."""
    return _ITEMS.dump_json(list(items))


def object_key(directory: str, name: str, body: bytes) -> str:
    """``<directory>/<name>-<SHA-256 of body, 20 hex digits>.json``."""
    return f"{directory}/{name}-{hashlib.sha256(body).hexdigest()[:20]}.json"


def put_items(directory: str, name: str, items: Sequence[WorkItem]) -> str | None:
    """Write ``items`` to their object if they are too large to travel inline.

    Returns the object's key, or None when they stay inline (``INLINE_LIMIT``).
    """
    body = encode(items)
    if len(body) <= inline_limit():
        return None
    key = object_key(directory, name, body)
    aws.client("s3").put_object(
        Bucket=setting(Env.PAYRUN_BUCKET), Key=key, Body=body, ContentType="application/json"
    )
    return key


def _read(key: str) -> bytes:
    response = aws.client("s3").get_object(Bucket=setting(Env.PAYRUN_BUCKET), Key=key)
    body: bytes = response["Body"].read()
    return body


def get_items(key: str) -> list[WorkItem]:
    """The items the object at ``key`` holds."""
    return _ITEMS.validate_json(_read(key))


def load(request: Request) -> Request:
    """``request`` with its items, read from ``items_key`` when it came without them.

    The object's JSON is validated once, as the request's ``items``, so the contract's
    checks (each employee once) hold for the items the object holds as for inline ones.
    """
    if request.items or request.items_key is None:
        return request
    data = request.model_dump(mode="json", exclude={"items"})
    data["items"] = json.loads(_read(request.items_key))
    return type(request).model_validate(data)


def store(state: ChunkState, request: StepRequest) -> ChunkState:
    """The answer to send: ``state`` with its items moved to an object when they are
    too large to travel inline."""
    if not state.items:
        return state
    directory = chunk_directory(state.pay_run.pay_run_id, state.employer_id, state.chunk_id)
    key = put_items(directory, request.step.value, state.items)
    if key is None:
        return state
    return ChunkState(
        pay_run=state.pay_run,
        employer_id=state.employer_id,
        chunk_id=state.chunk_id,
        items=[],
        items_key=key,
        failed=state.failed,
        remaining=len(state.items),
    )


def employee_ids(items: Sequence[WorkItem], items_key: str | None) -> list[str]:
    """The employees a chunk state names: inline, or those its object holds."""
    if items or items_key is None:
        return [item.employee_id for item in items]
    return [item.employee_id for item in get_items(items_key)]
