"""Payroll math: hours, gross pay, retirement, taxes and net pay (pure: no I/O but
its own rule tables, no AWS, no environment; ``Decimal`` only).

The public entry point is ``compute_paycheck``; ``calculate`` is the same computation
on plain dataclasses for callers that have already validated their input.
"""

from payroll_shared.calc.errors import (
    HoursError,
    NegativeNetPay,
    PaycheckError,
    UnknownTaxYear,
    UnsupportedState,
)
from payroll_shared.calc.paycheck import (
    Paycheck,
    PaycheckInput,
    PaycheckOutput,
    PaycheckRequest,
    calculate,
    compute_paycheck,
)
from payroll_shared.calc.tables import TaxYearTables, tables_for

__all__ = [
    "HoursError",
    "NegativeNetPay",
    "Paycheck",
    "PaycheckError",
    "PaycheckInput",
    "PaycheckOutput",
    "PaycheckRequest",
    "TaxYearTables",
    "UnknownTaxYear",
    "UnsupportedState",
    "calculate",
    "compute_paycheck",
    "tables_for",
]
