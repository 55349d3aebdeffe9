"""Request classification and DynamoDB units: what the local cloud counts (no network)."""

import io
import json

import pytest

from payroll_platform.local.aws_ops import (
    OBSERVER_MARK,
    AwsOps,
    CountingApp,
    Units,
    dynamodb_units,
    item_size,
    operation_of,
    s3_operation,
    s3_price_class,
    service_of,
    sns_messages,
    value_size,
)


def auth(service: str) -> dict[str, str]:
    return {
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc"
        )
    }


@pytest.mark.parametrize(
    ("scope", "service"),
    [
        ("dynamodb", "dynamodb"),
        ("states", "stepfunctions"),
        ("sqs", "sqs"),
        ("s3", "s3"),
        ("lambda", "lambda"),
        ("sns", "sns"),
    ],
)
def test_service_from_the_credential_scope(scope, service):
    assert service_of(auth(scope)) == service


def test_service_from_the_target_without_a_signature():
    assert service_of({"x-amz-target": "DynamoDB_20120810.GetItem"}) == "dynamodb"
    assert service_of({}) == "unknown"


@pytest.mark.parametrize(
    ("target", "operation"),
    [
        ("DynamoDB_20120810.UpdateItem", "UpdateItem"),
        ("AWSStepFunctions.SendTaskSuccess", "SendTaskSuccess"),
        ("AmazonSQS.ReceiveMessage", "ReceiveMessage"),
        ("TrentService.Decrypt", "Decrypt"),
    ],
)
def test_json_protocols_name_the_operation_in_the_target(target, operation):
    headers = {**auth("x"), "x-amz-target": target}
    assert operation_of("x", "POST", "/", "", headers, b"{}") == operation


