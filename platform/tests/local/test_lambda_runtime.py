"""The local Lambda runtime: warm workers forked from a pre-imported zygote."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from payroll_platform.local.lambda_runtime import LambdaRuntime

HANDLERS = Path(__file__).parent / "handlers"


def _function(name: str, handler: str, timeout: int = 30, **env: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=name,
        handler=f"sample_handlers.{handler}",
        function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        memory_size=256,
        timeout=timeout,
        environment_vars=env,
    )


@pytest.fixture(params=[True, False], ids=["zygote", "own-interpreter"])
def runtime(request, monkeypatch, tmp_path):
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(HANDLERS), os.environ.get("PYTHONPATH", "")])
    )
    lambdas = LambdaRuntime(
        "http://127.0.0.1:1", log_path=tmp_path / "handlers.log", zygote=request.param
    )
    yield lambdas
    lambdas.shutdown()


def _answer(result: tuple[str, bool, str]) -> tuple[dict, bool]:
    payload, failed, _message = result
    return json.loads(payload), failed


def test_each_function_runs_with_its_own_environment_in_a_warm_worker(runtime):
    hello = _function("hello", "environment", GREETING="hello")
    bonjour = _function("bonjour", "environment", GREETING="bonjour")
    first, failed = _answer(runtime.invoke(hello, {"n": 1}))
    assert not failed
    assert first["greeting"] == "hello" and first["function"] == "hello"
    assert first["echo"] == {"n": 1}
    other, _ = _answer(runtime.invoke(bonjour, {}))
    assert other["greeting"] == "bonjour"
    again, _ = _answer(runtime.invoke(hello, {"n": 2}))
    assert again["pid"] == first["pid"]  # warm: the same execution environment
    assert other["pid"] != first["pid"]
    if runtime.use_zygote:
        # Forked from the zygote, which is not the runtime's own process.
        assert first["parent"] == other["parent"] != os.getpid()
    else:
        assert first["parent"] == os.getpid()


def test_a_worker_past_its_timeout_is_killed_and_the_next_call_starts_fresh(runtime):
    slow = _function("slow", "sleep", timeout=1)
    answer, failed = _answer(runtime.invoke(slow, {"seconds": 5}))
    assert failed and answer["errorType"] == "Sandbox.Timedout"
    assert runtime.stats.timeouts == 1
    answer, failed = _answer(runtime.invoke(slow, {"seconds": 0}))
    assert not failed and answer == "woke"


def test_a_worker_that_dies_mid_call_fails_that_call_only(runtime):
    dying = _function("dying", "die")
    answer, failed = _answer(runtime.invoke(dying, {}))
    assert failed and answer["errorType"] == "Sandbox.Timedout"
    hello = _function("hello", "environment", GREETING="still here")
    answer, failed = _answer(runtime.invoke(hello, {}))
    assert not failed and answer["greeting"] == "still here"


def test_prepare_starts_the_zygote_before_any_invocation(runtime):
    """The zygote's imports happen when the cloud starts (``prepare``), not in the first
    invocation; workers are forked from that one zygote. Without a zygote, nothing."""
    runtime.prepare()
    zygote = runtime._zygote
    if not runtime.use_zygote:
        assert zygote is None
        return
    assert zygote is not None and zygote.alive()
    answer, failed = _answer(runtime.invoke(_function("hello", "environment", GREETING="hi"), {}))
    assert not failed and answer["parent"] == zygote.process.pid
    runtime.prepare()
    assert runtime._zygote is zygote


def test_initialize_runs_the_init_phase_in_a_worker_kept_warm(runtime):
    """``initialize`` imports the handler in a new worker, which the first invocation
    then uses (not counted as an invocation); a handler that cannot be loaded leaves
    no worker, and its invocation fails as before."""
    hello = _function("hello", "environment", GREETING="hi")
    assert runtime.initialize(hello)
    assert runtime.stats.invocations == 0
    assert len(runtime._idle["hello"]) == 1
    warm = runtime._idle["hello"][0]
    answer, failed = _answer(runtime.invoke(hello, {}))
    assert not failed and answer["pid"] == warm.pid
    assert runtime.stats.invocations == 1
    missing = _function("missing", "no_such_handler")
    assert not runtime.initialize(missing)
    assert runtime._idle["missing"] == []
    answer, failed = _answer(runtime.invoke(missing, {}))
    assert failed and answer["errorType"] == "AttributeError"


def test_a_function_may_have_more_workers_than_the_rest():
    runtime = LambdaRuntime("http://127.0.0.1:1", max_concurrency=1)
    runtime.function_concurrency["payments"] = 2
    payments, other = runtime._slot("payments"), runtime._slot("other")
    assert payments.acquire(blocking=False) and payments.acquire(blocking=False)
    assert not payments.acquire(blocking=False)
    assert other.acquire(blocking=False) and not other.acquire(blocking=False)
