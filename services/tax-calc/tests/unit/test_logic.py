"""tax-calc through the step's ``compute``, with worked examples from the published 2026
tables (``payroll_shared/calc/data/2026.json``): Pub 15-T (2026) Worksheet 1A annual
percentage-method tables (Single, standard: over 57,900 -> 5,800 + 22%; over 113,200 ->
17,966 + 24%; Step 1g 8,600; Married over 44,100 -> 2,480 + 12%; allowance 4,300),
Social Security 6.2% to 184,500, Medicare 1.45%, Additional Medicare 0.9% over 200,000,
FUTA 0.6% to 7,000, Illinois 4.95% with 2,925 per line-1 allowance. Biweekly: 26 periods.
"""

from decimal import Decimal

import pytest
from factories import employee_record
from tax_calc.logic import compute

from payroll_shared.calc.paycheck import PaycheckRequest, Ytd, calculate
from payroll_shared.calc.retirement import RetirementElectionInput
from payroll_shared.calc.tax import W4Input
from payroll_shared.contracts import EmployeeRecord, WorkItem
from payroll_shared.step_ytd import YearToDateContext
from payroll_shared.steps import StepRuleError, evaluate

D = Decimal
NO_YTD = Ytd()  # nothing paid yet this year
W4_SINGLE = {"form_year": 2024, "filing_status": "single"}


def record(**overrides):
    overrides.setdefault("w4", W4_SINGLE)
    return EmployeeRecord.model_validate(employee_record(**overrides))


def context(ytd=NO_YTD, tax_year=2026, employee_id="e1"):
    return YearToDateContext(tax_year=tax_year, by_employee={employee_id: ytd})


def results(gross, section125="0.00", pre_tax="0.00", roth_deferral="0.00", roth=False):
    deferral = D(pre_tax) + D(roth_deferral)
    return {
        "payroll_calc": {"gross_pay": gross, "regular_pay": gross, "section125": section125},
        "retirement_calc": {
            "deferral": str(deferral),
            "roth": roth,
            "employer_match": "0.00",
            "pre_tax_deferral": pre_tax,
            "roth_deferral": roth_deferral,
        },
    }


def test_social_security_wage_base_crossing():
    # YTD 183,000, this period 4,000: only 184,500 - 183,000 = 1,500 is SS wages -> 93.00.
    # Medicare 4,000 x 1.45% = 58.00; 187,000 < 200,000: no Additional Medicare.
    # FUTA: 183,000 > 7,000 -> 0.
    # Federal: 4,000 x 26 = 104,000 - 8,600 = 95,400; 5,800 + (95,400 - 57,900) x 22%
    #   = 5,800 + 8,250 = 14,050; / 26 = 540.3846 -> 540.38.
    # Net: 4,000 - 540.38 - 93.00 - 58.00 = 3,308.62.
    ytd = Ytd(gross=D(183000), fica_wages=D(183000), medicare_wages=D(183000))
    tax = compute(record(), results("4000.00"), context(ytd))
    assert (tax.social_security, tax.employer_social_security) == (D("93.00"), D("93.00"))
    assert (tax.medicare, tax.additional_medicare, tax.futa) == (D("58.00"), D(0), D(0))
    assert tax.federal_income_tax == D("540.38")
    assert (tax.state_income_tax, tax.net_pay) == (D(0), D("3308.62"))


def test_additional_medicare_crossing():
    # YTD 198,000 (past the SS base: no SS), this period 5,000: 198,000 + 5,000 - 200,000
    # = 3,000 over the threshold -> 3,000 x 0.9% = 27.00. Medicare 5,000 x 1.45% = 72.50
    # (the employer pays no Additional Medicare: employer Medicare 72.50).
    # Federal: 5,000 x 26 = 130,000 - 8,600 = 121,400; 17,966 + (121,400 - 113,200) x 24%
    #   = 17,966 + 1,968 = 19,934; / 26 = 766.6923 -> 766.69.
    # Net: 5,000 - 766.69 - 72.50 - 27.00 = 4,133.81.
    ytd = Ytd(gross=D(198000), fica_wages=D(198000), medicare_wages=D(198000))
    tax = compute(record(), results("5000.00"), context(ytd))
    assert (tax.social_security, tax.medicare) == (D(0), D("72.50"))
    assert (tax.additional_medicare, tax.employer_medicare) == (D("27.00"), D("72.50"))
    assert tax.federal_income_tax == D("766.69")
    assert tax.net_pay == D("4133.81")


