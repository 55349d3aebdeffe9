"""The only code of this service that talks to the outside.

The ledger database, EmployeeStatus/EmployerStatus, the process DLQ, the notice
workflow (which publishes to the completion topic), and the payment API over HTTP.

``PaymentClient`` sends one payment per call with ``requests``:

- connect and read timeouts on every request, so a hung provider cannot hold the
  function until its own timeout;
- retries with exponential backoff (urllib3 ``Retry``) on connection errors, read
  timeouts, 429 and 5xx. POST is not retried by default because it is not
  idempotent; here it is, because every request carries ``Idempotency-Key`` derived
  from (pay run, employee, attempt): if the first attempt reached the provider and only its
  answer was lost, the retry is answered from the provider's idempotency store with
  the same payment, not a second one;
- the final answer is interpreted by ``logic.interpret``: accepted, declined, or an
  error that says whether a later retry can help (``PaymentUnavailable``) or not.

The account token is sent to the provider and nowhere else: it is never logged.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import requests
from botocore.exceptions import ClientError
from requests import PreparedRequest
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from requests.auth import AuthBase
from sqlalchemy import select
from urllib3.util.retry import Retry

from money_movement import logic
from money_movement.logic import (
    PaymentInstruction,
    PaymentResult,
    PaymentUnavailable,
    RecordedPayment,
    StatementAmounts,
)
from payroll_platform.db import ledger
from payroll_platform.db.engine import session_scope
from payroll_platform.db.models import Employee, PayStatement
from payroll_shared import aws, dead_letters, parallel
from payroll_shared.contracts import (
    EMPLOYEE_PREDECESSORS,
    EMPLOYER_PREDECESSORS,
    CompletionNotice,
    DeadLetterRecord,
    EmployeeState,
    EmployerState,
    employee_pk,
)
from payroll_shared.names import Env
from payroll_shared.settings import optional_setting, setting

#: Seconds to open a connection (slightly over a TCP retransmit window) and to read.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
#: Attempts after the first one, and the backoff base: 0.5 s, 1 s, 2 s between them.
RETRIES = 3
BACKOFF_FACTOR = 0.5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "payroll-money-movement/0.1"


def retry_policy(retries: int = RETRIES, backoff_factor: float = BACKOFF_FACTOR) -> Retry:
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff_factor,
        backoff_max=10.0,
        status_forcelist=RETRY_STATUSES,
        # POST is safe to repeat only because of the idempotency key (see module doc).
        allowed_methods=frozenset({"POST"}),
        respect_retry_after_header=True,
        # Give back the last response instead of raising, so its body can be read.
        raise_on_status=False,
    )


class _NoCredentials(AuthBase):
    """The request as it is: the payment API's requests carry no ``.netrc`` credentials."""

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        return request


