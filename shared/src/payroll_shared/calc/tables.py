"""Rule tables, one data file per tax year (``data/<year>.json``).

Every figure the calculators use comes from here: nothing is a literal in the code.
Values are stored as strings in JSON so they load as exact ``Decimal``. An unknown
year raises ``UnknownTaxYear``; there is never a fallback to another year's tables.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from importlib import resources
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, field_validator

from payroll_shared.calc.errors import UnknownTaxYear
from payroll_shared.contracts.employee import FilingStatus


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Bracket(_Table):
    """One row of a Pub 15-T annual percentage-method table: wage >= ``over`` pays
    ``base_tax + (wage - over) x rate``."""

    over: Decimal
    base_tax: Decimal
    rate: Decimal


Schedule = tuple[Bracket, ...]


class FilingStatusTables(_Table):
    married_filing_jointly: Schedule
    single: Schedule
    head_of_household: Schedule

    @field_validator("married_filing_jointly", "single", "head_of_household")
    @classmethod
    def _ascending_from_zero(cls, rows: Schedule) -> Schedule:
        if not rows or rows[0].over != 0:
            raise ValueError("a schedule starts at a wage of 0")
        if any(later.over <= earlier.over for earlier, later in pairwise(rows)):
            raise ValueError("a schedule's thresholds ascend")
        return rows

    def for_status(self, status: FilingStatus) -> Schedule:
        # Pub 15-T: married filing separately uses the Single table.
        if status is FilingStatus.MARRIED_FILING_JOINTLY:
            return self.married_filing_jointly
        if status is FilingStatus.HEAD_OF_HOUSEHOLD:
            return self.head_of_household
        return self.single


class FederalWithholding(_Table):
    step1g_married_filing_jointly: Decimal
    step1g_other: Decimal
    pre2020_allowance: Decimal
    standard: FilingStatusTables
    step2_checked: FilingStatusTables


class Fica(_Table):
    social_security_rate: Decimal
    social_security_employer_rate: Decimal
    social_security_wage_base: Decimal
    medicare_rate: Decimal
    medicare_employer_rate: Decimal
    additional_medicare_rate: Decimal
    additional_medicare_threshold: Decimal


class Futa(_Table):
    net_rate: Decimal
    wage_base: Decimal


class RetirementLimits(_Table):
    elective_deferral_limit: Decimal  # 402(g)
    catch_up_50: Decimal  # 414(v), age 50 and over
    catch_up_60_63: Decimal  # SECURE 2.0, ages 60 to 63
    annual_additions_limit: Decimal  # 415(c)
    compensation_limit: Decimal  # 401(a)(17)
    roth_catch_up_wage_threshold: Decimal  # 414(v)(7), prior-year FICA wages
    roth_catch_up_required: bool  # the mandatory-Roth catch-up applies from 2026


class FlatStateTax(_Table):
    rate: Decimal


class IllinoisTax(_Table):
    rate: Decimal
    line1_allowance: Decimal  # IL-W-4 line 1 allowance value A
    line2_allowance: Decimal


class StateTables(_Table):
    no_income_tax: frozenset[str]
    PA: FlatStateTax
    IL: IllinoisTax


class TaxYearTables(_Table):
    tax_year: int
    sources: tuple[str, ...]
    federal_withholding: FederalWithholding
    fica: Fica
    futa: Futa
    retirement: RetirementLimits
    state: StateTables


@cache
def tables_for(tax_year: int) -> TaxYearTables:
    """The year's tables (cached: each year's file is read and validated once)."""
    path = resources.files("payroll_shared.calc") / "data" / f"{int(tax_year)}.json"
    if not path.is_file():
        raise UnknownTaxYear(tax_year)
    tables = TaxYearTables.model_validate(json.loads(path.read_text(encoding="utf-8")))
    if tables.tax_year != tax_year:
        raise ValueError(f"data/{tax_year}.json holds the tables of {tables.tax_year}")
    return tables


def available_years() -> tuple[int, ...]:
    folder = resources.files("payroll_shared.calc") / "data"
    return tuple(
        sorted(int(entry.name[:-5]) for entry in folder.iterdir() if entry.name.endswith(".json"))
    )
