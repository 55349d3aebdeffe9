"""run_step against moto: one outcome per (pay run, employee, step), however often it runs."""

import json
from types import SimpleNamespace

import pytest

from payroll_shared import steps
from payroll_shared.contracts import (
    RESULTS_ATTRIBUTE,
    ChunkState,
    GrossPayResult,
    PayrollCalcRequest,
    RetirementCalcRequest,
    TaxCalcRequest,
    TaxResult,
    TimeEntryRequest,
    TimeEntryResult,
    record_fingerprint,
    stored_results,
)
from payroll_shared.observability import powertools

from .factories import employee_record, step_request

logger, _, _ = powertools("test")


KEY = {"pk": {"S": "pr-biweekly-2026-11-27#er1"}, "employee_id": {"S": "e1"}}

#: What the workflow carries to TaxCalc: the earlier steps' results, merged in order.
EARLIER = {
    "time_entry": {"regular_hours": "80", "overtime_hours": "0"},
    "payroll_calc": {"gross_pay": "2000.00"},
    "retirement_calc": {"deferral": "100.00", "pre_tax_deferral": "100.00"},
}


def tax_result(net: str) -> TaxResult:
    return TaxResult(
        taxable_wages="1900.00",
        federal_income_tax="144.15",
        social_security="124.00",
        medicare="29.00",
        employer_social_security="124.00",
        employer_medicare="29.00",
        net_pay=net,
    )


def tax_request(**record: str) -> TaxCalcRequest:
    body = step_request("tax_calc")
    body["items"][0]["results"] = EARLIER
    if record:
        body["items"][0]["record"] = employee_record(**record)
    return TaxCalcRequest.model_validate(body)


def answering(monkeypatch) -> list:
    """What run_step answers its task tokens with (each a ChunkState), in order."""
    answers: list = []
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    return answers


def answered(answer: ChunkState, step: str, employee_id: str = "e1") -> SimpleNamespace:
    """One employee's outcome of ``step`` in an answer: its result in the items the chunk
    goes on with, or its entry in ``failed``."""
    assert isinstance(answer, ChunkState) and answer.remaining == len(answer.items)
    for item in answer.items:
        if item.employee_id == employee_id:
            return SimpleNamespace(status="ok", result=item.results[step], error=None)
    for failure in answer.failed:
        if failure.employee_id == employee_id and failure.step == step:
            return SimpleNamespace(status="failed", result=None, error=failure.error)
    raise AssertionError(f"{employee_id} is not in the answer")


def test_a_redelivered_last_step_returns_the_first_outcome(tables, monkeypatch):
    answers = answering(monkeypatch)
    calls = []

    def compute(record, results, context):
        calls.append(record.employee_id)
        return tax_result(f"{1600 + len(calls)}.00")  # differs on every call

    request = tax_request()
    first = steps.run_step(request, compute, logger)
    second = steps.run_step(request, compute, logger)  # the same message, delivered again
    assert calls == ["e1"]
    assert first == second
    assert [answered(a, "tax_calc").result["net_pay"] for a in answers] == ["1601.00", "1601.00"]
    item = tables.get_item(TableName="employee-status", Key=KEY)["Item"]
    assert item["status"]["S"] == "CALCULATED"
    assert stored_results(item)["tax_calc"]["net_pay"] == "1601.00"


def test_the_last_step_records_every_result_as_each_step_would_have(tables, monkeypatch):
    """One write stores the four results and the digest of what the last step read, so
    a late duplicate of any earlier step is answered from the record, and one that
    carries other inputs computes again."""
    answers = answering(monkeypatch)
    steps.run_step(tax_request(), lambda r, res, c: tax_result("1602.85"), logger)
    item = tables.get_item(TableName="employee-status", Key=KEY)["Item"]
    record = employee_record()
    assert stored_results(item) == {
        **EARLIER,
        "tax_calc": tax_result("1602.85").model_dump(mode="json"),
    }
    assert item["input_tax_calc"]["S"] == record_fingerprint({"record": record, "results": EARLIER})
    assert not [name for name in item if name.startswith(("result_", "input_time", "input_pay"))]

    def never(record, results, context):
        raise AssertionError("computed again")

    # A late delivery of each earlier step of the same chunk: its inputs match.
    earlier: dict = {}
    for step, model in (
        ("time_entry", TimeEntryRequest),
        ("payroll_calc", PayrollCalcRequest),
        ("retirement_calc", RetirementCalcRequest),
    ):
        late = step_request(step)
        late["items"][0]["results"] = dict(earlier)
        steps.run_step(model.model_validate(late), never, logger)
        assert answered(answers[-1], step).result == EARLIER[step]
        earlier[step] = EARLIER[step]

    # PayrollCalc with another TimeEntry result (or another record): not its inputs.
    for results, record_change in (
        ({"time_entry": {**EARLIER["time_entry"], "overtime_hours": "2"}}, {}),
        ({"time_entry": EARLIER["time_entry"]}, {"hourly_rate": "99.00"}),
    ):
        other = step_request("payroll_calc")
        other["items"][0]["results"] = results
        if record_change:
            other["items"][0]["record"] = employee_record(**record_change)
        steps.run_step(
            PayrollCalcRequest.model_validate(other),
            lambda r, res, c: GrossPayResult(gross_pay="1.00"),
            logger,
        )
        assert answered(answers[-1], "payroll_calc").result["gross_pay"] == "1.00"


