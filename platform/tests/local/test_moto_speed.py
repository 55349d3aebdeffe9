"""moto made faster for large local pay runs answers exactly as moto does."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from moto import mock_aws

from payroll_platform.local import moto_speed

TABLE = "status"


def _item(partition: int, index: int) -> dict:
    return {
        "pk": {"S": f"pr-1#emp-{partition}"},
        "employee_id": {"S": f"e-{index:04d}"},
        "status": {"S": "BEGIN" if index % 3 else "FAILED"},
        "attempts": {"N": str(index % 5)},
        "gross": {"N": "1234.50"},
        "empty": {"S": ""},
        "flag": {"BOOL": index % 2 == 0},
        "nothing": {"NULL": True},
        "tags": {"SS": ["a", f"t{index}"]},
        "amounts": {"NS": ["1", "2.5"]},
        "blob": {"B": b"\x00\x01payroll"},
        "result": {"M": {"net": {"S": "99.10"}, "lines": {"L": [{"N": "1"}, {"S": "x"}]}}},
        "gsi_pk": {"S": f"status#{index % 2}"},
    }


def _both_ways(run, *args):
    """``run(*args)`` on moto as it is, then with the speedups: both answers."""
    moto_speed.undo()
    try:
        plain = run(*args)
        moto_speed.apply()
        fast = run(*args)
    finally:
        moto_speed.undo()
    return plain, fast


def _status_table(ddb, with_index: bool = False) -> None:
    """EmployeeStatus's key (pk, employee_id), with a global index to query if asked."""
    keys = [("pk", "HASH"), ("employee_id", "RANGE")]
    index = {
        "IndexName": "by_status",
        "KeySchema": [
            {"AttributeName": "gsi_pk", "KeyType": "HASH"},
            {"AttributeName": "employee_id", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    names = ["pk", "employee_id"] + (["gsi_pk"] if with_index else [])
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in names],
        BillingMode="PAY_PER_REQUEST",
        **({"GlobalSecondaryIndexes": [index]} if with_index else {}),
    )


def _exercise() -> list:
    """The same reads, with whatever moto is patched or not: their answers."""
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _status_table(ddb, with_index=True)
        for partition in range(3):
            for start in range(0, 30, 10):
                ddb.batch_write_item(
                    RequestItems={
                        TABLE: [
                            {"PutRequest": {"Item": _item(partition, i)}}
                            for i in range(start, start + 10)
                        ]
                    }
                )
        answers = []

        def keep(response: dict) -> None:
            response.pop("ResponseMetadata", None)
            answers.append(response)

        key = {":p": {"S": "pr-1#emp-1"}}
        keep(
            ddb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues=key,
                ConsistentRead=True,
            )
        )
        keep(
            ddb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues=key,
                Limit=7,
                ScanIndexForward=False,
            )
        )
        page = ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues=key,
            Limit=7,
        )
        keep(
            ddb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues=key,
                Limit=7,
                ExclusiveStartKey=page["LastEvaluatedKey"],
            )
        )
        keep(
            ddb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p AND begins_with(employee_id, :e)",
                FilterExpression="#s = :f",
                ProjectionExpression="employee_id, #s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={**key, ":e": {"S": "e-001"}, ":f": {"S": "FAILED"}},
            )
        )
        keep(
            ddb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "pr-1#emp-9"}},
            )
        )
        keep(
            ddb.query(
                TableName=TABLE,
                IndexName="by_status",
                KeyConditionExpression="gsi_pk = :g",
                ExpressionAttributeValues={":g": {"S": "status#1"}},
            )
        )
        keep(
            ddb.batch_get_item(
                RequestItems={
                    TABLE: {
                        "Keys": [
                            {"pk": {"S": f"pr-1#emp-{p}"}, "employee_id": {"S": f"e-{i:04d}"}}
                            for p in range(3)
                            for i in (0, 5, 29)
                        ],
                        "ConsistentRead": True,
                    }
                }
            )
        )
        keep(
            ddb.get_item(
                TableName=TABLE, Key={"pk": {"S": "pr-1#emp-2"}, "employee_id": {"S": "e-0004"}}
            )
        )
        keep(ddb.scan(TableName=TABLE, Limit=12))
        keep(
            ddb.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": "e-0001"}},
                UpdateExpression="SET #s = :n",
                ConditionExpression="#s IN (:b)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":n": {"S": "CALCULATED"}, ":b": {"S": "BEGIN"}},
                ReturnValues="ALL_NEW",
            )
        )
        return answers  # fmt: skip


#: A step's move, as payroll_shared.steps writes it.
STEP_MOVE: dict = {
    "UpdateExpression": "SET #s = :t, updated_at = :now, attempts = "
    "if_not_exists(attempts, :zero) + :one, r = :r REMOVE failed_step, error_code",
    "ConditionExpression": "#s IN (:p0, :p1)",
    "ExpressionAttributeNames": {"#s": "status"},
    "ExpressionAttributeValues": {
        ":t": {"S": "TIME_ENTERED"},
        ":now": {"S": "2026-12-01T00:00:00"},
        ":zero": {"N": "0"},
        ":one": {"N": "1"},
        ":r": {"S": "{}"},
        ":p0": {"S": "BEGIN"},
        ":p1": {"S": "FAILED"},
    },
    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
}


#: Update expressions as the pipeline and moto's own tests write them, and wrong ones:
#: each answers (or fails) the same with and without the speedups.
UPDATES: list[dict] = [
    STEP_MOVE,
    STEP_MOVE,  # the same again: the condition fails now, and answers the old item
    {
        "UpdateExpression": "ADD attempts :one, tags :tag DELETE amounts :n1",
        "ExpressionAttributeValues": {
            ":one": {"N": "1"},
            ":tag": {"SS": ["z"]},
            ":n1": {"NS": ["1"]},
        },
        "ReturnValues": "UPDATED_NEW",
    },
    {
        "UpdateExpression": "SET #res.net = :net, #res.#ln[0] = :x, "
        "#res.#ln = list_append(#res.#ln, :more), gross = gross - :d",
        "ExpressionAttributeNames": {"#res": "result", "#ln": "lines"},
        "ExpressionAttributeValues": {
            ":net": {"S": "1.00"},
            ":x": {"N": "7"},
            ":more": {"L": [{"S": "y"}]},
            ":d": {"N": "0.50"},
        },
        "ReturnValues": "ALL_NEW",
    },
    {
        "UpdateExpression": "REMOVE #res.#ln[1], nothing",
        "ExpressionAttributeNames": {"#res": "result", "#ln": "lines"},
        "ReturnValues": "ALL_OLD",
    },
    {  # wrong: a path set twice
        "UpdateExpression": "SET gross = :a, gross = :b",
        "ExpressionAttributeValues": {":a": {"N": "1"}, ":b": {"N": "2"}},
    },
    {  # wrong: a key attribute
        "UpdateExpression": "SET employee_id = :a",
        "ExpressionAttributeValues": {":a": {"S": "other"}},
    },
    {  # wrong: two SET clauses
        "UpdateExpression": "SET a = :a SET b = :a",
        "ExpressionAttributeValues": {":a": {"S": "1"}},
    },
    {  # wrong: a value that is not given
        "UpdateExpression": "SET a = :missing",
        "ExpressionAttributeValues": {":a": {"S": "1"}},
    },
    {  # wrong: arithmetic on a string
        "UpdateExpression": "SET flag = #s + :one",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    },
    {  # wrong: a path through an attribute that does not exist
        "UpdateExpression": "SET nope.deeper = :a",
        "ExpressionAttributeValues": {":a": {"S": "1"}},
    },
    {"UpdateExpression": "SET = :a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
]


def _exercise_updates() -> list:
    """Every update of ``UPDATES`` on the same items, then the items: the answers."""
    from botocore.exceptions import ClientError

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _status_table(ddb)
        answers: list = []
        for index in range(3):
            ddb.put_item(TableName=TABLE, Item=_item(0, index))
        for index in range(3):
            key = {"pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": f"e-{index:04d}"}}
            for update in UPDATES:
                try:
                    answer = ddb.update_item(TableName=TABLE, Key=key, **update)
                    answer.pop("ResponseMetadata", None)
                except ClientError as exc:
                    answer = {"error": exc.response["Error"], "item": exc.response.get("Item")}
                answers.append(answer)
        answers.append(
            ddb.transact_write_items(
                TransactItems=[
                    {"Update": {"TableName": TABLE, "Key": {
                        "pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": f"e-{index:04d}"}
                    }, **{k: v for k, v in UPDATES[3].items() if k != "ReturnValues"}}}
                    for index in range(2)
                ]
            ).get("ItemCollectionMetrics")
        )  # fmt: skip
        answers.append(ddb.scan(TableName=TABLE)["Items"])
        return answers


