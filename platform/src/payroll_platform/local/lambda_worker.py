"""One Lambda execution environment: a subprocess that runs a real handler, warm.

The local runtime starts one per concurrent invocation of a function, with the
function's own environment (as deployed) plus ``AWS_ENDPOINT_URL`` pointing at the
local cloud. Requests and answers are JSON lines on a private pipe; anything the
handler prints goes to stderr, as Lambda sends it to its logs.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from typing import IO, Any

from payroll_platform.local import faults as chaos


class LocalContext:
    """The parts of the Lambda context object Powertools and handlers use."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.function_name: str = spec["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = spec["function_arn"]
        self.memory_limit_in_mb: int = int(spec.get("memory_mb", 512))
        self.aws_request_id: str = spec["request_id"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + float(spec["timeout_s"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _load(handler: str) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def _sqs_batch_key(function_name: str, event: Any) -> str | None:
    """What names an SQS-triggered invocation (its message ids), or None for the rest."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return None
    records = event["Records"]
    if not records or any(r.get("eventSource") != "aws:sqs" for r in records):
        return None
    return f"{function_name}:" + ",".join(sorted(str(r.get("messageId")) for r in records))


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _ledger_fault(function_name: str) -> None:
    """With a fault plan, a ledger service's COMMIT may fail as if the connection dropped."""
    if not any(service in function_name for service in chaos.LEDGER_SERVICES):
        return
    from sqlalchemy import Engine, event
    from sqlalchemy.exc import OperationalError

    def on_commit(_connection: Any) -> None:
        faults = chaos.from_environment.current()
        if faults is not None and faults.draw(chaos.Point.LEDGER, f"{function_name}:commit"):
            raise OperationalError(
                "COMMIT", {}, ConnectionError("injected fault: connection dropped at commit")
            )

    event.listen(Engine, "commit", on_commit)


def invoke(handler: Any, event: Any, context: LocalContext) -> Any:
    """Run the handler, with the fault plan's invocation faults if there is one."""
    faults = chaos.from_environment.current()
    key = _sqs_batch_key(context.function_name, event) if faults is not None else None
    kind = faults.draw(chaos.Point.INVOCATION, key) if faults is not None and key else None
    if kind == "crash_before":
        raise RuntimeError("injected fault: crash before the handler ran")
    timer: threading.Timer | None = None
    if kind == "process_killed" and faults is not None and key is not None:
        timer = threading.Timer(2.0 * faults.uniform("kill", key), _kill_self)
        timer.start()
    result = handler(event, context)
    if timer is not None:
        timer.cancel()
        _kill_self()  # not killed yet: killed before it could answer
    if kind == "crash_after":
        raise RuntimeError("injected fault: crash after the handler ran, before it answered")
    return result


def _initialized() -> None:
    """The rest of an INIT phase, once the handler is imported: the AWS clients a
    handler keeps for the life of its environment (``payroll_shared.aws``)."""
    with contextlib.suppress(ImportError):
        from payroll_shared import aws

        for service in aws.SERVICES:
            aws.client(service)


def serve(requests: IO[str], protocol: IO[str]) -> None:
    """Answer invocation requests (JSON lines) until the runtime closes the pipe."""
    handlers: dict[str, Any] = {}
    if os.environ.get(chaos.PLAN_ENV):
        _ledger_fault(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))
    for line in requests:
        request = json.loads(line)
        try:
            handler = handlers.get(request["handler"])
            if handler is None:
                handler = handlers[request["handler"]] = _load(request["handler"])
            if request.get("init"):
                result = _initialized()
            else:
                result = invoke(handler, request["event"], LocalContext(request["context"]))
            answer = {"id": request["id"], "ok": True, "result": result}
        except Exception as exc:
            answer = {
                "id": request["id"],
                "ok": False,
                "error": {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exc().splitlines(),
                },
            }
        protocol.write(json.dumps(answer, default=str) + "\n")


def main() -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # handler prints go to the log
    serve(sys.stdin, protocol)


#: What every handler imports and nothing configures at import: loaded once by the
#: zygote, shared by every worker it forks (copy on write).
PRELOAD = (
    "boto3",
    "botocore.session",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.typing",
    "aws_xray_sdk.core",
    "sqlalchemy",
    "sqlalchemy.orm",
    "requests",
    "payroll_shared.contracts",
    "payroll_shared.calc",
    "payroll_shared.consumer",
    "payroll_shared.steps",
    "payroll_platform.db.repository",
)


def _worker(spawn: dict[str, Any]) -> None:
    """In a forked child: become one execution environment and serve until closed."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(spawn["env"])
    random.seed()  # not the zygote's sequence, shared by every sibling
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, sys.stdin.fileno())
    os.close(devnull)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # handler prints go to the log
    requests = open(spawn["requests"], encoding="utf-8")  # noqa: SIM115 - lives as long as we do
    protocol = open(spawn["answers"], "w", buffering=1, encoding="utf-8")  # noqa: SIM115
    serve(requests, protocol)


def zygote() -> None:
    """Import what every handler needs once (and read botocore's data files), then fork
    a worker per spawn request.

    A cold start becomes a fork and the import of the function's own modules, and the
    workers share the zygote's memory until they write to it. Requests and answers are
    JSON lines on stdin/stdout: ``{"env", "requests", "answers"}`` (two FIFOs the
    runtime made) -> ``{"pid"}``. Children are reaped by the kernel (SIGCHLD ignored).
    """
    for module in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    with contextlib.suppress(ImportError):
        from payroll_shared import aws

        aws.preload()  # botocore's data, parsed once for every worker
    # What the zygote loaded is never collected: out of the collector's sight, a worker's
    # collections neither walk it nor write to it, so its pages stay shared (Python's
    # advice for a process that forks without exec).
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    control = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    control.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        spawn = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                _worker(spawn)
            finally:
                os._exit(0)
        control.write(json.dumps({"pid": pid}) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        zygote()
    else:
        main()
