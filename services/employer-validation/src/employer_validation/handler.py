"""employer-validation: read the employer's employee states, decide, record the decision.

- every employee CALCULATED (or already PAID) -> the pay statements of the CALCULATED
  ones are committed to the ledger in ONE database transaction (unique on pay run and
  employee: a redelivery commits nothing twice), the employer moves -> COMMITTED, and
  ONE PushPayment (statement count and net total, read back from the ledger) goes to
  the PushPayment queue. A redelivery after the commit sends the PushPayment again
  unless the employer is already PAID: MoneyMovement pays nobody twice;
- any employee FAILED -> one DeadLetterRecord per failed employee on the process DLQ,
  then EmployerStatus NEEDS_REDRIVE;
- any employee not finished (or missing) -> the message is retried (partial batch
  failure); after ``maxReceiveCount`` receives SQS moves it to this queue's DLQ;
- no EmployerStatus item for the pay run and employer (a completion for a pay run that
  does not exist) -> straight to this queue's DLQ, the reason naming the field.

The commit is the ledger's and the employer's: the employees stay CALCULATED until
MoneyMovement pays them (CALCULATED -> PAID). A per-employee COMMITTED write would say
again what the ledger's unique statement row already says, at one conditional write per
employee (a third of a pay run's status writes); nothing computes or fails an employee
once it is CALCULATED, so it guards nothing either. (Items a former version moved to
COMMITTED still count as calculated and still move on to PAID.)

Record ids are ``<pay_run_id>/<employer_id>/<employee_id>``: a redelivered completion
repeats them, so a reader of the process DLQ can tell a copy from a new failure.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from employer_validation import adapters, logic
from employer_validation.observability import logger, metrics, tracer
from payroll_shared.consumer import consume, require_employer_of_pay_run
from payroll_shared.contracts import EmployerCompletion, EmployerState


class EmployerNotFinished(RuntimeError):
    """Some employees have no final state yet: retry the message rather than decide."""


def handle(completion: EmployerCompletion) -> None:
    pay_run_id, employer_id = completion.pay_run.pay_run_id, completion.employer_id
    items = adapters.read_employee_statuses(pay_run_id, employer_id)
    if not items:
        # Nobody of this employer in this pay run: a real employer without active
        # employees, or a completion for a pay run (or employer) that does not exist,
        # which goes to this queue's DLQ naming the field instead of being retried.
        require_employer_of_pay_run(pay_run_id, employer_id)

    assessment = logic.assess(completion.employees, [logic.snapshot(i) for i in items])

    report = {
        "pay_run_id": pay_run_id,
        "employer_id": employer_id,
        "verdict": assessment.verdict.value,
        "calculated": len(assessment.calculated),
        "failed": len(assessment.failed),
        "unfinished": len(assessment.unfinished),
        "missing": assessment.missing,
    }
    if assessment.verdict is logic.Verdict.NOT_FINISHED:
        raise EmployerNotFinished(
            f"employer {employer_id} of {pay_run_id} is not finished: {report}"
        )
    now = datetime.now(UTC)
    if assessment.verdict is logic.Verdict.CALCULATED:
        commit_and_queue_payment(completion, assessment, report, now)
        return
    # Records first: NEEDS_REDRIVE then always has its records on the process DLQ.
    adapters.send_dead_letters(logic.dead_letter_records(completion, assessment, now))
    metrics.add_metric(
        name="EmployeesDeadLettered", unit=MetricUnit.Count, value=len(assessment.failed)
    )
    moved, current = adapters.move_employer(
        pay_run_id,
        employer_id,
        EmployerState.NEEDS_REDRIVE,
        employees=assessment.employees,
        failed=len(assessment.failed),
        now=now,
    )
    if not moved:
        _not_moved(report, current)
        return
    logger.info("employer needs redrive; failed employees dead-lettered", extra=report)


def _not_moved(report: dict[str, Any], current: str | None) -> None:
    # A late or duplicate message: the employer is already past this state (or the
    # workflow never wrote its BEGIN item, which the log makes visible).
    log = logger.warning if current else logger.error
    log("employer status not moved", extra={**report, "current_status": current})


def commit_and_queue_payment(
    completion: EmployerCompletion,
    assessment: logic.Assessment,
    report: dict[str, Any],
    now: datetime,
) -> None:
    pay_run, employer_id = completion.pay_run, completion.employer_id
    pay_run_id = pay_run.pay_run_id
    items = adapters.read_employee_statuses(pay_run_id, employer_id, with_results=True)
    statements = logic.statements_to_commit(pay_run, employer_id, items)
    # The ledger first: the employer is COMMITTED only once every statement is.
    committed = adapters.commit_statements(pay_run_id, employer_id, statements)
    metrics.add_metric(name="StatementsCommitted", unit=MetricUnit.Count, value=committed.inserted)
    moved, current = adapters.move_employer(
        pay_run_id,
        employer_id,
        EmployerState.COMMITTED,
        employees=assessment.employees,
        failed=0,
        now=now,
    )
    if not moved and current != EmployerState.COMMITTED.value:
        # PAID: paid already, nothing to queue; no item: the workflow lost its BEGIN.
        _not_moved(report, current)
        return
    push = logic.push_payment(pay_run, employer_id, committed.net_pays)
    # On a redelivery (already COMMITTED, not PAID) the PushPayment is sent again: an
    # earlier delivery may have stopped before sending it, and MoneyMovement pays
    # each employee once whatever the number of PushPayments.
    adapters.send_push_payment(push)
    logger.info(
        "employer committed; PushPayment queued",
        extra={
            **report,
            "statements_inserted": committed.inserted,
            "statements": push.statements,
            "net_total": str(push.net_total),
            "redelivery": not moved,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, EmployerCompletion, handle, logger)
