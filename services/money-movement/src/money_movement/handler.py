"""money-movement: pay an employer's committed statements, once, and notify once.

For each PushPayment: read the employer's committed statements from the ledger (and
each employee's account token, fresh); for every employee not yet PAID, send the net
pay through ``adapters.PaymentClient`` with ``Idempotency-Key``
``<pay_run_id>:<employee_id>`` (``...:a<n>`` for attempt n > 1) and record the
provider's answer in the ledger's payments table:

- accepted (or replayed) -> EmployeeStatus CALCULATED -> PAID (the commit is the
  ledger's and the employer's; an employee stays CALCULATED until paid). The moves
  are made after every answer's row is recorded, up to 100 in one DynamoDB
  transaction, each with its own condition;
- refused (402 decline, other 4xx) -> one DeadLetterRecord on the process DLQ with the
  provider's reason, the attempt and the PushPayment to redrive; not retried, and the
  employer stays COMMITTED;
- unavailable (5xx, timeouts after the client's retries) -> the message fails and
  comes back; the idempotency key makes the repeat the same payment.

Employees are paid a few at once (``payroll_shared.parallel``, 8): each payment is
independent (its own key, payments row and status item) and keeps its own order
(PENDING recorded, sent, the answer recorded, PAID). The ledger's rows are written
for the employer at once: every PENDING row in one transaction before any payment is
sent, every answer in one after the last (two transactions per employer, not two per
employee). A delivery that stops between a payment and its answer's row leaves it
PENDING, and the next sends the same key again: the provider replays its answer.

Which employees are sent, and under which attempt, comes from the payments table
(``logic.next_step``): an accepted payment is never sent again; a refused one only
when the PushPayment's ``payment_attempt`` is greater than the refused attempt (a
redrive after a person corrected the account: a new key, a new payment). A plain
redelivery skips it without a second dead letter, and the employer stays COMMITTED.

When every statement is accepted (an employer without active employees has none),
EmployerStatus moves COMMITTED -> PAID and ONE CompletionNotice is published, then
recorded (``notice_published_at``). It is published by a one-state Step Functions
workflow that ``adapters.publish_notice`` starts under a name derived from pay run
and employer: Step Functions starts a name once (a second start while it runs gets
the same execution; after it, the start is refused), so the start is the publish's
idempotency key. A delivery that stopped after the PAID move and before the start
publishes it on the next delivery, so a notice is never lost; one that stopped
after the start and before the record, or two deliveries at once, cannot publish a
second one. (SNS itself delivers at least once: subscribers can key on pay run and
employer.) A second delivery of the same PushPayment pays nobody again (the provider
replays each key, and PAID employees are skipped) and publishes nothing. A
PushPayment for a pay run or employer without an EmployerStatus item goes straight to
this queue's DLQ, the reason naming the field.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from money_movement import adapters, logic
from money_movement.observability import logger, metrics, tracer
from payroll_shared import parallel
from payroll_shared.consumer import consume, require_employer_of_pay_run
from payroll_shared.contracts import EmployeeState, PushPayment


class StatementsNotCommitted(RuntimeError):
    """The ledger holds fewer statements than the PushPayment names: retry later."""


def handle(push: PushPayment) -> None:
    pay_run_id, employer_id = push.pay_run.pay_run_id, push.employer_id
    payables = adapters.read_payables(pay_run_id, employer_id)
    if not payables:
        # A PushPayment for a pay run (or employer) that does not exist goes to this
        # queue's DLQ naming the field; an employer without employees is paid below.
        require_employer_of_pay_run(pay_run_id, employer_id)
    if len(payables) < push.statements:
        raise StatementsNotCommitted(
            f"{pay_run_id}/{employer_id}: the ledger holds {len(payables)} statement(s), "
            f"the PushPayment names {push.statements}"
        )
    states = adapters.read_employee_states(pay_run_id, employer_id)
    unpaid = [
        p.amounts.employee_id
        for p in payables
        if states.get(p.amounts.employee_id) != EmployeeState.PAID.value
    ]
    recorded = adapters.recorded_payments(pay_run_id, unpaid) if unpaid else {}
    # Each employee's payment is independent (its own key, row and status item), and
    # keeps its own order: PENDING recorded, sent, the answer recorded, PAID. The
    # ledger's rows are written for the whole employer at once (one transaction per
    # phase, not two per employee), the payments a few at once, the PAID moves in
    # transactions of up to 100.
    plans = [_plan(push, payable, states, recorded) for payable in payables]
    sends = [plan for plan in plans if isinstance(plan, logic.PaymentInstruction)]
    adapters.record_payments([(instruction, "PENDING", None, None) for instruction in sends])
    with adapters.PaymentClient.from_environment() as client:
        answers = dict(
            zip(
                [instruction.employee_id for instruction in sends],
                parallel.map_ordered(lambda instruction: _send(client, instruction), sends),
                strict=True,
            )
        )
    adapters.record_payments([answer.row for answer in answers.values() if answer.row])
    outcomes = [_outcome(plan, answers) for plan in plans]
    # A payment refused on this delivery is dead-lettered (its REJECTED row is recorded).
    refused_now = [
        (plan, answers[plan.employee_id])
        for plan in plans
        if isinstance(plan, logic.PaymentInstruction)
        and answers[plan.employee_id].outcome == "refused"
    ]
    parallel.map_ordered(
        lambda pair: _refused(push, pair[0], pair[1].code, pair[1].reason, pair[1].payment_id),
        refused_now,
    )
    # Every accepted payment not yet PAID moves to PAID, after its answer's row: one
    # transaction per 100 employees (each move keeps its own condition).
    adapters.mark_employees_paid(
        pay_run_id,
        employer_id,
        [
            p.amounts.employee_id
            for p, plan, outcome in zip(payables, plans, outcomes, strict=True)
            if outcome == "accepted" and plan != "paid"
        ],
    )
    accepted = outcomes.count("accepted")
    refused = outcomes.count("refused")
    unavailable = [
        p.amounts.employee_id
        for p, outcome in zip(payables, outcomes, strict=True)
        if outcome == "unavailable"
    ]
    metrics.add_metric(name="PaymentsAccepted", unit=MetricUnit.Count, value=accepted)
    if refused:
        metrics.add_metric(name="PaymentsRefused", unit=MetricUnit.Count, value=refused)
    report = {
        "pay_run_id": pay_run_id,
        "employer_id": employer_id,
        "payment_attempt": push.payment_attempt,
        "statements": len(payables),
        "accepted": accepted,
        "refused": refused,
        "unavailable": len(unavailable),
    }
    if unavailable:
        raise logic.PaymentUnavailable(
            f"payment API unavailable for {len(unavailable)} employee(s) of {employer_id}: "
            f"{unavailable[:10]}"
        )
    if refused:
        logger.warning("employer not fully paid", extra=report)
        return
    # Every statement accepted (an employer without active employees has none: it is
    # paid with nobody to pay, and its notice says so, rather than left COMMITTED).
    moved = adapters.mark_employer_paid(pay_run_id, employer_id)
    # An employer this delivery moved to PAID has no notice on record yet (one is only
    # recorded for a PAID employer): the read is for a redelivery. Two deliveries
    # publishing the same notice start one execution (publish_notice names it).
    if not moved and not adapters.notice_due(pay_run_id, employer_id):
        # Already PAID and notified by an earlier delivery (or not PAID: not ours).
        logger.info("employer already paid; nothing published", extra=report)
        return
    notice = logic.completion_notice(
        pay_run_id, employer_id, push.pay_run.pay_date, (p.amounts for p in payables)
    )
    execution = adapters.publish_notice(notice)
    adapters.mark_notice_published(pay_run_id, employer_id)
    logger.info(
        "employer paid; completion notice published",
        extra={**report, "redelivery": not moved, "notice_execution": execution},
    )


def _plan(
    push: PushPayment,
    payable: adapters.Payable,
    states: dict[str, str],
    recorded: dict[str, logic.RecordedPayment],
) -> str | logic.PaymentInstruction:
    """One employee on this delivery: ``paid`` (PAID already), ``accepted`` (accepted
    by the provider, not yet PAID), ``refused`` (at this attempt already), or the
    payment to send."""
    employee_id = payable.amounts.employee_id
    if states.get(employee_id) == EmployeeState.PAID.value:
        return "paid"
    action, attempt = logic.next_step(recorded.get(employee_id), push.payment_attempt)
    if action is logic.Action.ACCEPTED:
        # Accepted by the provider, but the function stopped before PAID.
        return "accepted"
    if action is logic.Action.REFUSED:
        # Refused at this attempt already (and dead-lettered then): a redelivery.
        return "refused"
    return logic.PaymentInstruction(
        pay_run_id=push.pay_run.pay_run_id,
        employee_id=employee_id,
        amount=payable.amounts.net_pay,
        account_token=payable.account_token,
        attempt=attempt,
    )


@dataclass(frozen=True)
class _Answer:
    """What the provider answered one payment: its outcome and the payments row."""

    outcome: str  # accepted, refused or unavailable
    row: adapters.PaymentRow | None = None
    code: str = ""
    reason: str = ""
    payment_id: str | None = None


def _send(client: adapters.PaymentClient, instruction: logic.PaymentInstruction) -> _Answer:
    """Send one payment (its PENDING row is recorded); the row its answer records."""
    try:
        result = client.pay(instruction)
    except logic.PaymentUnavailable as exc:
        logger.warning(
            "payment unavailable",
            extra={"employee_id": instruction.employee_id, "error": str(exc)},
        )
        return _Answer("unavailable")  # the row stays PENDING: the key is sent again
    except (logic.PaymentError, ValueError) as exc:
        code = exc.code if isinstance(exc, logic.PaymentError) else "invalid_payment"
        reason = exc.message if isinstance(exc, logic.PaymentError) else str(exc)
        return _Answer(
            "refused", (instruction, "REJECTED", None, f"{code}: {reason}"), code, reason
        )
    if result.status is logic.PaymentStatus.ACCEPTED:
        return _Answer("accepted", (instruction, "ACCEPTED", result.payment_id, None))
    code, reason = result.error_code or "declined", result.reason or "declined"
    row = (instruction, "REJECTED", result.payment_id, f"{code}: {reason}")
    return _Answer("refused", row, code, reason, result.payment_id)


def _outcome(plan: str | logic.PaymentInstruction, answers: dict[str, _Answer]) -> str:
    """One employee after the payments' rows are recorded: ``accepted`` (to be PAID, if
    not already), ``refused`` or ``unavailable``."""
    if plan in ("paid", "accepted"):
        return "accepted"
    if plan == "refused":
        return "refused"
    assert isinstance(plan, logic.PaymentInstruction)
    return answers[plan.employee_id].outcome


def _refused(
    push: PushPayment,
    instruction: logic.PaymentInstruction,
    code: str,
    reason: str,
    payment_id: str | None,
) -> None:
    """Dead-letter a payment refused on this delivery (its REJECTED row is recorded)."""
    adapters.send_dead_letter(
        logic.refused_payment_record(push, instruction, code, reason, datetime.now(UTC), payment_id)
    )
    logger.warning(
        "payment refused; dead-lettered",
        extra={
            "employee_id": instruction.employee_id,
            "error_code": code,
            "payment_attempt": instruction.attempt,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, PushPayment, handle, logger)
