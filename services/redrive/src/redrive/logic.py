"""Dead letters as a person sees them: parsed, de-duplicated, filtered, audited, redriven.

Pure: the adapters read SQS messages and hand their ids and bodies in; this module
turns them into records, collapses copies of one record (the process DLQ is a standard
queue and a redelivered failure repeats its ``record_id``), applies the API's filters,
builds the audit entry of a discard, and plans a redrive (``plan_redrive``): which
records go back to work, how, and why the others stay. It also holds the API's request
and response shapes, so the OpenAPI document is generated from the same models the
code uses.

What a redrive does with a record (design.md 6, same pay run id, same keys):

- an employee's failure (source ``process``): the failed employees of one employer and
  pay run are grouped and sent to GetEmployers as one ``RedriveEmployees``; it runs
  them through the steps again in an execution of the pay-run state machine, and the
  employer then goes to validation and payment as usual;
- an employer that could not be listed or whose chunks did not run (source
  ``orchestration``, no employee): sent to GetEmployers as one ``RedriveEmployer``; it
  runs every active employee of that employer again. Only the record of the latest
  attempt per pay run and employer is redriven; an earlier one is stale;
- a refused payment (source ``payment``): the PushPayment the record carries is sent
  again as the next payment attempt (MoneyMovement pays a refused employee again
  only on a higher attempt, under a new idempotency key, and never pays anyone twice).

The schedule redrives on its own only what can have changed: a transient failure (no
record fingerprint: a timeout, a dead consumer, a throttled call, an employer that
could not be listed) and a data error whose record the database no longer holds as it
failed (GetEmployers compares the fingerprint). A refused payment waits for a person.
A record at ``max_attempts`` is parked: the schedule leaves it; a person may still
redrive it through the API.

The schedule also replays two other kinds of dead letter: pay-run triggers on the
orchestration DLQ (``trigger_action``) and messages on employer-validation's and
money-movement's own DLQs (``consumer_dlq_decision``): what SQS moved there after
``maxReceiveCount`` failed deliveries goes back to its source queue, a malformed
message waits for a person, and a message replayed ``max_attempts`` times is parked.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from payroll_shared.contracts import (
    MAX_REDRIVE_EMPLOYEES,
    DeadLetterRecord,
    DeadLetterSource,
    PayRunRef,
    PushPayment,
    RedriveEmployee,
    RedriveEmployees,
    RedriveEmployeesResult,
    RedriveEmployer,
    describe_validation_error,
)

AUDIT_PREFIX = "audit/dead-letters/"
MAX_REASON = 1000
#: A record id is at most 256 characters (up to 1024 bytes of UTF-8): its key is shorter.
MAX_KEY = 1400
#: Attempts (the first run counts) after which the schedule parks a record.
DEFAULT_MAX_ATTEMPTS = 3


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


# ------------------------------------------------------------------ redrive

RedriveAction = Literal[
    "started",  # running again: the record is deleted (a new failure writes a new one)
    # no longer FAILED or NEEDS_REDRIVE (redriven already, or past it), or an employer's
    # record superseded by a later attempt's: stale, deleted
    "already-running",
    "payment-sent",  # the PushPayment went out as the next attempt: deleted
    "unchanged",  # a data error whose record nobody corrected: left
    "missing",  # the employee is not an active employee of that employer: left
    "parked",  # at max attempts: the schedule leaves it to a person
    "needs-person",  # a refused payment: only a person redrives it
    "not-redrivable",  # the record lacks what a redrive needs: left, with why
    "error",  # the redrive call failed: left, to try again
]
#: Actions after which the record's messages leave the DLQ.
DONE_ACTIONS: frozenset[str] = frozenset({"started", "already-running", "payment-sent"})


class RedriveOutcome(ApiModel):
    record_id: str
    record_key: str
    action: RedriveAction
    detail: str
    attempt: int | None = None
    execution_arn: str | None = None


class RedriveReport(ApiModel):
    """What a redrive did with each record it looked at."""

    outcomes: list[RedriveOutcome]
    redriven: int
    left: int


@dataclass(frozen=True)
class EmployeeBatch:
    """One RedriveEmployees request and the records it covers."""

    request: RedriveEmployees
    entries: tuple[DeadLetterEntry, ...]


@dataclass(frozen=True)
class EmployerRedrive:
    """One RedriveEmployer request and the record it comes from."""

    request: RedriveEmployer
    entry: DeadLetterEntry


@dataclass(frozen=True)
class PaymentRetry:
    push: PushPayment
    entry: DeadLetterEntry


@dataclass(frozen=True)
class RedrivePlan:
    batches: list[EmployeeBatch]
    employers: list[EmployerRedrive]
    payments: list[PaymentRetry]
    left: list[RedriveOutcome]


def outcome(
    entry: DeadLetterEntry, action: RedriveAction, detail: str, **extra: Any
) -> RedriveOutcome:
    return RedriveOutcome(
        record_id=entry.record.record_id,
        record_key=entry.record_key,
        action=action,
        detail=detail,
        **extra,
    )


def _pay_run(record: DeadLetterRecord) -> PayRunRef | None:
    try:
        return PayRunRef.model_validate(record.payload.get("pay_run"))
    except ValidationError:
        return None


def _push_payment(record: DeadLetterRecord) -> PushPayment | None:
    try:
        return PushPayment.model_validate(record.payload.get("push_payment"))
    except ValidationError:
        return None


def _employer_key(record: DeadLetterRecord) -> tuple[str, str] | None:
    """(pay run id, employer id) of an employer's failure; None for any other record."""
    if (
        record.source is not DeadLetterSource.ORCHESTRATION
        or record.employer_id is None
        or record.employee_id is not None
    ):
        return None
    pay_run = _pay_run(record)
    return None if pay_run is None else (pay_run.pay_run_id, record.employer_id)


