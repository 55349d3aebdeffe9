"""EmployerStatus and EmployeeStatus records and the order their states move in.

States only move forward (design.md 6): a conditional write allows a transition only
from the states listed in ``*_PREDECESSORS``, so a late or duplicate message can never
move a record back.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from payroll_shared.contracts.base import Contract
from payroll_shared.contracts.steps import StepError
from payroll_shared.names import Step


class EmployerState(StrEnum):
    BEGIN = "BEGIN"
    CALCULATED = "CALCULATED"
    NEEDS_REDRIVE = "NEEDS_REDRIVE"
    COMMITTED = "COMMITTED"
    PAID = "PAID"


class EmployeeState(StrEnum):
    BEGIN = "BEGIN"
    TIME_ENTERED = "TIME_ENTERED"
    GROSS_CALCULATED = "GROSS_CALCULATED"
    RETIREMENT_CALCULATED = "RETIREMENT_CALCULATED"
    CALCULATED = "CALCULATED"
    FAILED = "FAILED"
    COMMITTED = "COMMITTED"
    PAID = "PAID"


STEP_DONE_STATE: dict[Step, EmployeeState] = {
    Step.TIME_ENTRY: EmployeeState.TIME_ENTERED,
    Step.PAYROLL_CALC: EmployeeState.GROSS_CALCULATED,
    Step.RETIREMENT_CALC: EmployeeState.RETIREMENT_CALCULATED,
    Step.TAX_CALC: EmployeeState.CALCULATED,
}

_E = EmployeeState
EMPLOYEE_PREDECESSORS: dict[EmployeeState, frozenset[EmployeeState]] = {
    _E.BEGIN: frozenset(),
    _E.TIME_ENTERED: frozenset({_E.BEGIN, _E.FAILED}),
    _E.GROSS_CALCULATED: frozenset({_E.TIME_ENTERED, _E.FAILED}),
    _E.RETIREMENT_CALCULATED: frozenset({_E.GROSS_CALCULATED, _E.FAILED}),
    # The last step records the chunk's results at once (payroll_shared.steps): from
    # BEGIN, or FAILED on a redrive. The intermediate states are no longer written;
    # an item a former version left in one still moves on.
    _E.CALCULATED: frozenset(
        {_E.BEGIN, _E.TIME_ENTERED, _E.GROSS_CALCULATED, _E.RETIREMENT_CALCULATED, _E.FAILED}
    ),
    # A failure can happen at any step before the ledger commit; a redrive moves it on.
    _E.FAILED: frozenset(
        {_E.BEGIN, _E.TIME_ENTERED, _E.GROSS_CALCULATED, _E.RETIREMENT_CALCULATED, _E.FAILED}
    ),
    # The ledger commit is the employer's (EmployerStatus COMMITTED) and the ledger's:
    # EmployerValidation no longer writes COMMITTED per employee, so MoneyMovement
    # moves a paid employee from CALCULATED (or from a COMMITTED a former version left).
    _E.COMMITTED: frozenset({_E.CALCULATED}),
    _E.PAID: frozenset({_E.CALCULATED, _E.COMMITTED}),
}

_R = EmployerState
EMPLOYER_PREDECESSORS: dict[EmployerState, frozenset[EmployerState]] = {
    _R.BEGIN: frozenset(),
    _R.CALCULATED: frozenset({_R.BEGIN, _R.NEEDS_REDRIVE}),
    _R.NEEDS_REDRIVE: frozenset({_R.BEGIN, _R.NEEDS_REDRIVE}),
    _R.COMMITTED: frozenset({_R.BEGIN, _R.CALCULATED, _R.NEEDS_REDRIVE}),
    _R.PAID: frozenset({_R.COMMITTED}),
}


def employee_pk(pay_run_id: str, employer_id: str) -> str:
    """EmployeeStatus partition key: one partition per employer and pay run."""
    return f"{pay_run_id}#{employer_id}"


class EmployerStatusRecord(Contract):
    """EmployerStatus item. Key: (pay_run_id, employer_id)."""

    schema_version: Literal["1"] = "1"
    pay_run_id: str
    employer_id: str
    status: EmployerState
    employees: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    updated_at: datetime
    execution_arn: str | None = None


class EmployeeStatusRecord(Contract):
    """EmployeeStatus item. Key: (pk = pay_run_id#employer_id, employee_id).

    The item is also each step's idempotency record: the steps' results are stored on
    it in ``RESULTS_ATTRIBUTE`` (``stored_results`` reads them) by the write that moves
    the state to CALCULATED (``results`` here is the same, by step). A failure stores
    ``failed_step``, ``error_code``, ``error_message`` (``error`` here) and, for a data
    error, the fingerprint of the record that failed.
    """

    schema_version: Literal["3"] = "3"
    pk: str
    employee_id: str
    pay_run_id: str
    employer_id: str
    status: EmployeeState
    failed_step: Step | None = None
    error: StepError | None = None
    #: Status writes so far (every step outcome counts one).
    attempts: int = Field(default=0, ge=0)
    results: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime
    #: ``record_fingerprint`` of the record a step failed on (a data error only).
    failed_record_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    #: Which attempt at this pay run the employee is on: a redrive sets 2, 3, ...
    redrive_attempt: int | None = Field(default=None, ge=2)
    #: When the employee first failed in this pay run (kept across redrives).
    first_failed_at: datetime | None = None


#: EmployeeStatus keeps every step's result in this one attribute: the JSON object
#: ``{step: result}`` (sorted keys, no spaces), zlib-compressed, a Binary. About 350
#: bytes for the four results, where four JSON strings took about 950: with it the item
#: stays under 1 KB, so each write of it is one write unit, not two (README, scale).
RESULTS_ATTRIBUTE = "results_zlib"
#: A former version kept each step's result as a JSON string in ``result_<step>``.
LEGACY_RESULT_PREFIX = "result_"


class StoredResultsError(ValueError):
    """An EmployeeStatus item whose stored results cannot be read (names the attribute)."""


def pack_results(results: Mapping[str, Any]) -> bytes:
    """The value of ``RESULTS_ATTRIBUTE`` for ``results`` (step -> JSON-able result)."""
    text = json.dumps(results, sort_keys=True, separators=(",", ":"))
    return zlib.compress(text.encode(), 9)


def _attribute(value: Any, kind: str) -> Any:
    """An attribute value as the low-level client gives it (``{"B": ...}``), as boto3
    deserializes it (``Binary``, ``str``) or plain."""
    if isinstance(value, Mapping) and len(value) == 1 and kind in value:
        return value[kind]
    return getattr(value, "value", value)


def stored_results(item: Mapping[str, Any]) -> dict[str, Any]:
    """Every step result an EmployeeStatus item holds, by step value (``"tax_calc"``):
    from ``RESULTS_ATTRIBUTE``, and from the ``result_<step>`` strings of an item a former
    version wrote. ``item`` as the low-level client returns it or deserialized.
    ``StoredResultsError`` names the attribute that cannot be read."""
    results: dict[str, Any] = {}
    for name, value in item.items():
        if not name.startswith(LEGACY_RESULT_PREFIX):  # not results_zlib either
            continue
        raw = _attribute(value, "S")
        if not isinstance(raw, str):
            raise StoredResultsError(f"{name} is not a JSON string")
        try:
            results[name.removeprefix(LEGACY_RESULT_PREFIX)] = json.loads(raw)
        except ValueError as exc:
            raise StoredResultsError(f"{name} is not valid JSON") from exc
    if RESULTS_ATTRIBUTE in item:
        raw = _attribute(item[RESULTS_ATTRIBUTE], "B")
        try:
            packed = json.loads(zlib.decompress(bytes(raw)))
        except (TypeError, ValueError, zlib.error) as exc:
            raise StoredResultsError(
                f"{RESULTS_ATTRIBUTE} is not zlib-compressed JSON ({type(exc).__name__})"
            ) from exc
        if not isinstance(packed, dict):
            raise StoredResultsError(f"{RESULTS_ATTRIBUTE} is not a JSON object of results")
        results.update(packed)
    return results
