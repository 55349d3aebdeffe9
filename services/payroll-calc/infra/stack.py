"""PayrollCalcStack: the payroll-calc request queue, its DLQ and its task-token consumer."""

from payroll_shared.infra.step_service import StepServiceStack
from payroll_shared.names import Step


class PayrollCalcStack(StepServiceStack):
    step = Step.PAYROLL_CALC
    handler = "payroll_calc.handler.lambda_handler"
    uses_database = True


STACK_CLASS = PayrollCalcStack