def test_every_update_answers_the_same_with_and_without_the_speedups(aws_env):
    moto_speed.undo()
    try:
        plain = _exercise_updates()
        moto_speed.apply()
        fast = _exercise_updates()
        again = _exercise_updates()  # the parsed expressions are kept from the last run
    finally:
        moto_speed.undo()
    assert fast == plain
    assert again == plain
    errors = [
        a["error"]["Code"] for a in plain[: len(UPDATES)] if isinstance(a, dict) and "error" in a
    ]
    # The condition failure and the seven wrong updates are refused, each as moto refuses.
    assert errors.count("ConditionalCheckFailedException") == 1
    assert errors.count("ValidationException") == 7
    assert plain[1]["item"]["status"] == {"S": "TIME_ENTERED"}  # ALL_OLD on the failure


def test_an_update_expression_is_parsed_once_and_a_wrong_one_every_time():
    from moto.dynamodb.exceptions import InvalidUpdateExpression
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    expression = UPDATES[0]["UpdateExpression"]
    moto_speed.undo()
    assert UpdateExpressionParser.make(expression) is not UpdateExpressionParser.make(expression)
    moto_speed.apply()
    try:
        tree = UpdateExpressionParser.make(expression)
        assert UpdateExpressionParser.make(expression) is tree
        for _ in range(2):
            with pytest.raises(InvalidUpdateExpression):
                UpdateExpressionParser.make("SET = :a")
    finally:
        moto_speed.undo()


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_every_read_answers_the_same_with_and_without_the_speedups(aws_env):
    moto_speed.undo()
    try:
        plain = _exercise()
        moto_speed.apply()
        fast = _exercise()
        again = _exercise()  # after moto's reset between mocks
    finally:
        moto_speed.undo()
    assert fast == plain
    assert again == plain
    assert len(plain[0]["Items"]) == 30  # the partition, not the table
    assert plain[0]["Items"][0]["blob"] == {"B": b"\x00\x01payroll"}


def test_a_query_walks_its_partition_not_the_table(aws_env, monkeypatch):
    """The cost of a query follows its partition: moto's query looks only at the items
    of the partition asked for (moto alone walks and sorts all 1,500)."""
    from moto.dynamodb.models.table import Table

    moto_speed.apply()
    walked: list[int] = []
    scoped = Table.all_items

    def counting(self):
        items = scoped(self)
        walked.append(len(items))
        return items

    monkeypatch.setattr(Table, "all_items", counting)
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            _status_table(ddb)
            for partition in range(30):
                for start in range(0, 50, 25):
                    ddb.batch_write_item(RequestItems={TABLE: [
                        {"PutRequest": {"Item": {"pk": {"S": f"p{partition}"},
                                                 "employee_id": {"S": f"e{i:03d}"}}}}
                        for i in range(start, start + 25)]})  # fmt: skip
            walked.clear()
            for partition in range(30):
                items = ddb.query(
                    TableName=TABLE,
                    KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": f"p{partition}"}},
                )["Items"]
                assert [i["employee_id"]["S"] for i in items] == [f"e{i:03d}" for i in range(50)]
            assert walked == [50] * 30
            walked.clear()
            assert len(ddb.scan(TableName=TABLE)["Items"]) == 1500
            assert walked == [1500]  # a scan still sees the whole table
    finally:
        monkeypatch.undo()
        moto_speed.undo()


def test_json_copy_is_an_independent_deep_copy_and_hands_other_types_to_deepcopy():
    value = {
        "items": [{"id": "e-1", "gross": 1234.5, "hours": 80, "ok": True, "note": None}],
        "nested": {"a": [[1, 2], {"b": "c"}]},
        "kept": (1, [2]),
    }
    copied = moto_speed.json_copy(value)
    assert copied == value
    copied["items"][0]["gross"] = 0
    copied["nested"]["a"][0].append(3)
    copied["kept"][1].append(3)
    assert value["items"][0]["gross"] == 1234.5
    assert value["nested"]["a"][0] == [1, 2]
    assert value["kept"] == (1, [2])  # a tuple went through copy.deepcopy, as before
    assert type(copied["kept"]) is tuple


#: States that read, reshape and merge a chunk-like input the ways the pay-run flow does.
FLOW = {
    "StartAt": "Shape",
    "States": {
        "Shape": {
            "Type": "Pass",
            "Parameters": {
                "pay_run.$": "$.pay_run",
                "items.$": "$.items",
                "count.$": "States.ArrayLength($.items)",
                "merged.$": "States.JsonMerge($.pay_run, $.extra, false)",
            },
            "ResultPath": "$.shaped",
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.shaped.items",
            "ItemSelector": {"item.$": "$$.Map.Item.Value", "pay_run.$": "$.pay_run.id"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Mark",
                "States": {
                    "Mark": {
                        "Type": "Pass",
                        "Result": {"done": True},
                        "ResultPath": "$.item.mark",
                        "OutputPath": "$.item",
                        "End": True,
                    }
                },
            },
            "ResultPath": "$.marked",
            "Next": "Enough",
        },
        "Enough": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.shaped.count", "NumericGreaterThan": 1, "Next": "Out"}],
            "Default": "Out",
        },
        "Out": {
            "Type": "Pass",
            "InputPath": "$",
            "Parameters": {"marked.$": "$.marked", "merged.$": "$.shaped.merged"},
            "OutputPath": "$",
            "End": True,
        },
    },
}


