"""Where moto's Step Functions interpreter differs from AWS in a way the pay run relies on.

Three differences so far. First, a heartbeat sent before moto is ready for it. moto
registers a task token, sends the task's message, and only then sets up the token's
heartbeat; a consumer that picks the message up in between and sends
``SendTaskHeartbeat`` (every step does, on pick-up) was answered ``InvalidToken``, so the
step treated a live chunk as forged, dropped it, and the chunk sat out its heartbeat. In
AWS the token is good from the moment the message exists. ``apply()`` makes a heartbeat
for a registered token succeed whether or not its heartbeat timer has started yet
(there is nothing to extend before it has).

Second, a task that misses its heartbeat. AWS reports
``States.HeartbeatTimeout``, which a Retry or Catch on ``States.HeartbeatTimeout`` or on
``States.Timeout`` matches (the step tasks retry a lost answer once on it). Moto
reports ``States.Timeout``, so locally that Retry never fired: a chunk whose answer
was lost failed on infrastructure and waited for a redrive instead of being asked
again. ``apply()`` makes moto report the heartbeat timeout as AWS does; it runs in the
process that serves moto (the local cloud), before any execution starts.

Third, a token answered while another execution is starting. moto finds a token's
execution by walking every RUNNING execution and asking its worker's environment; an
execution is RUNNING as soon as its worker's thread is started, before that thread has
made the environment, so a ``SendTaskSuccess`` (or heartbeat, or failure) that came in
at that moment failed with a 500 (``'NoneType' object has no attribute
'callback_pool_manager'``), one to six times in a 10,000-employee bench. Every caller of
that walk reads the environment, and an execution without one holds no token or map
run yet, so ``apply()`` leaves those out of it.
"""

from __future__ import annotations

from typing import Any

HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
TIMEOUT = "States.Timeout"

_applied = False


def apply() -> None:
    """Patch moto's callback tasks (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    class HeartbeatTimeoutName(StatesErrorName):
        """``States.HeartbeatTimeout``, matched by ``States.Timeout`` too (as in AWS)."""

        def __init__(self) -> None:
            super().__init__(typ=StatesErrorNameType.StatesHeartbeatTimeout)

        def matches(self, error_name: str | None) -> bool:
            return error_name in (HEARTBEAT_TIMEOUT, TIMEOUT)

        def __eq__(self, other: object) -> bool:
            return isinstance(other, StatesErrorName) and self.matches(other.error_name)

    service = callback.StateTaskServiceCallback
    original = service._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, HeartbeatTimeoutError):
            return FailureEvent(
                env=env,
                error_name=HeartbeatTimeoutName(),
                event_type=HistoryEventType.TaskTimedOut,
                event_details=EventDetails(
                    taskTimedOutEventDetails=TaskTimedOutEventDetails(error=HEARTBEAT_TIMEOUT)
                ),
            )
        return original(self, env, ex)

    service._from_error = _from_error  # type: ignore[method-assign]
    _early_heartbeats()
    _started_executions()
    _applied = True


def _started_executions() -> None:
    """The executions moto walks to find a token or a map run: those whose worker has
    made its environment."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._get_executions

    def started(self: Any, execution_status: Any = None) -> list[Any]:
        executions = original(self, execution_status)
        return [e for e in executions if getattr(e.exec_worker, "env", None) is not None]

    StepFunctionsParserBackend._get_executions = started  # type: ignore[method-assign]


def _early_heartbeats() -> None:
    """A heartbeat for a registered token succeeds before its heartbeat timer exists."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    def notify_heartbeat(self: Any) -> bool:
        endpoint = getattr(self, "_heartbeat_endpoint", None)
        if endpoint is not None:
            endpoint.notify()
        return True

    CallbackEndpoint.notify_heartbeat = notify_heartbeat  # type: ignore[method-assign]