def _latest_per_employer(
    entries: Iterable[DeadLetterEntry],
) -> dict[tuple[str, str], DeadLetterEntry]:
    """The record of the latest attempt of each employer's failure."""
    latest: dict[tuple[str, str], DeadLetterEntry] = {}
    for entry in entries:
        key = _employer_key(entry.record)
        if key is None:
            continue
        known = latest.get(key)
        if known is None or _rank(entry) > _rank(known):
            latest[key] = entry
    return latest


def _rank(entry: DeadLetterEntry) -> tuple[int, datetime, str]:
    record = entry.record
    return (record.attempts, record.last_failed_at, record.record_id)


def plan_redrive(
    entries: Iterable[DeadLetterEntry],
    *,
    automatic: bool,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    requested_by: str = "redrive",
) -> RedrivePlan:
    """What to do with each record: a batch of employees, an employer, a payment retry,
    or leave it.

    ``automatic`` is the schedule: it skips parked records and refused payments, and
    asks GetEmployers to run a data error again only if its record changed. A person
    (the API) redrives what they name, whatever the attempts. Of two records of one
    employer's failure, the earlier attempt's is stale (``already-running``): only the
    latest is redriven, or parked.
    """
    chosen = list(entries)
    latest = _latest_per_employer(chosen)
    groups: dict[tuple[str, str, int], list[DeadLetterEntry]] = {}
    pay_runs: dict[str, PayRunRef] = {}
    payments: list[PaymentRetry] = []
    employers: list[EmployerRedrive] = []
    left: list[RedriveOutcome] = []
    for entry in chosen:
        record = entry.record
        key = _employer_key(record)
        if key is not None and latest[key] is not entry:
            newer = latest[key].record
            left.append(
                outcome(
                    entry,
                    "already-running",
                    f"superseded by attempt {newer.attempts} of this employer ({newer.record_id})",
                )
            )
            continue
        if automatic and record.attempts >= max_attempts:
            left.append(outcome(entry, "parked", f"parked after {record.attempts} attempt(s)"))
            continue
        if record.source is DeadLetterSource.PAYMENT:
            push = _push_payment(record)
            if push is None:
                left.append(outcome(entry, "not-redrivable", "the record carries no PushPayment"))
            elif automatic:
                left.append(
                    outcome(
                        entry,
                        "needs-person",
                        "the payment provider refused this payment; correct the account "
                        "and redrive it through the API",
                    )
                )
            else:
                retry = push.model_copy(update={"payment_attempt": record.attempts + 1})
                payments.append(PaymentRetry(push=retry, entry=entry))
            continue
        pay_run = _pay_run(record)
        if record.source is DeadLetterSource.ORCHESTRATION:
            if pay_run is None or record.employer_id is None or record.employee_id is not None:
                left.append(
                    outcome(
                        entry,
                        "not-redrivable",
                        "not an employer's failure with its pay run "
                        "(an orchestration record names an employer and no employee)",
                    )
                )
                continue
            employers.append(
                EmployerRedrive(
                    request=RedriveEmployer(
                        pay_run=pay_run,
                        employer_id=record.employer_id,
                        attempt=record.attempts + 1,
                        requested_by=requested_by[:256],
                    ),
                    entry=entry,
                )
            )
            continue
        if record.source is not DeadLetterSource.PROCESS or pay_run is None:
            left.append(
                outcome(entry, "not-redrivable", "not an employee's failure with its pay run")
            )
            continue
        if record.employer_id is None or record.employee_id is None:
            left.append(outcome(entry, "not-redrivable", "the record names no employee"))
            continue
        pay_runs[pay_run.pay_run_id] = pay_run
        groups.setdefault((pay_run.pay_run_id, record.employer_id, record.attempts), []).append(
            entry
        )
    batches: list[EmployeeBatch] = []
    for (pay_run_id, employer_id, attempts), members in sorted(groups.items()):
        for start in range(0, len(members), MAX_REDRIVE_EMPLOYEES):
            chunk = members[start : start + MAX_REDRIVE_EMPLOYEES]
            employees = [
                RedriveEmployee(
                    employee_id=str(e.record.employee_id),
                    first_failed_at=e.record.first_failed_at,
                    unless_record_sha256=_fingerprint(e.record) if automatic else None,
                )
                for e in chunk
            ]
            batches.append(
                EmployeeBatch(
                    request=RedriveEmployees(
                        pay_run=pay_runs[pay_run_id],
                        employer_id=employer_id,
                        attempt=attempts + 1,
                        employees=employees,
                        requested_by=requested_by[:256],
                    ),
                    entries=tuple(chunk),
                )
            )
    return RedrivePlan(batches=batches, employers=employers, payments=payments, left=left)


