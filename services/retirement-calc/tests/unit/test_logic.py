"""retirement-calc through the step's ``compute``, with worked examples from the
published 2026 limits (IRS Notice 2025-67, in ``payroll_shared/calc/data/2026.json``):
402(g) elective deferral limit 24,500; catch-up 8,000 at 50+, 11,250 at 60-63;
415(c) 72,000; 401(a)(17) 360,000; Roth catch-up above 150,000 of prior-year FICA wages.
"""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from factories import employee_record
from retirement_calc.logic import compute

from payroll_shared.calc.paycheck import PaycheckRequest, Ytd, calculate
from payroll_shared.calc.retirement import RetirementElectionInput
from payroll_shared.calc.tax import W4Input
from payroll_shared.contracts import EmployeeRecord, WorkItem
from payroll_shared.step_ytd import YearToDateContext
from payroll_shared.steps import StepRuleError, evaluate

D = Decimal
NO_YTD = Ytd()  # nothing paid yet this year
BORN_1986 = "1986-06-01"  # 40 at the end of 2026: no catch-up
BORN_1975 = "1975-06-01"  # 51: catch-up 8,000
BORN_1964 = "1964-06-01"  # 62: SECURE 2.0 catch-up 11,250


def record(birth_date=BORN_1986, **election):
    return EmployeeRecord.model_validate(
        employee_record(birth_date=birth_date, retirement=election)
    )


def context(ytd=NO_YTD, tax_year=2026, employee_id="e1"):
    return YearToDateContext(tax_year=tax_year, by_employee={employee_id: ytd})


def run(gross, ytd=NO_YTD, birth_date=BORN_1986, tax_year=2026, **election):
    results = {"payroll_calc": {"gross_pay": gross}}
    return compute(record(birth_date, **election), results, context(ytd, tax_year))


@pytest.mark.parametrize(
    ("percent", "deferral", "match"),
    [
        ("2", "40.00", "40.00"),  # all within the first 3%: 100%
        ("4", "80.00", "70.00"),  # 60 at 100% + 20 at 50% = 70
        ("6", "120.00", "80.00"),  # capped: 60 + 0.5 x 40 = 80 (4% of pay)
    ],
)
def test_safe_harbor_basic_match(percent, deferral, match):
    result = run("2000.00", deferral_percent=percent, match_formula="safe_harbor_basic")
    assert (result.deferral, result.employer_match) == (D(deferral), D(match))
    assert (result.pre_tax_deferral, result.roth_deferral, result.catch_up) == (D(deferral), 0, 0)


def test_flat_percent_match_up_to_cap():
    # 50% of deferrals up to 6% of pay: deferral 200 (10%), matched base 120 -> 60
    result = run(
        "2000.00", deferral_percent="10", match_formula="flat_percent",
        match_percent="50", match_cap_percent="6",
    )  # fmt: skip
    assert result.employer_match == D("60.00")


def test_flat_deferral_never_exceeds_pay():
    assert run("100.00", deferral_amount="250.00").deferral == D("100.00")


def test_no_election_no_deferral():
    result = run("2000.00")
    assert (result.deferral, result.employer_match) == (D("0.00"), D("0.00"))


def test_402g_reached_mid_year_cuts_the_deferral_and_the_match_follows():
    # Age 40, 10% of 5,000 = 500 requested; 24,200 deferred so far: 24,500 - 24,200 = 300 left.
    # Safe harbor on the 300 actually deferred: min(300, 3% x 5,000 = 150) = 150 at 100%,
    # then min(150, 2% x 5,000 = 100) = 100 at 50% = 50 -> match 200.
    ytd = Ytd(gross=D("120000"), retirement_deferrals=D("24200"))
    result = run("5000.00", ytd, deferral_percent="10", match_formula="safe_harbor_basic")
    assert (result.deferral, result.pre_tax_deferral, result.catch_up) == (D(300), D(300), 0)
    assert result.employer_match == D("200.00")
    # The next period: the limit is reached, nothing is deferred, nothing is matched.
    after = replace(ytd, retirement_deferrals=D("24500"))
    result = run("5000.00", after, deferral_percent="10", match_formula="safe_harbor_basic")
    assert (result.deferral, result.employer_match) == (D(0), D(0))


def test_catch_up_at_51_is_pre_tax_under_the_prior_year_wage_threshold():
    # Age 51: annual limit 24,500 + 8,000 = 32,500; 24,200 so far, 500 requested: all of it.
    # Catch-up = 24,200 + 500 - 24,500 = 200. Prior-year FICA wages 100,000 <= 150,000:
    # the employee may keep the catch-up traditional.
    ytd = Ytd(retirement_deferrals=D("24200"), prior_year_fica_wages=D("100000"))
    result = run("5000.00", ytd, BORN_1975, deferral_percent="10")
    assert (result.deferral, result.catch_up) == (D(500), D(200))
    assert (result.pre_tax_deferral, result.roth_deferral) == (D(500), D(0))


