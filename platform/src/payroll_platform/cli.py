"""``payroll``: the local cloud, demo data and pay runs from the command line.

payroll local up | down | status     the local cloud in the background
payroll seed                          demo employers, employees and time entries
payroll run --demo                    seed, bring the cloud up, run a pay run, report
payroll run --pay-date 2026-07-31     trigger pay runs on a running local cloud
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from payroll_platform.paths import REPO_ROOT

DEMO_PAY_DATE = date(2026, 7, 31)  # a Friday and a month end: every schedule has a period end


def _local(args: argparse.Namespace) -> int:
    from payroll_platform.local import cloud

    run_dir = Path(args.run_dir)
    if args.action == "up":
        state = cloud.up(run_dir)
        print(json.dumps(state, indent=2))
    elif args.action == "down":
        print("stopped" if cloud.down(run_dir) else "not running")
    else:
        state = cloud.read_state(run_dir)
        print(json.dumps(state, indent=2) if state else "not running")
        return 0 if state else 1
    return 0


def _seed(args: argparse.Namespace) -> int:
    from payroll_platform.db.engine import make_engine
    from payroll_platform.db.migrate import migrate
    from payroll_platform.db.seed import seed

    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        run_dir = Path(args.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{run_dir / 'payroll.sqlite'}"
    migrate(url)
    summary = seed(
        make_engine(url),
        employers=args.employers,
        employees=args.employees,
        pay_date=args.pay_date,
        seed=args.seed,
    )
    print(json.dumps(_jsonable(summary), indent=2, default=str))
    return 0


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    return value


def _run(args: argparse.Namespace) -> int:
    from payroll_platform.payrun import run_demo, run_on_running_cloud

    if args.demo:
        return run_demo(
            employers=args.employers,
            employees=args.employees,
            pay_date=args.pay_date,
            seed=args.seed,
            chunk_size=args.chunk_size,
            runs_dir=Path(args.runs_dir),
        )
    return run_on_running_cloud(
        pay_date=args.pay_date, run_dir=Path(args.run_dir), runs_dir=Path(args.runs_dir)
    )


def _paycheck(args: argparse.Namespace) -> int:
    from payroll_shared.calc.command import main as paycheck_main

    return paycheck_main([args.file] if args.file else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="payroll", description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default=str(REPO_ROOT / ".local-cloud"))
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local cloud")
    local.add_argument("action", choices=["up", "down", "status"])
    local.set_defaults(func=_local)

    seed = commands.add_parser("seed", help="demo data into the relational database")
    seed.add_argument("--employers", type=int, default=20)
    seed.add_argument("--employees", type=int, default=1000)
    seed.add_argument("--pay-date", type=date.fromisoformat, default=DEMO_PAY_DATE)
    seed.add_argument("--seed", type=int, default=7)
    seed.add_argument("--database-url")
    seed.set_defaults(func=_seed)

    paycheck = commands.add_parser(
        "paycheck", help="one employee's period as JSON in, the paycheck as JSON out"
    )
    paycheck.add_argument("file", nargs="?", help="input JSON (default: standard input)")
    paycheck.set_defaults(func=_paycheck)

    run = commands.add_parser("run", help="run a pay run on the local cloud")
    run.add_argument("--demo", action="store_true", help="seed and bring the cloud up first")
    run.add_argument("--pay-date", type=date.fromisoformat, default=DEMO_PAY_DATE)
    run.add_argument("--employers", type=int, default=20)
    run.add_argument("--employees", type=int, default=1000)
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--chunk-size", type=int, default=25)
    run.add_argument("--runs-dir", default=str(REPO_ROOT / "runs"))
    run.set_defaults(func=_run)

    # jsii prints a banner on every CDK import under Node 20 unless told it was seen.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