def _execute(name: str, definition: dict, execution_input: dict) -> tuple[dict, list]:
    """Run a state machine on moto in process: its last description and its events."""
    import json
    import time

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))
    for _ in range(500):
        described = sfn.describe_execution(executionArn=started["executionArn"])
        if described["status"] != "RUNNING":
            break
        time.sleep(0.01)
    return described, sfn.get_execution_history(executionArn=started["executionArn"])["events"]


def _run_flow() -> tuple:
    import json

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        items = [{"id": f"e-{i}", "gross": 100.5 + i, "lines": [{"n": i}]} for i in range(5)]
        described, events = _execute(
            "flow", FLOW, {"pay_run": {"id": "pr-1"}, "extra": {"x": 1}, "items": items}
        )
        # Map iterations run at once: their events interleave in any order.
        kinds = sorted(
            (e["type"], e.get("stateExitedEventDetails", {}).get("output") or "") for e in events
        )
        return described["status"], json.loads(described["output"]), kinds


def test_a_state_machine_runs_the_same_with_and_without_the_speedups(aws_env):
    moto_speed.undo()
    try:
        plain = _run_flow()
        moto_speed.apply()
        fast = _run_flow()
    finally:
        moto_speed.undo()
    assert plain[0] == "SUCCEEDED"
    assert fast == plain
    assert [m["mark"] for m in plain[1]["marked"]] == [{"done": True}] * 5


#: Output paths of each kind: a JSON path (the fast way), the context object, and a path
#: that is not there (moto's failure event).
OUTPUTS = {
    "json-path": {"Type": "Pass", "Result": {"a": {"b": [1, 2]}}, "ResultPath": "$.r",
                  "OutputPath": "$.r.a", "Next": "Again"},
    "context": {"Type": "Pass", "OutputPath": "$$.Execution.Input", "Next": "Again"},
    "missing": {"Type": "Pass", "OutputPath": "$.nope", "Next": "Again"},
}  # fmt: skip


def _run_output(kind: str) -> tuple:
    flow = {
        "StartAt": "Out",
        "States": {
            "Out": OUTPUTS[kind],
            # Reads what Out left as its input, and changes its own copy of it.
            "Again": {"Type": "Pass", "Parameters": {"seen.$": "$"}, "End": True},
        },
    }
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        described, events = _execute(f"out-{kind}", flow, {"in": [1, {"x": 2}]})
        details = [
            (e["type"], e.get("stateExitedEventDetails", {}).get("output"),
             e.get("executionFailedEventDetails", {}).get("cause"))
            for e in events
        ]  # fmt: skip
        return described["status"], described.get("output"), details


@pytest.mark.parametrize("kind", sorted(OUTPUTS))
def test_an_output_path_answers_the_same_with_and_without_the_speedups(aws_env, kind):
    plain, fast = _both_ways(_run_output, kind)
    assert fast == plain
    expected = {"json-path": "SUCCEEDED", "context": "SUCCEEDED", "missing": "FAILED"}[kind]
    assert plain[0] == expected


def _shape(node, parent=None) -> tuple:
    """A tree as classes, names, leaves and whether each node's parent is its container."""
    from moto.dynamodb.parsing.ast_nodes import Node

    return (
        type(node).__name__,
        node.type,
        node.parent is parent,
        [_shape(c, node) if isinstance(c, Node) else (type(c).__name__, c) for c in node.children]
        if node.children is not None
        else None,
    )


def test_tree_copy_makes_the_tree_deepcopy_makes_and_leaves_the_rest_to_it():
    import copy

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    for update in UPDATES[:5]:
        tree = UpdateExpressionParser.make(update["UpdateExpression"])
        copied = moto_speed.tree_copy(tree)
        assert _shape(copied) == _shape(copy.deepcopy(tree)) == _shape(tree)
        assert copied is not tree and copied.children[0] is not tree.children[0]
    typed = {"L": [{"S": "a"}]}
    assert moto_speed.tree_copy(typed) == typed and moto_speed.tree_copy(typed) is not typed
    child = UpdateExpressionParser.make("SET a = :b").children[0]
    assert child.parent is not None  # not a root: deep-copied whole, parent and all
    assert _shape(moto_speed.tree_copy(child).parent) == _shape(child.parent)


def test_a_response_class_lists_its_actions_once_and_the_same(monkeypatch):
    import inspect

    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    moto_speed.undo()
    original = responses.method_names_from_class
    expected = {cls: original(cls) for cls in (DynamoHandler, SQSResponse)}
    listed = []
    getmembers = inspect.getmembers

    def counting(obj, *args, **kwargs):
        listed.append(obj)
        return getmembers(obj, *args, **kwargs)

    monkeypatch.setattr(inspect, "getmembers", counting)
    moto_speed.apply()
    try:
        for _ in range(3):
            for cls, names in expected.items():
                answer = responses.method_names_from_class(cls)
                assert answer == names and "update_item" in expected[DynamoHandler]
                answer.append("mutated by a caller")  # the kept list stays as it was
    finally:
        moto_speed.undo()
    assert listed == [DynamoHandler, SQSResponse]
    assert responses.method_names_from_class is original


def test_a_json_path_is_parsed_once_and_a_bad_one_fails_each_time():
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    moto_speed.undo()
    try:
        assert json_path.parse("$.items") is not json_path.parse("$.items")
        moto_speed.apply()
        for module in (json_path, result_path):
            assert module.parse("$.items") is module.parse("$.items")
            for _ in range(2):
                with pytest.raises(Exception, match="Parse error"):
                    module.parse("$.[")
        assert json_path.extract_json("$.items[1]", {"items": [1, {"a": 2}]}) == {"a": 2}
    finally:
        moto_speed.undo()
    assert json_path.parse("$.items") is not json_path.parse("$.items")


def test_a_projected_query_copies_no_stored_item_and_changes_none(aws_env, monkeypatch):
    """A projected query answers new items, so moto's deep copy of the stored ones is
    skipped; the stored items stay as they were, and an unprojected query still copies."""
    import copy

    from moto.dynamodb.models import dynamo_type

    moto_speed.apply()
    copies: list[int] = []
    original = dynamo_type.Item.__deepcopy__

    def counting(self, memo):
        copies.append(1)
        return original(self, memo)

    monkeypatch.setattr(dynamo_type.Item, "__deepcopy__", counting)
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            _status_table(ddb)
            for i in range(5):
                ddb.put_item(TableName=TABLE, Item=_item(1, i))
            stored = copy.deepcopy(ddb.scan(TableName=TABLE)["Items"])
            copies.clear()
            projected = ddb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                FilterExpression="#s <> :x",
                ProjectionExpression="employee_id, #s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":p": {"S": "pr-1#emp-1"}, ":x": {"S": "NONE"}},
            )["Items"]
            assert copies == []
            assert [sorted(i) for i in projected] == [["employee_id", "status"]] * 5
            full = ddb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "pr-1#emp-1"}},
            )["Items"]
            assert len(copies) == 5 and len(full) == 5
            assert ddb.scan(TableName=TABLE)["Items"] == stored
    finally:
        monkeypatch.undo()
        moto_speed.undo()


