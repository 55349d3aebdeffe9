"""The shell entry point: migrate and seed a database from a URL."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from payroll_platform.db.cli import main


def test_seed_command_migrates_and_seeds(
    sqlite_url: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url("cli.sqlite")
    args = ["--url", url, "seed", "--pay-date", "2026-03-13", "--employers", "4"]
    assert main([*args, "--employees", "30"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["employers"], summary["employees"]) == (4, 30)
    assert summary["period_ends"]["monthly"] == "2026-02-28"

    assert main([*args, "--employees", "30"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped_employers"] == 4

    assert main(["--url", url, "migrate"]) == 0
    assert json.loads(capsys.readouterr().out) == {"revision": "0001"}