def _fingerprint(record: DeadLetterRecord) -> str | None:
    value = record.payload.get("record_sha256")
    return value if isinstance(value, str) and len(value) == 64 else None


_RESULT_ACTIONS: tuple[tuple[str, RedriveAction, str], ...] = (
    ("started", "started", "running the remaining steps again"),
    ("not_failed", "already-running", "no longer FAILED: already redriven or past it"),
    ("unchanged", "unchanged", "the employee's record is still the one that failed"),
    ("missing", "missing", "not an active employee of this employer"),
)


def batch_outcomes(batch: EmployeeBatch, result: RedriveEmployeesResult) -> list[RedriveOutcome]:
    """Each record of a batch, by what GetEmployers did with its employee."""
    by_employee = {str(e.record.employee_id): e for e in batch.entries}
    outcomes: list[RedriveOutcome] = []
    answered: set[str] = set()
    for field, action, detail in _RESULT_ACTIONS:
        for employee_id in getattr(result, field):
            entry = by_employee.get(employee_id)
            if entry is None or employee_id in answered:
                continue
            answered.add(employee_id)
            outcomes.append(
                outcome(
                    entry,
                    action,
                    detail,
                    attempt=batch.request.attempt,
                    execution_arn=result.execution_arn if action == "started" else None,
                )
            )
    for employee_id, entry in by_employee.items():
        if employee_id not in answered:
            outcomes.append(outcome(entry, "error", "GetEmployers did not answer for it"))
    return outcomes


def employer_outcome(redrive: EmployerRedrive, result: RedriveEmployeesResult) -> RedriveOutcome:
    """The record of an employer's failure, by GetEmployers' answer to its RedriveEmployer."""
    attempt = redrive.request.attempt
    if result.status == "nothing-to-redrive":
        return outcome(
            redrive.entry,
            "already-running",
            "the employer is no longer NEEDS_REDRIVE: already redriven or past it",
            attempt=attempt,
        )
    detail = (
        "running the employer's employees again"
        if result.status == "started"
        else "already running again: this attempt's execution exists"
    )
    return outcome(
        redrive.entry, "started", detail, attempt=attempt, execution_arn=result.execution_arn
    )


def report(outcomes: Sequence[RedriveOutcome]) -> RedriveReport:
    redriven = sum(1 for o in outcomes if o.action in DONE_ACTIONS)
    return RedriveReport(outcomes=list(outcomes), redriven=redriven, left=len(outcomes) - redriven)


# ------------------------------------------------------------------ the orchestration DLQ

#: A trigger GetEmployers rejected as malformed: replaying it cannot help.
INVALID_TRIGGER = "InvalidTrigger"
#: Answers of GetEmployers after which a replayed trigger is done with.
TRIGGER_DONE = frozenset({"started", "already-exists", "no-employers-due"})

