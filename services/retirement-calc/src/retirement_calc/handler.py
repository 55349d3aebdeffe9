"""retirement-calc: SQS event -> the step's contract -> the logic -> the task-token answer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from payroll_shared.consumer import consume
from payroll_shared.contracts import RetirementCalcRequest
from payroll_shared.steps import run_step
from retirement_calc import adapters, logic
from retirement_calc.observability import logger, metrics, tracer


def handle(request: RetirementCalcRequest) -> None:
    run_step(request, logic.compute, logger, prepare=adapters.prepare)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, RetirementCalcRequest, handle, logger)
