"""moto made faster for large local pay runs answers exactly as moto does."""

from __future__ import annotations

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
