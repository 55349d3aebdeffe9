"""Property tests: monotonic withholding, net pay adds up, no annual limit exceeded."""

from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from payroll_shared.calc import (
    NegativeNetPay,
    PaycheckError,
    PaycheckRequest,
    calculate,
    tables_for,
)
from payroll_shared.calc.paycheck import Ytd
from payroll_shared.calc.retirement import RetirementElectionInput
from payroll_shared.calc.tax import W4Input, federal_withholding
from payroll_shared.contracts.employee import FilingStatus, MatchFormula, OvertimeRule, PayType
from payroll_shared.payrun import PayFrequency

CENT = Decimal("0.01")
cents = st.integers(min_value=0, max_value=5_000_000).map(lambda c: Decimal(c) * CENT)
small_cents = st.integers(min_value=0, max_value=300_000).map(lambda c: Decimal(c) * CENT)
years = st.sampled_from([2025, 2026])
frequencies = st.sampled_from(list(PayFrequency))
statuses = st.sampled_from(list(FilingStatus))


@st.composite
def w4s(draw):
    old = draw(st.booleans())
    return W4Input(
        filing_status=draw(statuses),
        step2_checkbox=draw(st.booleans()),
        step3_credits=draw(small_cents),
        step4a_other_income=draw(small_cents),
        step4b_deductions=draw(small_cents),
        step4c_extra_withholding=draw(st.integers(0, 10_000).map(lambda c: Decimal(c) * CENT)),
        form_year=2019 if old else 2020,
        allowances=draw(st.integers(0, 10)) if old else None,
    )


def _table_has_printed_drop(w4: W4Input) -> bool:
    # The published Step 2 Single tables print thresholds rounded to the dollar while
    # C was computed at the half dollar: the annual tax drops by up to 0.16 right at
    # three of their thresholds (see test_tables / test_federal). Following the table
    # as printed, per-period withholding there can fall by at most one cent.
    return (
        w4.form_year >= 2020
        and w4.step2_checkbox
        and w4.filing_status in (FilingStatus.SINGLE, FilingStatus.MARRIED_FILING_SEPARATELY)
    )


@settings(max_examples=400)
@given(year=years, frequency=frequencies, w4=w4s(), a=cents, b=cents)
def test_federal_withholding_is_monotonic_in_wages(year, frequency, w4, a, b):
    low, high = min(a, b), max(a, b)
    fw = tables_for(year).federal_withholding
    periods = frequency.periods_per_year
    w_low = federal_withholding(fw, w4, low, periods)
    w_high = federal_withholding(fw, w4, high, periods)
    slack = CENT if _table_has_printed_drop(w4) else Decimal(0)
    assert w_high >= w_low - slack


@st.composite
def requests(draw):
    pay_type = draw(st.sampled_from(list(PayType)))
    weeks_count = draw(st.integers(1, 2))
    hours = st.integers(0, 96).map(lambda q: Decimal(q) / 4)  # quarter hours to 24
    daily = tuple(tuple(draw(hours) for _ in range(7)) for _ in range(weeks_count))
    percent = draw(st.one_of(st.none(), st.integers(0, 100).map(Decimal)))
    return PaycheckRequest(
        tax_year=draw(years),
        pay_frequency=draw(frequencies),
        pay_type=pay_type,
        w4=draw(w4s()),
        work_state=draw(st.sampled_from(["TX", "PA", "IL", "FL"])),
        age=draw(st.integers(18, 80)),
        annual_salary=Decimal(draw(st.integers(1_000_00, 900_000_00))) * CENT,
        hourly_rate=Decimal(draw(st.integers(7_25, 300_00))) * CENT,
        daily_hours=daily,
        overtime_rule=draw(st.sampled_from(list(OvertimeRule))),
        state_fields={
            "il_line1_allowances": str(draw(st.integers(0, 5))),
            "il_line2_allowances": str(draw(st.integers(0, 3))),
        },
        retirement=RetirementElectionInput(
            deferral_percent=percent,
            roth=draw(st.booleans()),
            match_formula=draw(
                st.sampled_from([MatchFormula.NONE, MatchFormula.SAFE_HARBOR_BASIC])
            ),
        ),
        ytd=Ytd(
            gross=draw(cents),
            fica_wages=draw(cents),
            medicare_wages=draw(cents),
            retirement_deferrals=draw(st.integers(0, 40_000_00).map(lambda c: Decimal(c) * CENT)),
            prior_year_fica_wages=draw(cents),
        ),
        bonus=draw(small_cents),
        section125=draw(st.integers(0, 20_000).map(lambda c: Decimal(c) * CENT)),
    )


