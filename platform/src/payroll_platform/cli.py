"""``payroll``: the local cloud, demo data and pay runs from the command line.

payroll local up | down | status     the local cloud in the background
payroll seed                          demo employers, employees and time entries
payroll run --demo                    seed, bring the cloud up, run a pay run, report
payroll run --pay-date 2026-07-31     trigger pay runs on a running local cloud
payroll bench --employers 10 --employees-per-employer 20 --chunk-size 25
                                      one measured pay run on a fresh local cloud
payroll bench-scale --employers 10,100 --employees-per-employer 100 --repeat 3
                                      measured pay runs of several sizes, interleaved:
                                      the medians per employee and their spread
payroll chaos --seed 1 --employers 10 --employees 500 --fault-rate 0.2
                                      a pay run under injected faults, checked for
                                      exactly-once payment (chaos-report.json)
payroll dlq list|show|redrive|discard the process dead letters, through the redrive API
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
#: ``payroll bench``'s Lambda workers per function. Measured on two cores (README): 1,000
#: employees in 65 s with 1, 62 s with 2, 70 s with 4; 10,000 in 600 s and 1,981 MiB with
#: 1, 654 s and 3,061 MiB with 4. The local cloud itself stays at 4.
BENCH_LAMBDA_CONCURRENCY = 1
#: ... except MoneyMovement's: two. Every employer's payments go through it, one employer
#: per worker at a time, after the other steps worked through it in chunks: the run's
#: only serial stage. Interleaved at 10,000 (2026-12-02): 54.3 and 60.5 s with two,
#: 58.3 and 64.0 s with one, 1.8 GiB peak RSS summed instead of 1.7.
BENCH_SERVICE_CONCURRENCY = (("money-movement", 2),)


def _service_concurrency(text: str) -> tuple[tuple[str, int], ...]:
    from payroll_platform.bench.runner import parse_service_concurrency

    try:
        return parse_service_concurrency(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _local(args: argparse.Namespace) -> int:
    from payroll_platform.local import cloud

    run_dir = Path(args.run_dir)
    if args.action == "up":
        state = cloud.up(run_dir)
        print(json.dumps(state, indent=2))
    elif args.action == "down":
        print("stopped" if cloud.down(run_dir) else "not running")
    else:
        running = cloud.read_state(run_dir)
        print(json.dumps(running, indent=2) if running else "not running")
        return 0 if running else 1
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


def _bench(args: argparse.Namespace) -> int:
    from payroll_platform.bench.runner import print_result, run_bench
    from payroll_shared.payrun import PayFrequency

    runs_dir = Path(args.runs_dir)
    result = run_bench(
        employers=args.employers,
        employees_per_employer=args.employees_per_employer,
        chunk_size=args.chunk_size,
        seed=args.seed,
        pay_date=args.pay_date,
        schedule=PayFrequency(args.schedule),
        runs_dir=runs_dir,
        run_dir=Path(args.run_dir) / "bench",
        library_n=args.library_n,
        timeout_s=args.timeout,
        lambda_concurrency=args.lambda_concurrency,
        poller_concurrency=args.poller_concurrency,
        service_concurrency=args.service_concurrency,
        baseline_chunk_size=args.baseline_chunk_size,
        baseline_employers=args.baseline_employers,
    )
    print_result(result, runs_dir / result["pay_run_id"] / "bench.json")
    baseline = result.get("baseline") or {"paid": 0, "employees": 0}
    everyone_paid = (
        result["paid"] == result["employees"] and baseline["paid"] == baseline["employees"]
    )
    return 0 if everyone_paid else 1


def _add_pay_run_shape(parser: argparse.ArgumentParser) -> None:
    """What ``bench`` and ``bench-scale`` share: every size's shape and local cloud."""
    parser.add_argument("--employees-per-employer", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pay-date", type=date.fromisoformat, default=DEMO_PAY_DATE)
    parser.add_argument(
        "--schedule",
        default="biweekly",
        choices=["weekly", "biweekly", "semimonthly", "monthly"],
        help="every seeded employer's pay schedule: one pay run",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for each pay run")
    parser.add_argument(
        "--lambda-concurrency",
        type=int,
        default=BENCH_LAMBDA_CONCURRENCY,
        help="warm workers per function at most (Lambda's concurrency locally; default "
        f"{BENCH_LAMBDA_CONCURRENCY}: on two cores as fast as more, and 10,000 employees "
        "stay under 2 GiB; the local cloud's own default is 4)",
    )
    parser.add_argument(
        "--service-concurrency",
        type=_service_concurrency,
        default=BENCH_SERVICE_CONCURRENCY,
        help="workers per function of these services instead of --lambda-concurrency "
        "(default money-movement=2: it pays one employer at a time per worker, the "
        "run's only serial stage; its deployed event source allows 5; '' for none)",
    )
    parser.add_argument(
        "--poller-concurrency",
        type=int,
        default=None,
        help="batches each queue's event source has in flight at once (default 2)",
    )
    parser.add_argument("--runs-dir", default=str(REPO_ROOT / "runs"))


def _bench_scale(args: argparse.Namespace) -> int:
    from payroll_platform.bench.runner import PayRunShape
    from payroll_platform.bench.scale import print_scale, run_scale
    from payroll_shared.payrun import PayFrequency

    counts = [int(n) for n in args.employers.split(",") if n.strip()]
    shape = PayRunShape(
        employers=counts[0] if counts else 0,
        employees_per_employer=args.employees_per_employer,
        chunk_size=args.chunk_size,
        seed=args.seed,
        pay_date=args.pay_date,
        schedule=PayFrequency(args.schedule),
        timeout_s=args.timeout,
        lambda_concurrency=args.lambda_concurrency,
        poller_concurrency=args.poller_concurrency,
        service_concurrency=args.service_concurrency,
    )
    runs_dir = Path(args.runs_dir)
    result = run_scale(shape, counts, args.repeat, runs_dir, Path(args.run_dir) / "bench-scale")
    print_scale(result, runs_dir / "bench-scale.json")
    return 0 if all(row["all_paid"] for row in result["sizes"]) else 1


def _chaos(args: argparse.Namespace) -> int:
    from payroll_platform.chaos.runner import ChaosOptions, print_report, run_chaos

    options = ChaosOptions(
        employers=args.employers,
        employees=args.employees,
        fault_rate=args.fault_rate,
        chunk_size=args.chunk_size,
        heartbeat_s=args.heartbeat,
        disabled=list(args.without or []),
        ignore_idempotency_keys=args.provider_ignores_idempotency_keys,
        timeout_s=args.timeout,
    )
    runs_dir = Path(args.runs_dir)
    report = run_chaos(args.seed, options, Path(args.run_dir) / "chaos", runs_dir)
    print_report(report, runs_dir / report["pay_run_id"] / "chaos-report.json")
    return 0 if report["invariants_hold"] else 1


def _paycheck(args: argparse.Namespace) -> int:
    from payroll_shared.calc.command import main as paycheck_main

    return paycheck_main([args.file] if args.file else [])


#: A deployed redrive API's stage URL (``https://<id>.execute-api.<region>.amazonaws.com/v1``).
API_URL_ENV = "PAYROLL_REDRIVE_API_URL"


def _dlq_api_url(args: argparse.Namespace) -> str | None:
    """The API to call: ``--api-url``, else the environment, else the running local cloud."""
    if args.api_url:
        return str(args.api_url)
    if os.environ.get(API_URL_ENV):
        return os.environ[API_URL_ENV]
    from payroll_platform.local import cloud

    state = cloud.read_state(Path(args.run_dir))
    url = (state or {}).get("redrive_api_url")
    return str(url) if url else None


def _dlq_table(body: Any) -> str:
    """A few columns of a listing, for a person reading along."""
    rows = [("RECORD_KEY", "PAY_RUN", "EMPLOYER", "EMPLOYEE", "STEP", "ERROR", "COPIES")]
    for entry in body.get("records", []) if isinstance(body, dict) else []:
        record = entry.get("record", {})
        rows.append(
            (
                str(entry.get("record_key", "")),
                str(record.get("pay_run_id") or "-"),
                str(record.get("employer_id") or "-"),
                str(record.get("employee_id") or "-"),
                str(record.get("step") or "-"),
                str((record.get("error") or {}).get("code") or "-"),
                str(entry.get("copies", "")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    total = body.get("approximate_total") if isinstance(body, dict) else None
    lines.append(f"{len(rows) - 1} record(s); about {total} message(s) on the queue")
    return "\n".join(line.rstrip() for line in lines)


def _dlq(args: argparse.Namespace) -> int:
    import requests

    from payroll_platform.local.api_gateway import DlqClient

    url = _dlq_api_url(args)
    if url is None:
        print(
            f"no redrive API: start the local cloud (payroll local up), or give --api-url "
            f"or {API_URL_ENV}",
            file=sys.stderr,
        )
        return 1
    filters = {
        "pay_run_id": getattr(args, "pay_run_id", None),
        "employer_id": getattr(args, "employer_id", None),
        "error_code": getattr(args, "error_code", None),
    }
    client = DlqClient(url)
    try:
        if args.action == "list":
            status, body = client.list(**filters)
        elif args.action == "show":
            status, body = client.show(args.record)
        elif args.action == "discard":
            status, body = client.discard(args.record, args.reason)
        elif args.all:
            status, body = client.redrive_all(**filters)
        else:
            status, body = client.redrive(args.record)
    except requests.RequestException as exc:
        print(f"calling the redrive API at {url} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(json.dumps(body, indent=2))
    if args.action == "list" and 200 <= status < 300:
        print(_dlq_table(body), file=sys.stderr)
    elif not 200 <= status < 300:
        print(f"HTTP {status}", file=sys.stderr)
    return 0 if 200 <= status < 300 else 1


def _dlq_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """``payroll dlq ...``; the ``redrive`` parser (its RECORD / --all check is in main)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url",
        help=f"a deployed redrive API's stage URL (default: ${API_URL_ENV}, else the running "
        "local cloud's); calls to a deployed API are signed with SigV4 (execute-api) with "
        "the default AWS credentials",
    )
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--pay-run-id")
    filters.add_argument("--employer-id")
    filters.add_argument("--error-code")
    record_help = "a record id (pay_run/employer/employee) or its record_key"

    dlq = commands.add_parser("dlq", help="the process dead letters, through the redrive API")
    actions = dlq.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "list", parents=[common, filters], help="the dead letters (JSON; a table on stderr)"
    )
    show = actions.add_parser("show", parents=[common], help="one dead letter")
    show.add_argument("record", help=record_help)
    redrive = actions.add_parser(
        "redrive", parents=[common, filters], help="redrive one dead letter, or --all matching"
    )
    redrive.add_argument("record", nargs="?", help=record_help)
    redrive.add_argument(
        "--all", action="store_true", help="every dead letter matching the filters"
    )
    discard = actions.add_parser(
        "discard", parents=[common], help="delete a dead letter, with an audited reason"
    )
    discard.add_argument("record", help=record_help)
    discard.add_argument("--reason", required=True, help="why (kept in the audit entry)")
    dlq.set_defaults(func=_dlq)
    return redrive


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

    bench = commands.add_parser(
        "bench",
        help="one measured pay run on a fresh local cloud: throughput, memory, AWS requests, "
        "cost per 1,000 employees (runs/<pay_run_id>/bench.json)",
    )
    bench.add_argument("--employers", type=int, default=10)
    _add_pay_run_shape(bench)
    bench.add_argument(
        "--library-n", type=int, default=5000, help="paychecks for the library-alone rate"
    )
    bench.add_argument(
        "--baseline-chunk-size",
        type=int,
        default=None,
        help="also run a pay run with this chunk size (1: the seed's flow) on a fresh cloud, "
        "counted and priced the same way, as the comparison",
    )
    bench.add_argument(
        "--baseline-employers",
        type=int,
        default=None,
        help="employers of the baseline pay run (as many employees each; default 2)",
    )
    bench.set_defaults(func=_bench)

    scale = commands.add_parser(
        "bench-scale",
        help="measured pay runs of several sizes, each on a fresh local cloud, interleaved "
        "over --repeat rounds: medians per employee and their spread (runs/bench-scale.json)",
    )
    scale.add_argument(
        "--employers",
        default="10,100",
        help="comma-separated employer counts, one pay run size each (default 10,100)",
    )
    _add_pay_run_shape(scale)
    scale.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    scale.set_defaults(func=_bench_scale)

    from payroll_platform.chaos.runner import ChaosOptions

    chaos = commands.add_parser(
        "chaos",
        help="a pay run with faults injected, redriven, then checked: paid exactly once? "
        "(runs/<pay_run_id>/chaos-report.json; exit 0 only when the invariants hold)",
    )
    chaos.add_argument("--seed", type=int, default=1, help="the faults' and the data's seed")
    chaos.add_argument("--employers", type=int, default=10)
    chaos.add_argument("--employees", type=int, default=500, help="per employer")
    chaos.add_argument("--fault-rate", type=float, default=0.2, help="per fault point, 0..1")
    chaos.add_argument("--chunk-size", type=int, default=ChaosOptions.chunk_size)
    chaos.add_argument(
        "--heartbeat",
        type=int,
        default=ChaosOptions.heartbeat_s,
        help="task-token heartbeat seconds (lost answers; also the longest queue wait)",
    )
    chaos.add_argument(
        "--without", action="append", metavar="KIND", help="leave a fault kind out (repeatable)"
    )
    chaos.add_argument(
        "--provider-ignores-idempotency-keys",
        action="store_true",
        help="switch a protection off: the check must then fail",
    )
    chaos.add_argument("--timeout", type=float, default=3600, help="seconds per wait")
    chaos.add_argument("--runs-dir", default=str(REPO_ROOT / "runs"))
    chaos.set_defaults(func=_chaos)

    redrive = _dlq_parser(commands)

    # jsii prints a banner on every CDK import under Node 20 unless told it was seen.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    args = parser.parse_args(argv)
    if args.command == "dlq" and args.action == "redrive":
        if args.all == bool(args.record):
            redrive.error("give either a RECORD or --all")
        has_filters = args.pay_run_id or args.employer_id or args.error_code
        if args.record and has_filters:
            redrive.error("--pay-run-id, --employer-id and --error-code go with --all")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
