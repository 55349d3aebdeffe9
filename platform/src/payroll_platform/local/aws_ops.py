"""Count the AWS requests the pipeline makes, where the local cloud serves them.

Every client of the local cloud (the handlers in their worker subprocesses, the
pollers, moto's Step Functions executor) talks to one moto server over HTTP, so one
WSGI middleware in front of it (``CountingApp``) sees every request. It records:

- each request by service and operation: the service from the SigV4 credential scope
  of the ``Authorization`` header, the operation from ``X-Amz-Target`` (JSON
  protocols: DynamoDB, Step Functions, SQS, SSM, KMS), the ``Action`` parameter
  (query protocols: SNS, STS, CloudFormation) or the method and path (REST: S3, Lambda);
- DynamoDB read and write request units, estimated from item sizes (moto's
  ``ConsumedCapacity`` is a constant, and the pipeline does not ask for it): a write
  costs ceil(size / 1 KB) units of the larger of the item before and after it (read
  back from moto's backend; a failed conditional write still costs; twice that per
  item of a TransactWriteItems, each item sized before and after), a read ceil(size
  / 4 KB) units of what it returned (a query or scan: of all items together), half of
  that when eventually consistent, twice that in a transaction;
- SQS and SNS billable requests: one per 64 KB chunk of a request's payload (a receive:
  of its response); receives that returned nothing are kept apart;
- S3 requests in the two price classes (PUT, COPY, POST, LIST / GET and the rest;
  DELETE is free).

Not HTTP, counted by hooks in the same process:

- Step Functions state transitions: moto's executor writes history events through
  ``EventManager.add_event``; distributed map iterations get their own (otherwise
  discarded) event manager, so counting at the class counts their states too. A
  transition is a ``*StateEntered`` event, plus each retry of a task (a scheduled
  attempt beyond the first of a task state entered);
- Lambda invocations and their duration: the local runtime's worker call (the
  handler, with whatever it imports on a first call; not the wait for a free worker,
  nor an INIT phase run ahead by ``LambdaRuntime.initialize``), billed per started
  millisecond at the function's configured memory.

Requests whose ``User-Agent`` carries ``OBSERVER_MARK`` (a benchmark watching the run,
``payroll`` reading reports) are counted apart and are not pipeline cost.

The counts are served at ``/_payroll/aws-ops`` on the moto endpoint (GET; POST
``/_payroll/aws-ops/reset`` zeroes them), so a cloud started by ``payroll local up``
can be read from another process.
"""

from __future__ import annotations

import io
import ipaddress
import json
import math
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from payroll_platform.local import moto_speed

#: A client whose user agent carries this is watching, not part of the pipeline.
OBSERVER_MARK = "payroll-observer"
#: Where the counts are served on the moto endpoint.
OPS_PATH = "/_payroll/aws-ops"

CHUNK_BYTES = 64 * 1024  # SQS and SNS bill each 64 KB chunk of a payload as a request
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096

#: SigV4 credential scope names that differ from the names used here.
_SERVICE_ALIASES = {"states": "stepfunctions", "execute-api": "apigateway"}
_DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan"})
_S3_PUT_CLASS = frozenset(
    {
        "PutObject",
        "CopyObject",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "ListBuckets",
        "ListMultipartUploads",
        "CreateBucket",
        "DeleteObjects",
    }
)
_S3_FREE = frozenset({"DeleteObject", "DeleteBucket", "AbortMultipartUpload"})


# -- classification (pure) -------------------------------------------------------------
def service_of(headers: Mapping[str, str]) -> str:
    """The service a request is for: the SigV4 credential scope
    (``Credential=AKID/date/region/service/aws4_request``), else the target's prefix."""
    authorization = headers.get("authorization", "")
    marker = "Credential="
    if marker in authorization:
        scope = authorization.split(marker, 1)[1].split(",", 1)[0].strip().split("/")
        if len(scope) >= 5:
            return _SERVICE_ALIASES.get(scope[3], scope[3])
    target = headers.get("x-amz-target", "")
    prefixes = {
        "DynamoDB": "dynamodb",
        "AWSStepFunctions": "stepfunctions",
        "AmazonSQS": "sqs",
        "AmazonSSM": "ssm",
        "TrentService": "kms",
        "Logs": "logs",
    }
    for prefix, service in prefixes.items():
        if target.startswith(prefix):
            return service
    return "unknown"


