"""401(k) deferral and match: 402(g) with catch-ups, 415(c), 401(a)(17), Roth catch-up.
2026 limits: 402(g) 24,500; catch-up 8,000 (50+), 11,250 (60-63); 415(c) 72,000;
401(a)(17) 360,000; Roth catch-up threshold 150,000. 2025: 23,500; 7,500; 11,250."""

from decimal import Decimal

import pytest

from payroll_shared.calc import PaycheckError
from payroll_shared.calc.retirement import (
    RetirementElectionInput,
    RetirementYtd,
    retirement_contributions,
)
from payroll_shared.calc.tables import tables_for
from payroll_shared.contracts.employee import MatchFormula

D = Decimal


def contribute(
    percent=None,
    *,
    amount=None,
    pay="10000.00",
    age=40,
    year=2026,
    roth=False,
    match=MatchFormula.NONE,
    match_percent=None,
    match_cap=None,
    **ytd,
):
    election = RetirementElectionInput(
        deferral_percent=None if percent is None else D(percent),
        deferral_amount=None if amount is None else D(amount),
        roth=roth,
        match_formula=match,
        match_percent=None if match_percent is None else D(match_percent),
        match_cap_percent=None if match_cap is None else D(match_cap),
    )
    return retirement_contributions(
        tables_for(year).retirement,
        election,
        pay=D(pay),
        age_at_year_end=age,
        ytd=RetirementYtd(**{k: D(v) for k, v in ytd.items()}),
    )


def test_percent_of_pay():
    # 6% of 2,000 = 120.00
    assert contribute("6", pay="2000.00").deferral == D("120.00")


def test_percent_rounds_once_half_up():
    # 3% of 1,234.50 = 37.035 -> 37.04
    assert contribute("3", pay="1234.50").deferral == D("37.04")


def test_flat_amount_and_never_more_than_pay():
    assert contribute(amount="150.00", pay="2000.00").deferral == D("150.00")
    assert contribute(amount="150.00", pay="100.00").deferral == D("100.00")


def test_402g_reached_mid_year_cuts_the_deferral():
    # age 40: limit 24,500; YTD 24,000; asks 10% x 10,000 = 1,000 -> only 500 remains
    result = contribute("10", deferrals="24000.00")
    assert (result.requested_deferral, result.deferral, result.catch_up) == (
        D("1000.00"),
        D("500.00"),
        D("0.00"),
    )
    # the next period: nothing remains
    assert contribute("10", deferrals="24500.00").deferral == D("0.00")


def test_402g_2025_limit():
    # 2025: 23,500 - YTD 23,000 = 500
    assert contribute("10", deferrals="23000.00", year=2025).deferral == D("500.00")


def test_catch_up_age_50():
    # age 55: 24,500 + 8,000 = 32,500. YTD 24,000 + 1,000: all allowed, of which
    # 24,000 + 1,000 - 24,500 = 500 is catch-up.
    result = contribute("10", age=55, deferrals="24000.00")
    assert (result.deferral, result.catch_up) == (D("1000.00"), D("500.00"))
    # YTD 32,000: 500 remains, all catch-up
    result = contribute("10", age=55, deferrals="32000.00")
    assert (result.deferral, result.catch_up) == (D("500.00"), D("500.00"))


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (49, "0.00"),  # limit 24,500 < YTD 35,000: nothing (never negative)
        (50, "0.00"),  # 32,500 < 35,000
        (59, "0.00"),
        (60, "750.00"),  # 24,500 + 11,250 = 35,750 - 35,000 = 750
        (63, "750.00"),
        (64, "0.00"),  # back to 32,500
    ],
)
def test_catch_up_60_to_63(age, expected):
    assert contribute("10", age=age, deferrals="35000.00").deferral == D(expected)


def test_catch_up_60_to_63_in_2025():
    # 23,500 + 11,250 = 34,750 - YTD 34,000 = 750
    assert contribute("10", age=61, year=2025, deferrals="34000.00").deferral == D("750.00")