def test_a_condition_is_lexed_once_and_a_wrong_one_fails_every_time():
    from moto.dynamodb.comparisons import ConditionExpressionParser

    def parse(expression: str):
        values = {":a": {"S": "BEGIN"}, ":b": {"S": "FAILED"}}
        return ConditionExpressionParser(expression, {"#s": "status"}, values).parse()

    expression = "#s IN (:a, :b) AND attribute_exists(employee_id)"
    moto_speed.undo()
    plain = repr(parse(expression))
    original = ConditionExpressionParser._lex_condition_expression
    calls: list[str] = []

    def counting(self):
        calls.append(self.condition_expression)
        return original(self)

    ConditionExpressionParser._lex_condition_expression = counting
    try:
        moto_speed.apply()
        assert [repr(parse(expression)) for _ in range(3)] == [plain] * 3
        assert calls == [expression]  # lexed once, parsed three times
        for _ in range(2):
            with pytest.raises(ValueError, match="Cannot parse condition"):
                parse("#s IN (:a) ~ :b")
        assert calls.count("#s IN (:a) ~ :b") == 2
    finally:
        moto_speed.undo()
        ConditionExpressionParser._lex_condition_expression = original


def _exercise_checks() -> list:
    """One update expression with names that pass moto's structural checks, then with
    names that fail them (overlapping paths, a key attribute), then passing again."""
    from botocore.exceptions import ClientError

    expression = "SET #a = :a, #b = :b"
    names = [
        {"#a": "gross", "#b": "net"},
        {"#a": "gross", "#b": "gross"},  # the same path twice
        {"#a": "employee_id", "#b": "net"},  # a key attribute
        {"#a": "result", "#b": "net"},
    ]
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _status_table(ddb)
        ddb.put_item(TableName=TABLE, Item=_item(0, 1))
        key = {"pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": "e-0001"}}
        answers: list = []
        for _ in range(2):
            for attribute_names in names:
                try:
                    answer = ddb.update_item(
                        TableName=TABLE,
                        Key=key,
                        UpdateExpression=expression,
                        ExpressionAttributeNames=attribute_names,
                        ExpressionAttributeValues={":a": {"N": "1"}, ":b": {"N": "2"}},
                        ReturnValues="ALL_NEW",
                    )
                    answers.append(answer["Attributes"])
                except ClientError as exc:
                    answers.append(exc.response["Error"])
        return answers


def test_structural_checks_run_once_per_expression_and_names_and_a_failing_one_every_time(
    aws_env, monkeypatch
):
    from moto.dynamodb.parsing import validators

    calls: list[int] = []
    original = validators.ActionCountValidator.verify_action_counts

    def counted(self, node):
        calls.append(1)
        return original(self, node)

    monkeypatch.setattr(validators.ActionCountValidator, "verify_action_counts", counted)
    moto_speed.undo()
    try:
        plain = _exercise_checks()
        plain_calls, calls[:] = len(calls), []
        moto_speed.apply()
        fast = _exercise_checks()
    finally:
        moto_speed.undo()
    assert fast == plain
    assert [a.get("Code") for a in plain[:4]] == [
        None,
        "ValidationException",
        "ValidationException",
        None,
    ]
    assert "overlap" in plain[1]["Message"] and "key" in plain[2]["Message"]
    # Of the 8 updates, the 2 passing name sets are checked once each, and the 2 failing
    # ones on both rounds (a failure is not kept): 6 updates checked, not 8.
    assert plain_calls % 8 == 0 and len(calls) == plain_calls // 8 * 6


def _streamed_table(ddb) -> None:
    """A table keyed by ``pk`` whose stream has old and new images."""
    ddb.create_table(
        TableName="streamed",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def _exercise_stream() -> list:
    """Updates of a table with a stream: the stream's old and new images."""
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _streamed_table(ddb)
        _status_table(ddb)  # and one without: its updates copy nothing
        for value in ("1", "2", "3"):
            for table, key in (
                ("streamed", {"pk": {"S": "a"}}),
                (TABLE, {"pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": "e-0001"}}),
            ):
                ddb.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET v = :v, n = if_not_exists(n, :z) + :one",
                    ExpressionAttributeValues={
                        ":v": {"S": value},
                        ":z": {"N": "0"},
                        ":one": {"N": "1"},
                    },
                )
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends["123456789012"]["us-east-1"].tables["streamed"].stream_shard
        records = [record.to_json() for record in shard.items]
        images = [
            (r["eventName"], r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage"))
            for r in records
        ]
        return [images, ddb.scan(TableName=TABLE)["Items"]]


def test_an_update_of_a_streamed_table_still_streams_the_old_image(aws_env):
    moto_speed.undo()
    try:
        plain = _exercise_stream()
        moto_speed.apply()
        fast = _exercise_stream()
    finally:
        moto_speed.undo()
    assert fast == plain
    # moto streams a new item's key first, then the item; each MODIFY has the old image.
    assert [(event, (old or {}).get("v")) for event, old, _ in plain[0]] == [
        ("INSERT", None),
        ("INSERT", None),
        ("MODIFY", {"S": "1"}),
        ("MODIFY", {"S": "2"}),
    ]
    assert plain[1][0]["n"] == {"N": "3"}


PROJECTIONS = [
    "employee_id, #s",
    "#r.net, codes[1].x, gross",  # into a map, and through a list into another
    "codes[0], codes[1], #r.net, #r.#ln",
    "#r",
    "tags, amounts, #b, flag, nothing, #e",  # sets, binary, bool, null, ""
    "#m, #r.#m, codes[7], gross[0]",  # nothing there: an empty item
]


def _exercise_projections() -> list:
    """Every projection of ``PROJECTIONS`` by Query, GetItem and BatchGetItem."""
    names = {
        "#s": "status",
        "#r": "result",
        "#ln": "lines",
        "#m": "missing",
        "#b": "blob",
        "#e": "empty",
    }
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _status_table(ddb)
        codes = {"L": [{"S": "a"}, {"M": {"x": {"N": "1"}, "y": {"S": "b"}}}]}
        for index in range(4):
            ddb.put_item(TableName=TABLE, Item={**_item(0, index), "codes": codes})
        key = {"pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": "e-0002"}}
        answers: list = []
        for projection in PROJECTIONS:
            used = {k: v for k, v in names.items() if k in projection}
            extra = {"ExpressionAttributeNames": used} if used else {}
            answers.append(
                ddb.query(
                    TableName=TABLE,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": "pr-1#emp-0"}},
                    ProjectionExpression=projection,
                    **extra,
                )["Items"]
            )
            answers.append(
                ddb.get_item(TableName=TABLE, Key=key, ProjectionExpression=projection, **extra)
            )
            answers.append(
                ddb.batch_get_item(
                    RequestItems={
                        TABLE: {"Keys": [key], "ProjectionExpression": projection, **extra}
                    }
                )["Responses"]
            )
        for answer in answers:
            if isinstance(answer, dict):
                answer.pop("ResponseMetadata", None)
        return answers


def test_every_projection_answers_the_same_with_and_without_the_speedups(aws_env):
    moto_speed.undo()
    try:
        plain = _exercise_projections()
        moto_speed.apply()
        fast = _exercise_projections()
    finally:
        moto_speed.undo()
    assert fast == plain
    # What the projections picked, as moto picks it:
    assert plain[3][0] == {
        "result": {"M": {"net": {"S": "99.10"}}},
        "codes": {"L": [{"M": {"x": {"N": "1"}}}]},
        "gross": {"N": "1234.50"},
    }
    assert plain[-3] == [{}] * 4 and plain[-2] == {"Item": {}}