def test_query_protocols_name_the_action_in_the_form_body():
    headers = {**auth("sns"), "content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    body = b"Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3A..."
    assert operation_of("sns", "POST", "/", "", headers, body) == "Publish"
    assert operation_of("sts", "GET", "/", "Action=GetCallerIdentity", {}, None) == (
        "GetCallerIdentity"
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "extra", "operation"),
    [
        ("GET", "/bucket/pay-runs/pr/employers.json", "", {}, "GetObject"),
        ("GET", "/bucket/pay-runs/pr/employers.json", "x-id=GetObject", {}, "GetObject"),
        ("PUT", "/bucket/pay-runs/pr/chunks.json", "x-id=PutObject", {}, "PutObject"),
        ("PUT", "/bucket/key", "", {"x-amz-copy-source": "/bucket/other"}, "CopyObject"),
        ("HEAD", "/bucket/key", "", {}, "HeadObject"),
        ("DELETE", "/bucket/key", "", {}, "DeleteObject"),
        ("GET", "/bucket", "list-type=2&prefix=pay-runs", {}, "ListObjectsV2"),
        ("GET", "/bucket", "", {}, "ListObjects"),
        ("PUT", "/bucket", "", {}, "CreateBucket"),
        ("POST", "/bucket/key", "uploads", {}, "CreateMultipartUpload"),
        ("PUT", "/bucket/key", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("POST", "/bucket", "delete", {}, "DeleteObjects"),
        ("GET", "/", "", {}, "ListBuckets"),
    ],
)
def test_s3_operations_path_style(method, path, query, extra, operation):
    headers = {**auth("s3"), "host": "127.0.0.1:5000", **extra}
    assert operation_of("s3", method, path, query, headers, None) == operation


def test_s3_operations_virtual_host_style():
    headers = {"host": "my-bucket.localhost:5000"}
    assert s3_operation("GET", "/pay-runs/a.json", "", headers) == "GetObject"
    assert s3_operation("GET", "/", "list-type=2", headers) == "ListObjectsV2"


@pytest.mark.parametrize(
    ("operation", "price_class"),
    [
        ("PutObject", "put"),
        ("CopyObject", "put"),
        ("ListObjectsV2", "put"),
        ("CompleteMultipartUpload", "put"),
        ("GetObject", "get"),
        ("HeadObject", "get"),
        ("DeleteObject", "free"),
    ],
)
def test_s3_price_classes(operation, price_class):
    assert s3_price_class(operation) == price_class


def test_lambda_rest_paths():
    path = "/2015-03-31/functions/PayrollLocalTaxCalc-Consumer/invocations"
    assert operation_of("lambda", "POST", path, "", auth("lambda"), b"{}") == "Invoke"
    assert operation_of("lambda", "GET", "/2015-03-31/functions/f", "", auth("lambda"), None) == (
        "GetFunction"
    )


def test_sns_publish_batch_counts_its_entries():
    body = (
        b"Action=PublishBatch&PublishBatchRequestEntries.member.1.Id=a"
        b"&PublishBatchRequestEntries.member.1.Message=x"
        b"&PublishBatchRequestEntries.member.2.Id=b&PublishBatchRequestEntries.member.2.Message=y"
    )
    assert sns_messages("PublishBatch", body) == 2
    assert sns_messages("Publish", b"Action=Publish") == 1


# -- DynamoDB sizes and units ---------------------------------------------------------------
def test_item_sizes_follow_dynamodbs_rules():
    assert value_size({"S": "héllo"}) == 6  # UTF-8 bytes
    assert value_size({"N": "123.45"}) == 4  # (5 significant digits + 1) // 2 + 1
    assert value_size({"BOOL": True}) == 1
    assert value_size({"NULL": True}) == 1
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert item_size({"pk": {"S": "abc"}, "n": {"N": "7"}}) == 2 + 3 + 1 + 2


def test_writes_cost_one_unit_per_started_kilobyte_of_the_larger_image():
    small = {"TableName": "t", "Item": {"pk": {"S": "a"}}}
    assert dynamodb_units("PutItem", small, None, ok=True) == Units(write=1)
    big = {"TableName": "t", "Item": {"pk": {"S": "a"}, "blob": {"S": "x" * 2100}}}
    assert dynamodb_units("PutItem", big, None, ok=True) == Units(write=3)
    # An update: the item after it (read back from the table) decides.
    update = {"TableName": "t", "Key": {"pk": {"S": "a"}}}
    assert dynamodb_units("UpdateItem", update, {}, ok=True, before=900, after=1500) == Units(
        write=2
    )
    # A failed conditional write is still billed.
    assert dynamodb_units("UpdateItem", update, {}, ok=False, before=100, after=100) == Units(
        write=1
    )
    assert dynamodb_units("DeleteItem", update, {}, ok=True, before=5000, after=None) == Units(
        write=5
    )


def test_reads_cost_half_a_unit_per_4kb_unless_consistent():
    item = {"pk": {"S": "a"}, "blob": {"S": "x" * 5000}}
    request = {"TableName": "t", "Key": {"pk": {"S": "a"}}}
    assert dynamodb_units("GetItem", request, {"Item": item}, ok=True) == Units(read=1.0)
    consistent = {**request, "ConsistentRead": True}
    assert dynamodb_units("GetItem", consistent, {"Item": item}, ok=True) == Units(read=2.0)
    assert dynamodb_units("GetItem", request, {}, ok=True) == Units(read=0.5)  # a miss
    # A query is billed on all items returned together, not per item.
    items = [{"pk": {"S": "a"}, "v": {"S": "x" * 900}} for _ in range(8)]  # ~7.2 KB
    query = {"TableName": "t", "ConsistentRead": True}
    assert dynamodb_units("Query", query, {"Items": items}, ok=True) == Units(read=2.0)
    assert dynamodb_units("Query", query, {}, ok=False) == Units()


def test_batch_and_transaction_units():
    put = {"PutRequest": {"Item": {"pk": {"S": "a"}}}}
    delete = {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}
    batch = {"RequestItems": {"t": [put, put, delete]}}
    assert dynamodb_units("BatchWriteItem", batch, {}, ok=True) == Units(write=3)
    transaction = {"TransactItems": [{"Put": {"Item": {"pk": {"S": "a"}}}}, {"Update": {}}]}
    assert dynamodb_units("TransactWriteItems", transaction, {}, ok=True) == Units(write=4)
    # Twice the units of each item's larger image, cancelled or not: 2 x (1 + 2 + 3).
    sized = {**transaction, "TransactItems": [*transaction["TransactItems"], {"Delete": {}}]}
    for ok in (True, False):
        units = dynamodb_units(
            "TransactWriteItems",
            sized,
            {},
            ok=ok,
            each_before=[None, 1500, 2500],
            each_after=[900, 1900, None],
        )
        assert units == Units(write=12)


def test_the_middleware_sizes_each_item_of_a_transaction():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"{}"]

    sizes = iter([1500, None, 1800, 700])  # before a and b, then after them
    calls = []

    def lookup(table, key):
        calls.append((table, key))
        return next(sizes)

    ops = AwsOps(item_lookup=lookup)
    update = {"Update": {"TableName": "status", "Key": {"pk": {"S": "a"}}}}
    put = {"Put": {"TableName": "status", "Item": {"pk": {"S": "b"}, "v": {"S": "x"}}}}
    body = json.dumps({"TransactItems": [update, put]}).encode()
    headers = {
        **auth("dynamodb"),
        "x-amz-target": "DynamoDB_20120810.TransactWriteItems",
        "content-type": "application/x-amz-json-1.0",
    }
    list(CountingApp(app, ops)(_environ("POST", "/", headers, body), lambda *a: None))
    assert [key for _, key in calls] == [{"pk": {"S": "a"}}, put["Put"]["Item"]] * 2
    # a: 2 x ceil(1800 / 1024) = 4; b: 2 x 1 = 2.
    assert ops.snapshot()["dynamodb"]["write_request_units"] == 6


