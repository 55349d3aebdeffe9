"""employer-validation: read the employer's employee states, decide, record the decision.

What this version does (the foundation issue):

- every employee CALCULATED -> EmployerStatus CALCULATED. The ledger commit and the
  PushPayment message are NOT done yet: they arrive with the employer-completion
  issue, and a log line says so for each employer;
- any employee FAILED -> one DeadLetterRecord per failed employee on the process DLQ,
  then EmployerStatus NEEDS_REDRIVE;
- any employee not finished (or missing) -> the message is retried (partial batch
  failure); after ``maxReceiveCount`` receives SQS moves it to this queue's DLQ.

Record ids are ``<pay_run_id>/<employer_id>/<employee_id>``: a redelivered completion
repeats them, so a reader of the process DLQ can tell a copy from a new failure.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from employer_validation import adapters, logic
from employer_validation.observability import logger, metrics, tracer
from payroll_shared.consumer import consume
from payroll_shared.contracts import EmployerCompletion, EmployerState


class EmployerNotFinished(RuntimeError):
    """Some employees have no final state yet: retry the message rather than decide."""


def handle(completion: EmployerCompletion) -> None:
    pay_run_id, employer_id = completion.pay_run.pay_run_id, completion.employer_id
    items = adapters.read_employee_statuses(pay_run_id, employer_id)

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
    if assessment.verdict is logic.Verdict.NEEDS_REDRIVE:
        # Records first: NEEDS_REDRIVE then always has its records on the process DLQ.
        adapters.send_dead_letters(logic.dead_letter_records(completion, assessment, now))
        target = EmployerState.NEEDS_REDRIVE
        metrics.add_metric(
            name="EmployeesDeadLettered", unit=MetricUnit.Count, value=len(assessment.failed)
        )
    else:
        target = EmployerState.CALCULATED
    moved, current = adapters.move_employer(
        pay_run_id,
        employer_id,
        target,
        employees=assessment.employees,
        failed=len(assessment.failed),
        now=now,
    )
    if not moved:
        # A late or duplicate message: the employer is already past this state (or the
        # workflow never wrote its BEGIN item, which the log makes visible).
        log = logger.warning if current else logger.error
        log("employer status not moved", extra={**report, "current_status": current})
        return
    if target is EmployerState.CALCULATED:
        logger.info(
            "employer calculated; the ledger commit and the PushPayment message arrive with "
            "the employer-completion issue, so nothing is committed or paid yet",
            extra=report,
        )
    else:
        logger.info("employer needs redrive; failed employees dead-lettered", extra=report)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, EmployerCompletion, handle, logger)