def test_402g_capped_pre_tax_deferral_section125_and_illinois():
    # retirement-calc capped a 500 request at the 300 left under 402(g): pre-tax 300.
    # FICA wages 4,000 - 100 (section 125) = 3,900: SS 241.80, Medicare 56.55;
    # YTD 50,000 > 7,000: no FUTA.
    # Federal wages 3,900 - 300 = 3,600; x 26 = 93,600 - 8,600 = 85,000;
    #   5,800 + (85,000 - 57,900) x 22% = 5,800 + 5,962 = 11,762; / 26 = 452.3846 -> 452.38.
    # IL wages 3,600; 1 line-1 allowance: 2,925 / 26 = 112.50; (3,600 - 112.50) x 4.95%
    #   = 3,487.50 x 4.95% = 172.63125 -> 172.63.
    # Net: 4,000 - (452.38 + 241.80 + 56.55 + 172.63 = 923.36) - (300 + 100) = 2,676.64.
    employee = record(work_state="IL", state_withholding={"il_line1_allowances": "1"})
    ytd = Ytd(gross=D(50000), fica_wages=D(50000), medicare_wages=D(50000))
    tax = compute(employee, results("4000.00", "100.00", pre_tax="300.00"), context(ytd))
    assert tax.taxable_wages == D("3600.00")
    assert (tax.social_security, tax.medicare, tax.futa) == (D("241.80"), D("56.55"), D(0))
    assert tax.federal_income_tax == D("452.38")
    assert tax.state_income_tax == D("172.63")
    assert tax.net_pay == D("2676.64")


def test_futa_stops_at_its_base():
    # YTD 6,000: 1,000 of this period's 2,000 is FUTA wages -> 1,000 x 0.6% = 6.00.
    ytd = Ytd(gross=D(6000), fica_wages=D(6000), medicare_wages=D(6000))
    assert compute(record(), results("2000.00"), context(ytd)).futa == D("6.00")
    assert compute(record(), results("2000.00"), context()).futa == D("12.00")  # 2,000 x 0.6%


def test_pre_2020_w4_uses_allowances():
    # Married, 2 allowances: 3,000 x 26 = 78,000 - 2 x 4,300 = 69,400;
    # 2,480 + (69,400 - 44,100) x 12% = 2,480 + 3,036 = 5,516; / 26 = 212.1538 -> 212.15.
    employee = record(w4={"form_year": 2019, "filing_status": "married_filing_jointly",
                          "allowances": 2})  # fmt: skip
    assert compute(employee, results("3000.00"), context()).federal_income_tax == D("212.15")


def test_roth_deferral_stays_in_income_tax_wages_but_leaves_net_pay():
    # SS 1,000 x 6.2% = 62.00, Medicare 14.50; federal: 26,000 - 8,600 = 17,400;
    # (17,400 - 7,500) x 10% = 990; / 26 = 38.0769 -> 38.08. Net 1,000 - 114.58 - 50.
    tax = compute(record(), results("1000.00", roth_deferral="50.00", roth=True), context())
    assert tax.taxable_wages == D("1000.00")
    assert tax.federal_income_tax == D("38.08")
    assert tax.net_pay == D("1000.00") - D("62.00") - D("14.50") - D("38.08") - D("50.00")


def test_legacy_retirement_result_without_the_split():
    legacy = results("2000.00")
    legacy["retirement_calc"] = {"deferral": "100.00", "roth": False, "employer_match": "0"}
    assert compute(record(), legacy, context()).taxable_wages == D("1900.00")


def test_unsupported_state_fails_that_employee_not_a_zero():
    with pytest.raises(StepRuleError) as info:
        compute(record(work_state="CA"), results("2000.00"), context())
    assert (info.value.code, info.value.field) == ("UnsupportedState", "work_state")
    # In a chunk: the CA employee fails, the TX one is paid.
    ctx = YearToDateContext(tax_year=2026, by_employee={"e1": Ytd(), "e2": Ytd()})
    items = [
        WorkItem(employee_id="e1", record=employee_record(w4=W4_SINGLE), results=results("2000")),
        WorkItem(
            employee_id="e2",
            record=employee_record(employee_id="e2", work_state="CA", w4=W4_SINGLE),
            results=results("2000"),
        ),
    ]
    ok, failed = (evaluate(item, compute, ctx) for item in items)
    assert ok.status == "ok"
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.field) == ("UnsupportedState", "work_state")


def test_bad_state_withholding_field_names_it():
    employee = record(work_state="IL", state_withholding={"il_line1_allowances": "two"})
    with pytest.raises(StepRuleError) as info:
        compute(employee, results("2000.00"), context())
    assert info.value.field == "state_withholding.il_line1_allowances"


def test_unknown_tax_year_is_an_error_not_a_fallback():
    with pytest.raises(StepRuleError) as info:
        compute(record(), results("2000.00"), context(tax_year=1999))
    assert (info.value.code, info.value.field) == ("UnknownTaxYear", "pay_run.pay_date")


