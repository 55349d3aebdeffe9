"""``python -m payroll_platform.db migrate|seed``: set up a database from a shell."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date

from payroll_platform.db.engine import get_engine
from payroll_platform.db.migrate import current_revision, migrate
from payroll_platform.db.seed import seed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m payroll_platform.db", description=__doc__)
    parser.add_argument(
        "--url",
        help="database URL (default: DATABASE_URL, else RDS Proxy, else sqlite:///payroll.sqlite)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the schema to the newest revision")
    seeding = commands.add_parser("seed", help="migrate, then insert the demo data")
    seeding.add_argument("--pay-date", type=date.fromisoformat, required=True)
    seeding.add_argument("--employers", type=int, default=20)
    seeding.add_argument("--employees", type=int, default=1000)
    seeding.add_argument("--seed", type=int, default=7)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    engine = get_engine(args.url)
    migrate(engine=engine)
    if args.command == "seed":
        summary = seed(
            engine,
            employers=args.employers,
            employees=args.employees,
            pay_date=args.pay_date,
            seed=args.seed,
        )
        print(json.dumps(asdict(summary), default=str, indent=2))
    else:
        print(json.dumps({"revision": current_revision(engine)}))
    return 0
