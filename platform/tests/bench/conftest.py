"""The benchmark commands end to end, each in its own process: a fresh local cloud
(moto, the Lambda and Step Functions hooks) that cannot meet the session's local cloud
of the other tests."""

import os
import subprocess
import sys

import pytest


@pytest.fixture
def payroll_cli(tmp_path):
    """Run ``payroll <args>`` with its cloud under ``tmp_path``; fail with its output."""

    def run(*args: str) -> None:
        completed = subprocess.run(
            [sys.executable, "-m", "payroll_platform.cli", "--run-dir", str(tmp_path / "cloud"),
             *args],
            capture_output=True,
            text=True,
            timeout=1500,
            env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        )  # fmt: skip
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    return run
