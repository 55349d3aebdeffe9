import json
from datetime import date

import pytest
from pydantic import ValidationError

from payroll_shared.contracts import (
    EmployeeRecord,
    OutcomeStatus,
    StepResponse,
    TaxCalcRequest,
    TimeEntryRequest,
    WorkItem,
    describe_validation_error,
)
from payroll_shared.steps import evaluate

from .factories import employee_record, step_request


def test_a_valid_employee_record_validates():
    record = EmployeeRecord.model_validate(employee_record())
    assert record.hourly_rate is not None


def test_missing_pay_rate_names_the_field():
    raw = employee_record(hourly_rate=None)
    with pytest.raises(ValidationError) as info:
        EmployeeRecord.model_validate(raw)
    assert "hourly_rate is required" in describe_validation_error(info.value)


def test_wrong_type_names_the_field_path():
    raw = employee_record()
    raw["w4"]["filing_status"] = "married_with_cats"
    with pytest.raises(ValidationError) as info:
        EmployeeRecord.model_validate(raw)
    assert "w4.filing_status" in describe_validation_error(info.value)


def test_unknown_fields_are_rejected():
    raw = employee_record(favourite_colour="blue")
    with pytest.raises(ValidationError, match="favourite_colour"):
        EmployeeRecord.model_validate(raw)


def test_a_step_request_is_bound_to_its_step():
    body = step_request("time_entry")
    TimeEntryRequest.model_validate_json(json.dumps(body))
    with pytest.raises(ValidationError, match="step"):
        TaxCalcRequest.model_validate_json(json.dumps(body))


def test_one_bad_record_fails_one_employee_not_the_chunk():
    good = WorkItem(employee_id="e1", record=employee_record(employee_id="e1"))
    bad = WorkItem(employee_id="e2", record=employee_record(employee_id="e2", hourly_rate=None))

    def compute(record, results, context):
        from payroll_shared.contracts import TimeEntryResult

        return TimeEntryResult(regular_hours="8")

    outcomes = [evaluate(item, compute, None) for item in (good, bad)]
    assert [o.status for o in outcomes] == [OutcomeStatus.OK, OutcomeStatus.FAILED]
    assert outcomes[1].error is not None
    assert "employee e2" in outcomes[1].error.message
    assert "hourly_rate" in outcomes[1].error.message


def test_step_response_results_must_fit_the_step():
    with pytest.raises(ValidationError):
        StepResponse(
            step="tax_calc",
            pay_run_id="pr-weekly-2026-11-27",
            employer_id="er1",
            chunk_id="c1",
            outcomes=[{"employee_id": "e1", "status": "ok", "result": {"regular_hours": "8"}}],
        )


def test_pay_run_ref_tax_year_is_the_pay_date_year():
    request = TimeEntryRequest.model_validate(step_request("time_entry"))
    assert request.pay_run.tax_year == date.fromisoformat(request.pay_run.pay_date.isoformat()).year
