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
import sys
import time
import traceback
from typing import Any


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


def main() -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # handler prints go to the log
    handlers: dict[str, Any] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            handler = handlers.get(request["handler"])
            if handler is None:
                handler = handlers[request["handler"]] = _load(request["handler"])
            result = handler(request["event"], LocalContext(request["context"]))
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
