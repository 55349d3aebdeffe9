"""Handlers the local Lambda runtime tests invoke (imported inside its workers)."""

from __future__ import annotations

import os
import time
from typing import Any


def environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "greeting": os.environ.get("GREETING"),
        "function": context.function_name,
        "pid": os.getpid(),
        "parent": os.getppid(),
        "echo": event,
    }


def sleep(event: dict[str, Any], context: Any) -> str:
    time.sleep(float(event["seconds"]))
    return "woke"


def die(event: dict[str, Any], context: Any) -> str:
    os._exit(3)