@settings(max_examples=400)
@given(request=requests())
def test_net_plus_taxes_plus_deductions_is_gross_to_the_cent(request):
    try:
        paycheck = calculate(request)
    except PaycheckError as refused:
        # refused for this employee (negative net, or section 125 above a short gross)
        assume(refused.field not in ("net_pay", "section125"))
        raise
    f = paycheck.fica
    taxes = (
        paycheck.federal_income_tax
        + f.social_security
        + f.medicare
        + f.additional_medicare
        + paycheck.state.withholding
    )
    deductions = paycheck.retirement.deferral + paycheck.gross.section125
    amounts = [paycheck.net_pay, taxes, deductions, paycheck.gross.gross_pay]
    assert all(a == a.quantize(CENT) for a in amounts)
    assert paycheck.net_pay + taxes + deductions == paycheck.gross.gross_pay
    assert paycheck.net_pay >= 0


@settings(max_examples=150, deadline=None)
@given(
    year=years,
    salary=st.integers(20_000, 1_500_000),
    percent=st.integers(0, 100),
    age=st.integers(20, 70),
    match=st.sampled_from(list(MatchFormula)),
    bonus_every=st.integers(1, 26),
    bonus=st.integers(0, 200_000),
    prior_year=st.integers(0, 400_000),
)
def test_no_annual_limit_is_exceeded_over_26_periods(
    year, salary, percent, age, match, bonus_every, bonus, prior_year
):
    limits = tables_for(year)
    ytd = Ytd(prior_year_fica_wages=Decimal(prior_year))
    ss_wages = futa_wages = compensation = Decimal(0)
    for period in range(26):
        request = PaycheckRequest(
            tax_year=year,
            pay_frequency=PayFrequency.BIWEEKLY,
            pay_type=PayType.SALARY,
            annual_salary=Decimal(salary),
            w4=W4Input(filing_status=FilingStatus.SINGLE),
            work_state="TX",
            age=age,
            retirement=RetirementElectionInput(
                deferral_percent=Decimal(percent),
                match_formula=match,
                match_percent=Decimal(100) if match is MatchFormula.FLAT_PERCENT else None,
                match_cap_percent=Decimal(50) if match is MatchFormula.FLAT_PERCENT else None,
            ),
            ytd=ytd,
            bonus=Decimal(bonus) if period % bonus_every == 0 else Decimal(0),
        )
        try:
            p = calculate(request)
        except NegativeNetPay:
            # a 100% deferral leaves nothing for FICA: that period is refused, not paid
            break
        gross = p.gross.gross_pay
        ss_wages += p.fica.social_security_wages
        futa_wages += p.fica.futa_wages
        compensation += p.retirement.eligible_compensation
        ytd = Ytd(
            gross=ytd.gross + gross,
            fica_wages=ytd.fica_wages + gross,
            medicare_wages=ytd.medicare_wages + gross,
            retirement_deferrals=ytd.retirement_deferrals + p.retirement.deferral,
            employer_match=ytd.employer_match + p.retirement.employer_match,
            prior_year_fica_wages=ytd.prior_year_fica_wages,
        )
    r = limits.retirement
    catch_up = r.catch_up_60_63 if 60 <= age <= 63 else r.catch_up_50 if age >= 50 else 0
    assert ss_wages <= limits.fica.social_security_wage_base
    assert futa_wages <= limits.futa.wage_base
    assert compensation <= r.compensation_limit
    assert ytd.retirement_deferrals <= r.elective_deferral_limit + catch_up
    additions = min(ytd.retirement_deferrals, r.elective_deferral_limit) + ytd.employer_match
    assert additions <= r.annual_additions_limit
