"""Benchmark (not a test): paychecks per second through the payroll library, one core.

    python shared/bench/bench_paycheck.py [--n 100000] [--seed 7] [--entry-point]

Builds ``--n`` varied employees deterministically (salaried and hourly, FLSA and
California, every filing status, old and new W-4s, TX/FL/PA/IL, 401(k) elections,
year-to-date figures around the limits), then times ``calculate`` - the internal path
that ``compute_paycheck`` wraps - over all of them. ``--entry-point`` times the
pydantic entry point (validation of the JSON-shaped input and of the output) instead.
The rate is reported per second of this process's CPU time (the loop is single-threaded)
and of wall-clock time, for each of ``--repeat`` runs and for the best one (a busy shared
machine makes single runs noisy).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal

from payroll_shared.calc import PaycheckError, PaycheckInput, calculate, compute_paycheck
from payroll_shared.calc.paycheck import PaycheckRequest, to_request

STATUSES = ["single", "married_filing_jointly", "married_filing_separately", "head_of_household"]
FREQUENCIES = ["weekly", "biweekly", "semimonthly", "monthly"]
WEEKS = {"weekly": 1, "biweekly": 2, "semimonthly": 2, "monthly": 4}


def _money(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low * 100, high * 100) / 100:.2f}"


def employee(rng: random.Random) -> dict[str, object]:
    frequency = rng.choice(FREQUENCIES)
    hourly = rng.random() < 0.5
    old_w4 = rng.random() < 0.15
    w4: dict[str, object] = {"filing_status": rng.choice(STATUSES)}
    if old_w4:
        w4.update(form_year=2018, allowances=rng.randint(0, 5))
    else:
        w4.update(
            step2_checkbox=rng.random() < 0.2,
            step3_credits=rng.choice(["0.00", "2000.00", "4000.00"]),
            step4a_other_income=rng.choice(["0.00", "0.00", "5000.00"]),
            step4b_deductions=rng.choice(["0.00", "0.00", "3000.00"]),
            step4c_extra_withholding=rng.choice(["0.00", "0.00", "25.00"]),
        )
    state = rng.choice(["TX", "FL", "PA", "IL", "IL"])
    ytd_gross = _money(rng, 0, 250_000)
    data: dict[str, object] = {
        "tax_year": rng.choice([2025, 2026]),
        "pay_frequency": frequency,
        "pay_type": "hourly" if hourly else "salary",
        "w4": w4,
        "work_state": state,
        "state_withholding": (
            {"il_line1_allowances": str(rng.randint(0, 3)), "il_line2_allowances": "0"}
            if state == "IL"
            else {}
        ),
        "retirement": {
            "deferral_percent": str(rng.choice([0, 3, 4, 5, 6, 10, 15])),
            "roth": rng.random() < 0.2,
            "match_formula": rng.choice(["none", "safe_harbor_basic"]),
        },
        "age": rng.randint(20, 70),
        "ytd": {
            "gross": ytd_gross,
            "fica_wages": ytd_gross,
            "medicare_wages": ytd_gross,
            "retirement_deferrals": _money(rng, 0, 30_000),
            "prior_year_fica_wages": _money(rng, 0, 300_000),
        },
        "bonus": rng.choice(["0.00", "0.00", "0.00", "250.00"]),
        "section125": rng.choice(["0.00", "45.00", "120.00"]),
    }
    if hourly:
        data["hourly_rate"] = _money(rng, 15, 90)
        data["overtime_rule"] = rng.choice(["flsa", "california"])
        data["daily_hours"] = [
            [str(rng.choice([0, 0, 8, 8, 8, 9, 10, 11, 12.5])) for _ in range(7)]
            for _ in range(WEEKS[frequency])
        ]
    else:
        data["annual_salary"] = _money(rng, 30_000, 400_000)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--entry-point", action="store_true")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    inputs = [PaycheckInput.model_validate(employee(rng)) for _ in range(args.n)]
    requests: list[PaycheckRequest] = [to_request(i) for i in inputs]

    path = "compute_paycheck (pydantic entry point)" if args.entry_point else "calculate"
    runs: list[tuple[float, float]] = []
    for _ in range(args.repeat):
        refused = 0
        net = Decimal(0)
        start, cpu_start = time.perf_counter(), time.process_time()
        if args.entry_point:
            for paycheck_input in inputs:
                try:
                    net += compute_paycheck(paycheck_input).net_pay
                except PaycheckError:
                    refused += 1
        else:
            for request in requests:
                try:
                    net += calculate(request).net_pay
                except PaycheckError:
                    refused += 1
        runs.append((time.process_time() - cpu_start, time.perf_counter() - start))
        sys.stdout.write(
            f"run {len(runs)}: {args.n / runs[-1][0]:,.0f} paychecks/s of CPU time, "
            f"{args.n / runs[-1][1]:,.0f} wall clock\n"
        )
    cpu, elapsed = min(runs)
    sys.stdout.write(
        f"{args.n} paychecks via {path} on one core, best of {args.repeat}: "
        f"{args.n / cpu:,.0f} paychecks/s of CPU time ({cpu:.2f}s), "
        f"{args.n / elapsed:,.0f} paychecks/s wall clock ({elapsed:.2f}s); "
        f"{refused} refused; total net {net}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