#: Simple updates (top-level SETs of given values, if_not_exists sums, REMOVEs), each
#: run on several items: the first of each goes through moto's checks, the rest take
#: the simple path where its values and item fit, and moto's where they do not.
SIMPLE_UPDATES: list[dict] = [
    {**STEP_MOVE, "ReturnValues": "ALL_NEW"},
    {
        "UpdateExpression": "SET #s = :t, paid_at = :now",
        "ConditionExpression": "#s IN (:p0)",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {
            ":t": {"S": "PAID"},
            ":now": {"S": "2026-12-02"},
            ":p0": {"S": "TIME_ENTERED"},
        },
        "ReturnValues": "UPDATED_OLD",
    },
    {  # if_not_exists of an attribute that is there, a bool, a null, a number, a binary
        "UpdateExpression": "SET flag = :f, gross = if_not_exists(gross, :z) + :d, nothing = :no,"
        " n = :n, packed = :b REMOVE tags, absent",
        "ExpressionAttributeValues": {
            ":b": {"B": b"x\x9c\x00packed"},
            ":f": {"BOOL": False},
            ":z": {"N": "0"},
            ":d": {"N": "0.25"},
            ":no": {"NULL": True},
            ":n": {"N": "-3.50"},
        },
        "ReturnValues": "UPDATED_NEW",
    },
    {  # a map value: moto's own path
        "UpdateExpression": "SET flag = :f, n = :m",
        "ExpressionAttributeValues": {":f": {"BOOL": True}, ":m": {"M": {"a": {"S": "b"}}}},
        "ReturnValues": "ALL_NEW",
    },
    {  # a sum of a string: refused by moto, every time
        "UpdateExpression": "SET v = if_not_exists(#e, :z) + :d",
        "ExpressionAttributeNames": {"#e": "empty"},
        "ExpressionAttributeValues": {":z": {"N": "0"}, ":d": {"N": "1"}},
    },
    {  # a counter, passing (and so known)...
        "UpdateExpression": "SET attempts = if_not_exists(attempts, :zero) + :one",
        "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}},
        "ReturnValues": "UPDATED_NEW",
    },
    {  # ...then without its default: refused although attempts is there
        "UpdateExpression": "SET attempts = if_not_exists(attempts, :zero) + :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    },
    {  # a value that is not given
        "UpdateExpression": "SET #s = :t, paid_at = :now",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":t": {"S": "PAID"}},
    },
    {  # too large an item: refused by moto's size check
        "UpdateExpression": "SET big = :big, n = :n",
        "ExpressionAttributeValues": {":big": {"S": "x" * 405000}, ":n": {"N": "1"}},
    },
    {  # a new item (no such key): created, then updated
        "Key": {"pk": {"S": "pr-1#emp-9"}, "employee_id": {"S": "new"}},
        **{k: v for k, v in STEP_MOVE.items() if k != "ConditionExpression"},
        "ExpressionAttributeValues": {
            k: v for k, v in STEP_MOVE["ExpressionAttributeValues"].items() if k[:2] != ":p"
        },
        "ReturnValues": "ALL_NEW",
    },
]


def _exercise_simple_updates() -> list:
    from botocore.exceptions import ClientError

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _status_table(ddb)
        answers: list = []
        for index in range(4):
            ddb.put_item(TableName=TABLE, Item=_item(0, index))
        for update in SIMPLE_UPDATES:
            for index in range(4):
                request = {
                    "Key": {"pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": f"e-{index:04d}"}},
                    **update,
                }
                if index and "Key" in update:
                    request["Key"] = {**update["Key"], "employee_id": {"S": f"new-{index}"}}
                try:
                    answer = ddb.update_item(TableName=TABLE, **request)
                    answer.pop("ResponseMetadata", None)
                except ClientError as exc:
                    answer = {"error": exc.response["Error"], "item": exc.response.get("Item")}
                answers.append(answer)
        answers.append(ddb.scan(TableName=TABLE)["Items"])
        return answers


def test_simple_updates_answer_the_same_by_the_simple_path(aws_env, monkeypatch):
    applied: list[int] = []
    original = moto_speed.SimpleUpdate.apply

    def counted(self, item):
        applied.append(1)
        return original(self, item)

    monkeypatch.setattr(moto_speed.SimpleUpdate, "apply", counted)
    copies: list[int] = []
    tree_copy = moto_speed.tree_copy

    def copied(tree):
        copies.append(1)
        return tree_copy(tree)

    monkeypatch.setattr(moto_speed, "tree_copy", copied)
    moto_speed.undo()
    try:
        plain = _exercise_simple_updates()
        assert applied == []
        moto_speed.apply()
        fast = _exercise_simple_updates()
    finally:
        moto_speed.undo()
    assert fast == plain
    # The validator copies the tree only when it walks it: 44 validations (an update that
    # creates an item is validated before and after), less the 20 the simple path
    # planned (16 applied, 4 validating a new item before it exists).
    assert len(copies) == 24
    codes = [a["error"]["Code"] for a in plain[:-1] if "error" in a]
    # Every item is BEGIN or FAILED, so every step move passes its condition and the
    # PAID move finds them TIME_ENTERED. The string sum, the two missing values and the
    # size fail on every item.
    assert codes.count("ValidationException") == 16
    # The simple path took the later items of the step move, the PAID move, the
    # bool/null/sum update and the counter (3 each), and the new items (4: the first
    # new item is checked by moto against an empty item before it is created); not the
    # map value, nor the failing ones.
    assert len(applied) == 16


def _exercise_transactions() -> list:
    """TransactWriteItems that commit, are cancelled by a condition, refused for a key
    written twice or a missing key, and one on a streamed table: answers and tables."""
    from botocore.exceptions import ClientError

    def key(index: int) -> dict:
        return {"pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": f"e-{index:04d}"}}

    def paid(index: int, allowed: str = "BEGIN") -> dict:
        return {
            "Update": {
                "TableName": TABLE,
                "Key": key(index),
                "UpdateExpression": "SET #s = :paid, n = if_not_exists(n, :z) + :one",
                "ConditionExpression": "#s IN (:p0, :p1)",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":paid": {"S": "PAID"},
                    ":p0": {"S": allowed},
                    ":p1": {"S": "COMMITTED"},
                    ":z": {"N": "0"},
                    ":one": {"N": "1"},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    requests = [
        [paid(1), paid(2), {"Put": {"TableName": TABLE, "Item": {**key(50), "v": {"S": "new"}}}}],
        # e-0003 is FAILED: all of it is undone, the put, the delete and the moves.
        [
            paid(4),
            {"Put": {"TableName": TABLE, "Item": {**key(51), "v": {"S": "undone"}}}},
            {"Delete": {"TableName": TABLE, "Key": key(5)}},
            paid(3),
        ],
        [paid(7), {"Delete": {"TableName": TABLE, "Key": key(50)}}, paid(7, "FAILED")],
        [paid(8), {"Update": {**paid(10)["Update"], "Key": {"pk": {"S": "pr-1#emp-0"}}}}],
        [
            {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "a"}, "v": {"S": "1"}}}},
            {"Delete": {"TableName": TABLE, "Key": key(11)}},
            {"ConditionCheck": {
                "TableName": TABLE, "Key": key(12), "ConditionExpression": "attribute_exists(nope)"
            }},
        ],
        # A nested update changes a value in place: the items are deep-copied, all undone.
        [
            {"Update": {
                "TableName": TABLE,
                "Key": key(13),
                "UpdateExpression": "SET #r.net = :v",
                "ExpressionAttributeNames": {"#r": "result"},
                "ExpressionAttributeValues": {":v": {"S": "1.00"}},
            }},
            paid(3),
        ],
    ]  # fmt: skip
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _streamed_table(ddb)
        _status_table(ddb)
        for index in range(15):
            ddb.put_item(TableName=TABLE, Item=_item(0, index))
        answers: list = []
        for items in requests:
            try:
                answer = ddb.transact_write_items(TransactItems=items)
                answer.pop("ResponseMetadata", None)
            except ClientError as exc:
                answer = {
                    "error": exc.response["Error"],
                    "reasons": exc.response.get("CancellationReasons"),
                }
            answers.append(answer)
            answers.append(ddb.scan(TableName=TABLE)["Items"])
            answers.append(ddb.scan(TableName="streamed")["Items"])
        return answers