def _dynamodb_size(item: dict) -> int:
    """DynamoDB's size of an item of string, number and binary attributes: each name
    plus its value (a number is about half its digits plus one)."""
    size = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        length = {"S": len(str(raw).encode()), "B": len(raw), "N": len(raw) // 2 + 1}[kind]
        size += len(name.encode()) + length
    return size


def test_a_calculated_item_is_under_one_kilobyte_so_each_write_is_one_unit(tables, monkeypatch):
    """A pay statement's full results (every tax line, two workweeks) on an item with
    every attribute the pipeline writes: under 1 KB, where four JSON strings and four
    digests made about 1.5 KB."""
    answering(monkeypatch)
    tables.update_item(  # the BEGIN row as GetEmployees writes it
        TableName="employee-status",
        Key=KEY,
        UpdateExpression="SET pay_run_id = :p, employer_id = :e, schema_version = :v",
        ExpressionAttributeValues={
            ":p": {"S": "pr-biweekly-2026-11-27"},
            ":e": {"S": "er-7-0002"},
            ":v": {"S": "3"},
        },
    )
    week = {"double_time_hours": "0.00", "overtime_hours": "4.50", "regular_hours": "40.00"}
    body = step_request("tax_calc")
    body["items"][0]["results"] = {
        "time_entry": {
            "double_time_hours": "0.00",
            "entries": 10,
            "overtime_hours": "9.00",
            "regular_hours": "80.00",
            "weeks": [week, week],
        },
        "payroll_calc": {
            "gross_pay": "12477.75",
            "other_earnings": "1000.00",
            "overtime_pay": "1357.75",
            "regular_pay": "10120.00",
            "section125": "115.38",
        },
        "retirement_calc": {
            "catch_up": "1250.00",
            "deferral": "1800.00",
            "employer_match": "624.89",
            "pre_tax_deferral": "1800.00",
            "roth": False,
            "roth_deferral": "1250.00",
        },
    }
    request = TaxCalcRequest.model_validate(body)
    full = TaxResult(
        **{
            name: "12345.67"
            for name, field in TaxResult.model_fields.items()
            if name != "schema_version" and field.annotation is not bool
        }
    )
    steps.run_step(request, lambda r, res, c: full, logger)
    item = tables.get_item(TableName="employee-status", Key=KEY, ConsistentRead=True)["Item"]
    results = stored_results(item)
    assert results["tax_calc"] == full.model_dump(mode="json")
    size = _dynamodb_size(item)
    assert size < 1024
    # The same results as a former version's four JSON strings: over 1 KB.
    packed = len(RESULTS_ATTRIBUTE) + len(item[RESULTS_ATTRIBUTE]["B"])
    strings = sum(len(f"result_{k}") + len(json.dumps(v)) for k, v in results.items())
    assert size - packed + strings > 1024


def test_a_step_before_the_last_writes_no_success(tables, monkeypatch):
    """TimeEntry's success travels with the chunk; a duplicate while the chunk is in
    flight computes again from the same inputs, and nothing is written either time."""
    answers = answering(monkeypatch)
    calls = []

    def compute(record, results, context):
        calls.append(record.employee_id)
        return TimeEntryResult(regular_hours="80")

    request = TimeEntryRequest.model_validate(step_request("time_entry"))
    first = steps.run_step(request, compute, logger)
    steps.run_step(request, compute, logger)
    assert calls == ["e1", "e1"]
    assert [answered(a, "time_entry").result["regular_hours"] for a in answers] == ["80", "80"]
    item = tables.get_item(TableName="employee-status", Key=KEY)["Item"]
    assert item == {**KEY, "status": {"S": "BEGIN"}}
    with pytest.raises(ValueError, match="only the last step"):
        steps.record_outcome(request, first.outcomes[0], request.items[0])


def test_a_status_never_moves_back(tables, monkeypatch):
    answering(monkeypatch)
    tables.put_item(TableName="employee-status", Item={**KEY, "status": {"S": "COMMITTED"}})
    steps.run_step(tax_request(), lambda r, res, c: tax_result("1.00"), logger)
    item = tables.get_item(TableName="employee-status", Key=KEY)["Item"]
    assert item == {**KEY, "status": {"S": "COMMITTED"}}


def test_a_bad_record_is_a_failed_outcome_naming_the_field(tables, monkeypatch):
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    answers = []
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    body = step_request("time_entry")
    body["items"][0]["record"] = employee_record(hourly_rate=None)
    request = TimeEntryRequest.model_validate(body)
    steps.run_step(request, lambda r, res, c: TimeEntryResult(), logger)
    outcome = answered(answers[0], "time_entry")
    assert outcome.status == "failed"
    assert outcome.error.field == "hourly_rate"
    assert "hourly_rate is required" in outcome.error.message


def test_a_message_whose_token_is_dead_does_nothing(tables, monkeypatch):
    # The workflow timed out this chunk and recorded it FAILED; a late delivery must not
    # compute, answer, or move that employee's status.
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: False)
    answers = []
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: answers.append(out))
    request = TimeEntryRequest.model_validate(step_request("time_entry"))
    result = steps.run_step(request, lambda r, res, c: TimeEntryResult(regular_hours="8"), logger)
    assert result is None and answers == []
    item = tables.get_item(
        TableName="employee-status",
        Key={"pk": {"S": "pr-biweekly-2026-11-27#er1"}, "employee_id": {"S": "e1"}},
    )["Item"]
    assert item["status"]["S"] == "BEGIN"


