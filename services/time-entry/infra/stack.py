"""TimeEntryStack: the time-entry request queue, its DLQ and its task-token consumer."""

from payroll_shared.infra.step_service import StepServiceStack
from payroll_shared.names import Step


class TimeEntryStack(StepServiceStack):
    step = Step.TIME_ENTRY
    handler = "time_entry.handler.lambda_handler"
    uses_database = True


STACK_CLASS = TimeEntryStack