TriggerAction = Literal["replay", "parked", "needs-person"]


def trigger_action(error_code: str | None, receive_count: int, max_attempts: int) -> TriggerAction:
    """What the schedule does with a pay-run trigger that did not start.

    ``receive_count`` is SQS's count for the message; every schedule pass that claims
    it adds one, so it counts the replays (the first run is the original attempt).
    """
    if error_code == INVALID_TRIGGER:
        return "needs-person"
    if receive_count > max_attempts:
        return "parked"
    return "replay"


def replay_body(body: str) -> str | None:
    """The trigger as GetEmployers takes it again, marked as a replay; None if unreadable.

    ``requested_by`` tells GetEmployers not to dead-letter it a second time if the
    start fails again: the original stays on the DLQ, with its receive count.
    """
    try:
        trigger = json.loads(body)
    except ValueError:
        return None
    if not isinstance(trigger, dict):
        return None
    return json.dumps({**trigger, "requested_by": REPLAY_REQUESTER})


REPLAY_REQUESTER = "redrive"


# ------------------------------------------------------------------ the consumers' own DLQs

#: The message attribute a replayed message carries: how many times the schedule has
#: sent it back to its source queue. SQS keeps a message's attributes when it moves it
#: to the DLQ, so a replay that dies again comes back with its count.
REPLAYS_ATTRIBUTE = "redrive_replays"
#: Set (with ``error_reason``, ``error_field``) by a consumer that dead-letters a
#: message itself because it can never succeed (``payroll_shared.consumer.dead_letter``:
#: ``ContractViolation`` for a body that does not parse, or the handler's own code for
#: one that names what does not exist). SQS's own move after ``maxReceiveCount`` sets
#: no attribute, so any ``error_code`` means: not a transient death, a person decides.
ERROR_CODE_ATTRIBUTE = "error_code"
#: What SendMessage takes of a received attribute.
_ATTRIBUTE_FIELDS = ("DataType", "StringValue", "BinaryValue")

ConsumerDlqAction = Literal["replay", "parked", "needs-person"]
#: A message attribute as SQS answers it: ``DataType`` and ``StringValue``/``BinaryValue``.
MessageAttributes = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class ConsumerDlqDecision:
    action: ConsumerDlqAction
    #: Replays the message has had so far (0: SQS moved it after its first deliveries).
    replays: int
    detail: str


def replays_of(attributes: MessageAttributes) -> int:
    """The replay count a message carries; 0 if none (or not a count)."""
    value = attributes.get(REPLAYS_ATTRIBUTE, {}).get("StringValue")
    try:
        count = int(str(value))
    except ValueError:
        return 0
    return max(count, 0)


def consumer_dlq_decision(attributes: MessageAttributes, max_attempts: int) -> ConsumerDlqDecision:
    """What the schedule does with a message on employer-validation's or money-movement's DLQ.

    - dead-lettered by its consumer (``error_code`` set, whatever its value: a malformed
      message, or one naming what does not exist): the same body can only fail the
      same way, so a person corrects or discards it;
    - moved there by SQS after ``maxReceiveCount`` failed deliveries (no ``error_code``):
      transient trouble (a crash, a dropped connection, throttling, an employer not
      finished yet), so it goes back to its source queue, until it has been replayed
      ``max_attempts`` times (as the orchestration DLQ's triggers: the original
      deliveries, then up to ``max_attempts`` replays); then it is parked for a person.
    """
    replays = replays_of(attributes)
    code = attributes.get(ERROR_CODE_ATTRIBUTE, {}).get("StringValue")
    if code is not None:
        return ConsumerDlqDecision(
            "needs-person", replays, f"dead-lettered by its consumer as {code}"
        )
    if replays >= max_attempts:
        return ConsumerDlqDecision("parked", replays, f"parked after {replays} replay(s)")
    return ConsumerDlqDecision("replay", replays, f"replay {replays + 1} of {max_attempts}")


def replay_attributes(attributes: MessageAttributes, replays: int) -> dict[str, dict[str, Any]]:
    """The attributes a replay is sent with: the message's own, its replay count one up."""
    kept = {
        name: {k: value[k] for k in _ATTRIBUTE_FIELDS if value.get(k) is not None}
        for name, value in attributes.items()
        if name != REPLAYS_ATTRIBUTE
    }
    return {
        **kept,
        REPLAYS_ATTRIBUTE: {"DataType": "Number", "StringValue": str(replays + 1)},
    }