def test_a_failure_is_not_remembered_so_a_corrected_record_computes(tables, monkeypatch):
    answers = answering(monkeypatch)
    bad = step_request("time_entry")
    bad["items"][0]["record"] = employee_record(hourly_rate=None)
    steps.run_step(
        TimeEntryRequest.model_validate(bad), lambda r, res, c: TimeEntryResult(), logger
    )
    item = tables.get_item(TableName="employee-status", Key=KEY)["Item"]
    assert item["status"]["S"] == "FAILED"
    assert item["failed_step"]["S"] == "time_entry"
    assert item["failed_record_sha256"]["S"] == record_fingerprint(bad["items"][0]["record"])

    # The record is corrected and the employee redriven with the same keys: it computes,
    # and the chunk's last step records it calculated, the failure gone.
    fixed = TimeEntryRequest.model_validate(step_request("time_entry"))
    steps.run_step(fixed, lambda r, res, c: TimeEntryResult(regular_hours="80"), logger)
    assert [answered(a, "time_entry").status for a in answers] == ["failed", "ok"]
    steps.run_step(tax_request(), lambda r, res, c: tax_result("1602.85"), logger)
    item = tables.get_item(TableName="employee-status", Key=KEY)["Item"]
    assert item["status"]["S"] == "CALCULATED"
    assert "failed_record_sha256" not in item and "error_code" not in item
    assert "failed_step" not in item
    # ... and that success is what a later redelivery of the time entry gets back.
    steps.run_step(fixed, lambda r, res, c: TimeEntryResult(regular_hours="99"), logger)
    assert answered(answers[-1], "time_entry").result["regular_hours"] == "80"


def test_a_result_is_reused_only_for_the_inputs_it_was_computed_from(tables, monkeypatch):
    """A later look found the employee wrong; the record was corrected and the employee
    redriven: the step computes again from the corrected record, and a late delivery of
    the old record gets the new result on record, never its own."""
    answers = answering(monkeypatch)

    def net(record, results, context):
        return tax_result(f"{record.hourly_rate}")

    before = tax_request()
    steps.run_step(before, net, logger)
    tables.update_item(
        TableName="employee-status",
        Key=KEY,
        UpdateExpression="SET #s = :f",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":f": {"S": "FAILED"}},
    )
    corrected = tax_request(hourly_rate="30.00")
    steps.run_step(corrected, net, logger)
    steps.run_step(corrected, net, logger)  # duplicate
    steps.run_step(before, net, logger)  # late, old

    assert [answered(a, "tax_calc").result["net_pay"] for a in answers] == [
        "25.00",
        "30.00",
        "30.00",
        "30.00",
    ]
    item = tables.get_item(TableName="employee-status", Key=KEY)["Item"]
    assert item["status"]["S"] == "CALCULATED"
    assert stored_results(item)["tax_calc"]["net_pay"] == "30.00"
    assert item["input_tax_calc"]["S"] == steps.input_fingerprint(corrected.items[0])


