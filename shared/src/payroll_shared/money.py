"""Money: one type, one rounding rule.

Every amount is a ``Decimal``. Each line item is rounded once, at the end of its own
computation, half-up to whole cents (``round_cents``). Amounts cross boundaries as
strings with exactly two decimals, never as binary floats.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_cents(amount: Decimal) -> Decimal:
    """The one rounding rule: half-up to the cent (0.005 -> 0.01, -0.005 -> -0.01)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: Any, what: str) -> Decimal:
    """A finite Decimal from a string or an int; never from a float or a boolean."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise ValueError(f"{what} must be a decimal string, not a boolean")
    elif isinstance(value, int | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal {what}: {value!r}") from exc
    else:
        raise ValueError(f"{what} must be a decimal string, got {type(value).__name__}")
    if not number.is_finite():
        raise ValueError(f"not a finite {what}: {value!r}")
    return number


def parse_money(value: Any) -> Decimal:
    """Accept a string or an int (never a float: floats cannot hold cents exactly)."""
    amount = _decimal(value, "amount")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError(f"an amount has at most two decimals: {value!r}")
    return amount.quantize(CENT)


def format_money(amount: Decimal) -> str:
    return str(round_cents(amount))


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$"}),
]
"""A money amount in a contract: validated from a string, serialized as "1234.50"."""


def parse_quantity(value: Any) -> Decimal:
    """Hours, rates and percentages: decimal strings or ints, never floats."""
    return _decimal(value, "number")


Quantity = Annotated[
    Decimal,
    BeforeValidator(parse_quantity),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]
"""A non-money decimal (hours, a rate's percentage) in a contract, carried as a string."""
