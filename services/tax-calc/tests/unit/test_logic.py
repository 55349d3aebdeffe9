from decimal import Decimal

import pytest
from factories import employee_record
from tax_calc.logic import compute
from tax_calc.tables import UnknownTaxYear, tables_for

from payroll_shared.contracts import EmployeeRecord
from payroll_shared.steps import StepRuleError


def results(gross="2000.00", section125="0.00", deferral="0.00", roth=False):
    return {
        "payroll_calc": {"gross_pay": gross, "regular_pay": gross, "section125": section125},
        "retirement_calc": {"deferral": deferral, "roth": roth, "employer_match": "0.00"},
    }


def test_fica_on_wages_less_section125_and_net_pay_2026():
    record = EmployeeRecord.model_validate(employee_record())
    tax = compute(record, results("2000.00", "100.00", "120.00"), 2026)
    # FICA wages 2000 - 100 = 1900: SS 1900 x 6.2% = 117.80; Medicare 1900 x 1.45% = 27.55
    assert tax.social_security == Decimal("117.80")
    assert tax.medicare == Decimal("27.55")
    assert tax.employer_social_security == Decimal("117.80")
    # Income-tax wages also exclude the traditional deferral: 1900 - 120 = 1780
    assert tax.taxable_wages == Decimal("1780.00")
    # net = 2000 - 117.80 - 27.55 - 100 - 120 = 1634.65
    assert tax.net_pay == Decimal("1634.65")


def test_roth_deferral_stays_in_income_tax_wages():
    record = EmployeeRecord.model_validate(employee_record())
    tax = compute(record, results("1000.00", deferral="50.00", roth=True), 2026)
    assert tax.taxable_wages == Decimal("1000.00")
    assert tax.net_pay == Decimal("1000.00") - Decimal("62.00") - Decimal("14.50") - Decimal("50")


def test_rounding_half_up_per_line():
    record = EmployeeRecord.model_validate(employee_record())
    # 100.25 x 1.45% = 1.453625 -> 1.45; 100.25 x 6.2% = 6.2155 -> 6.22
    tax = compute(record, results("100.25"), 2026)
    assert (tax.social_security, tax.medicare) == (Decimal("6.22"), Decimal("1.45"))


def test_negative_net_pay_is_an_error_for_the_employee():
    record = EmployeeRecord.model_validate(employee_record())
    with pytest.raises(StepRuleError) as info:
        compute(record, results("100.00", deferral="100.00"), 2026)
    assert info.value.code == "NegativeNetPay"


def test_missing_earlier_step_names_it():
    record = EmployeeRecord.model_validate(employee_record())
    with pytest.raises(StepRuleError) as info:
        compute(record, {}, 2026)
    assert info.value.field == "results.payroll_calc"


def test_unknown_tax_year_is_an_error_not_a_fallback():
    with pytest.raises(UnknownTaxYear):
        tables_for(1999)
    record = EmployeeRecord.model_validate(employee_record())
    with pytest.raises(StepRuleError) as info:
        compute(record, results(), 1999)
    assert info.value.code == "UnknownTaxYear"


@pytest.mark.parametrize(("year", "base"), [(2025, "176100.00"), (2026, "184500.00")])
def test_wage_base_by_year(year, base):
    assert tables_for(year).social_security.wage_base == Decimal(base)
