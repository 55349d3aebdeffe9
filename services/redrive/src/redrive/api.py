"""The ad-hoc dead-letter API: see, discard and (later) redrive process DLQ records.

Routes (API Gateway REST, IAM-authorized, behind WAF; Lambda proxy to ``handler.api``):

- ``GET /dead-letters?pay_run_id=&employer_id=&error_code=``: the records on the
  process DLQ, read without deleting or hiding them;
- ``GET /dead-letters/{record_key}``: one record;
- ``POST /dead-letters/{record_key}/discard`` ``{"reason": ...}``: delete the record
  (every copy of it) after writing an audit entry to S3 and to the log;
- ``POST /dead-letters/{record_key}/redrive``: put that record's work back in hand
  (``redrive.redriving``): an employee's failure runs the employee through the steps
  again (same pay run, same keys), a refused payment is sent again as the next payment
  attempt. A person's redrive is not limited by attempts and needs no change check:
  asking is the statement that the cause is fixed;
- ``POST /dead-letters/redrive?pay_run_id=&employer_id=&error_code=``: the same for
  every record matching the filters (at least one filter: a person names what they
  redrive).

Both answer a ``RedriveReport``: per record, what was done or why it stays.

A record is named by its ``record_key`` (``logic.record_key``): the record id contains
``/``, which does not survive an API Gateway path parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)

from payroll_shared.names import Env
from payroll_shared.settings import setting
from redrive import adapters, logic, redriving
from redrive.logic import (
    DeadLetterEntry,
    DeadLetterPage,
    DiscardRequest,
    DiscardResult,
    Filters,
    RedriveReport,
    ServiceErrorBody,
)
from redrive.observability import logger

TAG = "dead letters"

app = APIGatewayRestResolver(enable_validation=True)

RecordKey = Annotated[
    str,
    Path(
        description="The record id, base64url-encoded without padding (``record_key`` in a "
        "listing): record ids contain '/', which a path parameter cannot carry.",
        min_length=1,
        max_length=logic.MAX_KEY,
    ),
]
PayRunFilter = Annotated[str | None, Query(description="Only this pay run", max_length=128)]
EmployerFilter = Annotated[str | None, Query(description="Only this employer", max_length=64)]
ErrorCodeFilter = Annotated[str | None, Query(description="Only this error code", max_length=64)]

#: How Powertools answers a raised BadRequestError / NotFoundError.
ERROR_CONTENT: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    "application/json": {"model": ServiceErrorBody}
}


def _found(model: type[object], description: str) -> dict[int, OpenAPIResponse]:
    """Responses of a route that names one record (listing them replaces the default 200)."""
    return {
        200: {"description": description, "content": {"application/json": {"model": model}}},
        400: {"description": "The record_key is not a record key", "content": ERROR_CONTENT},
        404: {"description": "No such record on the process DLQ", "content": ERROR_CONTENT},
    }


def _record_id(key: str) -> str:
    try:
        return logic.record_id_from_key(key)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc


def _actor() -> dict[str, str | None]:
    identity = app.current_event.request_context.identity
    return {
        "user_arn": identity.user_arn,
        "caller": identity.caller,
        "account_id": identity.account_id,
        "source_ip": identity.source_ip,
        "request_id": app.current_event.request_context.request_id,
    }


@app.get("/dead-letters", summary="List process dead letters", tags=[TAG])
def list_dead_letters(
    pay_run_id: PayRunFilter = None,
    employer_id: EmployerFilter = None,
    error_code: ErrorCodeFilter = None,
) -> DeadLetterPage:
    filters = Filters(pay_run_id=pay_run_id, employer_id=employer_id, error_code=error_code)
    queue = setting(Env.PROCESS_DLQ_URL)
    depth = adapters.depth(queue, "process")
    return logic.page(adapters.peek(queue, depth.visible), filters, depth.visible)


@app.get(
    "/dead-letters/<record_key>",
    summary="Show one dead letter",
    tags=[TAG],
    responses=_found(DeadLetterEntry, "The record and the messages that carry it"),
)
def show_dead_letter(record_key: RecordKey) -> DeadLetterEntry:
    record_id = _record_id(record_key)
    queue = setting(Env.PROCESS_DLQ_URL)
    depth = adapters.depth(queue, "process")
    entries, _ = logic.parse(adapters.peek(queue, depth.visible))
    entry = logic.find(entries, record_id)
    if entry is None:
        raise NotFoundError(f"no dead letter {record_id!r} on the process DLQ")
    return entry


def _requested_by() -> str:
    identity = app.current_event.request_context.identity
    return f"api:{identity.user_arn or identity.caller or 'unknown'}"


def _redrive(select: redriving.Select) -> RedriveReport:
    try:
        return redriving.redrive(
            select, automatic=False, requested_by=_requested_by(), max_attempts=0
        )
    except redriving.NothingToRedrive as exc:
        raise NotFoundError(str(exc)) from exc


@app.post(
    "/dead-letters/redrive",
    summary="Redrive every dead letter matching the filters",
    tags=[TAG],
    responses={
        200: {
            "description": "What was done with each matching record",
            "content": {"application/json": {"model": RedriveReport}},
        },
        400: {"description": "No filter given", "content": ERROR_CONTENT},
        404: {"description": "No record matches", "content": ERROR_CONTENT},
    },
)
def redrive_matching(
    pay_run_id: PayRunFilter = None,
    employer_id: EmployerFilter = None,
    error_code: ErrorCodeFilter = None,
) -> RedriveReport:
    filters = Filters(pay_run_id=pay_run_id, employer_id=employer_id, error_code=error_code)
    if filters == Filters():
        raise BadRequestError("name what to redrive: pay_run_id, employer_id or error_code")
    return _redrive(lambda entries: logic.select(entries, filters))


@app.post(
    "/dead-letters/<record_key>/redrive",
    summary="Redrive one dead letter",
    tags=[TAG],
    responses=_found(RedriveReport, "What was done with the record"),
)
def redrive_one(record_key: RecordKey) -> RedriveReport:
    record_id = _record_id(record_key)
    return _redrive(lambda entries: [e for e in entries if e.record.record_id == record_id])


@app.post(
    "/dead-letters/<record_key>/discard",
    summary="Discard a dead letter, with a reason that is audited",
    tags=[TAG],
    responses=_found(DiscardResult, "Discarded; the audit entry is at audit_key"),
)
def discard_dead_letter(
    record_key: RecordKey, request: Annotated[DiscardRequest, Body()]
) -> DiscardResult:
    record_id = _record_id(record_key)
    queue = setting(Env.PROCESS_DLQ_URL)
    depth = adapters.depth(queue, "process")
    claimed = adapters.claim(queue, depth.visible)
    deleted: set[str] = set()
    try:
        entries, _ = logic.parse(claimed)
        entry = logic.find(entries, record_id)
        if entry is None:
            raise NotFoundError(f"no dead letter {record_id!r} on the process DLQ")
        audit = logic.discard_audit(entry, request.reason, _actor(), datetime.now(UTC))
        key = logic.audit_key(record_id)
        # The audit is durable before the irreversible delete.
        adapters.write_audit(setting(Env.PAYRUN_BUCKET), key, audit)
        targets = [m for m in claimed if m.message_id in set(entry.message_ids)]
        adapters.delete(queue, targets)
        deleted = {m.message_id for m in targets}
        logger.info(
            "dead letter discarded", extra={**logic.audit_log_fields(audit), "audit_key": key}
        )
    finally:
        adapters.release(queue, [m for m in claimed if m.message_id not in deleted])
    return DiscardResult(
        record_id=record_id,
        record_key=record_key,
        discarded_messages=len(deleted),
        audit_key=key,
    )
