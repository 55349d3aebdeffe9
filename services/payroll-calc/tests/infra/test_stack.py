"""CDK assertions: the properties of the payroll-calc stack that matter."""

import pytest
from stack import PayrollCalcStack

from payroll_shared.infra import assertions


@pytest.fixture(scope="module")
def synthesized():
    return assertions.synth_stack(PayrollCalcStack)


def test_cdk_nag_aws_solutions_passes(synthesized):
    stack, _ = synthesized
    assert assertions.nag_errors(stack) == []


def test_queue_is_encrypted_and_redrives_to_its_dlq(synthesized):
    _, template = synthesized
    assertions.assert_queues_encrypted_with_dlq(template)
    assertions.assert_visibility_covers_consumer(template)


def test_roles_are_least_privilege(synthesized):
    _, template = synthesized
    assertions.assert_least_privilege(template)
    assertions.assert_functions_traced_and_logged(template)


def test_answers_only_the_pay_run_state_machine(synthesized):
    _, template = synthesized
    text = str(template.to_json())
    assert "states:SendTaskSuccess" in text
    assert "stateMachine:payroll-test-pay-run" in text


def test_publishes_its_queue_for_the_state_machine(synthesized):
    _, template = synthesized
    names = [
        p["Properties"]["Name"] for p in template.find_resources("AWS::SSM::Parameter").values()
    ]
    assert "/payroll/test/payroll-calc/queue-url" in names
    assert "/payroll/test/payroll-calc/queue-arn" in names
