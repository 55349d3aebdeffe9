"""Where moto's Step Functions interpreter differs from AWS in a way the pay run relies on.

One difference so far: a task that misses its heartbeat. AWS reports
``States.HeartbeatTimeout``, which a Retry or Catch on ``States.HeartbeatTimeout`` or on
``States.Timeout`` matches (the step tasks retry a lost answer once on it). Moto
reports ``States.Timeout``, so locally that Retry never fired: a chunk whose answer
was lost failed on infrastructure and waited for a redrive instead of being asked
again. ``apply()`` makes moto report the heartbeat timeout as AWS does; it runs in the
process that serves moto (the local cloud), before any execution starts.
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
    _applied = True
