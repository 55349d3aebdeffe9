"""Fault injection for the local cloud: seeded, reproducible, off unless asked.

A chaos run (``payroll chaos``) writes a ``FaultPlan`` to a JSON file and points the
local cloud at it; every part of the cloud that can misbehave asks the plan, at its
own *point*, whether to inject a fault now and which:

==============  ============================================================  ==========
point           kinds (one is chosen when the point draws a fault)            where
==============  ============================================================  ==========
``invocation``  ``crash_before`` (the handler never ran), ``crash_after``     the Lambda
                (it ran, its side effects are done, it did not acknowledge:   worker, SQS
                the batch comes back and its tokens are answered twice or     events only
                late), ``process_killed`` (SIGKILL at a random moment of the
                invocation)
``delivery``    ``duplicate_delivery`` (processed, not deleted: it comes      the SQS
                back), ``concurrent_duplicate`` (the same batch to two        pollers
                invocations at once), ``out_of_order`` (one message held
                back behind later ones)
``token``       ``token_answer_lost`` (SendTaskSuccess/Failure answered 200,  the local
                never reaches Step Functions: the state times out)            endpoint
``aws``         ``aws_throttled`` (400 ProvisionedThroughputExceeded /        the local
                ThrottlingException, 503 SlowDown for S3), ``aws_5xx``        endpoint
                (500 InternalError): DynamoDB, S3 and SQS calls of handlers
``payment``     ``payment_5xx``, ``payment_timeout_before``,                  the payment
                ``payment_timeout_after_accept``, ``payment_accepted_then_500``  emulator
``ledger``      ``db_connection_dropped`` (the COMMIT of employer validation   the Lambda
                or money movement fails as if the connection dropped: the     worker
                transaction is rolled back)
``trigger``     ``trigger_killed`` (the trigger command killed mid-run, then   the chaos
                given again for the same period)                              driver
==============  ============================================================  ==========

Reproducible: a decision is a hash of (seed, point, key, n) where the key names what
is being done (the function and the batch's message ids, the operation and its
target) and n counts how often this process saw that key, so a retry of a faulted
request draws again rather than failing forever. The same seed gives the same
decisions for the same requests; thread scheduling can still reorder requests.

Every injected fault is appended (one JSON line: point, kind, key, pid) to the plan's
log, which the chaos report counts by kind. Requests of anything but a handler (the
pollers standing in for Lambda's event source mapping, moto's own Step Functions
executor, a benchmark or report watching) are never faulted: handlers' SDK clients
carry ``HANDLER_APP_ID`` in their user agent (``AWS_SDK_UA_APP_ID``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

#: Environment variable that points a process (a Lambda worker) at the plan file.
PLAN_ENV = "PAYROLL_FAULTS_FILE"
#: The user-agent app id of every handler's SDK clients in the local runtime.
HANDLER_APP_ID = "payroll-handler"


class Point(StrEnum):
    INVOCATION = "invocation"
    DELIVERY = "delivery"
    TOKEN = "token"  # noqa: S105 - a fault point's name, not a secret
    AWS = "aws"
    PAYMENT = "payment"
    LEDGER = "ledger"
    TRIGGER = "trigger"


KINDS: dict[Point, tuple[str, ...]] = {
    Point.INVOCATION: ("crash_before", "crash_after", "process_killed"),
    Point.DELIVERY: ("duplicate_delivery", "concurrent_duplicate", "out_of_order"),
    Point.TOKEN: ("token_answer_lost",),
    Point.AWS: ("aws_throttled", "aws_5xx"),
    Point.PAYMENT: (
        "payment_5xx",
        "payment_timeout_before",
        "payment_timeout_after_accept",
        "payment_accepted_then_500",
    ),
    Point.LEDGER: ("db_connection_dropped",),
    Point.TRIGGER: ("trigger_killed",),
}
ALL_KINDS: tuple[str, ...] = tuple(kind for kinds in KINDS.values() for kind in kinds)
#: The emulator's names for the payment kinds.
EMULATOR_KINDS = {
    "payment_5xx": "error_500",
    "payment_timeout_before": "timeout_before",
    "payment_timeout_after_accept": "accept_then_timeout",
    "payment_accepted_then_500": "accept_then_500",
}
#: The functions whose commits are the ledger's (their names carry the service).
LEDGER_SERVICES = ("employer-validation", "money-movement")


@dataclass
class FaultPlan:
    seed: int
    #: Probability that a point injects a fault each time it is asked.
    rate: float
    #: The log every process appends its injected faults to.
    log_path: str
    #: Kinds left out (e.g. a test that wants only payment faults).
    disabled: list[str] = field(default_factory=list)
    #: Per-point rates replacing ``rate``.
    point_rates: dict[str, float] = field(default_factory=dict)

    def rate_at(self, point: Point) -> float:
        return float(self.point_rates.get(point.value, self.rate))

    def kinds_at(self, point: Point) -> tuple[str, ...]:
        return tuple(kind for kind in KINDS[point] if kind not in self.disabled)

    def write(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> FaultPlan:
        return cls(**json.loads(path.read_text()))


def _uniform(*parts: object) -> float:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:13], 16) / float(16**13)


class Faults:
    """One process's view of a plan: the draws and the log."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._seen: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def draw(self, point: Point, key: str) -> str | None:
        """The kind of fault to inject at ``point`` for ``key`` now, or None."""
        kinds = self.plan.kinds_at(point)
        rate = self.plan.rate_at(point)
        if not kinds or rate <= 0:
            return None
        with self._lock:
            n = self._seen[(point.value, key)]
            self._seen[(point.value, key)] += 1
        if _uniform(self.plan.seed, point.value, key, n) >= rate:
            return None
        kind = kinds[int(_uniform(self.plan.seed, "kind", point.value, key, n) * len(kinds))]
        self.record(point, kind, key)
        return kind

    def uniform(self, *parts: object) -> float:
        """A reproducible number in [0, 1) for a detail of a fault (a delay, an index)."""
        return _uniform(self.plan.seed, *parts)

    def record(self, point: Point, kind: str, key: str) -> None:
        line = json.dumps(
            {"point": point.value, "kind": kind, "key": key[:200], "pid": os.getpid()}
        )
        descriptor = os.open(self.plan.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, (line + "\n").encode())
        finally:
            os.close(descriptor)