def test_the_fingerprint_is_the_same_after_a_json_round_trip():
    record = employee_record()
    assert record_fingerprint(json.loads(json.dumps(record))) == record_fingerprint(record)
    assert record_fingerprint({**record, "hourly_rate": "1.00"}) != record_fingerprint(record)


def test_a_delivery_that_loses_the_race_answers_with_the_result_on_record(tables, monkeypatch):
    # Another delivery of the same chunk wrote first (after this one read nothing).
    tables.put_item(
        TableName="employee-status",
        Item={
            **KEY,
            "status": {"S": "CALCULATED"},
            "result_tax_calc": {"S": tax_result("1601.00").model_dump_json()},
        },
    )
    monkeypatch.setattr(steps, "stored_outcomes", lambda request: {})
    answers = answering(monkeypatch)

    steps.run_step(tax_request(), lambda r, res, c: tax_result("1699.00"), logger)

    assert answered(answers[0], "tax_calc").result["net_pay"] == "1601.00"


def _chunk(step: str, size: int) -> dict:
    body = step_request(step)
    first = body["items"][0]
    body["items"] = [
        {**first, "employee_id": f"e{i}", "record": {**first["record"], "employee_id": f"e{i}"}}
        for i in range(size)
    ]
    if step == "tax_calc":
        for item in body["items"]:
            item["results"] = EARLIER
    return body


def _begin_rows(tables, count: int) -> None:
    """The BEGIN rows GetEmployees wrote for e0..e<count-1>."""
    for i in range(count):
        tables.put_item(
            TableName="employee-status",
            Item={
                "pk": {"S": "pr-biweekly-2026-11-27#er1"},
                "employee_id": {"S": f"e{i}"},
                "status": {"S": "BEGIN"},
            },
        )


def _count_calls(monkeypatch, *names: str) -> list[str]:
    """The names of the DynamoDB client's calls among ``names``, in order."""
    from payroll_shared import aws as shared_aws

    calls: list[str] = []
    client = shared_aws.client("dynamodb")
    for name in names:
        original = getattr(client, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(client, name, counted)
    return calls


WRITES = ("batch_get_item", "update_item", "put_item", "transact_write_items")


def _status(tables, employee_id: str) -> dict:
    return tables.get_item(
        TableName="employee-status",
        Key={"pk": {"S": "pr-biweekly-2026-11-27#er1"}, "employee_id": {"S": employee_id}},
        ConsistentRead=True,
    )["Item"]


def test_a_chunk_is_read_in_one_request_and_written_in_one_transaction(tables, monkeypatch):
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: True)
    _begin_rows(tables, 30)
    calls = _count_calls(monkeypatch, *WRITES)
    entry = TimeEntryRequest.model_validate(_chunk("time_entry", 30))
    steps.run_step(entry, lambda r, res, c: TimeEntryResult(regular_hours="80"), logger)
    assert calls == ["batch_get_item"]  # a success before the last step: nothing written
    calls.clear()
    tax = TaxCalcRequest.model_validate(_chunk("tax_calc", 30))
    steps.run_step(tax, lambda r, res, c: tax_result("1602.85"), logger)
    assert calls == ["batch_get_item", "transact_write_items"]
    for i in (0, 29):
        item = _status(tables, f"e{i}")
        assert item["status"]["S"] == "CALCULATED" and item["attempts"]["N"] == "1"
        assert stored_results(item)["tax_calc"]["net_pay"] == "1602.85"
        assert set(stored_results(item)) == {*EARLIER, "tax_calc"}
    calls.clear()
    steps.run_step(tax, lambda r, res, c: tax_result("1.00"), logger)
    steps.run_step(entry, lambda r, res, c: TimeEntryResult(regular_hours="1"), logger)
    assert calls == ["batch_get_item"] * 2  # redeliveries: everything is on record


