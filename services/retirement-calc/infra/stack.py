"""RetirementCalcStack: the retirement-calc request queue, its DLQ and its task-token consumer."""

from payroll_shared.infra.step_service import StepServiceStack
from payroll_shared.names import Step


class RetirementCalcStack(StepServiceStack):
    step = Step.RETIREMENT_CALC
    handler = "retirement_calc.handler.lambda_handler"
    uses_database = True


STACK_CLASS = RetirementCalcStack
