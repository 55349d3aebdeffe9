"""Redrive's two entry points: the scheduled function and the ad-hoc API.

``scheduled`` (EventBridge, every 15 minutes): for now it reads the approximate
message counts of the process DLQ and the orchestration DLQ and logs them, nothing
else: it does not receive, redrive or delete anything. Reprocessing the failed
employees of a pay run (same keys, design.md 6) arrives with the employer-completion
issue.

``api`` (API Gateway REST, Lambda proxy): the routes in ``redrive.api``.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from payroll_shared.names import Env
from payroll_shared.settings import setting
from redrive import adapters
from redrive.api import app
from redrive.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def scheduled(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    depths = [
        adapters.depth(setting(Env.PROCESS_DLQ_URL), "process"),
        adapters.depth(setting(Env.ORCHESTRATION_DLQ_URL), "orchestration"),
    ]
    for depth in depths:
        logger.info(
            "dead-letter queue depth",
            extra={
                "queue": depth.queue,
                "visible": depth.visible,
                "in_flight": depth.in_flight,
                "delayed": depth.delayed,
            },
        )
    return {
        depth.queue: {
            "visible": depth.visible,
            "in_flight": depth.in_flight,
            "delayed": depth.delayed,
        }
        for depth in depths
    }


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler
def api(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
