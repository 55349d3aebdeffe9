"""Record keys, parsing and de-duplicating dead letters, filters, audit entries, depths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redrive import logic
from redrive.logic import Filters, QueueMessage

from payroll_shared.consumer import CONTRACT_VIOLATION
from payroll_shared.contracts import DeadLetterRecord

T0 = datetime(2025, 1, 3, 10, 0, tzinfo=UTC)


def record(
    employee_id: str = "e1",
    employer_id: str = "er-1",
    pay_run_id: str = "pr-weekly-2025-01-03",
    code: str = "InvalidEmployeeRecord",
    at: datetime = T0,
    attempts: int = 1,
) -> DeadLetterRecord:
    return DeadLetterRecord(
        record_id=f"{pay_run_id}/{employer_id}/{employee_id}",
        source="process",
        pay_run_id=pay_run_id,
        employer_id=employer_id,
        employee_id=employee_id,
        step="payroll_calc",
        error={"code": code, "message": f"employee {employee_id}: broken"},
        attempts=attempts,
        first_failed_at=at,
        last_failed_at=at,
        payload={"pay_run": {"pay_run_id": pay_run_id}},
    )


def message(message_id: str, rec: DeadLetterRecord) -> QueueMessage:
    return QueueMessage(message_id=message_id, body=rec.model_dump_json())


@given(st.text(min_size=1, max_size=256))
def test_record_keys_round_trip(record_id: str) -> None:
    key = logic.record_key(record_id)
    assert "/" not in key and "=" not in key and "%" not in key
    assert logic.record_id_from_key(key) == record_id


@pytest.mark.parametrize("key", ["", "!!", "a", "x" * 1401, "_-8"])
def test_bad_record_keys(key: str) -> None:
    with pytest.raises(ValueError):
        logic.record_id_from_key(key)


def test_parse_collapses_copies_and_keeps_the_latest() -> None:
    older, newer = record(at=T0), record(at=T0 + timedelta(hours=1), attempts=2)
    entries, unreadable = logic.parse(
        [message("m2", newer), message("m1", older), message("m1", older)]
    )
    assert unreadable == []
    (entry,) = entries
    assert entry.record == newer
    assert (entry.copies, entry.message_ids) == (2, ["m1", "m2"])
    assert entry.record_key == logic.record_key("pr-weekly-2025-01-03/er-1/e1")


def test_parse_reports_unreadable_messages() -> None:
    entries, unreadable = logic.parse(
        [
            QueueMessage("m1", "not json"),
            QueueMessage("m2", '{"record_id": "x"}'),
            message("m3", record()),
        ]
    )
    assert len(entries) == 1
    assert [u.message_id for u in unreadable] == ["m1", "m2"]
    assert "source" in unreadable[1].reason


def test_parse_orders_by_pay_run_employer_employee() -> None:
    entries, _ = logic.parse(
        [
            message("a", record("e2", "er-2")),
            message("b", record("e9", "er-1")),
            message("c", record("e1", "er-2")),
        ]
    )
    assert [(e.record.employer_id, e.record.employee_id) for e in entries] == [
        ("er-1", "e9"),
        ("er-2", "e1"),
        ("er-2", "e2"),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), ["e1", "e2", "e3", "e4"]),
        (Filters(employer_id="er-1"), ["e1", "e2"]),
        (Filters(error_code="Timeout"), ["e2", "e4"]),
        (Filters(employer_id="er-1", error_code="Timeout"), ["e2"]),
        (Filters(pay_run_id="pr-weekly-2025-01-10"), ["e4"]),
        (Filters(pay_run_id="nope"), []),
    ],
)
def test_filters(filters: Filters, expected: list[str]) -> None:
    entries, _ = logic.parse(
        [
            message("1", record("e1", "er-1")),
            message("2", record("e2", "er-1", code="Timeout")),
            message("3", record("e3", "er-2")),
            message("4", record("e4", "er-2", pay_run_id="pr-weekly-2025-01-10", code="Timeout")),
        ]
    )
    assert [e.record.employee_id for e in logic.select(entries, filters)] == expected


def test_page_counts() -> None:
    messages = [message("1", record("e1")), message("2", record("e1")), QueueMessage("3", "{}")]
    page = logic.page(messages, Filters(), approximate_total=5)
    assert (page.count, page.messages_seen, page.approximate_total) == (1, 3, 5)
    assert len(page.unreadable) == 1


def test_find() -> None:
    entries, _ = logic.parse([message("1", record("e1")), message("2", record("e2"))])
    found = logic.find(entries, "pr-weekly-2025-01-03/er-1/e2")
    assert found is not None and found.record.employee_id == "e2"
    assert logic.find(entries, "pr-weekly-2025-01-03/er-1/e3") is None


def test_discard_audit() -> None:
    (entry,), _ = logic.parse([message("m1", record("e1"))])
    audit = logic.discard_audit(
        entry,
        "employee left before the pay date",
        {"user_arn": "arn:aws:iam::123456789012:user/ops", "caller": None},
        T0,
    )
    assert audit["action"] == "discard"
    assert audit["actor"] == {"user_arn": "arn:aws:iam::123456789012:user/ops"}
    assert audit["record"]["record_id"] == "pr-weekly-2025-01-03/er-1/e1"
    assert audit["message_ids"] == ["m1"]
    assert logic.audit_key(entry.record.record_id) == (
        "audit/dead-letters/pr-weekly-2025-01-03/er-1/e1.json"
    )
    fields = logic.audit_log_fields(audit)
    assert "payload" not in str(fields) and "record" not in fields
    assert (fields["employee_id"], fields["error_code"]) == ("e1", "InvalidEmployeeRecord")


def test_queue_depth() -> None:
    depth = logic.queue_depth(
        "process",
        {
            "ApproximateNumberOfMessages": "4",
            "ApproximateNumberOfMessagesNotVisible": "2",
            "ApproximateNumberOfMessagesDelayed": "bogus",
        },
    )
    assert (depth.visible, depth.in_flight, depth.delayed, depth.total) == (4, 2, 0, 6)


def test_discard_request_needs_a_reason() -> None:
    with pytest.raises(ValueError):
        logic.DiscardRequest(reason="")
    with pytest.raises(ValueError):
        logic.DiscardRequest.model_validate({"reason": "x", "other": 1})


# ---------------------------------------------------------------- redrive plans

PAY_RUN = {
    "pay_run_id": "pr-weekly-2025-01-03",
    "pay_schedule": "weekly",
    "period_start": "2024-12-28",
    "period_end": "2025-01-03",
    "pay_date": "2025-01-03",
}


def redrivable(employee_id: str, employer_id: str = "er-1", **extra: object) -> DeadLetterRecord:
    payload = {"pay_run": PAY_RUN, **extra.pop("payload", {})}  # type: ignore[dict-item]
    return record(employee_id, employer_id, **extra).model_copy(update={"payload": payload})  # type: ignore[arg-type]


def entries(*records: DeadLetterRecord) -> list[logic.DeadLetterEntry]:
    parsed, _ = logic.parse(message(f"m{i}", r) for i, r in enumerate(records))
    return parsed


def test_a_person_redrives_whatever_the_attempts_without_a_change_check() -> None:
    plan = logic.plan_redrive(
        entries(redrivable("e1", attempts=5, payload={"record_sha256": "a" * 64})),
        automatic=False,
    )
    (batch,) = plan.batches
    assert batch.request.attempt == 6
    assert batch.request.employees[0].unless_record_sha256 is None
    assert plan.left == []


def test_the_schedule_checks_data_errors_and_parks_at_the_limit() -> None:
    plan = logic.plan_redrive(
        entries(
            redrivable("e1", payload={"record_sha256": "a" * 64}),
            redrivable("e2", code="States.Timeout"),
            redrivable("e3", attempts=3),
        ),
        automatic=True,
        max_attempts=3,
    )
    (batch,) = plan.batches
    asked = {e.employee_id: e.unless_record_sha256 for e in batch.request.employees}
    assert asked == {"e1": "a" * 64, "e2": None}
    assert [(o.record_id.split("/")[2], o.action) for o in plan.left] == [("e3", "parked")]


def test_batches_split_by_employer_attempt_and_size() -> None:
    many = [redrivable(f"e{i:04d}") for i in range(logic.MAX_REDRIVE_EMPLOYEES + 1)]
    plan = logic.plan_redrive(
        entries(*many, redrivable("x1", "er-2"), redrivable("x2", attempts=2)), automatic=False
    )
    shapes = [(b.request.employer_id, b.request.attempt, len(b.entries)) for b in plan.batches]
    assert shapes == [
        ("er-1", 2, logic.MAX_REDRIVE_EMPLOYEES),
        ("er-1", 2, 1),
        ("er-1", 3, 1),
        ("er-2", 2, 1),
    ]


def test_a_record_without_its_pay_run_is_not_redrivable() -> None:
    plan = logic.plan_redrive(entries(record("e1")), automatic=False)
    assert plan.batches == []
    assert plan.left[0].action == "not-redrivable"


def test_batch_outcomes_cover_every_record() -> None:
    plan = logic.plan_redrive(
        entries(redrivable("e1"), redrivable("e2"), redrivable("e3"), redrivable("e4")),
        automatic=False,
    )
    (batch,) = plan.batches
    result = logic.RedriveEmployeesResult(
        status="started",
        pay_run_id="pr-weekly-2025-01-03",
        employer_id="er-1",
        attempt=2,
        execution_arn="arn:x",
        started=["e1"],
        not_failed=["e2"],
        missing=["e3"],
    )
    actions = {o.record_id.split("/")[2]: o.action for o in logic.batch_outcomes(batch, result)}
    assert actions == {"e1": "started", "e2": "already-running", "e3": "missing", "e4": "error"}
    report = logic.report(logic.batch_outcomes(batch, result))
    assert (report.redriven, report.left) == (2, 2)


def employer_failure(
    employer_id: str = "er-1", attempts: int = 1, **update: object
) -> DeadLetterRecord:
    """An employer that could not be listed, as the orchestration service dead-letters it."""
    return DeadLetterRecord(
        record_id=f"pr-weekly-2025-01-03#{employer_id}#employer#{attempts}",
        source="orchestration",
        pay_run_id="pr-weekly-2025-01-03",
        employer_id=employer_id,
        employee_id=None,
        step=None,
        error={"code": "States.TaskFailed", "message": f"employer {employer_id}: not listed"},
        attempts=attempts,
        first_failed_at=T0,
        last_failed_at=T0 + timedelta(minutes=attempts),
        payload={"pay_run": PAY_RUN},
    ).model_copy(update=update)


@pytest.mark.parametrize("automatic", [True, False])
def test_an_employer_failure_is_redriven_as_the_next_attempt(automatic: bool) -> None:
    plan = logic.plan_redrive(
        entries(employer_failure(attempts=2)), automatic=automatic, requested_by="ops"
    )
    (employer,) = plan.employers
    assert employer.request == logic.RedriveEmployer(
        pay_run=PAY_RUN, employer_id="er-1", attempt=3, requested_by="ops"
    )
    assert employer.entry.record.record_id == "pr-weekly-2025-01-03#er-1#employer#2"
    assert (plan.batches, plan.payments, plan.left) == ([], [], [])


def test_the_schedule_parks_an_employer_failure_at_the_limit() -> None:
    parked = entries(employer_failure(attempts=3))
    plan = logic.plan_redrive(parked, automatic=True, max_attempts=3)
    assert plan.employers == []
    assert [o.action for o in plan.left] == ["parked"]
    # A person still redrives it.
    (employer,) = logic.plan_redrive(parked, automatic=False, max_attempts=3).employers
    assert employer.request.attempt == 4


@pytest.mark.parametrize("automatic", [True, False])
def test_only_the_latest_attempt_of_an_employer_is_redriven(automatic: bool) -> None:
    plan = logic.plan_redrive(
        entries(
            employer_failure(attempts=1),
            employer_failure(attempts=2),
            employer_failure("er-2", attempts=1),
        ),
        automatic=automatic,
    )
    assert sorted((e.request.employer_id, e.request.attempt) for e in plan.employers) == [
        ("er-1", 3),
        ("er-2", 2),
    ]
    (stale,) = plan.left
    assert stale.record_id == "pr-weekly-2025-01-03#er-1#employer#1"
    assert stale.action == "already-running" and stale.action in logic.DONE_ACTIONS
    assert "pr-weekly-2025-01-03#er-1#employer#2" in stale.detail


def test_an_earlier_attempt_is_stale_even_when_the_latest_is_parked() -> None:
    plan = logic.plan_redrive(
        entries(employer_failure(attempts=2), employer_failure(attempts=3)),
        automatic=True,
        max_attempts=3,
    )
    assert plan.employers == []
    assert sorted((o.record_id[-1], o.action) for o in plan.left) == [
        ("2", "already-running"),
        ("3", "parked"),
    ]


@pytest.mark.parametrize(
    "update",
    [
        {"employer_id": None},
        {"payload": {}},
        {"employee_id": "e1"},
    ],
)
def test_an_orchestration_record_without_its_employer_is_not_redrivable(
    update: dict[str, object],
) -> None:
    plan = logic.plan_redrive(entries(employer_failure(**update)), automatic=False)
    assert (plan.employers, plan.batches) == ([], [])
    (left,) = plan.left
    assert left.action == "not-redrivable" and "employer" in left.detail


@pytest.mark.parametrize(
    ("status", "action", "arn"),
    [
        ("started", "started", "arn:x"),
        ("already-started", "started", "arn:x"),
        ("nothing-to-redrive", "already-running", None),
    ],
)
def test_employer_outcomes(status: str, action: str, arn: str | None) -> None:
    (employer,) = logic.plan_redrive(entries(employer_failure()), automatic=True).employers
    result = logic.RedriveEmployeesResult(
        status=status,  # type: ignore[arg-type]
        pay_run_id="pr-weekly-2025-01-03",
        employer_id="er-1",
        attempt=2,
        execution_arn=arn,
    )
    got = logic.employer_outcome(employer, result)
    assert (got.action, got.attempt, got.execution_arn) == (action, 2, arn)
    assert got.action in logic.DONE_ACTIONS


@pytest.mark.parametrize(
    ("code", "count", "expected"),
    [
        ("ClientError", 1, "replay"),
        ("ClientError", 3, "replay"),
        ("ClientError", 4, "parked"),
        ("InvalidTrigger", 1, "needs-person"),
        (None, 1, "replay"),
    ],
)
def test_trigger_actions(code: str | None, count: int, expected: str) -> None:
    assert logic.trigger_action(code, count, 3) == expected


def test_replay_body_marks_the_replay() -> None:
    assert logic.replay_body('{"pay_schedule": "weekly"}') == (
        '{"pay_schedule": "weekly", "requested_by": "redrive"}'
    )
    assert logic.replay_body("[1]") is None and logic.replay_body("{oops") is None


# ---------------------------------------------------------------- the consumers' own DLQs


def replays(n: int) -> dict[str, dict[str, str]]:
    return {"redrive_replays": {"DataType": "Number", "StringValue": str(n)}}


POISON = {
    "error_code": {"DataType": "String", "StringValue": CONTRACT_VIOLATION},
    "error_reason": {"DataType": "String", "StringValue": "message m1: employer_id: missing"},
    "error_field": {"DataType": "String", "StringValue": "employer_id"},
}


@pytest.mark.parametrize(
    ("attributes", "action", "count"),
    [
        ({}, "replay", 0),  # moved by SQS after maxReceiveCount: the first replay
        (replays(1), "replay", 1),
        (replays(2), "replay", 2),
        (replays(3), "parked", 3),  # replayed max_attempts times
        (replays(7), "parked", 7),
        (POISON, "needs-person", 0),  # malformed: its consumer dead-lettered it
        ({**POISON, **replays(1)}, "needs-person", 1),
        # Any code its consumer dead-lettered it with: a message that can never succeed.
        ({"error_code": {"DataType": "String", "StringValue": "UnknownPayRun"}}, "needs-person", 0),
        ({"redrive_replays": {"DataType": "Number", "StringValue": "x"}}, "replay", 0),
        ({"redrive_replays": {"DataType": "Number", "StringValue": "-2"}}, "replay", 0),
    ],
)
def test_consumer_dlq_decisions(
    attributes: dict[str, dict[str, str]], action: str, count: int
) -> None:
    decision = logic.consumer_dlq_decision(attributes, 3)
    assert (decision.action, decision.replays) == (action, count)


def test_the_poison_mark_is_the_consumers() -> None:
    assert logic.ERROR_CODE_ATTRIBUTE == "error_code"
    assert logic.consumer_dlq_decision(POISON, 3).detail == (
        f"dead-lettered by its consumer as {CONTRACT_VIOLATION}"
    )


def test_the_first_replay_carries_a_count_of_one() -> None:
    assert logic.replay_attributes({}, 0) == {
        "redrive_replays": {"DataType": "Number", "StringValue": "1"}
    }


def test_a_replay_counts_one_up_and_keeps_the_other_attributes() -> None:
    received: dict[str, dict[str, Any]] = {
        "pay_run_id": {
            "DataType": "String",
            "StringValue": "pr-weekly-2025-01-03",
            "StringListValues": [],
            "BinaryListValues": [],
        },
        **replays(2),
    }
    decision = logic.consumer_dlq_decision(received, 3)
    assert logic.replay_attributes(received, decision.replays) == {
        "pay_run_id": {"DataType": "String", "StringValue": "pr-weekly-2025-01-03"},
        "redrive_replays": {"DataType": "Number", "StringValue": "3"},
    }
    # The replay that dies again comes back parked.
    again = logic.replay_attributes(received, decision.replays)
    assert logic.consumer_dlq_decision(again, 3).action == "parked"
