"""Rule tables, one data file per tax year; an unknown year is an error, never a fallback."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SocialSecurity(_Table):
    rate: Decimal
    employer_rate: Decimal
    wage_base: Decimal


class Medicare(_Table):
    rate: Decimal
    employer_rate: Decimal
    additional_rate: Decimal
    additional_threshold: Decimal


class Futa(_Table):
    net_rate: Decimal
    wage_base: Decimal


class TaxTables(_Table):
    tax_year: int
    source: str
    social_security: SocialSecurity
    medicare: Medicare
    futa: Futa


class UnknownTaxYear(LookupError):
    pass


@cache
def tables_for(tax_year: int) -> TaxTables:
    path = resources.files("tax_calc") / "data" / f"{tax_year}.json"
    if not path.is_file():
        raise UnknownTaxYear(f"no tax tables for tax year {tax_year}")
    return TaxTables.model_validate(json.loads(path.read_text()))
