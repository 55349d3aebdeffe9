"""The errors of the payroll math: each one is about one employee and names the field."""

from __future__ import annotations


class PaycheckError(Exception):
    """A paycheck cannot be computed for this employee. ``field`` names the input (or
    output) field at fault; ``invalid_input`` tells bad input from a rule outcome."""

    invalid_input = True

    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownTaxYear(PaycheckError, LookupError):
    """No rule tables for the year: never a silent fallback to another year."""

    def __init__(self, tax_year: int) -> None:
        super().__init__(f"no payroll rule tables for tax year {tax_year}", "tax_year")
        self.tax_year = tax_year


class HoursError(PaycheckError, ValueError):
    """An impossible time entry: negative, over 24 in a day, or a week not of 7 days."""

    def __init__(self, message: str, week: int, day: int | None = None) -> None:
        where = f"daily_hours.{week}" if day is None else f"daily_hours.{week}.{day}"
        super().__init__(message, where)
        self.week = week
        self.day = day


class UnsupportedState(PaycheckError):
    """No withholding rules for the work state: an error for this employee, not a zero."""

    def __init__(self, state: str) -> None:
        super().__init__(f"state income tax withholding for {state} is not supported", "work_state")
        self.state = state


class NegativeNetPay(PaycheckError):
    """Taxes and deductions exceed gross pay: an error for this employee, not a payment."""

    invalid_input = False

    def __init__(self, shortfall: str) -> None:
        super().__init__(f"taxes and deductions exceed gross pay by {shortfall}", "net_pay")
