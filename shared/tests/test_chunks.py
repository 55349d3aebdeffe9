"""A chunk's items by reference (payroll_shared.chunks), and run_step with them, on moto."""

import json

import boto3
import pytest
from pydantic import ValidationError

from payroll_shared import chunks, steps
from payroll_shared.contracts import (
    ChunkState,
    TimeEntryRequest,
    TimeEntryResult,
    WorkItem,
)
from payroll_shared.names import chunk_directory
from payroll_shared.observability import powertools

from .factories import employee_record, step_request

logger, _, _ = powertools("test")
BUCKET = "pay-runs"
PK = "pr-biweekly-2026-11-27#er1"
DIRECTORY = chunk_directory("pr-biweekly-2026-11-27", "er1", "er1-0")


@pytest.fixture
def cloud(tables):
    """The status table and the pay-run bucket (conftest's ``tables``); the S3 client."""
    return boto3.client("s3")


def work_items(count: int, start: int = 0) -> list[WorkItem]:
    return [
        WorkItem(employee_id=f"e{i}", record=employee_record(employee_id=f"e{i}"))
        for i in range(start, start + count)
    ]


def objects(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_small_items_stay_inline_and_large_ones_go_to_an_object_named_by_their_bytes(cloud):
    assert chunks.put_items(DIRECTORY, chunks.EMPLOYEES, work_items(2)) is None
    assert objects(cloud) == []
    large = work_items(60)
    assert len(chunks.encode(large)) > chunks.INLINE_LIMIT
    key = chunks.put_items(DIRECTORY, chunks.EMPLOYEES, large)
    assert key is not None and key.startswith(f"{DIRECTORY}/employees-") and key.endswith(".json")
    assert chunks.get_items(key) == large
    # The same bytes, the same key (a duplicate writes nothing new); other bytes, a new key.
    assert chunks.put_items(DIRECTORY, chunks.EMPLOYEES, work_items(60)) == key
    other = chunks.put_items(DIRECTORY, chunks.EMPLOYEES, work_items(60, start=1))
    assert other not in (None, key)
    assert objects(cloud) == sorted([key, other])


def test_a_request_by_key_is_loaded_and_checked_like_an_inline_one(cloud):
    key = chunks.put_items(DIRECTORY, chunks.EMPLOYEES, work_items(60))
    body = step_request("time_entry", items=[], items_key=key)
    request = TimeEntryRequest.model_validate(body)
    loaded = chunks.load(request)
    assert [i.employee_id for i in loaded.items] == [f"e{i}" for i in range(60)]
    assert loaded.items_key == key and isinstance(loaded, TimeEntryRequest)
    inline = TimeEntryRequest.model_validate(step_request("time_entry"))
    assert chunks.load(inline) is inline

    twice = work_items(59) + work_items(1)
    bad = chunks.put_items(DIRECTORY, chunks.EMPLOYEES, twice)
    with pytest.raises(ValidationError, match="appears twice"):
        chunks.load(TimeEntryRequest.model_validate({**body, "items_key": bad}))


def test_a_request_or_answer_names_its_items_one_way():
    with pytest.raises(ValidationError, match="items_key"):
        TimeEntryRequest.model_validate(step_request("time_entry", items=[]))
    state = {
        "pay_run": step_request("time_entry")["pay_run"],
        "employer_id": "er1",
        "chunk_id": "er1-0",
    }
    with pytest.raises(ValidationError, match="items must be empty"):
        items = [i.model_dump() for i in work_items(1)]
        ChunkState.model_validate({**state, "items": items, "items_key": "k", "remaining": 1})
    with pytest.raises(ValidationError, match="remaining at least 1"):
        ChunkState.model_validate({**state, "items_key": "k", "remaining": 0})
    assert ChunkState.model_validate({**state, "items_key": "k", "remaining": 60}).items == []


def run_by_key(monkeypatch, succeeding: set[str] | None = None) -> list[ChunkState]:
    """TimeEntry over 60 employees sent by key, failing those not in ``succeeding`` (all
    but e7 when None): what it answered each time (run twice, as a duplicate delivery)."""
    answers: list[ChunkState] = []
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    key = chunks.put_items(DIRECTORY, chunks.EMPLOYEES, work_items(60))
    request = TimeEntryRequest.model_validate(step_request("time_entry", items=[], items_key=key))

    def compute(record, results, context):
        ok = record.employee_id != "e7" if succeeding is None else record.employee_id in succeeding
        if not ok:
            raise steps.StepRuleError("NoHours", "no time entries", "hours")
        return TimeEntryResult(regular_hours="80")

    steps.run_step(request, compute, logger)
    steps.run_step(request, compute, logger)
    return answers


def test_a_step_answers_a_large_chunk_with_the_key_of_the_items_after_it(cloud, monkeypatch):
    first, duplicate = run_by_key(monkeypatch)
    answer = first
    assert answer.items == [] and answer.remaining == 59
    assert answer.items_key is not None and answer.items_key.startswith(f"{DIRECTORY}/time_entry-")
    after = chunks.get_items(answer.items_key)
    assert [i.employee_id for i in after] == [f"e{i}" for i in range(60) if i != 7]
    assert all(i.results["time_entry"]["regular_hours"] == "80" for i in after)
    assert [f.employee_id for f in answer.failed] == ["e7"]
    # What the workflow sends the next step is a valid request with that key.
    following = json.loads(answer.model_dump_json())
    assert following["items"] == [] and following["items_key"] == answer.items_key

    # A duplicate delivery answers with the same key: the same bytes, nothing new.
    assert duplicate == answer
    stored = objects(cloud)  # the employees, and the items after TimeEntry: no more
    assert len(stored) == 2 and answer.items_key in stored


def test_an_answer_small_enough_goes_inline_again(cloud, monkeypatch):
    answer = run_by_key(monkeypatch, succeeding={"e0"})[0]
    assert answer.items_key is None and [i.employee_id for i in answer.items] == ["e0"]
    assert answer.remaining == 1 and len(answer.failed) == 59


def test_employee_ids_of_a_state_inline_or_by_key(cloud):
    key = chunks.put_items(DIRECTORY, chunks.EMPLOYEES, work_items(60))
    assert chunks.employee_ids([], key) == [f"e{i}" for i in range(60)]
    assert chunks.employee_ids(work_items(2), None) == ["e0", "e1"]
    assert chunks.employee_ids([], None) == []


def test_the_inline_limit_can_be_set_and_a_wrong_one_is_named(cloud, monkeypatch):
    assert chunks.inline_limit() == chunks.INLINE_LIMIT
    monkeypatch.setenv("CHUNK_INLINE_BYTES", "0")
    assert chunks.put_items(DIRECTORY, chunks.EMPLOYEES, work_items(1)) is not None
    monkeypatch.setenv("CHUNK_INLINE_BYTES", "lots")
    with pytest.raises(ValueError, match="CHUNK_INLINE_BYTES"):
        chunks.inline_limit()
