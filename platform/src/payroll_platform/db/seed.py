"""Deterministic demo data: employers, employees, a period of time entries, bonuses.

Everything is drawn from one ``random.Random(seed)`` in a fixed order, so the same
arguments always produce the same rows (ids included). Amounts are built from
integers and decimal strings, never from floats.

Ids carry the seed (``er-7-0001``, ``ee-7-000001``): seeding with another seed adds a
separate population instead of colliding with this one.

Idempotency: the whole data set is generated first, then every employer whose id is
already in the database is skipped together with its employees, their time entries
and their other earnings. Nothing is updated or deleted (the ledger may reference
existing employees), so re-running ``seed`` is harmless and reports what it skipped.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from random import Random
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from payroll_platform.db.models import Employee, Employer, OtherEarning, TimeEntry
from payroll_shared.money import round_cents
from payroll_shared.payrun import PayFrequency, pay_period

#: The work states the demo spreads employees over: no-income-tax states, flat
#: (PA) and allowance-based (IL) state withholding, California overtime, New York.
#: Every state the generator knows (minimum wages, CA overtime).
ALL_WORK_STATES: tuple[str, ...] = ("CA", "TX", "NY", "FL", "IL", "PA", "WA", "NV")
#: The default: states whose income tax withholding the payroll library computes (the
#: no-tax states, PA, IL). CA and NY employees would fail TaxCalc as unsupported.
WORK_STATES: tuple[str, ...] = ("TX", "FL", "IL", "PA", "WA", "NV")
#: State minimum wages (2025-2026) the hourly rates respect; elsewhere the demo floor.
_STATE_MIN_RATE_QUARTERS = {"CA": 66, "WA": 68, "NY": 66}
_DEMO_MIN_RATE_QUARTERS = 60  # $15.00
_MAX_RATE_QUARTERS = 300  # $75.00

BONUS_CODE = "BONUS"
REGULAR_CODE = "REG"

_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Christopher", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony",
    "Betty", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily",
    "Joshua", "Donna", "Kenneth", "Michelle", "Kevin", "Carol", "Brian", "Amanda", "Timothy",
    "Melissa", "Ronald", "Deborah", "Jason", "Stephanie", "Jeffrey", "Rebecca", "Ryan",
    "Laura", "Jacob", "Sharon", "Gary", "Cynthia", "Nicholas", "Kathleen", "Eric", "Amy",
    "Jonathan", "Angela", "Luis", "Sofia", "Carlos", "Valentina", "Jose", "Camila", "Juan",
    "Isabella", "Wei", "Mei", "Hiroshi", "Yuki", "Arjun", "Priya", "Rahul", "Ananya",
    "Mohammed", "Fatima", "Omar", "Aisha", "Kwame", "Amara", "Chinedu", "Ngozi", "Dmitri",
    "Olga", "Giovanni", "Francesca", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Mia",
    "Thanh", "Linh", "Seo-yeon", "Min-jun",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
    "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter",
    "Roberts", "Chen", "Wang", "Kim", "Park", "Patel", "Shah", "Singh", "Khan", "Ali",
    "Okafor", "Mensah", "Cohen", "Murphy", "O'Brien", "Kowalski", "Novak", "Rossi",
    "Müller", "Schmidt", "Ivanova", "Tanaka", "Sato", "Yamamoto", "Tran", "Pham",
    "Gupta", "Reyes", "Cruz", "Ortiz", "Morales", "Gutierrez", "Chavez", "Ramos",
    "Diaz", "Castillo", "Jimenez", "Vasquez", "Romero", "Alvarez", "Mendoza",
)  # fmt: skip
_EMPLOYER_PREFIXES = (
    "Cedar Ridge", "Harbor Point", "Summit", "Blue Mesa", "Lakeside", "Redwood", "Granite",
    "Prairie", "Coastal", "Northstar", "Ironwood", "Silver Creek", "Maple Leaf",
    "Golden Gate", "Lone Star", "Evergreen", "Keystone", "Empire", "Sunshine", "Desert Bloom",
    "Riverbend", "Pinecrest", "Bayview", "Copper Canyon", "Windy City", "Hudson", "Sierra",
    "Magnolia", "Cascade", "Liberty",
)  # fmt: skip
_EMPLOYER_TRADES = (
    "Logistics", "Dental Group", "Bakery", "Construction", "Health Partners", "Software",
    "Hospitality", "Auto Repair", "Landscaping", "Manufacturing", "Coffee Roasters",
    "Veterinary Clinic", "Property Management", "Brewing", "Home Care", "Engineering",
    "Printing", "Fitness", "Marketing", "Electric",
)  # fmt: skip
_EMPLOYER_SUFFIXES = ("LLC", "Inc.", "Co.", "Group", "Partners LLP", "Corp.")

_SCHEDULE_WEIGHTS = {"weekly": 20, "biweekly": 45, "semimonthly": 20, "monthly": 15}
_FILING_STATUS_WEIGHTS = {
    "single": 45,
    "married_filing_jointly": 35,
    "head_of_household": 15,
    "married_filing_separately": 5,
}
# (min age, max age, weight): some 50+ (catch-up) and 60-63 (the higher catch-up).
_AGE_BANDS = ((19, 21, 5), (22, 34, 30), (35, 49, 30), (50, 59, 20), (60, 63, 8), (64, 70, 7))
# Annual salary bands in dollars and their weights: 35k-250k, skewed low.
_SALARY_BANDS = ((35_000, 60_000, 35), (60_000, 100_000, 35), (100_000, 160_000, 20),
                 (160_000, 250_000, 10))  # fmt: skip
# Hourly rate bands in quarters of a dollar: $15-$75, skewed low.
_RATE_BANDS = ((60, 88, 45), (88, 140, 35), (140, 220, 15), (220, 300, 5))
# Flat 401(k) deferral per period in $25 steps (low, high), by pay frequency.
_FLAT_DEFERRAL_STEPS = {"weekly": (1, 4), "biweekly": (2, 10), "semimonthly": (2, 12),
                        "monthly": (4, 24)}  # fmt: skip
_OVERTIME_DAY_HOURS = ("9.00", "9.50", "10.00", "10.50", "11.00")
_SHORT_DAY_HOURS = ("4.00", "5.00", "6.00")
_SATURDAY_HOURS = ("4.00", "5.00", "6.00", "8.00")


def latest_period_end(schedule: PayFrequency | str, on_or_before: date) -> date:
    """The most recent date on or before ``on_or_before`` that ends a period of ``schedule``.

    Weekly and biweekly periods end on any date (the period is the 7 or 14 days up to
    it); semimonthly on the 15th and the month's last day; monthly on the last day.
    """
    frequency = PayFrequency(schedule)
    day = on_or_before
    if frequency in (PayFrequency.WEEKLY, PayFrequency.BIWEEKLY):
        return day
    last = calendar.monthrange(day.year, day.month)[1]
    if day.day == last:
        return day
    if frequency is PayFrequency.SEMIMONTHLY and day.day >= 15:
        return day.replace(day=15)
    return day.replace(day=1) - timedelta(days=1)


@dataclass(frozen=True)
class SeedData:
    """The rows ``seed`` inserts, grouped by table (each row a column -> value dict)."""

    employers: list[dict[str, Any]] = field(default_factory=list)
    employees: list[dict[str, Any]] = field(default_factory=list)
    time_entries: list[dict[str, Any]] = field(default_factory=list)
    other_earnings: list[dict[str, Any]] = field(default_factory=list)
    period_ends: dict[str, date] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedSummary:
    """What ``seed`` did. Counts are of rows inserted by this call."""

    seed: int
    pay_date: date
    employers: int
    employees: int
    hourly_employees: int
    salaried_employees: int
    time_entries: int
    other_earnings: int
    skipped_employers: int
    employers_by_schedule: dict[str, int]
    #: The period end each schedule's time entries and bonuses use (see latest_period_end).
    period_ends: dict[str, date]
    employer_ids: tuple[str, ...]


def _weighted(rng: Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _band(rng: Random, bands: tuple[tuple[int, int, int], ...]) -> tuple[int, int]:
    low, high, _ = rng.choices(bands, weights=[band[2] for band in bands])[0]
    return low, high


def _split(rng: Random, total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` uneven sizes (each at least 1 when possible)."""
    if parts <= 0:
        return []
    floor = 1 if total >= parts else 0
    spread = total - floor * parts
    weights = [rng.lognormvariate(0.0, 0.9) for _ in range(parts)]
    scale = sum(weights)
    shares = [spread * weight / scale for weight in weights]
    counts = [floor + int(share) for share in shares]
    by_remainder = sorted(range(parts), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    for index in by_remainder[: total - sum(counts)]:
        counts[index] += 1
    return counts


def _schedules(rng: Random, employers: int) -> list[str]:
    # Every schedule at least once (when there are four employers or more).
    chosen = list(_SCHEDULE_WEIGHTS)[: min(employers, len(_SCHEDULE_WEIGHTS))]
    chosen += [_weighted(rng, _SCHEDULE_WEIGHTS) for _ in range(employers - len(chosen))]
    rng.shuffle(chosen)
    return chosen


def _token(rng: Random) -> str:
    return f"tok_{rng.getrandbits(96):024x}"


def _money(whole: int) -> str:
    return f"{whole}.00"


def _birth_date(rng: Random, pay_date: date) -> date:
    low, high = _band(rng, _AGE_BANDS)
    age = rng.randint(low, high)
    # The last birthday fell 0-364 days before the pay date, so the age is exact.
    anniversary = pay_date - timedelta(days=rng.randint(0, 364))
    try:
        return anniversary.replace(year=anniversary.year - age)
    except ValueError:  # 29 February in a non-leap year
        return anniversary.replace(year=anniversary.year - age, day=28)


def _hire_date(rng: Random, birth_date: date, pay_date: date) -> date:
    adult = birth_date.replace(year=birth_date.year + 18, day=min(birth_date.day, 28))
    earliest = max(adult, pay_date - timedelta(days=25 * 365))
    # Hired before the longest (monthly) period that could end on the pay date began.
    latest = pay_date - timedelta(days=62)
    if earliest >= latest:
        return latest
    return earliest + timedelta(days=rng.randint(0, (latest - earliest).days))


def _w4(rng: Random, pay_date: date) -> dict[str, Any]:
    form: dict[str, Any] = {
        "form_year": 0,
        "filing_status": "single",
        "step2_checkbox": False,
        "step3_credits": "0.00",
        "step4a_other_income": "0.00",
        "step4b_deductions": "0.00",
        "step4c_extra_withholding": "0.00",
        "allowances": None,
    }
    if rng.random() < 0.15:
        # A W-4 from before 2020: allowances; "Married" maps to the joint tables.
        form["form_year"] = rng.randint(2008, 2019)
        form["filing_status"] = rng.choice(("single", "married_filing_jointly"))
        form["allowances"] = rng.choice((0, 1, 1, 2, 2, 3, 4, 5, 6))
        if rng.random() < 0.1:
            form["step4c_extra_withholding"] = _money(rng.randint(1, 10) * 10)
        return form
    form["form_year"] = rng.randint(2020, max(2020, pay_date.year))
    status = _weighted(rng, _FILING_STATUS_WEIGHTS)
    form["filing_status"] = status
    form["step2_checkbox"] = rng.random() < 0.15
    with_dependents = 0.4 if status in ("married_filing_jointly", "head_of_household") else 0.1
    if rng.random() < with_dependents:
        children, others = rng.randint(1, 3), rng.choice((0, 0, 0, 1))
        form["step3_credits"] = _money(2000 * children + 500 * others)
    if rng.random() < 0.08:
        form["step4a_other_income"] = _money(rng.randint(2, 40) * 500)
    if rng.random() < 0.10:
        form["step4b_deductions"] = _money(rng.randint(2, 30) * 500)
    if rng.random() < 0.12:
        form["step4c_extra_withholding"] = _money(rng.randint(1, 20) * 10)
    return form


def _retirement_plan(rng: Random) -> dict[str, Any]:
    """An employer's 401(k) match formula, copied into each employee's election."""
    formula = rng.choices(("none", "safe_harbor_basic", "flat_percent"), weights=(30, 40, 30))[0]
    if formula == "flat_percent":
        return {
            "match_formula": formula,
            "match_percent": rng.choice(("25", "50", "100")),
            "match_cap_percent": rng.choice(("4", "5", "6")),
        }
    return {"match_formula": formula, "match_percent": None, "match_cap_percent": None}


def _retirement(
    rng: Random, plan: dict[str, Any], frequency: str, age: int, part_time: bool
) -> dict[str, Any]:
    election: dict[str, Any] = {"deferral_percent": None, "deferral_amount": None, "roth": False}
    # Flat amounts only for full-time staff, so a short week cannot go below zero net.
    weights = (30, 50, 0 if part_time else 20)
    kind = rng.choices(("none", "percent", "amount"), weights=weights)[0]
    if kind == "percent":
        if age >= 50 and rng.random() < 0.25:
            # Savers past 50 who defer enough to reach the limit and use catch-up.
            election["deferral_percent"] = rng.choice(("15", "20", "25"))
        else:
            election["deferral_percent"] = rng.choice(("3", "4", "5", "6", "7", "7.5", "8", "10"))
    elif kind == "amount":
        low, high = _FLAT_DEFERRAL_STEPS[frequency]
        election["deferral_amount"] = _money(rng.randint(low, high) * 25)
    if kind != "none":
        election["roth"] = rng.random() < 0.25
    election.update(plan)
    return election


def _section125(rng: Random, frequency: str, part_time: bool) -> Decimal:
    # Part-time staff are not benefit-eligible here (and short weeks stay above zero net).
    if part_time or rng.random() >= 0.45:
        return Decimal("0.00")
    monthly_premium = Decimal(rng.randint(4, 16) * 25)
    periods = PayFrequency(frequency).periods_per_year
    return round_cents(monthly_premium * 12 / periods)


def _hourly_rate(rng: Random, state: str) -> Decimal:
    floor = _STATE_MIN_RATE_QUARTERS.get(state, _DEMO_MIN_RATE_QUARTERS)
    low, high = _band(rng, _RATE_BANDS)
    quarters = rng.randint(max(low, floor), max(high, floor))
    return Decimal(quarters * 25) / 100


def _salary(rng: Random) -> Decimal:
    low, high = _band(rng, _SALARY_BANDS)
    return Decimal(rng.randint(low // 250, high // 250) * 250).quantize(Decimal("0.01"))


def _time_entries(
    rng: Random, employee_id: str, part_time: bool, period_start: date, period_end: date
) -> list[dict[str, Any]]:
    works_saturdays = rng.random() < 0.25
    overtime_chance = rng.choice((0.0, 0.08, 0.15, 0.3))
    entries: list[dict[str, Any]] = []
    day = period_start
    while day <= period_end:
        hours: str | None = None
        weekday = day.weekday()
        if weekday < 5:
            if part_time:
                hours = rng.choice(_SHORT_DAY_HOURS) if rng.random() < 0.8 else None
            elif rng.random() < 0.03:
                hours = None  # a day off
            elif rng.random() < overtime_chance:
                hours = rng.choice(_OVERTIME_DAY_HOURS)
            else:
                hours = "8.00"
        elif weekday == 5 and works_saturdays and rng.random() < 0.5:
            hours = rng.choice(_SATURDAY_HOURS)
        if hours is not None:
            entries.append(
                {
                    "employee_id": employee_id,
                    "work_date": day,
                    "hours": Decimal(hours),
                    "earning_code": REGULAR_CODE,
                }
            )
        day += timedelta(days=1)
    return entries


def _employer_names(rng: Random, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = " ".join(
            (
                rng.choice(_EMPLOYER_PREFIXES),
                rng.choice(_EMPLOYER_TRADES),
                rng.choice(_EMPLOYER_SUFFIXES),
            )
        )
        if name in seen:
            name = f"{name} #{len(names) + 1}"
        seen.add(name)
        names.append(name)
    return names


def generate(
    *,
    employers: int = 20,
    employees: int = 1000,
    pay_date: date,
    seed: int = 7,
    work_states: Sequence[str] = WORK_STATES,
    employees_per_employer: int | None = None,
    pay_schedule: PayFrequency | str | None = None,
    inactive_share: float = 0.02,
) -> SeedData:
    """The demo data set, without touching a database (see ``seed``).

    By default ``employees`` are spread unevenly over the employers, the employers over
    every pay schedule, and about 2% of employees are inactive. A benchmark wants a
    fixed shape instead: ``employees_per_employer`` gives every employer exactly that
    many (``employees`` is then ignored), ``pay_schedule`` puts every employer on one
    schedule (one pay run), ``inactive_share=0`` keeps everyone active.
    """
    if employers < 0 or employees < 0 or (employees_per_employer or 0) < 0:
        raise ValueError("employers and employees must not be negative")
    if employees_per_employer is not None:
        employees = employees_per_employer * employers
    if employees and not employers:
        raise ValueError("employees need at least one employer")
    rng = Random(seed)
    data = SeedData()
    schedules = _schedules(rng, employers)
    if pay_schedule is not None:
        schedules = [PayFrequency(pay_schedule).value] * employers
    names = _employer_names(rng, employers)
    home_states = [work_states[i % len(work_states)] for i in range(employers)]
    rng.shuffle(home_states)
    sizes = _split(rng, employees, employers)
    if employees_per_employer is not None:
        sizes = [employees_per_employer] * employers
    periods = {
        schedule: pay_period(PayFrequency(schedule), latest_period_end(schedule, pay_date))
        for schedule in sorted(set(schedules))
    }
    data.period_ends.update({s: p.period_end for s, p in periods.items()})

    employee_number = 0
    for index in range(employers):
        employer_id = f"er-{seed}-{index + 1:04d}"
        schedule = schedules[index]
        period = periods[schedule]
        founded = pay_date - timedelta(days=rng.randint(90, 3650))
        data.employers.append(
            {
                "employer_id": employer_id,
                "name": names[index],
                "pay_schedule": schedule,
                "active": True,
                "fein": f"**-***{rng.randint(0, 9999):04d}",
                "created_at": datetime.combine(founded, time(9, 0), tzinfo=UTC),
            }
        )
        plan = _retirement_plan(rng)
        for _ in range(sizes[index]):
            employee_number += 1
            employee_id = f"ee-{seed}-{employee_number:06d}"
            state = home_states[index] if rng.random() < 0.85 else rng.choice(list(work_states))
            birth_date = _birth_date(rng, pay_date)
            age = (
                pay_date.year
                - birth_date.year
                - ((pay_date.month, pay_date.day) < (birth_date.month, birth_date.day))
            )
            hourly = rng.random() < 0.55
            part_time = hourly and rng.random() < 0.15
            active = rng.random() >= inactive_share
            state_withholding: dict[str, str] = {}
            if state == "IL":
                state_withholding = {
                    "il_line1_allowances": rng.choice(("0", "1", "1", "1", "2")),
                    "il_line2_allowances": rng.choice(("0", "0", "0", "1", "2", "3")),
                }
            data.employees.append(
                {
                    "employee_id": employee_id,
                    "employer_id": employer_id,
                    "first_name": rng.choice(_FIRST_NAMES),
                    "last_name": rng.choice(_LAST_NAMES),
                    "birth_date": birth_date,
                    "hire_date": _hire_date(rng, birth_date, pay_date),
                    "active": active,
                    "pay_type": "hourly" if hourly else "salary",
                    "pay_frequency": schedule,
                    "annual_salary": None if hourly else _salary(rng),
                    "hourly_rate": _hourly_rate(rng, state) if hourly else None,
                    "flsa_exempt": not hourly,
                    "overtime_rule": "california" if state == "CA" else "flsa",
                    "work_state": state,
                    "w4": _w4(rng, pay_date),
                    "state_withholding": state_withholding,
                    "retirement": _retirement(rng, plan, schedule, age, part_time),
                    "section125_per_period": _section125(rng, schedule, part_time),
                    "bank_account_token": _token(rng),
                    "tax_id_token": _token(rng),
                }
            )
            if not active:
                continue
            if hourly:
                data.time_entries.extend(
                    _time_entries(
                        rng, employee_id, part_time, period.period_start, period.period_end
                    )
                )
            if rng.random() < 0.06:
                data.other_earnings.append(
                    {
                        "employee_id": employee_id,
                        "pay_date": period.pay_date,
                        "code": BONUS_CODE,
                        "amount": Decimal(rng.randint(2, 100) * 50).quantize(Decimal("0.01")),
                    }
                )
    return data


def _insert(session: Session, data: SeedData) -> set[str]:
    """Insert the rows of employers not yet present; return the skipped employer ids."""
    wanted = [row["employer_id"] for row in data.employers]
    existing: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        existing.update(
            session.scalars(select(Employer.employer_id).where(Employer.employer_id.in_(chunk)))
        )
    employers = [row for row in data.employers if row["employer_id"] not in existing]
    employees = [row for row in data.employees if row["employer_id"] not in existing]
    new_ids = {row["employee_id"] for row in employees}
    time_entries = [row for row in data.time_entries if row["employee_id"] in new_ids]
    other_earnings = [row for row in data.other_earnings if row["employee_id"] in new_ids]
    # Parents first, for the foreign keys.
    for model, rows in (
        (Employer, employers),
        (Employee, employees),
        (TimeEntry, time_entries),
        (OtherEarning, other_earnings),
    ):
        if rows:
            session.execute(insert(model), rows)
    session.flush()
    return existing


def seed(
    session_or_engine: Session | Engine,
    *,
    employers: int = 20,
    employees: int = 1000,
    pay_date: date,
    seed: int = 7,
    work_states: Sequence[str] = WORK_STATES,
    employees_per_employer: int | None = None,
    pay_schedule: PayFrequency | str | None = None,
    inactive_share: float = 0.02,
) -> SeedSummary:
    """Insert the demo data set (``generate``) and say what was inserted.

    With an ``Engine`` the rows are committed here. With a ``Session`` they are only
    flushed: the caller owns the transaction and commits it.

    Employers already present (same id) are skipped with everything under them, so
    seeding twice is idempotent. ``pay_date`` picks each schedule's period:
    ``latest_period_end(schedule, pay_date)``, the pay date itself for weekly and
    biweekly employers. ``employees_per_employer``, ``pay_schedule`` and
    ``inactive_share``: see ``generate``.
    """
    data = generate(
        employers=employers,
        employees=employees,
        pay_date=pay_date,
        seed=seed,
        work_states=work_states,
        employees_per_employer=employees_per_employer,
        pay_schedule=pay_schedule,
        inactive_share=inactive_share,
    )
    if isinstance(session_or_engine, Session):
        skipped = _insert(session_or_engine, data)
    else:
        with Session(session_or_engine) as session, session.begin():
            skipped = _insert(session, data)

    employers_in = [row for row in data.employers if row["employer_id"] not in skipped]
    employees_in = [row for row in data.employees if row["employer_id"] not in skipped]
    new_ids = {row["employee_id"] for row in employees_in}
    hourly = sum(1 for row in employees_in if row["pay_type"] == "hourly")
    return SeedSummary(
        seed=seed,
        pay_date=pay_date,
        employers=len(employers_in),
        employees=len(employees_in),
        hourly_employees=hourly,
        salaried_employees=len(employees_in) - hourly,
        time_entries=sum(1 for row in data.time_entries if row["employee_id"] in new_ids),
        other_earnings=sum(1 for row in data.other_earnings if row["employee_id"] in new_ids),
        skipped_employers=len(skipped),
        employers_by_schedule=dict(
            sorted(Counter(r["pay_schedule"] for r in employers_in).items())
        ),
        period_ends=dict(data.period_ends),
        employer_ids=tuple(row["employer_id"] for row in employers_in),
    )


__all__ = [
    "ALL_WORK_STATES",
    "BONUS_CODE",
    "REGULAR_CODE",
    "WORK_STATES",
    "SeedData",
    "SeedSummary",
    "generate",
    "latest_period_end",
    "seed",
]
