from decimal import Decimal

import pytest
from factories import employee_record
from retirement_calc.logic import compute

from payroll_shared.contracts import EmployeeRecord


def run(gross, **election):
    record = EmployeeRecord.model_validate(employee_record(retirement=election))
    return compute(record, {"payroll_calc": {"gross_pay": gross}}, None)


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
    assert (result.deferral, result.employer_match) == (Decimal(deferral), Decimal(match))


def test_flat_percent_match_up_to_cap():
    # 50% of deferrals up to 6% of pay: deferral 200 (10%), matched base 120 -> 60
    result = run(
        "2000.00", deferral_percent="10", match_formula="flat_percent",
        match_percent="50", match_cap_percent="6",
    )  # fmt: skip
    assert result.employer_match == Decimal("60.00")


def test_flat_deferral_never_exceeds_pay():
    assert run("100.00", deferral_amount="250.00").deferral == Decimal("100.00")


def test_no_election_no_deferral():
    result = run("2000.00")
    assert (result.deferral, result.employer_match) == (Decimal("0.00"), Decimal("0.00"))