def test_negative_net_pay_is_an_error_for_the_employee():
    # 100 deferred of 100: net 100 - 100 - FICA (6.20 + 1.45) = -7.65.
    with pytest.raises(StepRuleError) as info:
        compute(record(), results("100.00", pre_tax="100.00"), context())
    assert (info.value.code, info.value.field) == ("NegativeNetPay", "net_pay")
    assert "7.65" in info.value.message


def test_missing_earlier_step_names_it():
    with pytest.raises(StepRuleError) as info:
        compute(record(), {}, context())
    assert info.value.field == "results.payroll_calc"


def test_missing_year_to_date_is_an_error_not_zeros():
    with pytest.raises(StepRuleError) as info:
        compute(record(), results("2000.00"), context(employee_id="other"))
    assert info.value.code == "MissingYearToDate"


# --------------------------------------------- the pipeline agrees with `payroll paycheck`

SCENARIOS = {
    "ss base": ("TX", W4_SINGLE, {}, Ytd(D(183000), D(183000), D(183000))),
    "additional medicare": (
        "PA",
        {"form_year": 2022, "filing_status": "married_filing_jointly", "step2_checkbox": True},
        {"deferral_percent": "6"},
        Ytd(D(199000), D(199000), D(199000), D(12000)),
    ),
    "402g mid-year, IL": (
        "IL",
        {"form_year": 2024, "filing_status": "head_of_household", "step3_credits": "2000.00"},
        {"deferral_percent": "10", "match_formula": "safe_harbor_basic"},
        Ytd(D(90000), D(88000), D(88000), D(24300)),
    ),
    "roth catch-up": (
        "IL",
        {"form_year": 2019, "filing_status": "single", "allowances": 1},
        {"deferral_amount": "1500.00"},
        Ytd(D(140000), D(138000), D(138000), D(24000), prior_year_fica_wages=D(160000)),
    ),
    "first period, futa": ("FL", W4_SINGLE, {"deferral_percent": "5", "roth": True}, Ytd()),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_step_equals_the_paycheck_calculation(name):
    state, w4, election, ytd = SCENARIOS[name]
    employee = record(
        work_state=state,
        w4=w4,
        retirement=election,
        pay_type="salary",
        annual_salary="130000.00",
        birth_date="1975-03-01",
        section125_per_period="150.00",
        state_withholding={"il_line1_allowances": "1", "il_line2_allowances": "2"},
    )
    chosen, form = employee.retirement, employee.w4
    paycheck = calculate(
        PaycheckRequest(
            tax_year=2026,
            pay_frequency=employee.pay_frequency,
            pay_type=employee.pay_type,
            w4=W4Input(
                filing_status=form.filing_status,
                step2_checkbox=form.step2_checkbox,
                step3_credits=form.step3_credits,
                step4a_other_income=form.step4a_other_income,
                step4b_deductions=form.step4b_deductions,
                step4c_extra_withholding=form.step4c_extra_withholding,
                form_year=form.form_year,
                allowances=form.allowances,
            ),
            work_state=employee.work_state,
            age=2026 - employee.birth_date.year,
            annual_salary=employee.annual_salary,
            state_fields=employee.state_withholding,
            retirement=RetirementElectionInput(
                deferral_percent=chosen.deferral_percent,
                deferral_amount=chosen.deferral_amount,
                roth=chosen.roth,
                match_formula=chosen.match_formula,
                match_percent=chosen.match_percent,
                match_cap_percent=chosen.match_cap_percent,
            ),
            ytd=ytd,
            section125=employee.section125_per_period,
        )
    )
    gross, retirement = paycheck.gross, paycheck.retirement
    step_results = {
        "payroll_calc": {"gross_pay": str(gross.gross_pay), "section125": str(gross.section125)},
        # what retirement-calc answers for the same inputs (its own test checks that)
        "retirement_calc": {
            "deferral": str(retirement.deferral),
            "roth": chosen.roth,
            "employer_match": str(retirement.employer_match),
            "pre_tax_deferral": str(retirement.pre_tax_deferral),
            "roth_deferral": str(retirement.roth_deferral),
            "catch_up": str(retirement.catch_up),
        },
    }
    tax = compute(employee, step_results, context(ytd))
    fica = paycheck.fica
    expected = {
        "taxable_wages": paycheck.federal_taxable_wages,
        "federal_income_tax": paycheck.federal_income_tax,
        "social_security": fica.social_security,
        "medicare": fica.medicare,
        "additional_medicare": fica.additional_medicare,
        "state_income_tax": paycheck.state.withholding,
        "employer_social_security": fica.employer_social_security,
        "employer_medicare": fica.employer_medicare,
        "futa": fica.futa,
        "net_pay": paycheck.net_pay,
    }
    assert {line: getattr(tax, line) for line in expected} == expected
