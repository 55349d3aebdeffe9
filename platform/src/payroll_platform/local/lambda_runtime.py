"""Run the real handlers behind moto's Lambda, without Docker.

moto invokes every function (API Invoke, Step Functions tasks, event sources) through
``LambdaFunction._invoke_lambda``. ``LambdaRuntime.install`` replaces that one method so
an invocation runs the deployed function's handler, with the deployed environment, in
a warm worker subprocess (``lambda_worker``), like a Lambda execution environment.
A worker that exceeds the function's timeout is killed, as Lambda does.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from moto.awslambda.models import LambdaFunction

from payroll_platform.local.faults import HANDLER_APP_ID


@dataclass
class InvocationStats:
    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    by_function: dict[str, int] = field(default_factory=dict)


class _Worker:
    def __init__(self, env: dict[str, str], log: IO[bytes] | None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "payroll_platform.local.lambda_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
            bufsize=1,
        )
        self._ids = itertools.count()

    def call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """Send one invocation; None if the worker died or exceeded the timeout."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {**request, "id": next(self._ids)}
        answer: list[str] = []

        def read() -> None:
            assert self.process.stdout is not None
            answer.append(self.process.stdout.readline())

        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        if reader.is_alive() or not answer or not answer[0]:
            self.kill()
            return None
        result: dict[str, Any] = json.loads(answer[0])
        return result

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=10)


class LambdaRuntime:
    """Warm workers per function; at most ``max_concurrency`` per function at once."""

    def __init__(
        self,
        endpoint_url: str,
        overrides: Mapping[str, str] | None = None,
        max_concurrency: int = 4,
        region: str = "us-east-1",
        log_path: Path | None = None,
    ) -> None:
        #: Where the handlers' logs go (Lambda's CloudWatch Logs); None: this stderr.
        self._log = log_path.open("ab") if log_path is not None else None
        self.endpoint_url = endpoint_url
        self.overrides = dict(overrides or {})
        #: Per-function environment changes (fault injection in tests): name -> {var: value}.
        self.function_overrides: dict[str, dict[str, str]] = {}
        self.max_concurrency = max_concurrency
        self.region = region
        self.stats = InvocationStats()
        self._idle: dict[str, list[_Worker]] = {}
        self._slots: dict[str, threading.Semaphore] = {}
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._original: Any = None

    # -- moto integration -------------------------------------------------------------
    def install(self) -> None:
        runtime = self
        self._original = LambdaFunction._invoke_lambda

        def _invoke_lambda(fn: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return runtime.invoke(fn, event)

        LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            LambdaFunction._invoke_lambda = self._original  # type: ignore[method-assign]
            self._original = None

    # -- invocation -------------------------------------------------------------------
    def environment(self, fn: LambdaFunction) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env.update({str(k): str(v) for k, v in (fn.environment_vars or {}).items()})
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "PYTHONUNBUFFERED": "1",
                # Marks the handlers' requests (fault injection faults only those).
                "AWS_SDK_UA_APP_ID": HANDLER_APP_ID,
            }
        )
        env.update(self.overrides)
        env.update(self.function_overrides.get(fn.function_name, {}))
        return env

    def override(self, function_name: str, **variables: str) -> None:
        """Change a function's environment from its next cold start on."""
        self.function_overrides[function_name] = dict(variables)
        self.recycle(function_name)

    def _slot(self, name: str) -> threading.Semaphore:
        with self._lock:
            if name not in self._slots:
                self._slots[name] = threading.Semaphore(self.max_concurrency)
                self._idle[name] = []
            return self._slots[name]

    def invoke(self, fn: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        name = fn.function_name
        slot = self._slot(name)
        with slot:
            with self._lock:
                worker = self._idle[name].pop() if self._idle[name] else None
            if worker is None or not worker.alive():
                worker = _Worker(self.environment(fn), self._log)
                with self._lock:
                    self._all.append(worker)
            request = {
                "handler": fn.handler,
                "event": event,
                "context": {
                    "function_name": name,
                    "function_arn": fn.function_arn,
                    "memory_mb": fn.memory_size,
                    "request_id": str(uuid.uuid4()),
                    "timeout_s": float(fn.timeout),
                },
            }
            answer = worker.call(request, timeout_s=float(fn.timeout))
            with self._lock:
                self.stats.invocations += 1
                self.stats.by_function[name] = self.stats.by_function.get(name, 0) + 1
                if answer is not None and worker.alive():
                    self._idle[name].append(worker)
        if answer is None:
            with self._lock:
                self.stats.timeouts += 1
            error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}
            return json.dumps(error), True, "Task timed out"
        if answer["ok"]:
            return json.dumps(answer["result"]), False, ""
        with self._lock:
            self.stats.errors += 1
        return json.dumps(answer["error"]), True, answer["error"]["errorMessage"]

    def recycle(self, function_name: str | None = None) -> None:
        """Kill warm workers (all, or one function's) so the next invoke starts fresh."""
        with self._lock:
            victims = [
                w for name, ws in self._idle.items() if function_name in (None, name) for w in ws
            ]
            for name in list(self._idle):
                if function_name in (None, name):
                    self._idle[name] = []
        for worker in victims:
            worker.kill()

    def shutdown(self) -> None:
        self.uninstall()
        with self._lock:
            workers, self._all = self._all, []
            self._idle = {name: [] for name in self._idle}
        for worker in workers:
            if worker.alive():
                worker.kill()
        if self._log is not None:
            self._log.close()