def injected(log_path: Path) -> dict[str, int]:
    """Faults injected so far, by kind (every kind listed, zeros included)."""
    counts = dict.fromkeys(ALL_KINDS, 0)
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            if line.strip():
                kind = json.loads(line)["kind"]
                counts[kind] = counts.get(kind, 0) + 1
    return counts


class PlanFile:
    """The plan in a file (none while there is no file), re-read when the file changes."""

    def __init__(self, path: Callable[[], str | None]) -> None:
        self._path = path
        self._stamp: float | None = None
        self._faults: Faults | None = None

    def __call__(self) -> Faults | None:
        return self.current()

    def current(self) -> Faults | None:
        name = self._path()
        if not name:
            return None
        try:
            stamp = os.stat(name).st_mtime
        except OSError:
            self._stamp, self._faults = None, None
            return None
        if stamp != self._stamp:
            self._stamp = stamp
            self._faults = Faults(FaultPlan.read(Path(name)))
        return self._faults


#: The plan a Lambda worker's environment names (``PLAN_ENV``).
from_environment = PlanFile(lambda: os.environ.get(PLAN_ENV))


# -- the endpoint: AWS errors and lost task-token answers ---------------------------------
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_TOKEN_OPERATIONS = frozenset({"SendTaskSuccess", "SendTaskFailure"})
_FAULTED_SERVICES = frozenset({"dynamodb", "s3", "sqs"})


def _json_error(status: str, code: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    short = code.rsplit("#", 1)[-1]  # what botocore matches its retry rules against
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-ErrorType", short),
        ("x-amzn-query-error", f"{short};Receiver"),
    ]
    return status, headers, body


def aws_error(service: str, kind: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The error response AWS gives for ``kind`` on ``service`` (botocore retries it)."""
    message = f"injected fault: {kind}"
    if service == "s3":
        code, status = (
            ("SlowDown", "503 Slow Down")
            if kind == "aws_throttled"
            else (
                "InternalError",
                "500 Internal Server Error",
            )
        )
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error>"
        ).encode()
        return status, [("Content-Type", "application/xml")], body
    if kind == "aws_throttled":
        code = (
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            if service == "dynamodb"
            else "ThrottlingException"
        )
        return _json_error("400 Bad Request", code, message)
    return _json_error("500 Internal Server Error", "InternalFailure", message)


class FaultApp:
    """WSGI middleware in front of moto: handler requests may be faulted."""

    def __init__(self, app: WsgiApp, faults: Callable[[], Faults | None]) -> None:
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from payroll_platform.local.aws_ops import operation_of, service_of

        faults = self.faults()
        agent = str(environ.get("HTTP_USER_AGENT", ""))
        if faults is None or f"app/{HANDLER_APP_ID}" not in agent:
            return self.app(environ, start_response)
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["content-type"] = str(environ.get("CONTENT_TYPE", ""))
        service = service_of(headers)
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", "GET"))
        query = str(environ.get("QUERY_STRING", ""))
        body: bytes | None = None
        if "x-amz-target" in headers or "x-www-form-urlencoded" in headers["content-type"]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        operation = operation_of(service, method, path, query, headers, body)
        if service == "stepfunctions" and operation in _TOKEN_OPERATIONS:
            digest = hashlib.sha256(body or b"").hexdigest()[:16]
            if faults.draw(Point.TOKEN, f"{operation}:{digest}"):
                start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
                return [b"{}"]
        elif service in _FAULTED_SERVICES:
            kind = faults.draw(Point.AWS, f"{service}:{operation}:{path}")
            if kind is not None:
                status, response_headers, payload = aws_error(service, kind)
                start_response(status, response_headers)
                return [payload]
        return self.app(environ, start_response)


def emulator_config(plan: FaultPlan, delay_s: float) -> dict[str, Any]:
    """The payment emulator's fault configuration for a plan (``POST /v1/_faults``)."""
    kinds = plan.kinds_at(Point.PAYMENT)
    rate = plan.rate_at(Point.PAYMENT)
    return {
        "seed": plan.seed,
        "rates": {EMULATOR_KINDS[k]: rate / len(kinds) for k in kinds} if kinds else {},
        "delay_s": delay_s,
    }
