"""Gross pay: salary per frequency; hourly with the FLSA regular rate including bonuses."""

from decimal import Decimal

import pytest

from payroll_shared.calc import PaycheckError
from payroll_shared.calc.gross import gross_pay
from payroll_shared.calc.hours import classify_hours
from payroll_shared.contracts.employee import OvertimeRule, PayType
from payroll_shared.payrun import PayFrequency as F

D = Decimal


def hours(*weeks, rule=OvertimeRule.FLSA):
    return classify_hours([[D(str(h)) for h in w] for w in weeks], rule)


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (F.WEEKLY, "1000.00"),  # 52,000 / 52
        (F.BIWEEKLY, "2000.00"),  # 52,000 / 26
        (F.SEMIMONTHLY, "2166.67"),  # 52,000 / 24 = 2,166.666...
        (F.MONTHLY, "4333.33"),  # 52,000 / 12 = 4,333.333...
    ],
)
def test_salary_per_frequency(frequency, expected):
    pay = gross_pay(pay_type=PayType.SALARY, pay_frequency=frequency, annual_salary=D("52000"))
    assert pay.gross_pay == D(expected)


def test_salary_rounds_half_up():
    # 50,000 / 26 = 1,923.0769 -> 1,923.08; 52.26 / 52 = 1.005 exactly -> half-up 1.01
    pay = gross_pay(pay_type=PayType.SALARY, pay_frequency=F.BIWEEKLY, annual_salary=D("50000"))
    assert pay.gross_pay == D("1923.08")
    tiny = gross_pay(pay_type=PayType.SALARY, pay_frequency=F.WEEKLY, annual_salary=D("52.26"))
    assert tiny.gross_pay == D("1.01")


def test_salary_plus_bonus_and_other_earnings():
    pay = gross_pay(
        pay_type=PayType.SALARY,
        pay_frequency=F.MONTHLY,
        annual_salary=D("60000"),
        bonus=D("500.00"),
        other_earnings=D("125.50"),
        section125=D("80.00"),
    )
    # 5,000 + 500 + 125.50 = 5,625.50; section 125 is carried, not subtracted from gross
    assert pay.gross_pay == D("5625.50")
    assert pay.section125 == D("80.00")


def test_hourly_overtime_without_bonus():
    # 20/h, 45 h: 40 x 20 = 800 + 5 x 30 = 150 -> 950
    pay = gross_pay(
        pay_type=PayType.HOURLY,
        pay_frequency=F.WEEKLY,
        hourly_rate=D("20.00"),
        hours=hours((10, 10, 10, 10, 5, 0, 0)),
    )
    assert (pay.regular_pay, pay.overtime_pay, pay.gross_pay) == (D("800"), D("150"), D("950"))


def test_flsa_regular_rate_includes_the_bonus():
    # 20/h, 50 h, bonus 100: regular rate = (50 x 20 + 100) / 50 = 22.00;
    # due = 50 x 20 + 100 + 10 x 0.5 x 22 = 1,000 + 100 + 110 = 1,210.
    # Lines: regular 40 x 20 = 800; overtime 10 x (1.5 x 20 + 0.5 x 100/50) = 310; bonus 100.
    pay = gross_pay(
        pay_type=PayType.HOURLY,
        pay_frequency=F.WEEKLY,
        hourly_rate=D("20.00"),
        hours=hours((10, 10, 10, 10, 10, 0, 0)),
        bonus=D("100.00"),
    )
    assert pay.regular_pay == D("800.00")
    assert pay.overtime_pay == D("310.00")
    assert pay.gross_pay == D("1210.00")


def test_bonus_allocated_equally_to_the_workweeks_of_the_period():
    # Biweekly bonus 200 -> 100 per workweek. Week 1: 45 h, regular rate 20 + 100/45;
    # overtime 5 x (30 + 0.5 x 2.2222...) = 155.5556 -> 155.56. Week 2: 40 h, no overtime.
    # Gross = 80 x 20 + 155.56 + 200 = 1,955.56
    pay = gross_pay(
        pay_type=PayType.HOURLY,
        pay_frequency=F.BIWEEKLY,
        hourly_rate=D("20.00"),
        hours=hours((9, 9, 9, 9, 9, 0, 0), (8, 8, 8, 8, 8, 0, 0)),
        bonus=D("200.00"),
    )
    assert pay.overtime_pay == D("155.56")
    assert pay.gross_pay == D("1955.56")


def test_california_double_time_pay():
    # 18/h; 14,8,8,8 -> 32 regular x 18 = 576; 4 overtime x 27 = 108; 2 double x 36 = 72
    pay = gross_pay(
        pay_type=PayType.HOURLY,
        pay_frequency=F.WEEKLY,
        hourly_rate=D("18.00"),
        hours=hours((14, 8, 8, 8, 0, 0, 0), rule=OvertimeRule.CALIFORNIA),
    )
    assert (pay.regular_pay, pay.overtime_pay, pay.double_time_pay) == (
        D("576.00"),
        D("108.00"),
        D("72.00"),
    )
    assert pay.gross_pay == D("756.00")


def test_california_double_time_with_bonus():
    # 20/h, one day of 14 h + 4 x 8 = 46 h, bonus 92 -> 92/46 = 2.00 per hour.
    # CA: day 1 = 8 regular + 4 overtime + 2 double; days 2-5 = 32 regular -> 40 / 4 / 2.
    # overtime 4 x (30 + 0.5 x 2) = 124; double 2 x (40 + 2) = 84; regular 800; bonus 92
    pay = gross_pay(
        pay_type=PayType.HOURLY,
        pay_frequency=F.WEEKLY,
        hourly_rate=D("20.00"),
        hours=hours((14, 8, 8, 8, 8, 0, 0), rule=OvertimeRule.CALIFORNIA),
        bonus=D("92.00"),
    )
    assert (pay.overtime_pay, pay.double_time_pay) == (D("124.00"), D("84.00"))
    assert pay.gross_pay == D("1100.00")


def test_missing_rate_names_the_field():
    with pytest.raises(PaycheckError) as caught:
        gross_pay(pay_type=PayType.HOURLY, pay_frequency=F.WEEKLY)
    assert caught.value.field == "hourly_rate"
    with pytest.raises(PaycheckError) as caught:
        gross_pay(pay_type=PayType.SALARY, pay_frequency=F.WEEKLY)
    assert caught.value.field == "annual_salary"


def test_section125_above_gross_is_an_error():
    with pytest.raises(PaycheckError) as caught:
        gross_pay(
            pay_type=PayType.SALARY,
            pay_frequency=F.MONTHLY,
            annual_salary=D("1200"),
            section125=D("100.01"),
        )
    assert caught.value.field == "section125"