def _deep_copies(monkeypatch) -> list[str]:
    """The type names of what moto_speed deep-copies (its ``copy.deepcopy``), in order."""
    import copy
    import types

    copied: list[str] = []

    def deepcopy(value, memo=None):
        copied.append(type(value).__name__)
        return copy.deepcopy(value, memo)

    monkeypatch.setattr(
        moto_speed, "copy", types.SimpleNamespace(copy=copy.copy, deepcopy=deepcopy)
    )
    return copied


def test_a_transaction_answers_and_rolls_back_the_same_without_copying_the_table(
    aws_env, monkeypatch
):
    copied = _deep_copies(monkeypatch)
    moto_speed.undo()
    try:
        plain = _exercise_transactions()
        moto_speed.apply()
        copied.clear()
        fast = _exercise_transactions()
    finally:
        moto_speed.undo()
    assert fast == plain
    statuses = [[item["status"]["S"] for item in scan if "status" in item] for scan in plain[1::3]]
    codes = [answer.get("error", {}).get("Code") for answer in plain[::3]]
    assert codes == [
        None,
        "TransactionCanceledException",
        "ValidationException",  # e-0007 twice
        "ValidationException",  # a key without its range
        "TransactionCanceledException",
        "TransactionCanceledException",  # the nested update, undone
    ]
    assert statuses[0].count("PAID") == 2 and len(statuses[0]) == 15  # and e-0050, no status
    assert all(scan == plain[1] for scan in plain[4::3])  # every other one undone in full
    reasons = plain[3]["reasons"]
    assert [r.get("Code") for r in reasons] == ["None", "None", "None", "ConditionalCheckFailed"]
    assert reasons[3]["Item"]["status"] == {"S": "FAILED"}  # ALL_OLD of the failed condition
    # The fast path copies the items it writes, never a table. The last two go moto's
    # way (a key it cannot read, a streamed table), and moto copies the whole table
    # once per item it writes: 2 + 3.
    assert copied.count("Table") == 5


@pytest.mark.parametrize(
    ("expression", "item_copies"),
    [("SET #r = :m, n = if_not_exists(n, :z) + :one REMOVE tags", 0), ("SET #r.net = :v", 2)],
)
def test_a_transaction_of_top_level_writes_keeps_its_items_without_copying_them(
    aws_env, monkeypatch, expression, item_copies
):
    """Cancelled by e-0003's condition (FAILED): e-0001 is put back as it was, from
    its own attributes kept (top-level writes) or from a deep copy (a nested one)."""
    from botocore.exceptions import ClientError

    copied = _deep_copies(monkeypatch)
    values = {":m": {"M": {"net": {"S": "0"}}}, ":z": {"N": "0"}, ":one": {"N": "1"}}
    values = {k: v for k, v in values.items() if k in expression} or {":v": {"S": "1.00"}}
    moto_speed.apply()
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            _status_table(ddb)
            for index in range(4):
                ddb.put_item(TableName=TABLE, Item=_item(0, index))
            before = ddb.scan(TableName=TABLE)["Items"]
            update = {
                "TableName": TABLE,
                "UpdateExpression": expression,
                "ExpressionAttributeNames": {"#r": "result"},
                "ExpressionAttributeValues": values,
            }
            key = {"pk": {"S": "pr-1#emp-0"}}
            items = [
                {"Update": {**update, "Key": {**key, "employee_id": {"S": "e-0001"}}}},
                {"Update": {
                    **update,
                    "Key": {**key, "employee_id": {"S": "e-0003"}},
                    "ConditionExpression": "#r.net = :v" if ":v" in values else "n = :z",
                }},
            ]  # fmt: skip
            copied.clear()
            with pytest.raises(ClientError, match="TransactionCanceled"):
                ddb.transact_write_items(TransactItems=items)
            assert copied.count("Item") == item_copies
            assert ddb.scan(TableName=TABLE)["Items"] == before
    finally:
        moto_speed.undo()


def _exercise_conditions_and_sizes() -> list:
    """Conditional writes whose values change from request to request, values the
    condition does not use or that are missing, and items of many
    attributes, near and over moto's size limit: the answers and the table."""
    from botocore.exceptions import ClientError

    key = {"pk": {"S": "pr-1#emp-0"}, "employee_id": {"S": "e-0001"}}
    wide = {f"a{n:03d}": {"S": "x" * 1000} for n in range(410)}  # over moto's 405,000 bytes
    requests: list[tuple[str, dict]] = []
    for allowed in ("BEGIN", "PAID", "BEGIN", "TIME_ENTERED", "PAID"):
        requests.append(
            (
                "update_item",
                {
                    "Key": key,
                    "UpdateExpression": "SET #s = :next",
                    "ConditionExpression": "#s = :allowed",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":allowed": {"S": allowed},
                        ":next": {"S": "TIME_ENTERED" if allowed == "BEGIN" else "PAID"},
                    },
                },
            )
        )
    requests += [
        # A value the condition does not use, then the same condition without it.
        ("put_item", {"Item": {**key, "status": {"S": "BEGIN"}},
                      "ConditionExpression": "#s = :a",
                      "ExpressionAttributeNames": {"#s": "status"},
                      "ExpressionAttributeValues": {":a": {"S": "PAID"}, ":b": {"S": "x"}}}),
        ("put_item", {"Item": {**key, "status": {"S": "BEGIN"}},
                      "ConditionExpression": "#s = :a",
                      "ExpressionAttributeNames": {"#s": "status"},
                      "ExpressionAttributeValues": {":a": {"S": "PAID"}}}),
        ("put_item", {"Item": {**key, "n": {"N": "5"}},
                      "ConditionExpression": "attribute_exists(#s) AND #s <> :a",
                      "ExpressionAttributeNames": {"#s": "status"},
                      "ExpressionAttributeValues": {":a": {"S": "BEGIN"}}}),
        ("put_item", {"Item": {**key, **dict(list(wide.items())[:380])}}),
        ("put_item", {"Item": {**key, **wide}}),
        ("put_item", {"Item": {**key, "bad": {"N": "not a number"}}}),
    ]  # fmt: skip
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _status_table(ddb)
        ddb.put_item(TableName=TABLE, Item=_item(0, 1))
        answers: list = []
        for _ in range(2):  # the second time, from what the first one kept
            for operation, request in requests:
                try:
                    answer = getattr(ddb, operation)(TableName=TABLE, **request)
                    answer.pop("ResponseMetadata", None)
                except ClientError as exc:
                    answer = {"error": exc.response["Error"]}
                answers.append(answer)
                item = ddb.get_item(TableName=TABLE, Key=key).get("Item", {})
                answers.append({name: value for name, value in item.items() if len(name) < 4})
                answers.append(len(item))
        return answers


