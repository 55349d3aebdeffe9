"""Run the real handlers behind moto's Lambda, without Docker.

moto invokes every function (API Invoke, Step Functions tasks, event sources) through
``LambdaFunction._invoke_lambda``. ``LambdaRuntime.install`` replaces that one method so
an invocation runs the deployed function's handler, with the deployed environment, in
a warm worker subprocess (``lambda_worker``), like a Lambda execution environment.
A worker that exceeds the function's timeout is killed, as Lambda does.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
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


def _python(args: list[str], env: dict[str, str], log: IO[bytes] | None) -> Any:
    """This interpreter in a child process, JSON lines on its stdin and stdout."""
    return subprocess.Popen(  # noqa: S603 - this interpreter, our own module
        [sys.executable, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        text=True,
        bufsize=1,
    )


class _Worker:
    """One execution environment: a process answering JSON lines on two pipes."""

    def __init__(self, pid: int, requests: IO[str], answers: IO[str], process: Any = None) -> None:
        self.pid = pid
        self.requests = requests
        self.answers = answers
        #: The Popen of a worker started on its own (no zygote), else None.
        self.process = process
        #: The function whose execution environment this is (set when it starts).
        self.function_name = ""
        self._ids = itertools.count()

    @classmethod
    def start(cls, env: dict[str, str], log: IO[bytes] | None) -> _Worker:
        """A worker of its own: a fresh interpreter that imports everything itself."""
        process = _python(["-m", "payroll_platform.local.lambda_worker"], env, log)
        assert process.stdin is not None and process.stdout is not None
        return cls(process.pid, process.stdin, process.stdout, process)

    def call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """Send one invocation; None if the worker died or exceeded the timeout."""
        request = {**request, "id": next(self._ids)}
        answer: list[str] = []

        def read() -> None:
            try:
                answer.append(self.answers.readline())
            except (OSError, ValueError):
                answer.append("")

        try:
            self.requests.write(json.dumps(request) + "\n")
            self.requests.flush()
        except (BrokenPipeError, OSError, ValueError):
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
        if self.process is not None:
            return bool(self.process.poll() is None)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)
        else:
            # The zygote's child: the kernel reaps it (the zygote ignores SIGCHLD).
            deadline = time.monotonic() + 10
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.01)
        for pipe in (self.requests, self.answers):
            with contextlib.suppress(OSError, ValueError):
                pipe.close()


class _Zygote:
    """A process that has imported what every handler imports and forks workers from
    itself (``lambda_worker.zygote``): a cold start costs a fork and the function's own
    modules instead of a whole interpreter's imports, and the workers share its pages."""

    def __init__(self, env: dict[str, str], log: IO[bytes] | None) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="payroll-lambda-"))
        self._count = itertools.count()
        self._lock = threading.Lock()
        self.process = _python(["-m", "payroll_platform.local.lambda_worker", "--zygote"], env, log)
        assert self.process.stdout is not None
        if not self.process.stdout.readline():
            raise RuntimeError("the Lambda zygote did not start (see the handler log)")

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, env: dict[str, str]) -> _Worker:
        assert self.process.stdin is not None and self.process.stdout is not None
        index = next(self._count)
        requests_path = self._folder / f"{index}.requests"
        answers_path = self._folder / f"{index}.answers"
        os.mkfifo(requests_path)
        os.mkfifo(answers_path)
        with self._lock:
            self.process.stdin.write(
                json.dumps(
                    {"env": env, "requests": str(requests_path), "answers": str(answers_path)}
                )
                + "\n"
            )
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the Lambda zygote died")
        pid = int(json.loads(line)["pid"])
        # Same order as the worker opens them, or both would wait forever.
        requests = requests_path.open("w", buffering=1, encoding="utf-8")
        answers = answers_path.open(encoding="utf-8")
        requests_path.unlink()
        answers_path.unlink()
        return _Worker(pid, requests, answers)

    def shutdown(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=10)
        shutil.rmtree(self._folder, ignore_errors=True)


class LambdaRuntime:
    """Warm workers per function; at most ``max_concurrency`` per function at once (or
    the function's own ``function_concurrency``)."""

    def __init__(
        self,
        endpoint_url: str,
        overrides: Mapping[str, str] | None = None,
        max_concurrency: int = 4,
        region: str = "us-east-1",
        log_path: Path | None = None,
        zygote: bool = True,
    ) -> None:
        #: Where the handlers' logs go (Lambda's CloudWatch Logs); None: this stderr.
        self._log = log_path.open("ab") if log_path is not None else None
        self.endpoint_url = endpoint_url
        self.overrides = dict(overrides or {})
        #: Per-function environment changes (fault injection in tests): name -> {var: value}.
        self.function_overrides: dict[str, dict[str, str]] = {}
        self.max_concurrency = max_concurrency
        #: Workers at most for these functions (by name), instead of ``max_concurrency``.
        self.function_concurrency: dict[str, int] = {}
        self.region = region
        self.stats = InvocationStats()
        self._idle: dict[str, list[_Worker]] = {}
        self._slots: dict[str, threading.Semaphore] = {}
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._original: Any = None
        #: Fork workers from one pre-imported process (False: a fresh interpreter each).
        self.use_zygote = zygote
        self._zygote: _Zygote | None = None

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
                workers = self.function_concurrency.get(name, self.max_concurrency)
                self._slots[name] = threading.Semaphore(workers)
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
                worker = self._start_worker(fn)
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

    def initialize(self, fn: LambdaFunction) -> bool:
        """Lambda's INIT phase ahead of any invocation, as with provisioned concurrency:
        one execution environment of ``fn`` imports its handler, makes its clients and
        is kept warm. Not an invocation (not counted); False if it failed (the first
        invocation then starts cold)."""
        name = fn.function_name
        with self._slot(name):
            worker = self._start_worker(fn)
            with self._lock:
                self._all.append(worker)
            answer = worker.call({"handler": fn.handler, "init": True}, float(fn.timeout))
            ready = answer is not None and bool(answer["ok"]) and worker.alive()
            with self._lock:
                if ready:
                    self._idle[name].append(worker)
        if not ready:
            worker.kill()
        return ready

    def _start_worker(self, fn: LambdaFunction) -> _Worker:
        """A cold start: forked from the zygote (``prepare`` started it, or this does if it
        is not running), or on its own."""
        env = self.environment(fn)
        worker = (
            _Worker.start(env, self._log)
            if not self.use_zygote
            else self._ready_zygote().spawn(env)
        )
        worker.function_name = fn.function_name
        return worker

    def _ready_zygote(self) -> _Zygote:
        with self._lock:
            if self._zygote is None or not self._zygote.alive():
                base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
                self._zygote = _Zygote({**base, "PYTHONUNBUFFERED": "1"}, self._log)
            return self._zygote

    def prepare(self) -> None:
        """Start the zygote now (while the stacks deploy), not on the first invocation:
        its imports are the local runtime's start-up, not any function's cold start."""
        if self.use_zygote:
            self._ready_zygote()

    def processes(self) -> dict[int, str]:
        """Every worker started (and the zygote): pid -> its function's name."""
        with self._lock:
            found = {worker.pid: worker.function_name for worker in self._all}
            if self._zygote is not None:
                found[self._zygote.process.pid] = "lambda-zygote"
        return found

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
        if self._zygote is not None:
            self._zygote.shutdown()
            self._zygote = None
        if self._log is not None:
            self._log.close()
