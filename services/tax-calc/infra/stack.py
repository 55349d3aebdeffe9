"""TaxCalcStack: the tax-calc request queue, its DLQ and its task-token consumer."""

from payroll_shared.infra.step_service import StepServiceStack
from payroll_shared.names import Step


class TaxCalcStack(StepServiceStack):
    step = Step.TAX_CALC
    handler = "tax_calc.handler.lambda_handler"
    uses_database = True


STACK_CLASS = TaxCalcStack
