"""FICA, FUTA and state withholding, worked by hand."""

from decimal import Decimal

import pytest

from payroll_shared.calc import PaycheckError, UnsupportedState
from payroll_shared.calc.tables import tables_for
from payroll_shared.calc.tax import fica_taxes, state_withholding

D = Decimal


def fica(wages, ss_ytd="0", medicare_ytd="0", futa_ytd="0", year=2026):
    t = tables_for(year)
    return fica_taxes(
        t.fica,
        t.futa,
        fica_wages=D(wages),
        ytd_social_security_wages=D(ss_ytd),
        ytd_medicare_wages=D(medicare_ytd),
        ytd_futa_wages=D(futa_ytd),
    )


def test_plain_period():
    # 2,000: SS 124.00, Medicare 29.00, FUTA 12.00 (both shares the same)
    f = fica("2000.00")
    assert (f.social_security, f.medicare, f.additional_medicare, f.futa) == (
        D("124.00"),
        D("29.00"),
        D("0.00"),
        D("12.00"),
    )
    assert (f.employer_social_security, f.employer_medicare) == (D("124.00"), D("29.00"))


def test_social_security_wage_base_crossing_period_2026():
    # YTD 180,000; base 184,500: only 4,500 of this 6,000 -> 4,500 x 6.2% = 279.00;
    # Medicare on all 6,000 x 1.45% = 87.00
    f = fica("6000.00", ss_ytd="180000.00", medicare_ytd="180000.00", futa_ytd="7000")
    assert f.social_security_wages == D("4500.00")
    assert (f.social_security, f.employer_social_security, f.medicare) == (
        D("279.00"),
        D("279.00"),
        D("87.00"),
    )
    # the next period: nothing left under the base
    after = fica("6000.00", ss_ytd="186000.00", medicare_ytd="186000.00")
    assert (after.social_security, after.employer_social_security) == (D("0.00"), D("0.00"))


def test_social_security_wage_base_crossing_period_2025():
    # YTD 175,000; base 176,100: 1,100 x 6.2% = 68.20
    assert fica("3000.00", ss_ytd="175000.00", year=2025).social_security == D("68.20")


def test_additional_medicare_from_the_crossing_period():
    # YTD 197,000 + 5,000 = 202,000: 2,000 over 200,000 x 0.9% = 18.00; Medicare 72.50
    f = fica("5000.00", ss_ytd="184500", medicare_ytd="197000.00")
    assert (f.additional_medicare_wages, f.additional_medicare, f.medicare) == (
        D("2000.00"),
        D("18.00"),
        D("72.50"),
    )
    # already above: all 4,000 x 0.9% = 36.00; employer pays no Additional Medicare
    f = fica("4000.00", ss_ytd="184500", medicare_ytd="210000.00")
    assert (f.additional_medicare, f.employer_medicare) == (D("36.00"), D("58.00"))
    # exactly reaching 200,000 is not above it
    assert fica("3000.00", medicare_ytd="197000.00").additional_medicare == D("0.00")


def test_futa_first_7000():
    # YTD 6,500: 500 x 0.6% = 3.00; then nothing
    assert fica("2000.00", futa_ytd="6500.00").futa == D("3.00")
    assert fica("2000.00", futa_ytd="7000.00").futa == D("0.00")


def test_medicare_rounds_half_up():
    # 10.00 x 1.45% = 0.145 -> 0.15 (banker's rounding would give 0.14)
    assert fica("10.00").medicare == D("0.15")


def state(code, gross="2000.00", section125="0", deferral="0", periods=26, year=2026, **fields):
    return state_withholding(
        tables_for(year).state,
        code,
        gross=D(gross),
        section125=D(section125),
        pre_tax_deferral=D(deferral),
        periods=periods,
        fields={k: str(v) for k, v in fields.items()},
    )


@pytest.mark.parametrize("code", ["AK", "FL", "NV", "NH", "SD", "TN", "TX", "WA", "WY"])
def test_no_income_tax_states(code):
    assert state(code).withholding == D("0.00")


def test_pennsylvania_flat_rate_401k_taxable_section125_not():
    # 2,000 - section 125 100 = 1,900 (the 200 401(k) stays taxable) x 3.07% = 58.33
    result = state("PA", section125="100.00", deferral="200.00")
    assert (result.taxable_wages, result.withholding) == (D("1900.00"), D("58.33"))


def test_illinois_2026_allowances():
    # (1 x 2,925 + 1 x 1,000) / 26 = 150.9615; (2,000 - 150.9615) x 4.95% = 91.5274
    result = state("IL", il_line1_allowances=1, il_line2_allowances=1)
    assert result.withholding == D("91.53")


def test_illinois_2025_allowances():
    # (2,850 + 1,000) / 26 = 148.0769; (2,000 - 148.0769) x 4.95% = 91.6702
    result = state("IL", year=2025, il_line1_allowances=1, il_line2_allowances=1)
    assert result.withholding == D("91.67")


def test_illinois_after_pre_tax_deductions():
    # 2,000 - 100 s125 - 200 401(k) = 1,700; 2 x 2,925 / 26 = 225; 1,475 x 4.95% = 73.0125
    result = state("IL", section125="100.00", deferral="200.00", il_line1_allowances=2)
    assert (result.taxable_wages, result.withholding) == (D("1700.00"), D("73.01"))


def test_illinois_never_below_zero():
    # weekly 100; 2 x 2,925 / 52 = 112.50 > 100 -> 0
    assert state("IL", gross="100.00", periods=52, il_line1_allowances=2).withholding == 0


def test_illinois_no_allowances():
    # 2,000 x 4.95% = 99.00
    assert state("IL").withholding == D("99.00")


def test_illinois_bad_allowance_names_the_field():
    with pytest.raises(PaycheckError) as caught:
        state("IL", il_line1_allowances="1.5")
    assert caught.value.field == "state_withholding.il_line1_allowances"


@pytest.mark.parametrize("code", ["CA", "NY", "OH"])
def test_unsupported_state_is_an_error_not_a_zero(code):
    with pytest.raises(UnsupportedState) as caught:
        state(code)
    assert caught.value.state == code
    assert caught.value.field == "work_state"
    assert code in str(caught.value)
