"""Builders of valid contract payloads for tests (override any field)."""

from typing import Any


def employee_record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema_version": "1",
        "employee_id": "e1",
        "employer_id": "er1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "birth_date": "1985-12-10",
        "pay_type": "hourly",
        "pay_frequency": "biweekly",
        "hourly_rate": "25.00",
        "work_state": "TX",
        "w4": {"form_year": 2024, "filing_status": "single"},
        "bank_account_token": "tok_0001",
    }
    record.update(overrides)
    return record


def step_request(step: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": "3",
        "step": step,
        "task_token": "token-1",
        "pay_run": {
            "pay_run_id": "pr-biweekly-2026-11-27",
            "pay_schedule": "biweekly",
            "period_start": "2026-11-14",
            "period_end": "2026-11-27",
            "pay_date": "2026-11-27",
        },
        "employer_id": "er1",
        "chunk_id": "er1-0",
        "items": [{"employee_id": "e1", "record": employee_record(), "results": {}}],
    }
    body.update(overrides)
    return body
