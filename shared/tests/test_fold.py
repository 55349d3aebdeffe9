"""steps.fold: a step's outcomes folded into its chunk, the answer the workflow goes on with."""

from typing import Any

import pytest
from pydantic import ValidationError

from payroll_shared import steps
from payroll_shared.contracts import ChunkState, StepRequest, StepResponse, TaxCalcRequest
from payroll_shared.names import Step

from .factories import step_request

TIME = {"regular_hours": "80.00", "overtime_hours": "0.00", "double_time_hours": "0.00",
        "entries": 10}  # fmt: skip
GROSS = {"regular_pay": "2000.00", "gross_pay": "2000.00"}


def request(
    step: str, *employee_ids: str, results: dict[str, Any] | None = None, **overrides: Any
) -> StepRequest:
    body = step_request(step, **overrides)
    first = body["items"][0]
    body["items"] = [
        {**first, "employee_id": e, "record": {**first["record"], "employee_id": e},
         "results": dict(results or {})}
        for e in employee_ids
    ]  # fmt: skip
    return StepRequest.model_validate(body)


def response(step: str, outcomes: list[dict[str, Any]], chunk_id: str = "er1-0") -> StepResponse:
    return StepResponse.model_validate(
        {"step": step, "pay_run_id": "pr-biweekly-2026-11-27", "employer_id": "er1",
         "chunk_id": chunk_id, "outcomes": outcomes}
    )  # fmt: skip


def ok(employee_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"employee_id": employee_id, "status": "ok", "result": result}


def failed(employee_id: str, code: str = "InvalidEmployeeRecord") -> dict[str, Any]:
    return {"employee_id": employee_id, "status": "failed",
            "error": {"code": code, "message": f"employee {employee_id}: w4: Field required",
                      "field": "w4"}}  # fmt: skip


def test_ok_outcomes_add_the_step_result_in_chunk_order() -> None:
    chunk = request("time_entry", "e1", "e2", "e3")
    state = steps.fold(chunk, response("time_entry", [ok(e, TIME) for e in ("e1", "e2", "e3")]))
    assert [i.employee_id for i in state.items] == ["e1", "e2", "e3"]
    assert all(i.results == {"time_entry": TIME} for i in state.items)
    assert state.failed == [] and state.remaining == 3
    assert (state.pay_run, state.employer_id, state.chunk_id) == (
        chunk.pay_run, chunk.employer_id, chunk.chunk_id,
    )  # fmt: skip


def test_failed_employees_leave_the_items_after_the_earlier_failures() -> None:
    earlier = {"employee_id": "e0", "step": "time_entry", "error": {"code": "X", "message": "bad"}}
    chunk = request("payroll_calc", "e1", "e2", "e3", failed=[earlier])
    answer = response("payroll_calc", [ok("e1", GROSS), failed("e2"), ok("e3", GROSS)])
    state = steps.fold(chunk, answer)
    assert [i.employee_id for i in state.items] == ["e1", "e3"]
    assert state.remaining == 2
    assert [(f.employee_id, f.step, f.error.code) for f in state.failed] == [
        ("e0", Step.TIME_ENTRY, "X"),
        ("e2", Step.PAYROLL_CALC, "InvalidEmployeeRecord"),
    ]


def test_earlier_results_are_kept_and_the_request_is_not_changed() -> None:
    chunk = request("payroll_calc", "e1", results={"time_entry": TIME})
    state = steps.fold(chunk, response("payroll_calc", [ok("e1", GROSS)]))
    assert state.items[0].results == {"time_entry": TIME, "payroll_calc": GROSS}
    assert chunk.items[0].results == {"time_entry": TIME}


def test_all_failed_leaves_nothing_to_do() -> None:
    state = steps.fold(
        request("time_entry", "e1", "e2"), response("time_entry", [failed("e1"), failed("e2")])
    )
    assert state.items == [] and state.remaining == 0
    assert len(state.failed) == 2


@pytest.mark.parametrize(
    "outcomes",
    [
        [ok("e1", TIME)],  # e2 missing
        [ok("e1", TIME), ok("e2", TIME), ok("e9", TIME)],  # e9 is not in the chunk
        [ok("e2", TIME), ok("e1", TIME)],  # not in chunk order
        [ok("e1", TIME), ok("e1", TIME)],  # twice
    ],
)
def test_outcomes_must_answer_the_chunk_in_order(outcomes: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="do not answer the chunk"):
        steps.fold(request("time_entry", "e1", "e2"), response("time_entry", outcomes))


def test_outcomes_of_another_step_are_refused() -> None:
    with pytest.raises(ValueError, match="time_entry outcomes"):
        steps.fold(request("payroll_calc", "e1"), response("time_entry", [ok("e1", TIME)]))


def test_the_answer_is_the_next_steps_request() -> None:
    """What the workflow does with the answer: its items and failed, with the next step
    and a new token, are a valid StepRequest of the next step."""
    chunk = request("retirement_calc", "e1", "e2", results={"time_entry": TIME,
                                                            "payroll_calc": GROSS})  # fmt: skip
    retirement = {"deferral": "100.00", "pre_tax_deferral": "100.00"}
    state = steps.fold(chunk, response("retirement_calc", [ok("e1", retirement), failed("e2")]))
    answer = ChunkState.model_validate_json(state.model_dump_json())
    body = answer.model_dump(mode="json", exclude={"schema_version", "remaining"})
    following = TaxCalcRequest.model_validate({**body, "step": "tax_calc", "task_token": "token-2"})
    assert following.items[0].results["retirement_calc"] == retirement
    assert [f.employee_id for f in following.failed] == ["e2"]


def test_remaining_must_count_the_items() -> None:
    state = steps.fold(request("time_entry", "e1"), response("time_entry", [ok("e1", TIME)]))
    with pytest.raises(ValidationError, match="remaining is 2"):
        ChunkState.model_validate({**state.model_dump(mode="json"), "remaining": 2})