# -- the counter and the middleware -----------------------------------------------------------
def test_counts_by_service_and_operation_and_keeps_observers_apart():
    ops = AwsOps()
    ops.record_request("sqs", "SendMessage", request_bytes=70 * 1024)
    ops.record_request("sqs", "ReceiveMessage", response_bytes=10, empty_receive=True)
    ops.record_request("sqs", "GetQueueAttributes", observer=True)
    ops.record_request("s3", "PutObject")
    ops.record_request("s3", "GetObject")
    ops.record_request("sns", "Publish", request_bytes=100)
    ops.record_request("dynamodb", "PutItem", units=Units(write=2))
    ops.record_sfn_event("TaskStateEntered")
    ops.record_sfn_event("TaskScheduled")
    ops.record_sfn_event("TaskScheduled")  # a retry
    ops.record_sfn_event("ChoiceStateEntered")
    ops.record_lambda("f", 512, 0.0004, cold=True)
    ops.record_lambda("f", 512, 1.0)
    snapshot = ops.snapshot()
    assert snapshot["requests"]["sqs"] == {"ReceiveMessage": 1, "SendMessage": 1}
    assert snapshot["observer_requests"] == {"sqs": {"GetQueueAttributes": 1}}
    assert snapshot["sqs"] == {"requests": 2, "billable_requests": 3, "empty_receives": 1}
    assert snapshot["s3"] == {"put_class_requests": 1, "get_class_requests": 1, "free_requests": 0}
    assert snapshot["sns"] == {"billable_publishes": 1}
    assert snapshot["dynamodb"]["write_request_units"] == 2
    assert snapshot["stepfunctions"]["state_transitions"] == 3  # two entered, one retry
    assert snapshot["lambda"]["invocations"] == 2
    assert snapshot["lambda"]["cold_invocations"] == 1
    assert snapshot["lambda"]["by_function"]["f"]["billed_ms"] == 1001
    assert snapshot["lambda"]["gb_seconds"] == pytest.approx(1.001 * 0.5)
    ops.reset()
    assert ops.snapshot()["requests_total"] == 0


def _environ(method, path, headers, body=b"", query=""):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": headers.pop("content-type", ""),
        "wsgi.input": io.BytesIO(body),
    }
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    return environ


def test_the_middleware_counts_and_passes_the_body_on():
    seen = {}

    def app(environ, start_response):
        seen["body"] = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [("Content-Length", "2")])
        return [b"{}"]

    sizes = {"before": 100, "after": 1500}
    calls = []

    def lookup(table, key):
        calls.append((table, key))
        return sizes["before"] if len(calls) == 1 else sizes["after"]

    ops = AwsOps(item_lookup=lookup)
    middleware = CountingApp(app, ops)
    body = json.dumps({"TableName": "status", "Key": {"pk": {"S": "a"}}}).encode()
    headers = {
        **auth("dynamodb"),
        "x-amz-target": "DynamoDB_20120810.UpdateItem",
        "content-type": "application/x-amz-json-1.0",
    }
    assert list(middleware(_environ("POST", "/", headers, body), lambda *a: None)) == [b"{}"]
    assert seen["body"] == body
    assert calls == [("status", {"pk": {"S": "a"}})] * 2
    # An observer's request is passed on and counted apart.
    observer = {**auth("sqs"), "x-amz-target": "AmazonSQS.GetQueueAttributes"}
    observer["user-agent"] = f"Boto3/1.0 {OBSERVER_MARK}"
    list(middleware(_environ("POST", "/", observer, b"{}"), lambda *a: None))
    snapshot = ops.snapshot()
    assert snapshot["requests"] == {"dynamodb": {"UpdateItem": 1}}
    assert snapshot["dynamodb"]["write_request_units"] == 2
    assert snapshot["observer_requests"] == {"sqs": {"GetQueueAttributes": 1}}


def test_the_middleware_serves_the_counts():
    ops = AwsOps()
    ops.record_request("sns", "Publish")
    middleware = CountingApp(lambda e, s: [b""], ops)
    started = []
    body = b"".join(middleware(_environ("GET", "/_payroll/aws-ops", {}), lambda *a: started))
    assert json.loads(body)["requests"] == {"sns": {"Publish": 1}}
    middleware(_environ("POST", "/_payroll/aws-ops/reset", {}), lambda *a: None)
    assert ops.snapshot()["requests_total"] == 0


def test_empty_receives_are_recognised():
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"{}"]

    ops = AwsOps()
    headers = {**auth("sqs"), "x-amz-target": "AmazonSQS.ReceiveMessage"}
    list(CountingApp(app, ops)(_environ("POST", "/", dict(headers), b"{}"), lambda *a: None))

    def full(environ, start_response):
        start_response("200 OK", [])
        return [b'{"Messages": [{"Body": "x"}]}']

    list(CountingApp(full, ops)(_environ("POST", "/", dict(headers), b"{}"), lambda *a: None))
    assert ops.snapshot()["sqs"]["empty_receives"] == 1
    assert ops.snapshot()["requests"]["sqs"]["ReceiveMessage"] == 2
