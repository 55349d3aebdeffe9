"""The demo seed: deterministic, exact counts, realistic variety, idempotent."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from payroll_platform.db.models import Base, Employee, Employer, OtherEarning, TimeEntry
from payroll_platform.db.seed import SeedSummary, generate, latest_period_end, seed
from payroll_shared.payrun import PayFrequency, pay_period

SCHEDULES = {"weekly", "biweekly", "semimonthly", "monthly"}


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in connection.execute(query)]
    return rows


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def test_same_seed_gives_identical_rows_in_fresh_databases(
    fresh_engine: Callable[[str], Engine], pay_date: date
) -> None:
    first, second = fresh_engine("first.sqlite"), fresh_engine("second.sqlite")
    assert seed(first, pay_date=pay_date) == seed(second, pay_date=pay_date)
    rows = dump(first)
    assert rows == dump(second)
    assert len(rows["employees"]) == 1000


def test_another_seed_gives_another_population(pay_date: date) -> None:
    seven = generate(employers=5, employees=50, pay_date=pay_date, seed=7)
    eight = generate(employers=5, employees=50, pay_date=pay_date, seed=8)
    ids_seven = {row["employee_id"] for row in seven.employees}
    ids_eight = {row["employee_id"] for row in eight.employees}
    assert not ids_seven & ids_eight
    assert [r["first_name"] for r in seven.employees] != [r["first_name"] for r in eight.employees]


def test_counts_are_exact(seeded: tuple[Engine, SeedSummary]) -> None:
    engine, summary = seeded
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Employer)) == 20
        assert session.scalar(select(func.count()).select_from(Employee)) == 1000
        assert session.scalar(select(func.count()).select_from(TimeEntry)) == summary.time_entries
        assert (
            session.scalar(select(func.count()).select_from(OtherEarning)) == summary.other_earnings
        )
        sizes = Counter(session.scalars(select(Employee.employer_id)))
    assert (summary.employers, summary.employees) == (20, 1000)
    assert summary.hourly_employees + summary.salaried_employees == 1000
    assert summary.skipped_employers == 0
    assert len(sizes) == 20
    assert min(sizes.values()) >= 1
    assert max(sizes.values()) > 2 * min(sizes.values())  # uneven on purpose


def test_every_pay_schedule_is_present_and_employees_follow_their_employer(
    seeded: tuple[Engine, SeedSummary],
) -> None:
    engine, summary = seeded
    assert set(summary.employers_by_schedule) == SCHEDULES
    with Session(engine) as session:
        pairs = session.execute(
            select(Employee.pay_frequency, Employer.pay_schedule).join(Employer)
        ).all()
    assert {schedule for _, schedule in pairs} == SCHEDULES
    assert all(frequency == schedule for frequency, schedule in pairs)


def test_period_ends_fall_back_to_the_latest_valid_end(
    seeded: tuple[Engine, SeedSummary], pay_date: date
) -> None:
    _, summary = seeded
    assert summary.period_ends == {
        "weekly": pay_date,
        "biweekly": pay_date,
        "semimonthly": date(2026, 2, 28),
        "monthly": date(2026, 2, 28),
    }


def test_hourly_employees_have_time_within_their_period_only(
    seeded: tuple[Engine, SeedSummary],
) -> None:
    engine, summary = seeded
    with Session(engine) as session:
        employees = {e.employee_id: e for e in session.scalars(select(Employee))}
        entries = session.scalars(select(TimeEntry)).all()
    by_employee: dict[str, list[TimeEntry]] = defaultdict(list)
    for entry in entries:
        by_employee[entry.employee_id].append(entry)

    for employee_id, employee_entries in by_employee.items():
        employee = employees[employee_id]
        assert employee.pay_type == "hourly"
        assert employee.active
        period = pay_period(
            PayFrequency(employee.pay_frequency), summary.period_ends[employee.pay_frequency]
        )
        for entry in employee_entries:
            assert period.period_start <= entry.work_date <= period.period_end
            assert entry.work_date.weekday() != 6
            assert entry.earning_code == "REG"
            assert isinstance(entry.hours, Decimal)
            assert Decimal("4.00") <= entry.hours <= Decimal("11.00")

    active_hourly = [e for e in employees.values() if e.pay_type == "hourly" and e.active]
    assert active_hourly
    assert all(e.employee_id in by_employee for e in active_hourly)
    hours = [entry.hours for entry in entries]
    assert Counter(hours).most_common(1)[0][0] == Decimal("8.00")
    assert any(h > Decimal("8.00") for h in hours)  # overtime days
    assert any(entry.work_date.weekday() == 5 for entry in entries)  # Saturdays


def test_employees_are_varied_and_realistic(
    seeded: tuple[Engine, SeedSummary], pay_date: date
) -> None:
    engine, _ = seeded
    with Session(engine) as session:
        employees = session.scalars(select(Employee)).all()

    states = Counter(e.work_state for e in employees)
    assert {"TX", "FL", "WA", "NV", "PA", "IL", "CA", "NY"} <= set(states)

    salaried = [e for e in employees if e.pay_type == "salary"]
    hourly = [e for e in employees if e.pay_type == "hourly"]
    assert salaried and hourly
    for employee in salaried:
        assert employee.flsa_exempt and employee.hourly_rate is None
        assert employee.annual_salary is not None
        assert Decimal("35000") <= employee.annual_salary <= Decimal("250000")
        assert isinstance(employee.annual_salary, Decimal)
    for employee in hourly:
        assert not employee.flsa_exempt and employee.annual_salary is None
        assert employee.hourly_rate is not None
        assert Decimal("15") <= employee.hourly_rate <= Decimal("75")
        assert employee.hourly_rate == employee.hourly_rate.quantize(Decimal("0.01"))
    assert any(e.annual_salary and e.annual_salary > Decimal("200000") for e in salaried)
    assert any(e.work_state == "CA" and e.overtime_rule == "california" for e in hourly)
    assert all((e.overtime_rule == "california") == (e.work_state == "CA") for e in employees)

    ages = [age_on(e.birth_date, pay_date) for e in employees]
    assert min(ages) >= 19 and max(ages) <= 70
    assert sum(age >= 50 for age in ages) > 100
    assert any(60 <= age <= 63 for age in ages)
    assert all(e.hire_date < pay_date - timedelta(days=31) for e in employees)

    w4s = [e.w4 for e in employees]
    modern = [w for w in w4s if w["form_year"] >= 2020]
    older = [w for w in w4s if w["form_year"] < 2020]
    assert {w["filing_status"] for w in modern} == {
        "single",
        "married_filing_jointly",
        "married_filing_separately",
        "head_of_household",
    }
    assert all(w["allowances"] is None for w in modern)
    assert older and all(isinstance(w["allowances"], int) for w in older)
    assert any(w["step2_checkbox"] for w in modern)
    for step in ("step3_credits", "step4a_other_income", "step4b_deductions"):
        assert any(w[step] != "0.00" for w in modern), step
    assert any(w["step4c_extra_withholding"] != "0.00" for w in w4s)

    for employee in employees:
        if employee.work_state == "IL":
            assert set(employee.state_withholding) == {
                "il_line1_allowances",
                "il_line2_allowances",
            }
        else:
            assert employee.state_withholding == {}

    elections = [e.retirement for e in employees]
    assert {r["match_formula"] for r in elections} == {"none", "safe_harbor_basic", "flat_percent"}
    assert any(r["deferral_percent"] is None and r["deferral_amount"] is None for r in elections)
    percents = [Decimal(r["deferral_percent"]) for r in elections if r["deferral_percent"]]
    assert percents and min(percents) >= 3
    assert any(r["deferral_amount"] for r in elections)
    assert any(r["roth"] for r in elections)
    for election in elections:
        if election["match_formula"] == "flat_percent":
            assert election["match_percent"] and election["match_cap_percent"]

    assert any(e.section125_per_period > 0 for e in employees)
    assert all(isinstance(e.section125_per_period, Decimal) for e in employees)
    token = re.compile(r"^tok_[0-9a-f]{24}$")
    assert all(token.match(e.bank_account_token) for e in employees)
    assert len({e.bank_account_token for e in employees}) == len(employees)
    assert any(not e.active for e in employees)


def test_some_employees_get_a_bonus_on_their_pay_date(
    seeded: tuple[Engine, SeedSummary],
) -> None:
    engine, summary = seeded
    with Session(engine) as session:
        bonuses = session.execute(
            select(OtherEarning, Employee.pay_frequency).join(
                Employee, Employee.employee_id == OtherEarning.employee_id
            )
        ).all()
    assert bonuses
    for bonus, frequency in bonuses:
        assert bonus.code == "BONUS"
        assert bonus.pay_date == summary.period_ends[frequency]
        assert isinstance(bonus.amount, Decimal) and bonus.amount > 0


def test_seeding_again_skips_existing_employers(
    fresh_engine: Callable[[str], Engine], pay_date: date
) -> None:
    engine = fresh_engine("again.sqlite")
    seed(engine, employers=6, employees=120, pay_date=pay_date)
    before = dump(engine)
    again = seed(engine, employers=6, employees=120, pay_date=pay_date)
    assert (again.employers, again.employees, again.time_entries) == (0, 0, 0)
    assert again.skipped_employers == 6
    assert dump(engine) == before

    # A larger request adds only the employers that are new (ids er-7-0007...).
    more = seed(engine, employers=8, employees=160, pay_date=pay_date)
    assert more.skipped_employers == 6
    assert more.employer_ids == ("er-7-0007", "er-7-0008")


def test_seed_into_a_session_leaves_the_commit_to_the_caller(
    fresh_engine: Callable[[str], Engine], pay_date: date
) -> None:
    engine = fresh_engine("session.sqlite")
    with Session(engine) as session:
        summary = seed(session, employers=4, employees=40, pay_date=pay_date)
        assert session.scalar(select(func.count()).select_from(Employee)) == 40
        session.rollback()
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Employee)) == 0
    assert set(summary.employers_by_schedule) == SCHEDULES


@pytest.mark.parametrize(
    ("employers", "employees"), [(1, 1), (3, 10), (10, 4), (4, 0), (0, 0), (7, 333)]
)
def test_generate_handles_small_and_odd_sizes(
    employers: int, employees: int, pay_date: date
) -> None:
    data = generate(employers=employers, employees=employees, pay_date=pay_date)
    assert len(data.employers) == employers
    assert len(data.employees) == employees
    assert len({row["employee_id"] for row in data.employees}) == employees


def test_generate_rejects_impossible_sizes(pay_date: date) -> None:
    with pytest.raises(ValueError, match="at least one employer"):
        generate(employers=0, employees=5, pay_date=pay_date)
    with pytest.raises(ValueError, match="negative"):
        generate(employers=-1, employees=0, pay_date=pay_date)


@pytest.mark.parametrize(
    ("schedule", "day", "expected"),
    [
        ("weekly", date(2026, 3, 13), date(2026, 3, 13)),
        ("biweekly", date(2026, 3, 1), date(2026, 3, 1)),
        ("semimonthly", date(2026, 3, 13), date(2026, 2, 28)),
        ("semimonthly", date(2026, 3, 15), date(2026, 3, 15)),
        ("semimonthly", date(2026, 3, 30), date(2026, 3, 15)),
        ("semimonthly", date(2026, 3, 31), date(2026, 3, 31)),
        ("semimonthly", date(2024, 2, 29), date(2024, 2, 29)),
        ("monthly", date(2026, 3, 30), date(2026, 2, 28)),
        ("monthly", date(2026, 1, 15), date(2025, 12, 31)),
        ("monthly", date(2026, 4, 30), date(2026, 4, 30)),
    ],
)
def test_latest_period_end(schedule: str, day: date, expected: date) -> None:
    end = latest_period_end(schedule, day)
    assert end == expected
    pay_period(PayFrequency(schedule), end)  # a valid end: does not raise


def test_the_default_seed_uses_only_states_the_payroll_library_withholds_for(
    engine: Engine, pay_date: date
) -> None:
    from payroll_shared.calc import tables_for

    seed(engine, employers=6, employees=120, pay_date=pay_date)
    with Session(engine) as session:
        states = {e.work_state for e in session.scalars(select(Employee)).all()}
    state_tables = tables_for(pay_date.year).state
    supported = set(state_tables.no_income_tax) | {"PA", "IL"}
    assert states <= supported