def test_2026_catch_up_is_roth_above_the_prior_year_wage_threshold():
    # age 55, YTD 24,000, 1,000 deferred: 500 regular (traditional) + 500 catch-up.
    # Prior-year FICA wages 160,000 > 150,000 -> the 500 catch-up must be Roth.
    result = contribute("10", age=55, deferrals="24000.00", prior_year_fica_wages="160000.00")
    assert (result.pre_tax_deferral, result.roth_deferral, result.roth_catch_up) == (
        D("500.00"),
        D("500.00"),
        D("500.00"),
    )
    # exactly at the threshold is not above it: all traditional
    at = contribute("10", age=55, deferrals="24000.00", prior_year_fica_wages="150000.00")
    assert (at.pre_tax_deferral, at.roth_catch_up) == (D("1000.00"), D("0.00"))


def test_2025_has_no_mandatory_roth_catch_up():
    result = contribute(
        "10", age=55, year=2025, deferrals="23000.00", prior_year_fica_wages="500000.00"
    )
    assert (result.catch_up, result.roth_catch_up, result.pre_tax_deferral) == (
        D("500.00"),
        D("0.00"),
        D("1000.00"),
    )


def test_roth_election_makes_everything_roth():
    result = contribute("5", pay="2000.00", roth=True)
    assert (result.deferral, result.pre_tax_deferral, result.roth_deferral) == (
        D("100.00"),
        D("0.00"),
        D("100.00"),
    )


def test_safe_harbor_basic_match():
    # 4% of 2,000 = 80: 100% of the first 3% (60) + 50% of the next 1% (20) = 70
    result = contribute("4", pay="2000.00", match=MatchFormula.SAFE_HARBOR_BASIC)
    assert result.employer_match == D("70.00")
    # 6% = 120: 60 + 50% x 2% (40) = 80: the match tops out at 4% of pay
    result = contribute("6", pay="2000.00", match=MatchFormula.SAFE_HARBOR_BASIC)
    assert result.employer_match == D("80.00")


def test_flat_percent_match_up_to_a_cap():
    # 50% of deferrals up to 6% of pay: 10% x 2,000 = 200; matched 120; x 50% = 60
    result = contribute(
        "10", pay="2000.00", match=MatchFormula.FLAT_PERCENT, match_percent="50", match_cap="6"
    )
    assert result.employer_match == D("60.00")


def test_flat_percent_match_needs_its_percent():
    with pytest.raises(PaycheckError) as caught:
        contribute("10", match=MatchFormula.FLAT_PERCENT)
    assert caught.value.field == "retirement.match_percent"


def test_401a17_compensation_cap():
    # YTD compensation 355,000: only 5,000 of this 10,000 counts -> 6% = 300;
    # safe harbor: 100% x min(300, 150) + 50% x min(150, 100) = 150 + 50 = 200
    result = contribute("6", compensation="355000.00", match=MatchFormula.SAFE_HARBOR_BASIC)
    assert (result.eligible_compensation, result.deferral, result.employer_match) == (
        D("5000.00"),
        D("300.00"),
        D("200.00"),
    )
    assert contribute("6", compensation="360000.00").deferral == D("0.00")


def test_415c_cuts_the_match_then_the_deferral():
    # YTD additions 10,000 + 60,500 = 70,500: room 1,500. Deferral 1,000 fits;
    # 100% match up to 10% (1,000) is cut to 500.
    result = contribute(
        "10",
        match=MatchFormula.FLAT_PERCENT,
        match_percent="100",
        match_cap="10",
        deferrals="10000.00",
        employer_match="60500.00",
    )
    assert (result.deferral, result.employer_match) == (D("1000.00"), D("500.00"))
    # YTD additions 71,500: room 500 -> deferral 500, no match
    result = contribute(
        "10",
        match=MatchFormula.FLAT_PERCENT,
        match_percent="100",
        match_cap="10",
        deferrals="10000.00",
        employer_match="61500.00",
    )
    assert (result.deferral, result.employer_match) == (D("500.00"), D("0.00"))


def test_415c_does_not_count_catch_up():
    # age 55, YTD 24,500 deferred (402(g) full) + 47,500 match = 72,000 additions:
    # no 415(c) room, but the 1,000 catch-up is not an annual addition -> allowed.
    result = contribute("10", age=55, deferrals="24500.00", employer_match="47500.00")
    assert (result.deferral, result.catch_up) == (D("1000.00"), D("1000.00"))


def test_no_election_no_contributions():
    result = contribute(None, match=MatchFormula.SAFE_HARBOR_BASIC)
    assert (result.deferral, result.employer_match) == (D("0.00"), D("0.00"))
