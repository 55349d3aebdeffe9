"""Federal income tax withholding: Pub 15-T Worksheet 1A, worked by hand from the
published annual tables (the arithmetic is in each case's comment)."""

from decimal import Decimal

import pytest

from payroll_shared.calc.tables import tables_for
from payroll_shared.calc.tax import W4Input, annual_tax, federal_withholding
from payroll_shared.contracts.employee import FilingStatus

D = Decimal
S, MFJ, MFS, HOH = (
    FilingStatus.SINGLE,
    FilingStatus.MARRIED_FILING_JOINTLY,
    FilingStatus.MARRIED_FILING_SEPARATELY,
    FilingStatus.HEAD_OF_HOUSEHOLD,
)


def withhold(year, w4, wages, periods):
    return federal_withholding(tables_for(year).federal_withholding, w4, D(wages), periods)


# Biweekly wages 2,000.00 -> 1c = 2,000 x 26 = 52,000.
CASES_2026 = [
    # standard: 52,000 - 8,600 = 43,400; 1,240 + (43,400 - 19,900) x 12% = 4,060; /26 = 156.1538
    (S, False, "156.15"),
    (MFS, False, "156.15"),
    # 52,000 - 12,900 = 39,100; 0 + (39,100 - 19,300) x 10% = 1,980; /26 = 76.1538
    (MFJ, False, "76.15"),
    # 43,400; 1,770 + (43,400 - 33,250) x 12% = 2,988; /26 = 114.9231
    (HOH, False, "114.92"),
    # Step 2: no 1g. 2,900 + (52,000 - 33,250) x 22% = 7,025; /26 = 270.1923
    (S, True, "270.19"),
    (MFS, True, "270.19"),
    # 1,240 + (52,000 - 28,500) x 12% = 4,060; /26 = 156.1538
    (MFJ, True, "156.15"),
    # 3,870 + (52,000 - 45,800) x 22% = 5,234; /26 = 201.3077
    (HOH, True, "201.31"),
]

CASES_2025 = [
    # 43,400; 1,192.50 + (43,400 - 18,325) x 12% = 4,201.50; /26 = 161.5962
    (S, False, "161.60"),
    (MFS, False, "161.60"),
    # 39,100; (39,100 - 17,100) x 10% = 2,200; /26 = 84.6154
    (MFJ, False, "84.62"),
    # 43,400; 1,700 + (43,400 - 30,900) x 12% = 3,200; /26 = 123.0769
    (HOH, False, "123.08"),
    # 2,789.25 + (52,000 - 31,738) x 22% = 7,246.89; /26 = 278.7265
    (S, True, "278.73"),
    (MFS, True, "278.73"),
    # 1,192.50 + (52,000 - 26,925) x 12% = 4,201.50; /26 = 161.5962
    (MFJ, True, "161.60"),
    # 3,721 + (52,000 - 43,675) x 22% = 5,552.50; /26 = 213.5577
    (HOH, True, "213.56"),
]


@pytest.mark.parametrize(("status", "step2", "expected"), CASES_2026)
def test_2026_every_filing_status_and_column_biweekly_2000(status, step2, expected):
    w4 = W4Input(filing_status=status, step2_checkbox=step2)
    assert withhold(2026, w4, "2000.00", 26) == D(expected)


@pytest.mark.parametrize(("status", "step2", "expected"), CASES_2025)
def test_2025_every_filing_status_and_column_biweekly_2000(status, step2, expected):
    w4 = W4Input(filing_status=status, step2_checkbox=step2)
    assert withhold(2025, w4, "2000.00", 26) == D(expected)


@pytest.mark.parametrize(
    ("wages", "periods", "expected"),
    [
        # weekly: 1,000 x 52 = 52,000 -> 4,060 (as above) / 52 = 78.0769
        ("1000.00", 52, "78.08"),
        # biweekly: 2,000 x 26 = 52,000 -> 4,060 / 26 = 156.1538
        ("2000.00", 26, "156.15"),
        # semimonthly: 2,000 x 24 = 48,000 - 8,600 = 39,400;
        # 1,240 + (39,400 - 19,900) x 12% = 3,580; /24 = 149.1667
        ("2000.00", 24, "149.17"),
        # monthly: 5,000 x 12 = 60,000 - 8,600 = 51,400;
        # 1,240 + (51,400 - 19,900) x 12% = 5,020; /12 = 418.3333
        ("5000.00", 12, "418.33"),
    ],
)
def test_each_pay_frequency_2026_single(wages, periods, expected):
    assert withhold(2026, W4Input(filing_status=S), wages, periods) == D(expected)


