"""The employee record as GetEmployees writes it, and its parts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from payroll_shared.contracts.base import Contract, Part
from payroll_shared.money import Money, Quantity
from payroll_shared.payrun import PayFrequency


class PayType(StrEnum):
    SALARY = "salary"
    HOURLY = "hourly"


class OvertimeRule(StrEnum):
    FLSA = "flsa"
    CALIFORNIA = "california"


class FilingStatus(StrEnum):
    SINGLE = "single"
    MARRIED_FILING_JOINTLY = "married_filing_jointly"
    MARRIED_FILING_SEPARATELY = "married_filing_separately"
    HEAD_OF_HOUSEHOLD = "head_of_household"


class MatchFormula(StrEnum):
    NONE = "none"
    SAFE_HARBOR_BASIC = "safe_harbor_basic"
    FLAT_PERCENT = "flat_percent"


class W4(Part):
    """Form W-4. ``form_year`` 2020 or later uses Steps 2-4; earlier forms use allowances."""

    form_year: int = Field(ge=1987, le=2100)
    filing_status: FilingStatus
    step2_checkbox: bool = False
    step3_credits: Money = Decimal("0.00")
    step4a_other_income: Money = Decimal("0.00")
    step4b_deductions: Money = Decimal("0.00")
    step4c_extra_withholding: Money = Decimal("0.00")
    allowances: int | None = Field(default=None, ge=0, le=99)

    @field_validator(
        "step3_credits",
        "step4a_other_income",
        "step4b_deductions",
        "step4c_extra_withholding",
        mode="after",
    )
    @classmethod
    def _not_negative(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        # The form's amounts are never negative (the paycheck command's W-4 says so
        # too): a negative Step 4(c) would withhold less than zero and pay out tax.
        if value < 0:
            raise ValueError(f"{info.field_name} must not be negative, got {value}")
        return value

    @model_validator(mode="after")
    def _form_fields(self) -> W4:
        if self.form_year < 2020 and self.allowances is None:
            raise ValueError("allowances is required on a W-4 from before 2020")
        return self


class RetirementElection(Part):
    """401(k) election: a percentage of eligible pay or a flat amount per period."""

    deferral_percent: Quantity | None = None
    deferral_amount: Money | None = None
    roth: bool = False
    match_formula: MatchFormula = MatchFormula.NONE
    match_percent: Quantity | None = None
    match_cap_percent: Quantity | None = None

    @model_validator(mode="after")
    def _one_deferral(self) -> RetirementElection:
        if self.deferral_percent is not None and self.deferral_amount is not None:
            raise ValueError("deferral_percent and deferral_amount are exclusive")
        if self.deferral_percent is not None and not 0 <= self.deferral_percent <= 100:
            raise ValueError("deferral_percent must be between 0 and 100")
        return self


#: The largest pay rates the employees table's columns hold (NUMERIC(12, 2) and
#: NUMERIC(10, 4), whole cents): a larger one can only come from a database that does
#: not enforce column precision, and is never a rate to pay.
MAX_PAY_RATES = {"annual_salary": Decimal("9999999999.99"), "hourly_rate": Decimal("999999.99")}


class EmployeeRecord(Contract):
    """One employee as the pay run sees it (the ``record`` of a work item)."""

    schema_version: Literal["1"] = "1"
    employee_id: str = Field(min_length=1, max_length=64)
    employer_id: str = Field(min_length=1, max_length=64)
    first_name: str = Field(min_length=1, max_length=200)
    last_name: str = Field(min_length=1, max_length=200)
    birth_date: date
    pay_type: PayType
    pay_frequency: PayFrequency
    # validate_default: a missing rate is checked too, so the error's location names it.
    annual_salary: Money | None = Field(default=None, validate_default=True)
    hourly_rate: Money | None = Field(default=None, validate_default=True)
    flsa_exempt: bool = False
    overtime_rule: OvertimeRule = OvertimeRule.FLSA
    work_state: str = Field(pattern=r"^[A-Z]{2}$")
    w4: W4
    state_withholding: dict[str, str] = Field(default_factory=dict)
    retirement: RetirementElection = Field(default_factory=RetirementElection)
    section125_per_period: Money = Decimal("0.00")
    bank_account_token: str = Field(min_length=1, max_length=128)

    @field_validator("annual_salary", "hourly_rate", mode="after")
    @classmethod
    def _pay_rate(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        needed = {"annual_salary": PayType.SALARY, "hourly_rate": PayType.HOURLY}[
            str(info.field_name)
        ]
        if info.data.get("pay_type") is needed:
            if value is None:
                raise ValueError(f"{info.field_name} is required for a {needed.value} employee")
            if value <= 0:
                raise ValueError(f"{info.field_name} must be positive")
        limit = MAX_PAY_RATES[str(info.field_name)]
        if value is not None and value > limit:
            # SQLite stores what PostgreSQL refuses: the same rule on both databases.
            raise ValueError(
                f"{info.field_name} {value} is more than the employees table holds ({limit})"
            )
        return value


def record_fingerprint(record: Mapping[str, Any]) -> str:
    """A digest of an employee record as a step read it (canonical JSON, SHA-256).

    A failed step stores it with the failure; Redrive compares it with the record the
    database holds now to tell a corrected record from one nobody has touched. The
    record is the JSON shape GetEmployees writes (strings, numbers, booleans), so the
    same record gives the same digest on both sides.
    """
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
