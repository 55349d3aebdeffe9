"""Settings a handler reads from its environment (set by its stack from SSM parameters)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from payroll_shared.names import Env


class MissingSetting(RuntimeError):
    """A handler was deployed without an environment variable it needs."""


def setting(name: Env, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    value = env.get(name.value)
    if not value:
        raise MissingSetting(f"environment variable {name.value} is not set")
    return value


def optional_setting(name: Env, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(name.value) or default