class PaymentClient:
    """One payment API, one HTTP session with its connection pool and retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        retries: int = RETRIES,
        backoff_factor: float = BACKOFF_FACTOR,
    ) -> None:
        self.url = logic.payments_url(base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        # A connection per payment in flight (the handler pays parallel.WORKERS at once).
        adapter = HTTPAdapter(
            max_retries=retry_policy(retries, backoff_factor),
            pool_maxsize=max(parallel.WORKERS, DEFAULT_POOLSIZE),
        )
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        # No credentials from ~/.netrc: without an auth of its own, requests looks the
        # file up again for every request (a tenth of a payment's CPU).
        self.session.auth = _NoCredentials()

    @classmethod
    def from_environment(cls) -> PaymentClient:
        read_timeout = float(optional_setting(Env.PAYMENT_API_READ_TIMEOUT, str(READ_TIMEOUT)))
        return cls(setting(Env.PAYMENT_API_URL), read_timeout=read_timeout)

    def pay(self, instruction: PaymentInstruction) -> PaymentResult:
        """Send one payment; the same instruction always carries the same idempotency key."""
        body = logic.payment_body(instruction)
        key = instruction.idempotency_key
        try:
            response = self.session.post(
                self.url, json=body, headers={"Idempotency-Key": key}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            # Retries exhausted on connection errors or read timeouts.
            raise PaymentUnavailable(
                f"payment API unreachable for {body['reference']}: {type(exc).__name__}"
            ) from exc
        return logic.interpret(instruction, response.status_code, _json(response), response.headers)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# ------------------------------------------------ the ledger, the status tables, SNS


@dataclass(frozen=True)
class Payable:
    """One committed statement to pay, with the account its net pay goes to."""

    amounts: StatementAmounts
    account_token: str

    def __repr__(self) -> str:
        return f"Payable({self.amounts.employee_id!r}, net_pay={self.amounts.net_pay!s})"


def _amounts(statement: PayStatement) -> StatementAmounts:
    return StatementAmounts(
        employee_id=statement.employee_id,
        gross_pay=statement.gross_pay,
        net_pay=statement.net_pay,
        federal_income_tax=statement.federal_income_tax,
        social_security=statement.social_security,
        medicare=statement.medicare,
        additional_medicare=statement.additional_medicare,
        state_income_tax=statement.state_income_tax,
        employer_social_security=statement.employer_social_security,
        employer_medicare=statement.employer_medicare,
        futa=statement.futa,
        employer_match=statement.employer_match,
    )


def read_payables(pay_run_id: str, employer_id: str) -> list[Payable]:
    """The employer's committed statements and each employee's account token.

    The token is read from the employees table on every delivery, so a redrive pays
    into the account as a person corrected it, not as it was on the first attempt.
    """
    with session_scope() as session:
        statements = ledger.statements_for(session, pay_run_id, employer_id)
        ids = [s.employee_id for s in statements]
        query = select(Employee.employee_id, Employee.bank_account_token).where(
            Employee.employee_id.in_(ids)
        )
        tokens = {str(row[0]): str(row[1]) for row in session.execute(query)}
        return [Payable(_amounts(s), tokens.get(s.employee_id, "")) for s in statements]


#: A payments row to record: the payment, its status, the provider's id, the reason.
PaymentRow = tuple[PaymentInstruction, str, str | None, str | None]


def record_payments(rows: list[PaymentRow]) -> None:
    """Record the payments rows in one transaction and one statement (none: nothing)."""
    if not rows:
        return
    with session_scope() as session:
        ledger.record_payments(
            session,
            [
                ledger.PaymentRecord(
                    pay_run_id=instruction.pay_run_id,
                    employee_id=instruction.employee_id,
                    # The attempt is in the key (``...:a<n>``): see ``recorded_payments``.
                    idempotency_key=instruction.idempotency_key,
                    amount=instruction.amount,
                    status=status,
                    provider_payment_id=payment_id,
                    reason=reason,
                )
                for instruction, status, payment_id, reason in rows
            ],
        )


def recorded_payments(pay_run_id: str, employee_ids: list[str]) -> dict[str, RecordedPayment]:
    """employee id -> the status of their payments row and the attempt of its key."""
    with session_scope() as session:
        return {
            row.employee_id: RecordedPayment(
                row.status, logic.attempt_of(row.idempotency_key, pay_run_id, row.employee_id)
            )
            for row in ledger.payments_for(session, pay_run_id, employee_ids)
        }


def read_employee_states(pay_run_id: str, employer_id: str) -> dict[str, str]:
    """employee id -> EmployeeStatus state (strongly consistent, paged)."""
    client = aws.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": setting(Env.EMPLOYEE_STATUS_TABLE),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": employee_pk(pay_run_id, employer_id)}},
        "ExpressionAttributeNames": {"#s": "status"},
        "ProjectionExpression": "employee_id, #s",
        "ConsistentRead": True,
    }
    states: dict[str, str] = {}
    while True:
        page = client.query(**request)
        for item in page.get("Items", []):
            states[item["employee_id"]["S"]] = item.get("status", {}).get("S", "")
        last = page.get("LastEvaluatedKey")
        if not last:
            return states
        request["ExclusiveStartKey"] = last


def _move_request(
    table: Env, key: dict[str, Any], target: str, allowed: list[str]
) -> dict[str, Any]:
    """The conditional update that moves one status item to ``target`` from ``allowed``."""
    values: dict[str, Any] = {
        ":target": {"S": target},
        ":now": {"S": datetime.now(UTC).isoformat()},
    }
    values.update({f":p{i}": {"S": state} for i, state in enumerate(allowed)})
    previous = ", ".join(f":p{i}" for i in range(len(allowed)))
    return {
        "TableName": setting(table),
        "Key": key,
        "UpdateExpression": "SET #s = :target, updated_at = :now",
        "ConditionExpression": f"#s IN ({previous})",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": values,
    }


def _move(table: Env, key: dict[str, Any], target: str, allowed: list[str]) -> bool:
    return _move_one(_move_request(table, key, target, allowed))


def _paid_request(pay_run_id: str, employer_id: str, employee_id: str) -> dict[str, Any]:
    return _move_request(
        Env.EMPLOYEE_STATUS_TABLE,
        {"pk": {"S": employee_pk(pay_run_id, employer_id)}, "employee_id": {"S": employee_id}},
        EmployeeState.PAID.value,
        sorted(s.value for s in EMPLOYEE_PREDECESSORS[EmployeeState.PAID]),
    )


def mark_employees_paid(pay_run_id: str, employer_id: str, employee_ids: list[str]) -> list[bool]:
    """EmployeeStatus CALCULATED (or a former version's COMMITTED) -> PAID for each of an
    employer's ``employee_ids``; for each, whether it moved (False: in neither, PAID
    already).

    Each employee's move keeps its own condition (CALCULATED or COMMITTED -> PAID). Up
    to ``aws.TRANSACTION_ITEMS`` moves go in one ``TransactWriteItems``, one request
    instead of one per employee (a transactional write costs twice the write units
    of an UpdateItem: about one thousandth of a dollar per 1,000 employees, see the
    README). A transaction is all or nothing: if it is cancelled (an employee PAID
    already by another delivery, a conflict with another write), the batch is moved
    one conditional UpdateItem at a time, each answering for itself, as before. A
    single move is a plain UpdateItem.
    """
    moved: list[bool] = []
    for start in range(0, len(employee_ids), aws.TRANSACTION_ITEMS):
        batch = employee_ids[start : start + aws.TRANSACTION_ITEMS]
        if len(batch) > 1 and aws.transact_updates(
            [_paid_request(pay_run_id, employer_id, employee_id) for employee_id in batch]
        ):
            moved.extend([True] * len(batch))
            continue
        moved.extend(
            parallel.map_ordered(
                lambda employee_id: _move_one(_paid_request(pay_run_id, employer_id, employee_id)),
                batch,
            )
        )
    return moved


def _move_one(request: dict[str, Any]) -> bool:
    """One conditional UpdateItem; False when its condition did not hold (nothing moved)."""
    try:
        aws.client("dynamodb").update_item(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True


def mark_employer_paid(pay_run_id: str, employer_id: str) -> bool:
    """EmployerStatus COMMITTED -> PAID; False when it was not COMMITTED (e.g. PAID)."""
    return _move(
        Env.EMPLOYER_STATUS_TABLE,
        {"pay_run_id": {"S": pay_run_id}, "employer_id": {"S": employer_id}},
        EmployerState.PAID.value,
        sorted(s.value for s in EMPLOYER_PREDECESSORS[EmployerState.PAID]),
    )


def _employer_key(pay_run_id: str, employer_id: str) -> dict[str, Any]:
    return {"pay_run_id": {"S": pay_run_id}, "employer_id": {"S": employer_id}}


def notice_due(pay_run_id: str, employer_id: str) -> bool:
    """True when the employer is PAID and its completion notice is not yet recorded as
    published (``notice_published_at``): a delivery that stopped between the PAID move
    and the publish leaves it due, and the next delivery publishes it."""
    item = (
        aws.client("dynamodb")
        .get_item(
            TableName=setting(Env.EMPLOYER_STATUS_TABLE),
            Key=_employer_key(pay_run_id, employer_id),
            ConsistentRead=True,
            ProjectionExpression="#s, notice_published_at",
            ExpressionAttributeNames={"#s": "status"},
        )
        .get("Item", {})
    )
    status = item.get("status", {}).get("S")
    return status == EmployerState.PAID.value and "notice_published_at" not in item


def mark_notice_published(pay_run_id: str, employer_id: str) -> bool:
    """Record that the notice went out; False if another delivery recorded it first."""
    try:
        aws.client("dynamodb").update_item(
            TableName=setting(Env.EMPLOYER_STATUS_TABLE),
            Key=_employer_key(pay_run_id, employer_id),
            UpdateExpression="SET notice_published_at = :now",
            ConditionExpression="attribute_not_exists(notice_published_at)",
            ExpressionAttributeValues={":now": {"S": datetime.now(UTC).isoformat()}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True


def send_dead_letter(record: DeadLetterRecord) -> None:
    dead_letters.send([record])


#: What an execution name may hold (Step Functions: 1-80 characters, no whitespace,
#: brackets, wildcards or ``"#%\\^|~`$&,;:/``).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}")
#: How an earlier start of the same notice can have ended and still count as published.
_PUBLISHED = {"RUNNING", "SUCCEEDED"}


class NoticeNotPublished(RuntimeError):
    """The notice's workflow ran under this name and failed: a person must look."""