def _is_path_style(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name in {"localhost", ""} or name.startswith(("s3.", "s3-")):
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def s3_operation(method: str, path: str, query: str, headers: Mapping[str, str]) -> str:
    """GetObject, PutObject, ListObjectsV2, ... from an S3 REST request."""
    params = parse_qs(query, keep_blank_values=True)
    segments = [s for s in path.split("/") if s]
    if _is_path_style(headers.get("host", "")):
        has_bucket, has_key = bool(segments), len(segments) > 1
    else:
        has_bucket, has_key = True, bool(segments)
    if not has_bucket:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if has_key:
        if method == "GET":
            return "GetObject" if not params else f"GetObject{_subresource(params)}"
        if method == "HEAD":
            return "HeadObject"
        if method == "PUT":
            if "partNumber" in params:
                return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
            if "x-amz-copy-source" in headers:
                return "CopyObject"
            return "PutObject" if not params else f"PutObject{_subresource(params)}"
        if method == "POST":
            if "uploads" in params:
                return "CreateMultipartUpload"
            if "uploadId" in params:
                return "CompleteMultipartUpload"
            return "PostObject"
        if method == "DELETE":
            return "AbortMultipartUpload" if "uploadId" in params else "DeleteObject"
        return f"{method}Object"
    if method == "GET":
        if "versions" in params:
            return "ListObjectVersions"
        if "uploads" in params:
            return "ListMultipartUploads"
        if params.get("list-type") == ["2"]:
            return "ListObjectsV2"
        subresource = _subresource(params, ignore={"prefix", "delimiter", "max-keys", "marker"})
        return f"GetBucket{subresource}" if subresource else "ListObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        return f"PutBucket{_subresource(params)}" if params else "CreateBucket"
    if method == "POST" and "delete" in params:
        return "DeleteObjects"
    if method == "DELETE":
        return f"DeleteBucket{_subresource(params)}" if params else "DeleteBucket"
    return f"{method}Bucket"


def _subresource(params: Mapping[str, Any], ignore: frozenset[str] | set[str] = frozenset()) -> str:
    names = sorted(k for k in params if k not in ignore and not k.startswith("x-"))
    return "".join(n[:1].upper() + n[1:] for n in names[:1])


def lambda_operation(method: str, path: str) -> str:
    segments = [s for s in path.split("/") if s]
    if len(segments) >= 4 and segments[1] == "functions" and segments[3] == "invocations":
        return "Invoke" if segments[0] == "2015-03-31" else "InvokeAsync"
    if len(segments) == 3 and segments[1] == "functions" and method == "GET":
        return "GetFunction"
    if len(segments) == 2 and segments[1] == "functions" and method == "GET":
        return "ListFunctions"
    if len(segments) >= 2 and segments[1] == "event-source-mappings":
        return f"{method} event-source-mappings"
    return f"{method} /{'/'.join(segments[1:2])}"


def operation_of(
    service: str,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes | None,
) -> str:
    """The API operation of a request (``headers`` with lower-case names)."""
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    action = parse_qs(query).get("Action")
    if not action and body and "x-www-form-urlencoded" in headers.get("content-type", ""):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    if action:
        return action[0]
    if service == "s3":
        return s3_operation(method, path, query, headers)
    if service == "lambda":
        return lambda_operation(method, path)
    segments = [s for s in path.split("/") if s]
    return f"{method} /{segments[0] if segments else ''}"


# -- DynamoDB request units (pure) -------------------------------------------------------
def _number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0")
    return (len(digits) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size DynamoDB bills for one attribute value (DynamoDB JSON)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return len(raw) * 3 // 4 if isinstance(raw, str) else len(raw)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in raw)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in raw)
    if kind == "BS":
        return sum(len(v) * 3 // 4 for v in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    return len(json.dumps(raw))


def item_size(item: Mapping[str, Any]) -> int:
    """The size DynamoDB bills for an item: attribute names plus values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


@dataclass
class Units:
    read: float = 0.0
    write: float = 0.0


def dynamodb_units(
    operation: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any] | None,
    *,
    ok: bool,
    before: int | None = None,
    after: int | None = None,
    each_before: Sequence[int | None] = (),
    each_after: Sequence[int | None] = (),
) -> Units:
    """Request units of one DynamoDB call. ``before``/``after``: the written item's size
    before and after the call (None: absent or unknown); ``each_before``/``each_after``:
    the same for each item of a TransactWriteItems, in its order."""
    if operation in _DYNAMODB_WRITES:
        sizes = [before or 0, after or 0]
        if operation == "PutItem":
            sizes.append(item_size(request.get("Item", {})))
        return Units(write=write_units(max(sizes)))
    if operation == "TransactWriteItems":
        # Two units per 1 KB of the larger of each item before and after (a
        # ConditionCheck: of the item as it is), a cancelled transaction included (as
        # a failed conditional write is: counted, to err on the dear side).
        count = 0
        entries = request.get("TransactItems", [])
        for index, entry in enumerate(entries):
            put = entry.get("Put", {}).get("Item")
            sizes = [
                item_size(put) if put else 0,
                (each_before[index] or 0) if index < len(each_before) else 0,
                (each_after[index] or 0) if index < len(each_after) else 0,
            ]
            count += 2 * write_units(max(sizes))
        return Units(write=count)
    if not ok:
        return Units()  # a failed read is not billed (a failed write is)
    response = response or {}
    consistent = bool(request.get("ConsistentRead"))
    if operation == "GetItem":
        return Units(read=read_units(item_size(response.get("Item", {})), consistent))
    if operation in {"Query", "Scan"}:
        total = sum(item_size(i) for i in response.get("Items", []))
        return Units(read=read_units(total, consistent))
    if operation == "BatchGetItem":
        units = 0.0
        for table, items in response.get("Responses", {}).items():
            strong = bool(request.get("RequestItems", {}).get(table, {}).get("ConsistentRead"))
            units += sum(read_units(item_size(i), strong) for i in items)
        return Units(read=units)
    if operation == "BatchWriteItem":
        count = 0
        for requests in request.get("RequestItems", {}).values():
            for entry in requests:
                put = entry.get("PutRequest", {}).get("Item")
                count += write_units(item_size(put)) if put else 1
        return Units(write=count)
    if operation == "TransactGetItems":
        responses = response.get("Responses", [])
        return Units(
            read=sum(2 * read_units(item_size(r.get("Item", {})), True) for r in responses)
        )
    return Units()


def s3_price_class(operation: str) -> str:
    """``put`` (PUT, COPY, POST, LIST), ``free`` (DELETE) or ``get`` (GET and the rest)."""
    if operation in _S3_FREE:
        return "free"
    if operation in _S3_PUT_CLASS or operation.startswith(("PutBucket", "List")):
        return "put"
    return "get"


def chunks(size: int) -> int:
    return max(1, math.ceil(size / CHUNK_BYTES))


def sns_messages(operation: str, body: bytes | None) -> int:
    """Messages in an SNS publish (PublishBatch: one per entry)."""
    if operation != "PublishBatch" or not body:
        return 1
    params = parse_qs(body.decode("utf-8", "replace"))
    return max(1, sum(1 for k in params if k.startswith("PublishBatchRequestEntries.member.")
                      and k.endswith(".Id")))  # fmt: skip


# -- the counter -------------------------------------------------------------------------
@dataclass
class _LambdaUsage:
    memory_mb: int = 0
    invocations: int = 0
    billed_ms: int = 0
    #: First calls of a fresh worker: the handler module's imports run then (a cold start).
    cold_invocations: int = 0
    cold_billed_ms: int = 0


@dataclass
class _Counts:
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    observer: Counter[tuple[str, str]] = field(default_factory=Counter)
    dynamodb: dict[str, Units] = field(default_factory=dict)
    sqs_billable: int = 0
    sqs_empty_receives: int = 0
    sns_billable: int = 0
    s3: Counter[str] = field(default_factory=Counter)
    sfn_events: Counter[str] = field(default_factory=Counter)
    lambdas: dict[str, _LambdaUsage] = field(default_factory=dict)
    request_bytes: int = 0
    response_bytes: int = 0


#: Size in bytes of an item in a table (DynamoDB JSON key or whole item), None if absent.
ItemLookup = Callable[[str, Mapping[str, Any]], int | None]


class AwsOps:
    """Thread-safe counts of what the pipeline asked of AWS (see the module doc)."""

    def __init__(self, item_lookup: ItemLookup | None = None, log_path: Path | None = None):
        self.item_lookup = item_lookup
        #: The handlers' log file (Lambda's CloudWatch Logs); its growth is log ingestion.
        self.log_path = log_path
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._log_start = self._log_size()
        self._since = time.time()
        self._hooks: list[Callable[[], None]] = []

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size if self.log_path is not None else 0
        except OSError:
            return 0

    def reset(self) -> None:
        with self._lock:
            self._counts = _Counts()
            self._log_start = self._log_size()
            self._since = time.time()

    # -- recording ----------------------------------------------------------------------
    def record_request(
        self,
        service: str,
        operation: str,
        *,
        observer: bool = False,
        request_bytes: int = 0,
        response_bytes: int = 0,
        units: Units | None = None,
        empty_receive: bool = False,
        messages: int = 1,
    ) -> None:
        with self._lock:
            counts = self._counts
            if observer:
                counts.observer[service, operation] += 1
                return
            counts.requests[service, operation] += 1
            counts.request_bytes += request_bytes
            counts.response_bytes += response_bytes
            if units is not None and (units.read or units.write):
                total = counts.dynamodb.setdefault(operation, Units())
                total.read += units.read
                total.write += units.write
            if service == "sqs":
                counts.sqs_billable += chunks(max(request_bytes, response_bytes))
                counts.sqs_empty_receives += int(empty_receive)
            elif service == "sns" and operation in {"Publish", "PublishBatch"}:
                counts.sns_billable += messages * chunks(request_bytes // max(messages, 1))
            elif service == "s3":
                counts.s3[s3_price_class(operation)] += 1

    def record_sfn_event(self, event_type: str) -> None:
        with self._lock:
            self._counts.sfn_events[event_type] += 1

    def record_lambda(
        self, function: str, memory_mb: int, duration_s: float, *, cold: bool = False
    ) -> None:
        billed = max(1, math.ceil(duration_s * 1000))
        with self._lock:
            usage = self._counts.lambdas.setdefault(function, _LambdaUsage(memory_mb=memory_mb))
            usage.memory_mb = memory_mb
            usage.invocations += 1
            usage.billed_ms += billed
            if cold:
                usage.cold_invocations += 1
                usage.cold_billed_ms += billed

    # -- reading ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The counts since the last reset, as JSON-able data (see ``bench.cost``)."""
        with self._lock:
            counts = self._counts
            by_service: dict[str, dict[str, int]] = {}
            for (service, operation), n in sorted(counts.requests.items()):
                by_service.setdefault(service, {})[operation] = n
            observer: dict[str, dict[str, int]] = {}
            for (service, operation), n in sorted(counts.observer.items()):
                observer.setdefault(service, {})[operation] = n
            events = dict(sorted(counts.sfn_events.items()))
            entered = sum(n for t, n in events.items() if t.endswith("StateEntered"))
            scheduled = sum(
                n for t, n in events.items() if t in {"TaskScheduled", "LambdaFunctionScheduled"}
            )
            retries = max(0, scheduled - events.get("TaskStateEntered", 0))
            functions = {
                name: {
                    "invocations": u.invocations,
                    "memory_mb": u.memory_mb,
                    "billed_ms": u.billed_ms,
                    "gb_seconds": round(u.billed_ms / 1000 * u.memory_mb / 1024, 6),
                    "cold_invocations": u.cold_invocations,
                    "cold_billed_ms": u.cold_billed_ms,
                }
                for name, u in sorted(counts.lambdas.items())
            }
            dynamo = {
                op: {"read_units": u.read, "write_units": u.write}
                for op, u in sorted(counts.dynamodb.items())
            }
            return {
                "since_epoch_s": round(self._since, 3),
                "requests": by_service,
                "requests_total": sum(counts.requests.values()),
                "observer_requests": observer,
                "stepfunctions": {
                    "state_transitions": entered + retries,
                    "states_entered": entered,
                    "task_retries": retries,
                    "history_events": sum(events.values()),
                    "events": events,
                },
                "lambda": {
                    "invocations": sum(u.invocations for u in counts.lambdas.values()),
                    "gb_seconds": round(sum(f["gb_seconds"] for f in functions.values()), 6),
                    "cold_invocations": sum(u.cold_invocations for u in counts.lambdas.values()),
                    "cold_gb_seconds": round(
                        sum(
                            u.cold_billed_ms / 1000 * u.memory_mb / 1024
                            for u in counts.lambdas.values()
                        ),
                        6,
                    ),
                    "by_function": functions,
                },
                "dynamodb": {
                    "read_request_units": sum(u.read for u in counts.dynamodb.values()),
                    "write_request_units": sum(u.write for u in counts.dynamodb.values()),
                    "by_operation": dynamo,
                },
                "sqs": {
                    "requests": sum(by_service.get("sqs", {}).values()),
                    "billable_requests": counts.sqs_billable,
                    "empty_receives": counts.sqs_empty_receives,
                },
                "sns": {"billable_publishes": counts.sns_billable},
                "s3": {
                    "put_class_requests": counts.s3["put"],
                    "get_class_requests": counts.s3["get"],
                    "free_requests": counts.s3["free"],
                },
                "kms": {"requests": sum(by_service.get("kms", {}).values())},
                "logs": {"lambda_log_bytes": max(0, self._log_size() - self._log_start)},
                "bytes": {"request": counts.request_bytes, "response": counts.response_bytes},
            }

    # -- hooks in the local cloud's process --------------------------------------------
    def wrap_server(self, server: Any) -> None:
        """Put ``CountingApp`` in front of the WSGI app of the cloud's server
        (``http_server.LocalHttpServer``)."""
        if not isinstance(server.app, CountingApp):
            server.app = CountingApp(server.app, self)

    def install_hooks(self) -> None:
        """Count Step Functions history events and time Lambda handler calls."""
        from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

        from payroll_platform.local import lambda_runtime

        ops = self
        original_add_event = EventManager.add_event

        def add_event(manager: Any, context: Any, event_type: Any, *args: Any, **kw: Any) -> int:
            ops.record_sfn_event(str(getattr(event_type, "value", event_type)))
            result: int = original_add_event(manager, context, event_type, *args, **kw)
            return result

        original_call = lambda_runtime._Worker.call
        warm: weakref.WeakSet[Any] = weakref.WeakSet()

        def call(worker: Any, request: dict[str, Any], timeout_s: float) -> Any:
            cold = worker not in warm
            warm.add(worker)
            started = time.perf_counter()
            try:
                return original_call(worker, request, timeout_s)
            finally:
                context = request.get("context", {})
                ops.record_lambda(
                    str(context.get("function_name", "?")),
                    int(context.get("memory_mb") or 128),
                    time.perf_counter() - started,
                    cold=cold,
                )

        EventManager.add_event = add_event  # type: ignore[method-assign,assignment]
        lambda_runtime._Worker.call = call  # type: ignore[method-assign,assignment]

        def restore() -> None:
            EventManager.add_event = original_add_event  # type: ignore[method-assign]
            lambda_runtime._Worker.call = original_call  # type: ignore[method-assign]

        self._hooks.append(restore)

    def uninstall_hooks(self) -> None:
        while self._hooks:
            self._hooks.pop()()


def moto_item_lookup(account: str, region: str) -> ItemLookup:
    """Item sizes read from moto's DynamoDB backend (same process)."""

    def lookup(table_name: str, key_or_item: Mapping[str, Any]) -> int | None:
        from moto.dynamodb.models import dynamodb_backends

        try:
            backend = dynamodb_backends[account][region]
            table = backend.get_table(table_name)
            names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
            key = {n: key_or_item[n] for n in names if n in key_or_item}
            item = backend.get_item(table.name, key)
            return None if item is None else item_size(item.to_json()["Attributes"])
        except Exception:  # an unknown table or key: nothing to size
            return None

    return lookup


# -- the WSGI middleware -----------------------------------------------------------------
StartResponse = Callable[..., Any]


class CountingApp:
    """WSGI middleware: counts each request, then lets moto serve it."""

    def __init__(
        self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]], ops: AwsOps
    ):
        self.app = app
        self.ops = ops

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith(OPS_PATH):
            return self._serve_ops(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["content-type"] = str(environ.get("CONTENT_TYPE", ""))
        method = str(environ.get("REQUEST_METHOD", "GET"))
        query = str(environ.get("QUERY_STRING", ""))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        service = service_of(headers)
        wants_body = service == "dynamodb" or (
            "x-amz-target" not in headers and "x-www-form-urlencoded" in headers["content-type"]
        )
        body: bytes | None = None
        if wants_body and length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        operation = operation_of(service, method, path, query, headers, body)
        observer = OBSERVER_MARK in headers.get("user-agent", "")
        if observer:
            self.ops.record_request(service, operation, observer=True)
            return self.app(environ, start_response)

        status: list[str] = []
        response_headers: list[list[tuple[str, str]]] = []

        def capture(status_line: str, headers_list: list[tuple[str, str]], *rest: Any) -> Any:
            status.append(status_line)
            response_headers.append(headers_list)
            return start_response(status_line, headers_list, *rest)

        request_json: dict[str, Any] = {}
        before: int | None = None
        each_before: list[int | None] = []
        if service == "dynamodb" and body:
            try:
                request_json = json.loads(body)
            except ValueError:
                request_json = {}
            before = self._lookup(operation, request_json)
            each_before = self._lookup_each(operation, request_json)
        buffer = service == "dynamodb" or (service == "sqs" and operation == "ReceiveMessage")
        if request_json and body:
            # moto's parser takes this parse of the body instead of parsing it again.
            with moto_speed.request_json_handed_over(body, request_json):
                result = self.app(environ, capture)
        else:
            result = self.app(environ, capture)
        payload: bytes | None = None
        if buffer:
            try:
                payload = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            result = [payload]
        ok = bool(status) and status[0][:1] == "2"
        response_length = len(payload) if payload is not None else _content_length(response_headers)
        units: Units | None = None
        empty = False
        if service == "dynamodb":
            response_json: dict[str, Any] = {}
            if ok and payload:
                try:
                    response_json = json.loads(payload)
                except ValueError:
                    response_json = {}
            after = self._lookup(operation, request_json)
            units = dynamodb_units(
                operation,
                request_json,
                response_json,
                ok=ok,
                before=before,
                after=after,
                each_before=each_before,
                each_after=self._lookup_each(operation, request_json),
            )
        elif service == "sqs" and operation == "ReceiveMessage" and ok:
            empty = b'"Messages"' not in (payload or b"") and b"<Message>" not in (payload or b"")
        self.ops.record_request(
            service,
            operation,
            request_bytes=length,
            response_bytes=response_length,
            units=units,
            empty_receive=empty,
            messages=sns_messages(operation, body) if service == "sns" else 1,
        )
        return result

    def _lookup(self, operation: str, request: Mapping[str, Any]) -> int | None:
        if operation not in _DYNAMODB_WRITES:
            return None
        key = request.get("Item") if operation == "PutItem" else request.get("Key")
        return self._size(request.get("TableName"), key)

    def _size(self, table: Any, key: Any) -> int | None:
        if not key or not table or self.ops.item_lookup is None:
            return None
        return self.ops.item_lookup(str(table), key)

    def _lookup_each(self, operation: str, request: Mapping[str, Any]) -> list[int | None]:
        """The size of each item a TransactWriteItems names, in its order."""
        if operation != "TransactWriteItems":
            return []
        sizes: list[int | None] = []
        for entry in request.get("TransactItems", []):
            op = next(iter(entry.values()), {}) if isinstance(entry, dict) else {}
            key = op.get("Item") if "Put" in entry else op.get("Key")
            sizes.append(self._size(op.get("TableName"), key))
        return sizes

    def _serve_ops(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and str(environ["PATH_INFO"]).endswith("/reset"):
            self.ops.reset()
        body = json.dumps(self.ops.snapshot(), indent=2).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


def _content_length(headers: list[list[tuple[str, str]]]) -> int:
    for name, value in headers[0] if headers else []:
        if name.lower() == "content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