def test_catch_up_is_roth_in_2026_above_the_prior_year_wage_threshold():
    # Same period, prior-year FICA wages 160,000 > 150,000: the 200 catch-up must be Roth
    # (414(v)(7)), so pre-tax 500 - 200 = 300 and Roth 200.
    ytd = Ytd(retirement_deferrals=D("24200"), prior_year_fica_wages=D("160000"))
    result = run("5000.00", ytd, BORN_1975, deferral_percent="10")
    assert (result.deferral, result.catch_up) == (D(500), D(200))
    assert (result.pre_tax_deferral, result.roth_deferral, result.roth) == (D(300), D(200), False)


def test_age_60_to_63_catch_up_limit():
    # Age 62: 24,500 + 11,250 = 35,750; 35,500 so far: 250 left, all above 402(g): catch-up.
    ytd = Ytd(retirement_deferrals=D("35500"))
    result = run("5000.00", ytd, BORN_1964, deferral_percent="10")
    assert (result.deferral, result.catch_up) == (D(250), D(250))


def test_roth_election_is_all_roth():
    result = run("2000.00", deferral_percent="5", roth=True)
    assert (result.deferral, result.roth, result.pre_tax_deferral, result.roth_deferral) == (
        D(100), True, D(0), D(100),
    )  # fmt: skip


def test_unknown_tax_year_fails_the_employee_naming_the_pay_date():
    with pytest.raises(StepRuleError) as info:
        run("2000.00", tax_year=1999, deferral_percent="5")
    assert (info.value.code, info.value.field) == ("UnknownTaxYear", "pay_run.pay_date")


def test_flat_percent_without_a_percent_names_the_field():
    with pytest.raises(StepRuleError) as info:
        run("2000.00", deferral_percent="5", match_formula="flat_percent")
    assert info.value.field == "retirement.match_percent"


def test_missing_year_to_date_is_an_error_not_zeros():
    results = {"payroll_calc": {"gross_pay": "2000.00"}}
    with pytest.raises(StepRuleError) as info:
        compute(record(deferral_percent="5"), results, context(employee_id="other"))
    assert info.value.code == "MissingYearToDate"
    with pytest.raises(StepRuleError):
        compute(record(deferral_percent="5"), results, None)


def test_missing_gross_pay_names_the_step():
    with pytest.raises(StepRuleError) as info:
        compute(record(), {}, context())
    assert info.value.field == "results.payroll_calc"


def test_a_rule_error_fails_that_employee_only():
    bad = employee_record(employee_id="e2", retirement={"deferral_percent": "5"})
    ctx = YearToDateContext(tax_year=1999, by_employee={"e2": Ytd()})
    outcome = evaluate(
        WorkItem(employee_id="e2", record=bad, results={"payroll_calc": {"gross_pay": "1.00"}}),
        compute,
        ctx,
    )
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.code == "UnknownTaxYear"


# --------------------------------------------- the pipeline agrees with `payroll paycheck`

SCENARIOS = {
    "plain": (BORN_1986, Ytd(), {"deferral_percent": "6", "match_formula": "safe_harbor_basic"}),
    "402g mid-year": (
        BORN_1986,
        Ytd(gross=D("150000"), retirement_deferrals=D("24000")),
        {"deferral_percent": "15", "match_formula": "safe_harbor_basic"},
    ),
    "roth catch-up": (
        BORN_1975,
        Ytd(retirement_deferrals=D("24400"), prior_year_fica_wages=D("200000")),
        {"deferral_amount": "900.00", "match_formula": "flat_percent", "match_percent": "50"},
    ),
    "415(c)": (
        BORN_1964,
        Ytd(retirement_deferrals=D("20000"), employer_match=D("51800")),
        {"deferral_percent": "20", "match_formula": "safe_harbor_basic"},
    ),
    "401(a)(17)": (
        BORN_1986,
        Ytd(gross=D("358000")),
        {"deferral_percent": "10", "match_formula": "safe_harbor_basic"},
    ),
    "roth election": (BORN_1986, Ytd(), {"deferral_percent": "8", "roth": True}),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_step_equals_the_paycheck_calculation(name):
    birth_date, ytd, election = SCENARIOS[name]
    employee = record(birth_date, **election)
    chosen = employee.retirement
    paycheck = calculate(
        PaycheckRequest(
            tax_year=2026,
            pay_frequency=employee.pay_frequency,
            pay_type=employee.pay_type,
            w4=W4Input(filing_status=employee.w4.filing_status, form_year=employee.w4.form_year),
            work_state=employee.work_state,
            age=2026 - date.fromisoformat(birth_date).year,
            hourly_rate=employee.hourly_rate,
            daily_hours=[[D(8)] * 5 + [D(0)] * 2] * 2,
            retirement=RetirementElectionInput(
                deferral_percent=chosen.deferral_percent,
                deferral_amount=chosen.deferral_amount,
                roth=chosen.roth,
                match_formula=chosen.match_formula,
                match_percent=chosen.match_percent,
                match_cap_percent=chosen.match_cap_percent,
            ),
            ytd=ytd,
            bonus=D("3000.00"),
        )
    )
    results = {"payroll_calc": {"gross_pay": str(paycheck.gross.gross_pay)}}
    step = compute(employee, results, context(ytd))
    expected = paycheck.retirement
    assert (
        step.deferral, step.pre_tax_deferral, step.roth_deferral, step.catch_up,
        step.employer_match,
    ) == (
        expected.deferral, expected.pre_tax_deferral, expected.roth_deferral, expected.catch_up,
        expected.employer_match,
    )  # fmt: skip
