"""One Lambda execution environment: a subprocess that runs a real handler, warm.

The local runtime starts one per concurrent invocation of a function, with the
function's own environment (as deployed) plus ``AWS_ENDPOINT_URL`` pointing at the
local cloud. Requests and answers are JSON lines on a private pipe; anything the
handler prints goes to stderr, as Lambda sends it to its logs.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

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


def main() -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # handler prints go to the log
    handlers: dict[str, Any] = {}
    if os.environ.get(chaos.PLAN_ENV):
        _ledger_fault(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))
    for line in sys.stdin:
        request = json.loads(line)
        try:
            handler = handlers.get(request["handler"])
            if handler is None:
                handler = handlers[request["handler"]] = _load(request["handler"])
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


if __name__ == "__main__":
    main()