def test_conditions_and_item_sizes_answer_the_same_with_and_without_the_speedups(
    aws_env, monkeypatch
):
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parses: list[str] = []
    parse = ConditionExpressionParser.parse

    def counted(self):
        parses.append(self.condition_expression)
        return parse(self)

    moto_speed.undo()
    monkeypatch.setattr(ConditionExpressionParser, "parse", counted)
    try:
        plain = _exercise_conditions_and_sizes()
        plain_parses = [p for p in parses if p]
        parses.clear()
        moto_speed.apply()
        fast = _exercise_conditions_and_sizes()
    finally:
        moto_speed.undo()
    assert fast == plain
    # moto parses each condition twice per request (the handler, then the backend).
    # Kept, it is parsed once per expression and values it uses: "#s = :allowed" with
    # 3 values (not per :next), "#s = :a" with and without :b (one tree), and the third.
    assert len(plain_parses) == 2 * 2 * 8
    assert len([p for p in parses if p]) == 3 + 1 + 1
    rounds = len(plain) // 2  # the second round starts from the 380-attribute item
    outcomes = [a.get("error", {}).get("Code", "ok") for a in plain[0:rounds:3]]
    assert outcomes == [
        "ok",  # BEGIN -> TIME_ENTERED
        "ConditionalCheckFailedException",  # not PAID
        "ConditionalCheckFailedException",  # no longer BEGIN
        "ok",  # TIME_ENTERED -> PAID
        "ok",  # PAID -> PAID
        "ok",  # PAID: put as BEGIN (moto lets the unused :b pass)
        "ConditionalCheckFailedException",  # not PAID
        "ConditionalCheckFailedException",  # BEGIN
        "ok",  # 380 attributes of 1 KB
        "ValidationException",  # over the size limit
        "ValidationException",  # not a number
    ]
    assert plain[rounds - 7] == plain[rounds - 4] == plain[rounds - 1] == 382  # not written


def test_the_step_functions_executor_reuses_its_clients(aws_env):
    """One boto3 client per (region, service, endpoint) for the executor's tasks
    (whatever role they name: moto's factory does not use it), in every module that
    imported the factory; moto's factory back after ``undo``."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import (
        StateCredentials,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sqs as sqs_task,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    moto_speed.apply()
    try:
        first = sqs_task.boto_client_for("us-east-1", "sqs")
        assert sqs_task.boto_client_for("us-east-1", "sqs") is first
        assert boto_client.boto_client_for("us-east-1", "sqs") is first
        assert lambda_eval_utils.boto_client_for("us-east-1", "lambda") is not first
        assert sqs_task.boto_client_for("eu-west-1", "sqs") is not first
        role = StateCredentials(role_arn="arn:aws:iam::123456789012:role/x")
        assert sqs_task.boto_client_for("us-east-1", "sqs", role) is first
    finally:
        moto_speed.undo()
    assert sqs_task.boto_client_for is original and lambda_eval_utils.boto_client_for is original
    assert boto_client.boto_client_for is original


def test_a_definition_is_parsed_once_and_each_execution_gets_a_program_of_its_own(
    aws_env, monkeypatch
):
    """The ANTLR parse of a definition is kept: a second execution of the same state
    machine runs from the kept tree (with a new program) and answers as moto does; a
    definition that does not parse is refused every time; moto's parser back after
    ``undo``."""
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,
        ASLParserException,
    )

    parses: list[int] = []
    state_machine = ASLParser.state_machine

    def counted(self):
        parses.append(1)
        return state_machine(self)

    monkeypatch.setattr(ASLParser, "state_machine", counted)
    original = AmazonStateLanguageParser.parse
    moto_speed.undo()
    try:
        plain = _run_flow()
        plain_parses = len(parses)
        moto_speed.apply()
        parses.clear()
        fast = [_run_flow(), _run_flow()]
        program, tree = AmazonStateLanguageParser.parse(json.dumps(FLOW))
        again, same = AmazonStateLanguageParser.parse(json.dumps(FLOW))
        for _ in range(2):
            with pytest.raises(ASLParserException):
                AmazonStateLanguageParser.parse('{"StartAt": "A", "States": ')
    finally:
        moto_speed.undo()
    assert fast == [plain, plain]
    assert plain_parses >= 2  # created (checked), then executed: each parses
    assert same is tree and again is not program
    # FLOW once, then twice more for the refused definition.
    assert len(parses) == 1 + 2
    assert AmazonStateLanguageParser.parse is original


def test_the_executors_clients_are_made_at_start_up(aws_env, monkeypatch):
    """``warm_clients`` makes the reused clients of the workflows' services, so a pay
    run's first task of each does not; it does nothing while moto is not patched."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    made: list[str] = []
    moto_speed.undo()
    factory = boto_client.boto_client_for

    def counted(region, service, state_credentials=None):
        made.append(service)
        return factory(region, service, state_credentials)

    monkeypatch.setattr(boto_client, "boto_client_for", counted)
    moto_speed.warm_clients("us-east-1")
    assert made == []
    moto_speed.apply()
    try:
        moto_speed.warm_clients("us-east-1")
        assert sorted(made) == sorted(moto_speed.WORKFLOW_SERVICES)
        for service in moto_speed.WORKFLOW_SERVICES:
            boto_client.boto_client_for("us-east-1", service)
        assert len(made) == len(moto_speed.WORKFLOW_SERVICES)
    finally:
        moto_speed.undo()


ASKED = [
    ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    ["QueueArn"],
    ["All"],
    ["FifoQueue"],  # not on a standard queue: left out
    ["VisibilityTimeout", "VisibilityTimeout", "RedrivePolicy"],
    ["NoSuchAttribute"],
]


def _queue_answers() -> list:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "7"})["QueueUrl"]
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=str(n))
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
        answers = []
        for names in ASKED:
            try:
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
                found = attributes.get("Attributes", {})
                # The queue's own times differ between the two runs.
                answers.append({k: v for k, v in found.items() if not k.endswith("Timestamp")})
            except sqs.exceptions.ClientError as error:
                answers.append(error.response["Error"]["Code"])
        return answers