def test_high_bracket_monthly_30000_single_2026():
    # 30,000 x 12 = 360,000 - 8,600 = 351,400; 58,448 + (351,400 - 263,725) x 35%
    # = 58,448 + 30,686.25 = 89,134.25; /12 = 7,427.8542
    assert withhold(2026, W4Input(filing_status=S), "30000.00", 12) == D("7427.85")


def test_steps_3_4a_4b_4c_mfj_2026():
    # 3,000 x 26 = 78,000; + 4a 5,200 = 83,200; - (4b 10,000 + 1g 12,900) = 60,300;
    # 2,480 + (60,300 - 44,100) x 12% = 4,424; /26 = 170.1538;
    # - Step 3 2,600/26 = 100 -> 70.1538; + 4c 25.00 = 95.1538
    w4 = W4Input(
        filing_status=MFJ,
        step3_credits=D("2600.00"),
        step4a_other_income=D("5200.00"),
        step4b_deductions=D("10000.00"),
        step4c_extra_withholding=D("25.00"),
    )
    assert withhold(2026, w4, "3000.00", 26) == D("95.15")


def test_credits_above_tax_leave_only_the_extra_withholding():
    # 1,000 x 26 = 26,000 - 8,600 = 17,400; (17,400 - 7,500) x 10% = 990; /26 = 38.08;
    # credits 4,000/26 = 153.85 > 38.08 -> 0; + 4c 10.00
    w4 = W4Input(filing_status=S, step3_credits=D("4000.00"), step4c_extra_withholding=D("10.00"))
    assert withhold(2026, w4, "1000.00", 26) == D("10.00")


def test_wages_under_the_first_bracket_withhold_nothing():
    # 500 x 26 = 13,000 - 8,600 = 4,400 < 7,500
    assert withhold(2026, W4Input(filing_status=S), "500.00", 26) == D("0.00")


@pytest.mark.parametrize(
    ("year", "status", "allowances", "wages", "periods", "expected"),
    [
        # single, 3 allowances: 52,000 - 3 x 4,300 = 39,100;
        # 1,240 + (39,100 - 19,900) x 12% = 3,544; /26 = 136.3077
        (2026, S, 3, "2000.00", 26, "136.31"),
        # "Married" -> MFJ table: 39,100; (39,100 - 19,300) x 10% = 1,980; /26 = 76.1538
        (2026, MFJ, 3, "2000.00", 26, "76.15"),
        # "Married, but withhold at the higher Single rate" -> Single: as the first case
        (2026, MFS, 3, "2000.00", 26, "136.31"),
        # 2025 weekly 800, single, 1 allowance: 41,600 - 4,300 = 37,300;
        # 1,192.50 + (37,300 - 18,325) x 12% = 3,469.50; /52 = 66.7212
        (2025, S, 1, "800.00", 52, "66.72"),
        # zero allowances: 52,000 (no 1g on an old form); 1,240 + 32,100 x 12% = 5,092; /26
        (2026, S, 0, "2000.00", 26, "195.85"),
    ],
)
def test_pre_2020_w4_allowances(year, status, allowances, wages, periods, expected):
    w4 = W4Input(filing_status=status, form_year=2019, allowances=allowances)
    assert withhold(year, w4, wages, periods) == D(expected)


def test_pre_2020_w4_ignores_step2_and_credits():
    plain = W4Input(filing_status=S, form_year=2018, allowances=3)
    odd = W4Input(
        filing_status=S, form_year=2018, allowances=3, step2_checkbox=True, step3_credits=D("999")
    )
    assert withhold(2026, plain, "2000.00", 26) == withhold(2026, odd, "2000.00", 26)


def test_withholding_rounds_half_up_once_at_the_end():
    # MFJ 2026 monthly 4,600 with Step 4a 1,000.60: 55,200 + 1,000.60 - 12,900 = 43,300.60;
    # (43,300.60 - 19,300) x 10% = 2,400.06; /12 = 200.005 exactly -> half-up 200.01
    # (banker's rounding would give 200.00).
    w4 = W4Input(filing_status=MFJ, step4a_other_income=D("1000.60"))
    assert withhold(2026, w4, "4600.00", 12) == D("200.01")


def test_published_step2_single_threshold_artifact_is_kept_as_printed():
    # 2026 Step 2 Single prints 108,938 -> 20,512 while 60,900 -> 8,983 at 24% gives
    # 8,983 + 48,038 x 24% = 20,512.12 at that wage: the printed table (C computed at
    # the unrounded 108,937.50) drops 0.12 a year there. We follow the table as printed.
    single2 = tables_for(2026).federal_withholding.step2_checked.single
    assert annual_tax(single2, D("108937.99")) == D("20512.1176")
    assert annual_tax(single2, D("108938")) == D("20512")
