"""Redrive's two entry points: the scheduled function and the ad-hoc API.

``scheduled`` (EventBridge, every 15 minutes): logs the DLQs' depths, then

- the process DLQ: redrives what can have changed (``redrive.logic`` says what: a
  transient failure, a data error whose record was corrected), parks records at
  ``REDRIVE_MAX_ATTEMPTS`` and leaves refused payments to a person;
- the orchestration DLQ: replays pay-run triggers that did not start (the execution
  name makes a replay of a started run harmless), except malformed ones;
- employer-validation's and money-movement's own DLQs: sends an employer completion or
  a PushPayment that SQS moved there after ``maxReceiveCount`` failed deliveries
  (a crash, a dropped connection, throttling) back to its source queue, counting the
  replays in a message attribute; a malformed message (dead-lettered by its consumer)
  waits for a person, and one replayed ``REDRIVE_MAX_ATTEMPTS`` times is parked. Both
  consumers are idempotent, so a replay commits and pays nobody twice.

It answers ``depths`` (process and orchestration DLQs), ``process`` (the redrive
report), ``triggers`` and ``consumer_dlqs`` (per consumer) tallies of ``replayed``,
``parked``, ``needs_person`` and ``failed``.

``api`` (API Gateway REST, Lambda proxy): the routes in ``redrive.api``.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from payroll_shared.names import Env
from payroll_shared.settings import optional_setting, setting
from redrive import adapters, logic, redriving
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
    max_attempts = _max_attempts()
    try:
        process = redriving.redrive(
            lambda entries: entries,
            automatic=True,
            requested_by="schedule",
            max_attempts=max_attempts,
        )
    except redriving.NothingToRedrive:
        process = logic.report([])
    triggers = redriving.replay_triggers(max_attempts)
    consumer_dlqs = redriving.replay_consumer_dlqs(max_attempts)
    return {
        "depths": {
            depth.queue: {
                "visible": depth.visible,
                "in_flight": depth.in_flight,
                "delayed": depth.delayed,
            }
            for depth in depths
        },
        "process": process.model_dump(mode="json"),
        "triggers": triggers,
        "consumer_dlqs": consumer_dlqs,
    }


def _max_attempts() -> int:
    value = optional_setting(Env.REDRIVE_MAX_ATTEMPTS)
    return int(value) if value else logic.DEFAULT_MAX_ATTEMPTS


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler
def api(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
