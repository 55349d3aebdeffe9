"""CDK assertions on the payroll-calc stack: cdk-nag AwsSolutions, encrypted queue with its DLQ
(deliberate maxReceiveCount), visibility >= 6x the consumer's timeout, least privilege,
task tokens of the pay-run state machine only, and the SSM names it publishes."""

from stack import PayrollCalcStack

from payroll_shared.infra.assertions import check_step_service_stack


def test_stack_has_the_properties_that_matter():
    check_step_service_stack(PayrollCalcStack, "payroll-calc")