def test_queue_attributes_answer_the_same_worked_out_once(aws_env, monkeypatch):
    from moto.sqs.models import Queue

    computed: list[int] = []
    attributes = Queue.attributes

    def counted(self):
        computed.append(1)
        return attributes.fget(self)

    monkeypatch.setattr(Queue, "attributes", property(counted))
    moto_speed.undo()
    try:
        plain = _queue_answers()
        plain_count = len(computed)
        moto_speed.apply()
        computed.clear()
        fast = _queue_answers()
    finally:
        moto_speed.undo()
    assert fast == plain
    assert plain[0] == {
        "ApproximateNumberOfMessages": "2",
        "ApproximateNumberOfMessagesNotVisible": "1",
    }
    assert plain[-1] == "InvalidAttributeName"
    assert len(computed) < plain_count


def _parse_dynamodb(operation: str, body: bytes) -> dict:
    """moto's parse of one DynamoDB request body, as its server makes it."""
    from botocore.session import get_session
    from moto.core.parse import JSONParser

    model = get_session().get_service_model("dynamodb").operation_model(operation)
    return JSONParser(model).parse({
        "method": "POST", "values": {}, "headers": {}, "body": body, "url_path": "/",
        "url_params": {},
    })  # fmt: skip


#: Requests whose AttributeValues take every path: scalars, sets, nested maps and
#: lists, binary values, and what moto's parser drops or turns (a null member, an
#: unknown one, a set given as a string).
ODD_ITEMS = [
    _item(0, 1),
    _item(1, 3),
    {
        "pk": {"S": "pr-1#emp-9"},
        "employee_id": {"S": "e-9"},
        "nulled": {"S": None},
        "unknown": {"X": "1"},
        "two": {"S": "a", "N": "1"},
        "set_as_text": {"SS": "abc"},
        "set_with_null": {"NS": ["1", None]},
        "blobs": {"BS": ["AAE=", "cGF5"]},
        "deep": {"M": {"l": {"L": [{"M": {"b": {"B": "AAE="}, "n": {"NULL": True}}}]}}},
        "not_a_value": None,
    },
]


def _wire(body: dict) -> bytes:
    """A request body as botocore sends it: binary values in base64."""
    return json.dumps(body, default=lambda b: base64.b64encode(b).decode()).encode()


def test_a_request_parses_the_same_with_and_without_the_speedups():
    key = {"pk": {"S": "p"}, "employee_id": {"S": "e"}}
    update = {
        "TableName": TABLE,
        "Key": key,
        "UpdateExpression": "SET #s = :s",
        "ExpressionAttributeNames": {"#s": "s"},
        "ExpressionAttributeValues": {":s": {"S": "PAID"}, ":l": {"L": [{"N": "1"}]}},
    }
    puts = [{"PutRequest": {"Item": item}} for item in ODD_ITEMS]
    bodies = [("PutItem", {"TableName": TABLE, "Item": item}) for item in ODD_ITEMS] + [
        ("BatchWriteItem", {"RequestItems": {TABLE: puts}}),
        ("TransactWriteItems", {"TransactItems": [{"Update": update}]}),
        ("BatchGetItem", {"RequestItems": {TABLE: {"Keys": [key], "ConsistentRead": True}}}),
    ]
    plain, fast = _both_ways(lambda: [_parse_dynamodb(op, _wire(body)) for op, body in bodies])
    assert fast == plain
    item = plain[2]["Item"]
    # What moto's parser changes, it still changes: a null or unknown member dropped,
    # a binary value decoded, a "set" of text split.
    assert item["nulled"] == {} and item["unknown"] == {}
    assert item["set_as_text"] == {"SS": ["a", "b", "c"]}
    assert item["blobs"] == {"BS": [b"\x00\x01", b"pay"]}


def test_the_counters_parse_is_handed_to_moto_and_not_changed_by_it():
    body = _wire({"TableName": TABLE, "Item": _item(0, 1)})
    marked = {**json.loads(body), "TableName": "handed-over"}  # tells the two apart
    handed = json.loads(body)
    kept = json.loads(body)
    moto_speed.apply()
    try:
        with moto_speed.request_json_handed_over(body, marked):
            assert _parse_dynamodb("PutItem", body)["TableName"] == "handed-over"
            # Another body (moto decompressed it, say) is parsed as before.
            other = _parse_dynamodb("PutItem", body.replace(b"e-0001", b"e-0002"))
            assert other["TableName"] == TABLE
            assert other["Item"]["employee_id"] == {"S": "e-0002"}
        # Outside the block, nothing is handed over.
        assert _parse_dynamodb("PutItem", body)["TableName"] == TABLE
        with moto_speed.request_json_handed_over(body, handed):
            parsed = _parse_dynamodb("PutItem", body)
        parsed["Item"]["status"]["S"] = "CHANGED"  # moto's parse is moto's own
        parsed["Item"]["tags"]["SS"].append("more")
        parsed["Item"]["result"]["M"]["net"]["S"] = "0.00"
        assert handed == kept
    finally:
        moto_speed.undo()


def _typed(values: list) -> list:
    from moto.dynamodb.models.dynamo_type import DynamoType

    made = []
    for value in values:
        try:
            typed = DynamoType(value)
            made.append((typed.type, typed.to_json(), typed.cast_value, repr(typed)))
        except Exception as exc:  # the same failure both ways
            made.append(type(exc).__name__)
    return made


def test_typed_values_are_made_the_same_with_and_without_the_speedups():
    from collections import OrderedDict

    from moto.dynamodb.models.dynamo_type import DynamoType

    values = [
        *(dict([pair]) for pair in _item(0, 1).items() if pair[0] != "blob"),
        *_item(2, 2).values(),
        {"M": {"a": {"L": [{"M": {"b": {"NS": ["1", "2"]}}}, {"NULL": True}]}}},
        {"L": []},
        {"M": {}},
        {"S": "first", "N": "1"},  # moto takes the first entry
        {},
        OrderedDict([("N", "3")]),
        DynamoType({"S": "typed"}),
    ]
    plain, fast = _both_ways(_typed, values)
    assert fast == plain
    assert "IndexError" in plain  # an empty dict fails as moto fails


def test_sizes_are_the_same_with_and_without_the_speedups():
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    values = [
        {"S": "plain"},
        {"S": "ünïcödé €"},  # bytes, not characters
        {"N": "12345.678"},
        {"N": "-0.5"},
        {"B": b"\x00\x01binary"},
        {"B": "YmFzZTY0"},
        {"BOOL": True},
        {"NULL": True},
        {"SS": ["a", "bb"]},
        {"NS": ["1", "22"]},
        {"L": [{"S": "x"}, {"N": "1"}, {"L": [{"BOOL": False}]}]},
        {"M": {"a": {"L": [{"M": {"b": {"NS": ["1", "2"]}}}, {"NULL": True}]}, "é": {"S": "z"}}},
        {"M": {}},
        {"L": []},
    ]

    def sizes() -> list[int]:
        typed = [DynamoType(value) for value in values]
        item = Item({"S": "pk"}, None, {f"a{i}": value for i, value in enumerate(values)})
        return [t.size() for t in typed] + [item.size()]

    plain, fast = _both_ways(sizes)
    assert fast == plain
    assert plain[1] == len("ünïcödé €".encode())
