from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from payroll_shared.money import Money, parse_money, round_cents


class Pay(BaseModel):
    amount: Money


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("1.005", "1.01"),  # half-up, not banker's rounding (which gives 1.00)
        ("1.004", "1.00"),
        ("-1.005", "-1.01"),
        ("2.675", "2.68"),  # 2.675 as a float is 2.67499..., as a Decimal it rounds up
        ("0", "0.00"),
    ],
)
def test_round_cents_half_up(raw, cents):
    assert round_cents(Decimal(raw)) == Decimal(cents)


def test_money_round_trips_as_two_decimal_string():
    pay = Pay(amount="1234.5")
    assert pay.amount == Decimal("1234.50")
    assert pay.model_dump(mode="json") == {"amount": "1234.50"}
    assert Pay.model_validate_json(pay.model_dump_json()).amount == Decimal("1234.50")


@pytest.mark.parametrize("bad", [1.5, "abc", "1.234", True, "NaN", "Infinity", None])
def test_money_rejects_floats_and_garbage(bad):
    with pytest.raises(ValidationError) as info:
        Pay(amount=bad)
    assert info.value.errors()[0]["loc"] == ("amount",)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False))
def test_rounding_is_within_half_a_cent(value):
    rounded = round_cents(value)
    assert abs(rounded - value) <= Decimal("0.005")
    assert rounded == rounded.quantize(Decimal("0.01"))


@given(st.lists(st.decimals(min_value=0, max_value=10**6, places=2), max_size=50))
def test_sums_of_cents_need_no_rounding(values):
    total = sum(values, Decimal(0))
    assert round_cents(total) == total


def test_parse_money_accepts_ints_and_strings():
    assert parse_money(12) == Decimal("12.00")
    assert parse_money(" 3.10 ") == Decimal("3.10")
