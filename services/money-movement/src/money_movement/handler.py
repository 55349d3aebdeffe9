"""money-movement: consume PushPayment messages.

What this version does (the foundation issue): it validates each PushPayment against
its contract (a malformed one goes to this queue's DLQ with the reason) and logs a
warning plus a ``PushPaymentsNotPaid`` metric for each valid one. It pays nothing.

Paying arrives with the employer-completion issue: read the employer's committed pay
statements from the ledger, send each net pay through ``adapters.PaymentClient``
(idempotency key per pay run and employee), move EmployeeStatus and EmployerStatus to
PAID and publish one CompletionNotice. Until then no producer sends PushPayment:
employer-validation stops at CALCULATED and does not commit or queue payments.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from money_movement.observability import logger, metrics, tracer
from payroll_shared.consumer import consume
from payroll_shared.contracts import PushPayment


def handle(push: PushPayment) -> None:
    logger.warning(
        "PushPayment received and NOT paid: reading the committed statements from the "
        "ledger and paying them arrives with the employer-completion issue",
        extra={
            "pay_run_id": push.pay_run.pay_run_id,
            "employer_id": push.employer_id,
            "statements": push.statements,
            "net_total": str(push.net_total),
        },
    )
    metrics.add_metric(name="PushPaymentsNotPaid", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, PushPayment, handle, logger)
