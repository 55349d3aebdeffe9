"""The pure orchestration rules: triggers, chunking, chunk and employer failures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from orchestration import logic

from payroll_shared.contracts import (
    EmployeeState,
    EmployerCompletion,
    PayRunRef,
    PayRunTrigger,
    WorkItem,
)
from payroll_shared.payrun import PayFrequency

PAY_RUN = PayRunRef(
    pay_run_id="pr-weekly-2025-01-03",
    pay_schedule=PayFrequency.WEEKLY,
    period_start=date(2024, 12, 28),
    period_end=date(2025, 1, 3),
    pay_date=date(2025, 1, 3),
)


def record(employee_id: str) -> dict[str, Any]:
    return {"employee_id": employee_id, "employer_id": "er-1", "pay_type": "salary"}


def items(*employee_ids: str) -> list[WorkItem]:
    return [logic.work_item(record(employee_id)) for employee_id in employee_ids]


# --- Triggers -----------------------------------------------------------------------


class TestParseTrigger:
    def test_the_contract_passes_through(self) -> None:
        trigger = logic.parse_trigger(
            {"schema_version": "1", "pay_schedule": "weekly", "pay_date": "2025-01-03",
             "requested_by": "cli"}
        )  # fmt: skip
        assert trigger == PayRunTrigger(
            pay_schedule=PayFrequency.WEEKLY, pay_date=date(2025, 1, 3), requested_by="cli"
        )

    def test_a_schedule_input_takes_the_pay_date_from_the_scheduled_time(self) -> None:
        trigger = logic.parse_trigger(
            {"schema_version": "1", "pay_schedule": "biweekly", "requested_by": "schedule",
             "scheduled_time": "2026-01-16T06:00:00Z"}
        )  # fmt: skip
        assert trigger.pay_schedule is PayFrequency.BIWEEKLY
        assert trigger.pay_date == date(2026, 1, 16)
        assert trigger.requested_by == "schedule"

    @pytest.mark.parametrize(
        ("schedule", "scheduled", "pay_date"),
        [
            ("semimonthly", "2026-02-15T06:00:00Z", date(2026, 2, 15)),
            ("semimonthly", "2026-02-28T06:00:00Z", date(2026, 2, 28)),
            # A late or manual firing names the latest period that has ended.
            ("semimonthly", "2026-02-20T06:00:00Z", date(2026, 2, 15)),
            ("semimonthly", "2026-03-03T06:00:00Z", date(2026, 2, 28)),
            ("monthly", "2026-01-31T06:00:00Z", date(2026, 1, 31)),
            ("monthly", "2026-02-10T06:00:00+00:00", date(2026, 1, 31)),
            ("weekly", "2026-01-09T23:30:00-05:00", date(2026, 1, 10)),  # that is UTC
        ],
    )
    def test_scheduled_time_to_pay_date(
        self, schedule: str, scheduled: str, pay_date: date
    ) -> None:
        trigger = logic.parse_trigger({"pay_schedule": schedule, "scheduled_time": scheduled})
        assert trigger.pay_date == pay_date
        logic.pay_run_ref(trigger)  # a real period end

    def test_explicit_null_pay_date_is_like_none(self) -> None:
        trigger = logic.parse_trigger(
            {"pay_schedule": "weekly", "pay_date": None, "scheduled_time": "2026-01-09T06:00:00Z"}
        )
        assert trigger.pay_date == date(2026, 1, 9)

    @pytest.mark.parametrize(
        ("event", "names"),
        [
            ({"pay_schedule": "weekly"}, "scheduled_time"),
            ({"pay_schedule": "weekly", "scheduled_time": "yesterday"}, "scheduled_time"),
            ({"pay_schedule": "daily", "scheduled_time": "2026-01-09T06:00:00Z"}, "pay_schedule"),
            ({"pay_schedule": "weekly", "pay_date": "2026-13-01"}, "pay_date"),
            ({"pay_schedule": "weekly", "pay_date": "2026-01-09", "extra": 1}, "extra"),
        ],
    )
    def test_bad_triggers_name_the_field(self, event: dict[str, Any], names: str) -> None:
        with pytest.raises(logic.InvalidTrigger, match=names):
            logic.parse_trigger(event)

    def test_not_an_object(self) -> None:
        with pytest.raises(logic.InvalidTrigger):
            logic.parse_trigger(["weekly"])  # type: ignore[arg-type]


class TestPayRunRef:
    def test_weekly(self) -> None:
        ref = logic.pay_run_ref(
            PayRunTrigger(pay_schedule=PayFrequency.WEEKLY, pay_date=date(2025, 1, 3))
        )
        assert ref == PAY_RUN

    def test_a_date_that_ends_no_period_is_rejected(self) -> None:
        with pytest.raises(logic.InvalidTrigger, match="semimonthly"):
            logic.pay_run_ref(
                PayRunTrigger(pay_schedule=PayFrequency.SEMIMONTHLY, pay_date=date(2026, 2, 20))
            )


def test_s3_keys() -> None:
    assert (
        logic.employers_key("pr-weekly-2025-01-03")
        == "pay-runs/pr-weekly-2025-01-03/employers.json"
    )
    assert (
        logic.chunks_key("pr-weekly-2025-01-03", "er-1")
        == "pay-runs/pr-weekly-2025-01-03/employers/er-1/chunks.json"
    )


# --- Chunking -----------------------------------------------------------------------


class TestChunking:
    def test_chunks_of_n_keep_order_and_the_last_is_short(self) -> None:
        chunks = list(logic.build_chunks("er-1", items("e1", "e2", "e3", "e4", "e5"), 2))
        assert [[i.employee_id for i in c.items] for c in chunks] == [
            ["e1", "e2"], ["e3", "e4"], ["e5"],
        ]  # fmt: skip
        assert [c.chunk_id for c in chunks] == ["er-1-c00000", "er-1-c00001", "er-1-c00002"]

    def test_chunk_size_one_is_one_employee_per_item(self) -> None:
        chunks = list(logic.build_chunks("er-1", items("e1", "e2", "e3"), 1))
        assert [len(c.items) for c in chunks] == [1, 1, 1]
        assert [c.items[0].employee_id for c in chunks] == ["e1", "e2", "e3"]
        assert len({c.chunk_id for c in chunks}) == 3

    def test_exact_multiple_has_no_empty_chunk(self) -> None:
        chunks = list(logic.build_chunks("er-1", items("e1", "e2", "e3", "e4"), 2))
        assert [len(c.items) for c in chunks] == [2, 2]

    def test_no_employees_no_chunks(self) -> None:
        assert list(logic.build_chunks("er-1", [], 25)) == []

    def test_chunking_is_lazy(self) -> None:
        produced: list[str] = []

        def source() -> Any:
            for employee_id in ("e1", "e2", "e3", "e4"):
                produced.append(employee_id)
                yield logic.work_item(record(employee_id))

        chunks = logic.build_chunks("er-1", source(), 2)
        next(chunks)
        assert produced == ["e1", "e2"]

    def test_work_item_starts_without_results(self) -> None:
        item = logic.work_item(record("e1"))
        assert item.employee_id == "e1"
        assert item.results == {}
        assert item.record["pay_type"] == "salary"

    @pytest.mark.parametrize(
        ("value", "size"), [(None, 25), ("", 25), ("1", 1), ("100", 100), (7, 7), ("1000", 1000)]
    )
    def test_chunk_size_setting(self, value: str | int | None, size: int) -> None:
        assert logic.parse_chunk_size(value) == size

    @pytest.mark.parametrize("value", ["0", "-3", "1001", "ten"])
    def test_bad_chunk_size(self, value: str) -> None:
        with pytest.raises(ValueError, match="CHUNK_SIZE"):
            logic.parse_chunk_size(value)

    def test_begin_status(self) -> None:
        now = datetime(2025, 1, 3, 6, 0, tzinfo=UTC)
        row = logic.begin_status(PAY_RUN, "er-1", "e1", now)
        assert row.pk == "pr-weekly-2025-01-03#er-1"
        assert row.status is EmployeeState.BEGIN
        assert row.attempts == 0


# --- Chunk failures and completion ---------------------------------------------------


class TestChunkFailure:
    def failure(self, **error: Any) -> logic.ChunkFailure:
        return logic.ChunkFailure.model_validate(
            {"pay_run": PAY_RUN.model_dump(mode="json"), "employer_id": "er-1",
             "chunk_id": "er-1-c00000", "items": [i.model_dump(mode="json") for i in items("e1")],
             "failed_step": "payroll_calc", "error": error, "response": {"ignored": True}}
        )  # fmt: skip

    def test_error_names_the_step_and_cause(self) -> None:
        error = logic.chunk_error(
            self.failure(Error="States.HeartbeatTimeout", Cause="no heartbeat")
        )
        assert error.code == "States.HeartbeatTimeout"
        assert "payroll_calc" in error.message
        assert "no heartbeat" in error.message
        assert error.retryable

    def test_missing_cause_and_long_texts(self) -> None:
        error = logic.chunk_error(self.failure(Error="X" * 300, Cause=""))
        assert len(error.code) == 64
        assert "no cause given" in error.message
        long = logic.chunk_error(self.failure(Error="E", Cause="c" * 5000))
        assert len(long.message) == 2000

    def test_only_states_before_calculated_may_fail(self) -> None:
        states = logic.failable_states()
        assert EmployeeState.CALCULATED not in states
        assert EmployeeState.COMMITTED not in states
        assert {EmployeeState.BEGIN, EmployeeState.RETIREMENT_CALCULATED} <= states


def test_employer_completion_is_the_contract() -> None:
    message = logic.employer_completion(PAY_RUN, "er-1", 3, "arn:aws:states:x")
    assert isinstance(message, EmployerCompletion)
    assert EmployerCompletion.model_validate_json(message.model_dump_json()) == message
