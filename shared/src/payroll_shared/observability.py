"""Powertools Logger, Tracer and Metrics, created once per service process.

A service module does ``logger, tracer, metrics = powertools("tax-calc")`` once and
imports those objects everywhere else. PII never reaches a log line: ``mask_pii``
replaces tax ids, bank account tokens and names before anything is logged.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = "Payroll"
_PII_KEYS = re.compile(
    r"(ssn|tax_id|tin|fein|bank|account|routing|first_name|last_name|birth_date|token)",
    re.IGNORECASE,
)
# Keys whose values identify work, not people, and are safe (and needed) in logs.
_SAFE_KEYS = frozenset({"task_token_hash", "employee_id", "employer_id", "pay_run_id"})


@cache
def powertools(service: str) -> tuple[Logger, Tracer, Metrics]:
    logger = Logger(service=service)
    tracer = Tracer(service=service)
    metrics = Metrics(service=service, namespace=NAMESPACE)
    return logger, tracer, metrics


def mask_pii(value: Any) -> Any:
    """A copy of ``value`` with every PII-named field replaced by ``"***"``."""
    if isinstance(value, dict):
        return {
            key: (
                "***"
                if isinstance(key, str) and key not in _SAFE_KEYS and _PII_KEYS.search(key)
                else mask_pii(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_pii(item) for item in value]
    return value
