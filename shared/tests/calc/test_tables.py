"""The rule tables load per tax year, hold the published figures, and never fall back."""

from decimal import Decimal
from itertools import pairwise

import pytest

from payroll_shared.calc import UnknownTaxYear, tables_for
from payroll_shared.calc.tables import available_years
from payroll_shared.contracts.employee import FilingStatus

D = Decimal


def test_both_years_are_available():
    assert {2025, 2026} <= set(available_years())


@pytest.mark.parametrize("year", [2019, 2024, 2027, 3000])
def test_an_unknown_year_is_an_error_never_a_fallback(year):
    with pytest.raises(UnknownTaxYear) as caught:
        tables_for(year)
    assert isinstance(caught.value, LookupError)
    assert caught.value.field == "tax_year"
    assert str(year) in str(caught.value)


@pytest.mark.parametrize(
    ("year", "wage_base", "elective", "catch_up", "additions", "compensation", "il_a"),
    [
        (2025, "176100", "23500", "7500", "70000", "350000", "2850"),
        (2026, "184500", "24500", "8000", "72000", "360000", "2925"),
    ],
)
def test_published_figures(year, wage_base, elective, catch_up, additions, compensation, il_a):
    t = tables_for(year)
    assert t.tax_year == year
    assert t.fica.social_security_wage_base == D(wage_base)
    assert t.fica.social_security_rate == D("0.062")
    assert t.fica.medicare_rate == D("0.0145")
    assert t.fica.additional_medicare_rate == D("0.009")
    assert t.fica.additional_medicare_threshold == D("200000")
    assert (t.futa.net_rate, t.futa.wage_base) == (D("0.006"), D("7000"))
    r = t.retirement
    assert r.elective_deferral_limit == D(elective)
    assert r.catch_up_50 == D(catch_up)
    assert r.catch_up_60_63 == D("11250")
    assert r.annual_additions_limit == D(additions)
    assert r.compensation_limit == D(compensation)
    assert r.roth_catch_up_required is (year >= 2026)
    assert t.state.PA.rate == D("0.0307")
    assert (t.state.IL.rate, t.state.IL.line1_allowance) == (D("0.0495"), D(il_a))
    assert t.state.IL.line2_allowance == D("1000")
    assert t.state.no_income_tax == frozenset(
        {"AK", "FL", "NV", "NH", "SD", "TN", "TX", "WA", "WY"}
    )
    fw = t.federal_withholding
    assert (fw.step1g_married_filing_jointly, fw.step1g_other) == (D("12900"), D("8600"))
    assert fw.pre2020_allowance == D("4300")


@pytest.mark.parametrize("year", [2025, 2026])
@pytest.mark.parametrize("status", ["married_filing_jointly", "single", "head_of_household"])
def test_standard_tables_are_internally_consistent(year, status):
    # Each row's C equals the previous C plus the previous bracket taxed at its rate:
    # a transcription check of the printed tables.
    rows = getattr(tables_for(year).federal_withholding.standard, status)
    assert [row.rate for row in rows] == [
        D(x) for x in ("0", ".1", ".12", ".22", ".24", ".32", ".35", ".37")
    ]
    for earlier, later in pairwise(rows):
        assert later.base_tax == earlier.base_tax + (later.over - earlier.over) * earlier.rate


@pytest.mark.parametrize("year", [2025, 2026])
@pytest.mark.parametrize("status", ["married_filing_jointly", "single", "head_of_household"])
def test_step2_tables_differ_from_consistency_only_by_printed_rounding(year, status):
    # The Step 2 tables print thresholds rounded to the dollar while C was computed
    # from the unrounded (half-dollar) thresholds: at most 0.5 x 37% = 0.19 apart.
    rows = getattr(tables_for(year).federal_withholding.step2_checked, status)
    for earlier, later in pairwise(rows):
        gap = later.base_tax - (earlier.base_tax + (later.over - earlier.over) * earlier.rate)
        assert abs(gap) <= D("0.19")


def test_married_filing_separately_uses_the_single_table():
    fw = tables_for(2026).federal_withholding
    assert fw.standard.for_status(FilingStatus.MARRIED_FILING_SEPARATELY) is fw.standard.single
    assert fw.step2_checked.for_status(FilingStatus.MARRIED_FILING_SEPARATELY) is (
        fw.step2_checked.single
    )


def test_tables_are_frozen():
    t = tables_for(2026)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        t.fica.social_security_rate = D("0.1")  # type: ignore[misc]