def notice_execution_name(pay_run_id: str, employer_id: str) -> str:
    """The one Step Functions execution name of an employer's notice in a pay run."""
    name = f"{pay_run_id}.{employer_id}"
    if _PLAIN_NAME.fullmatch(name):
        return name
    digest = hashlib.sha256(f"{pay_run_id}/{employer_id}".encode()).hexdigest()
    return f"notice-{digest[:64]}"


def publish_notice(notice: CompletionNotice) -> str:
    """Start the notice workflow, which publishes ``notice`` to the completion topic,
    under the employer's one execution name; answer that execution's ARN.

    Step Functions starts a name once: a second start with the same input while the
    first runs answers the same execution, and any start after it ended is refused
    (``ExecutionAlreadyExists``). So a delivery that died after starting it, or two
    deliveries at once, publish one notice. A refused start is fine when the earlier
    execution is running or succeeded; if it failed (SNS refused the notice after the
    workflow's retries), ``NoticeNotPublished`` sends the PushPayment back and, in
    the end, to its DLQ, where a person sees it.
    """
    machine = setting(Env.NOTICE_STATE_MACHINE_ARN)
    name = notice_execution_name(notice.pay_run_id, notice.employer_id)
    payload = {
        "message": notice.model_dump_json(),
        "employer_id": notice.employer_id,
        "status": notice.status.value,
    }
    sfn = aws.client("stepfunctions")
    try:
        started = sfn.start_execution(
            stateMachineArn=machine, name=name, input=json.dumps(payload, sort_keys=True)
        )
        return str(started["executionArn"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
    execution = _execution_arn(machine, name)
    status = sfn.describe_execution(executionArn=execution)["status"]
    if status not in _PUBLISHED:
        raise NoticeNotPublished(
            f"{notice.pay_run_id}/{notice.employer_id}: the notice workflow {execution} "
            f"ended {status}; see its history"
        )
    return execution


def _execution_arn(machine_arn: str, name: str) -> str:
    """arn:aws:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>"""
    prefix, machine = machine_arn.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"
