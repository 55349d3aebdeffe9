"""Dead letters as a person sees them: parsed, de-duplicated, filtered, audited.

Pure: the adapters read SQS messages and hand their ids and bodies in; this module
turns them into records, collapses copies of one record (the process DLQ is a standard
queue and a redelivered failure repeats its ``record_id``), applies the API's filters,
and builds the audit entry of a discard. It also holds the API's request and response
shapes, so the OpenAPI document is generated from the same models the code uses.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from payroll_shared.contracts import DeadLetterRecord, describe_validation_error

AUDIT_PREFIX = "audit/dead-letters/"
MAX_REASON = 1000
#: A record id is at most 256 characters (up to 1024 bytes of UTF-8): its key is shorter.
MAX_KEY = 1400


# ------------------------------------------------------------------ record keys


def record_key(record_id: str) -> str:
    """The record id in a form that fits one URL path segment (base64url, no padding).

    Record ids contain ``/`` (``<pay_run>/<employer>/<employee>``) and API Gateway does
    not pass an encoded slash through a path parameter, so the API names a record by
    this key; every listed record carries both.
    """
    return base64.urlsafe_b64encode(record_id.encode()).decode().rstrip("=")


def record_id_from_key(key: str) -> str:
    """The record id a key names; ``ValueError`` if it is not a key."""
    if not key or len(key) > MAX_KEY:
        raise ValueError("not a record key")
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        record_id = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a record key: {key!r}") from exc
    if not record_id or record_key(record_id) != key:
        raise ValueError(f"not a record key: {key!r}")
    return record_id


# ------------------------------------------------------------------ API shapes


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filters(ApiModel):
    """The list filters; ``None`` matches anything."""

    pay_run_id: str | None = None
    employer_id: str | None = None
    error_code: str | None = None

    def matches(self, record: DeadLetterRecord) -> bool:
        return (
            (self.pay_run_id is None or record.pay_run_id == self.pay_run_id)
            and (self.employer_id is None or record.employer_id == self.employer_id)
            and (self.error_code is None or record.error.code == self.error_code)
        )


class DeadLetterEntry(ApiModel):
    """One record and every message on the queue that carries it."""

    record_key: str
    record: DeadLetterRecord
    message_ids: list[str]
    copies: int = Field(ge=1)


class UnreadableMessage(ApiModel):
    """A message on the DLQ that is not a DeadLetterRecord: shown, never dropped silently."""

    message_id: str
    reason: str


class DeadLetterPage(ApiModel):
    records: list[DeadLetterEntry]
    count: int
    #: What SQS reports as visible on the queue: more than ``count`` copies seen means
    #: the peek did not reach every message (SQS has no browse).
    approximate_total: int
    messages_seen: int
    unreadable: list[UnreadableMessage]


class DiscardRequest(ApiModel):
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class DiscardResult(ApiModel):
    record_id: str
    record_key: str
    discarded_messages: int
    audit_key: str


class ApiError(ApiModel):
    error: str


class ServiceErrorBody(ApiModel):
    """The body API errors (400, 404) have: Powertools' ServiceError shape."""

    statusCode: int  # the wire name Powertools uses
    message: str


# ------------------------------------------------------------------ dead letters


@dataclass(frozen=True)
class QueueMessage:
    """An SQS message as far as this module cares."""

    message_id: str
    body: str


def parse(
    messages: Iterable[QueueMessage],
) -> tuple[list[DeadLetterEntry], list[UnreadableMessage]]:
    """Records (copies collapsed, the latest failure kept), and what could not be read.

    Entries come out ordered by pay run, employer, employee and record id, so a list
    reads the same on every call.
    """
    copies: dict[str, list[tuple[DeadLetterRecord, str]]] = {}
    unreadable: list[UnreadableMessage] = []
    seen: set[str] = set()
    for message in messages:
        if message.message_id in seen:
            continue
        seen.add(message.message_id)
        try:
            record = DeadLetterRecord.model_validate_json(message.body)
        except ValidationError as exc:
            unreadable.append(
                UnreadableMessage(
                    message_id=message.message_id,
                    reason=describe_validation_error(exc)[:MAX_REASON],
                )
            )
            continue
        copies.setdefault(record.record_id, []).append((record, message.message_id))
    entries = []
    for record_id, found in copies.items():
        latest = max(found, key=lambda pair: (pair[0].last_failed_at, pair[0].attempts))[0]
        entries.append(
            DeadLetterEntry(
                record_key=record_key(record_id),
                record=latest,
                message_ids=sorted(message_id for _, message_id in found),
                copies=len(found),
            )
        )
    entries.sort(key=_order)
    return entries, unreadable


def _order(entry: DeadLetterEntry) -> tuple[str, str, str, str]:
    record = entry.record
    return (
        record.pay_run_id or "",
        record.employer_id or "",
        record.employee_id or "",
        record.record_id,
    )


def select(entries: Iterable[DeadLetterEntry], filters: Filters) -> list[DeadLetterEntry]:
    return [entry for entry in entries if filters.matches(entry.record)]


def find(entries: Iterable[DeadLetterEntry], record_id: str) -> DeadLetterEntry | None:
    return next((entry for entry in entries if entry.record.record_id == record_id), None)


def page(
    messages: Sequence[QueueMessage], filters: Filters, approximate_total: int
) -> DeadLetterPage:
    entries, unreadable = parse(messages)
    selected = select(entries, filters)
    return DeadLetterPage(
        records=selected,
        count=len(selected),
        approximate_total=approximate_total,
        messages_seen=len({m.message_id for m in messages}),
        unreadable=unreadable,
    )


# ------------------------------------------------------------------ audit


def audit_key(record_id: str) -> str:
    return f"{AUDIT_PREFIX}{record_id}.json"


def discard_audit(
    entry: DeadLetterEntry, reason: str, actor: Mapping[str, str | None], at: datetime
) -> dict[str, Any]:
    """The audit entry of a discard: who, when, why, and the record as it was."""
    return {
        "action": "discard",
        "record_id": entry.record.record_id,
        "reason": reason,
        "actor": {key: value for key, value in actor.items() if value},
        "at": at.isoformat(),
        "message_ids": entry.message_ids,
        "copies": entry.copies,
        "record": entry.record.model_dump(mode="json"),
    }


def audit_log_fields(audit: Mapping[str, Any]) -> dict[str, Any]:
    """The audit entry without the record's payload (payloads may carry employee data)."""
    record = audit["record"]
    return {
        "audit_action": audit["action"],
        "record_id": audit["record_id"],
        "reason": audit["reason"],
        "actor": audit["actor"],
        "at": audit["at"],
        "copies": audit["copies"],
        "pay_run_id": record.get("pay_run_id"),
        "employer_id": record.get("employer_id"),
        "employee_id": record.get("employee_id"),
        "step": record.get("step"),
        "error_code": record.get("error", {}).get("code"),
    }


# ------------------------------------------------------------------ the schedule


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


def queue_depth(queue: str, attributes: Mapping[str, str]) -> QueueDepth:
    """Read SQS's approximate counts (strings in GetQueueAttributes' answer)."""

    def count(name: str) -> int:
        try:
            return int(attributes.get(name, "0"))
        except ValueError:
            return 0

    return QueueDepth(
        queue=queue,
        visible=count("ApproximateNumberOfMessages"),
        in_flight=count("ApproximateNumberOfMessagesNotVisible"),
        delayed=count("ApproximateNumberOfMessagesDelayed"),
    )