def test_a_transaction_writes_what_one_update_per_employee_writes(tables, monkeypatch):
    """The same chunk recorded by a transaction and by single writes: the same items."""
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: True)
    _begin_rows(tables, 3)
    tax = TaxCalcRequest.model_validate(_chunk("tax_calc", 3))
    steps.run_step(tax, lambda r, res, c: tax_result("1602.85"), logger)
    by_transaction = [_status(tables, f"e{i}") for i in range(3)]
    _begin_rows(tables, 3)  # back to BEGIN, the results still there: overwritten
    monkeypatch.setattr(steps.aws, "TRANSACTION_ITEMS", 1)
    steps.run_step(tax, lambda r, res, c: tax_result("1602.85"), logger)
    by_update = [_status(tables, f"e{i}") for i in range(3)]
    for item in by_transaction + by_update:
        del item["updated_at"]
    assert by_transaction == by_update
    assert by_transaction[0]["status"] == {"S": "CALCULATED"}


def test_a_transaction_cancelled_by_a_racing_delivery_answers_each_from_the_record(
    tables, monkeypatch
):
    """Another delivery of the chunk recorded e3 and e17 after this one read nothing: the
    transaction is cancelled, every employee is written on its own, e3 and e17 are
    answered with the results on record and the 28 others with this delivery's."""
    _begin_rows(tables, 30)
    for employee_id in ("e3", "e17"):
        tables.put_item(
            TableName="employee-status",
            Item={
                "pk": {"S": "pr-biweekly-2026-11-27#er1"},
                "employee_id": {"S": employee_id},
                "status": {"S": "CALCULATED"},
                "attempts": {"N": "1"},
                "result_tax_calc": {"S": tax_result("1601.00").model_dump_json()},
            },
        )
    monkeypatch.setattr(steps, "stored_outcomes", lambda request: {})
    answering(monkeypatch)
    calls = _count_calls(monkeypatch, *WRITES)

    tax = TaxCalcRequest.model_validate(_chunk("tax_calc", 30))
    response = steps.run_step(tax, lambda r, res, c: tax_result("1699.00"), logger)

    assert calls == ["transact_write_items"] + ["update_item"] * 30
    assert response is not None
    nets = {o.employee_id: o.result["net_pay"] for o in response.outcomes}
    assert nets.pop("e3") == nets.pop("e17") == "1601.00"
    assert set(nets.values()) == {"1699.00"}
    assert stored_results(_status(tables, "e3"))["tax_calc"]["net_pay"] == "1601.00"
    assert _status(tables, "e3")["attempts"] == {"N": "1"}  # not written again
    assert stored_results(_status(tables, "e4"))["tax_calc"]["net_pay"] == "1699.00"


def test_a_chunk_over_a_hundred_is_written_in_transactions_of_a_hundred(tables, monkeypatch):
    monkeypatch.setattr(steps.tasks, "heartbeat", lambda token, log: True)
    monkeypatch.setattr(steps.tasks, "succeed", lambda token, out, log: True)
    _begin_rows(tables, 201)
    calls = _count_calls(monkeypatch, *WRITES)
    sizes: list[int] = []
    original = steps.aws.transact_updates
    monkeypatch.setattr(
        steps.aws,
        "transact_updates",
        lambda updates: sizes.append(len(updates)) or original(updates),
    )
    tax = TaxCalcRequest.model_validate(_chunk("tax_calc", 201))
    steps.run_step(tax, lambda r, res, c: tax_result("1602.85"), logger)
    # Two transactions; the last employee alone is a plain UpdateItem.
    assert sizes == [100, 100]
    assert calls == ["batch_get_item"] * 3 + ["transact_write_items"] * 2 + ["update_item"]
    assert {_status(tables, f"e{i}")["status"]["S"] for i in range(201)} == {"CALCULATED"}


def test_a_throttled_transaction_records_nothing_and_its_redelivery_records_all(
    tables, monkeypatch
):
    from botocore.exceptions import ClientError

    answers = answering(monkeypatch)
    _begin_rows(tables, 5)

    def throttled(updates):
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
            "TransactWriteItems",
        )

    tax = TaxCalcRequest.model_validate(_chunk("tax_calc", 5))
    with monkeypatch.context() as patch:
        patch.setattr(steps.aws, "transact_updates", throttled)
        with pytest.raises(ClientError, match="ThrottlingException"):
            steps.run_step(tax, lambda r, res, c: tax_result("1602.85"), logger)
    assert answers == []  # the task token is not answered: SQS redelivers the chunk
    assert {_status(tables, f"e{i}")["status"]["S"] for i in range(5)} == {"BEGIN"}

    response = steps.run_step(tax, lambda r, res, c: tax_result("1602.85"), logger)
    assert {_status(tables, f"e{i}")["status"]["S"] for i in range(5)} == {"CALCULATED"}
    assert response is not None and len(answers) == 1
    assert {o.result["net_pay"] for o in response.outcomes} == {"1602.85"}
