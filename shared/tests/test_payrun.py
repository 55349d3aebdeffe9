from datetime import date

import pytest

from payroll_shared.payrun import PayFrequency, parse_pay_run_id, pay_period, pay_run_id


@pytest.mark.parametrize(
    ("schedule", "pay_date", "start"),
    [
        (PayFrequency.WEEKLY, date(2026, 11, 27), date(2026, 11, 21)),
        (PayFrequency.BIWEEKLY, date(2026, 11, 27), date(2026, 11, 14)),
        (PayFrequency.SEMIMONTHLY, date(2026, 11, 15), date(2026, 11, 1)),
        (PayFrequency.SEMIMONTHLY, date(2026, 11, 30), date(2026, 11, 16)),
        (PayFrequency.SEMIMONTHLY, date(2028, 2, 29), date(2028, 2, 16)),
        (PayFrequency.MONTHLY, date(2026, 2, 28), date(2026, 2, 1)),
    ],
)
def test_period_ends_on_the_pay_date(schedule, pay_date, start):
    period = pay_period(schedule, pay_date)
    assert (period.period_start, period.period_end) == (start, pay_date)
    assert period.tax_year == pay_date.year


@pytest.mark.parametrize(
    ("schedule", "pay_date"),
    [(PayFrequency.MONTHLY, date(2026, 2, 27)), (PayFrequency.SEMIMONTHLY, date(2026, 11, 14))],
)
def test_a_date_that_ends_no_period_is_an_error(schedule, pay_date):
    with pytest.raises(ValueError, match="pay_date"):
        pay_period(schedule, pay_date)


def test_pay_run_id_is_deterministic_and_a_valid_execution_name():
    run_id = pay_run_id(PayFrequency.BIWEEKLY, date(2026, 11, 27))
    assert run_id == "pr-biweekly-2026-11-27"
    assert run_id == pay_run_id(PayFrequency.BIWEEKLY, date(2026, 11, 27))
    assert len(run_id) <= 80 and all(c.isalnum() or c in "-_" for c in run_id)
    assert parse_pay_run_id(run_id) == (PayFrequency.BIWEEKLY, date(2026, 11, 27))
    with pytest.raises(ValueError, match="pay_run_id"):
        parse_pay_run_id("pr-daily-2026-11-27")


@pytest.mark.parametrize(
    ("frequency", "periods"),
    [("weekly", 52), ("biweekly", 26), ("semimonthly", 24), ("monthly", 12)],
)
def test_periods_per_year(frequency, periods):
    assert PayFrequency(frequency).periods_per_year == periods
