"""``payroll bench``: one whole local pay run, measured (see ``payroll_platform.bench``)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from random import Random
from typing import Any

from payroll_platform.bench.cost import PRICES_FILE, cost_usd, load_prices, per_1000_employees
from payroll_platform.bench.memory import PeakMemory
from payroll_platform.paths import REPO_ROOT
from payroll_shared.payrun import PayFrequency, pay_period
from payroll_shared.payrun import pay_run_id as pay_run_id_for

LIBRARY_BENCH = REPO_ROOT / "shared" / "bench" / "bench_paycheck.py"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

APPROXIMATIONS = [
    "aws_ops counts the HTTP requests the local cloud served from the trigger until every "
    "employer's completion notice (or, if an employer cannot be paid, until validation and "
    "payment are idle); the benchmark's own watching and reporting is counted apart "
    "(observer_requests) and not priced.",
    "Step Functions state transitions are counted from moto's execution history events, "
    "including the iterations of both distributed maps (their child executions): one per "
    "state entered plus one per task retry.",
    "Lambda GB-seconds: each handler call timed in the local worker (excluding the wait "
    "for a free worker), rounded up to the ms, at the function's configured MemorySize; "
    "local CPU speed is not Lambda's. The pay run's functions ran their INIT phase when the "
    "local cloud started (local_cloud.timings.init_s for all of them, as with provisioned "
    "concurrency): neither its time nor its GB-seconds are in the run's figures.",
    "DynamoDB request units are estimated from item sizes (moto reports none): a write "
    "ceil(size/1 KB) of the larger of the item before and after, failed conditional writes "
    "included, twice that per item of a TransactWriteItems (cancelled ones included); a "
    "read ceil(size/4 KB), half when eventually consistent; query and scan on "
    "the items returned (a filter's discarded items are not seen).",
    "SQS and SNS: one request per 64 KB chunk; receives that returned nothing are reported "
    "(sqs.empty_receives) but not priced, since their number follows the local pollers' 1 s "
    "long poll, not the pay run.",
    "Not seen locally and not priced: calls AWS services make to KMS on the pipeline's "
    "behalf, Step Functions' CloudWatch Logs and X-Ray, data transfer, storage, the "
    "database (Aurora Serverless v2, RDS Proxy), VPC costs, free tiers.",
]


def load_library_bench() -> Any:
    """``shared/bench/bench_paycheck.py`` (a script, not a package), or None if absent."""
    if not LIBRARY_BENCH.exists():
        return None
    spec = importlib.util.spec_from_file_location("bench_paycheck", LIBRARY_BENCH)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def library_rate(n: int = 5000, seed: int = 7, repeat: int = 3) -> dict[str, Any] | None:
    """Paychecks per second through the payroll library alone (``calculate``, one core,
    the inputs of ``shared/bench/bench_paycheck.py``): best of ``repeat`` runs."""
    module = load_library_bench()
    if module is None or n <= 0:
        return None
    from payroll_shared.calc import PaycheckError, PaycheckInput, calculate
    from payroll_shared.calc.paycheck import to_request

    rng = Random(seed)
    requests = [to_request(PaycheckInput.model_validate(module.employee(rng))) for _ in range(n)]
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        for request in requests:
            with contextlib.suppress(PaycheckError):
                calculate(request)
        best_wall = min(best_wall, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu_started)
    return {
        "n": n,
        "repeat": repeat,
        "path": "payroll_shared.calc.calculate",
        "paychecks_per_s": round(n / best_wall, 1),
        "paychecks_per_cpu_s": round(n / max(best_cpu, 1e-9), 1),
    }


class _ObserverClients:
    """Clients for watching the run: marked so the local cloud counts them apart. The
    trigger (a Lambda invoke of GetEmployers, as the schedule does) is pipeline."""

    def __init__(self, cloud: Any) -> None:
        from botocore.config import Config

        from payroll_platform.local.aws_ops import OBSERVER_MARK

        self._session = cloud.session()
        self._endpoint = cloud.endpoint_url
        self._config = Config(user_agent_extra=OBSERVER_MARK)
        self._clients: dict[str, Any] = {}
        # Made now, not in the measured run: a client's first making is botocore's JSON
        # parsed in the cloud's own process.
        for service in self.SERVICES:
            self(service)

    #: What the benchmark asks of the cloud: the trigger, parameters, queues, the workflow.
    SERVICES = ("lambda", "ssm", "sqs", "stepfunctions", "dynamodb")

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            config = None if service == "lambda" else self._config
            self._clients[service] = self._session.client(
                service, endpoint_url=self._endpoint, config=config
            )
        return self._clients[service]


def _queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


#: How often the benchmark counts the notices (in process: no request, a lock and a
#: list), and reads the workflow's state. The end of a run is seen within ``WATCH_S``.
WATCH_S = 0.05
WORKFLOW_WATCH_S = 1.0


def wait_until_done(
    driver: Any, view: Any, cloud: Any, employers: int, timeout_s: float
) -> tuple[float, str]:
    """Until every employer's completion notice is out (all paid), or the workflow ended
    and validation and payment are idle (some employer cannot be paid). The time it was
    first true, and which."""
    from payroll_platform.payrun import DOWNSTREAM_SERVICES

    sqs = driver.client("sqs")
    downstream = [_service_queue_url(driver, service) for service in DOWNSTREAM_SERVICES]
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    # The notices are counted every WATCH_S, in the local cloud's own SQS (no request:
    # the end is seen within that), the workflow's state only every WORKFLOW_WATCH_S
    # (the watching shares the local cloud's process).
    refreshed = float("-inf")
    while time.monotonic() < deadline:
        now = time.monotonic()
        if cloud.notices_received() >= employers:
            return now, "notices"
        if now - refreshed >= WORKFLOW_WATCH_S:
            driver.refresh(view)
            refreshed = now
        if view.status in TERMINAL:
            busy = sum(_queue_depth(sqs, url) for url in downstream)
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= 2.0:
                return quiet_since, "idle"
        time.sleep(WATCH_S)
    raise TimeoutError(f"the pay run did not finish in {timeout_s:.0f} s")


GAUGE_SCRIPT = """
import time
best = float("inf")
for _ in range({repeat}):
    started = time.perf_counter()
    total = 0
    for i in range({n}):
        total += i
    best = min(best, time.perf_counter() - started)
print(best * 1000)
"""


def machine_gauge_ms(repeat: int = 5, n: int = 1_000_000) -> float | None:
    """Milliseconds one core takes for a fixed piece of pure Python (``n`` additions),
    best of ``repeat``, in a fresh interpreter (not this process, whose threads serve the
    local cloud): the machine's speed at the time of the run. On a shared host it
    changes from hour to hour, and every duration with it; a slower gauge explains a
    slower run of the same code."""
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", GAUGE_SCRIPT.format(repeat=repeat, n=n)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    try:
        return round(float(completed.stdout.strip()), 1)
    except ValueError:
        return None


def _load_average() -> float | None:
    """The 1-minute load average: other work on the machine skews the figures."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _service_queue_url(driver: Any, service: str) -> str:
    from payroll_shared import names

    return str(driver.param(names.service_param(driver.stage, service, names.QUEUE_URL)))


@dataclass(frozen=True)
class PayRunShape:
    """What one measured pay run is: its size, chunking and local concurrency."""

    employers: int
    employees_per_employer: int
    chunk_size: int
    seed: int
    pay_date: date
    schedule: PayFrequency
    timeout_s: float
    lambda_concurrency: int | None = None
    poller_concurrency: int | None = None
    #: Workers per function of these services instead of ``lambda_concurrency``.
    service_concurrency: tuple[tuple[str, int], ...] = ()


def _measured_run(
    shape: PayRunShape, runs_dir: Path, run_dir: Path, prices: dict[str, Any]
) -> dict[str, Any]:
    """One pay run on a fresh local cloud, measured from the trigger to the last notice."""
    from payroll_platform.local.cloud import LocalCloud, LocalCloudConfig
    from payroll_platform.payrun import PayRunDriver, fresh_database, report

    database_url, seeded = fresh_database(
        run_dir,
        employers=shape.employers,
        employees_per_employer=shape.employees_per_employer,
        pay_date=shape.pay_date,
        seed=shape.seed,
        pay_schedule=shape.schedule,
        inactive_share=0.0,
    )
    config = LocalCloudConfig(
        run_dir=run_dir,
        database_url=database_url,
        extra_context={"payroll:chunk-size": str(shape.chunk_size)},
    )
    if shape.lambda_concurrency is not None:
        config.lambda_concurrency = shape.lambda_concurrency
    if shape.poller_concurrency is not None:
        config.poller_concurrency = shape.poller_concurrency
    config.service_concurrency = dict(shape.service_concurrency)
    started_up = time.monotonic()
    with LocalCloud(config) as cloud:
        startup_s = time.monotonic() - started_up
        driver = PayRunDriver(_ObserverClients(cloud), config.stage)
        load_before = _load_average()
        gauge_before = machine_gauge_ms()
        with PeakMemory(interval_s=1.0) as memory:
            cloud.reset_aws_ops()
            started = time.monotonic()
            view = driver.trigger(shape.schedule, shape.pay_date)
            view.started_at = started
            if view.execution_arn is None:
                raise RuntimeError(f"the pay run did not start: {json.dumps(view.start)}")
            finished, ended_by = wait_until_done(
                driver, view, cloud, shape.employers, shape.timeout_s
            )
            ops = cloud.aws_ops()
        process_labels = cloud.process_labels()
        gauge_after = machine_gauge_ms()
        summary = report(driver, view, runs_dir)
        timings = dict(cloud.timings)
    duration = finished - started
    processed = int(summary["employees"])
    costs = cost_usd(ops, prices)
    return {
        "pay_run_id": view.pay_run_id,
        "execution_status": view.status,
        "ended_by": ended_by,
        "seeded_employees": seeded.employees,
        "summary": summary,
        "employees": processed,
        "duration_s": duration,
        "memory": memory,
        "cpu_s_by_process": memory.cpu_s_by(process_labels),
        "ops": ops,
        "costs": costs,
        "per_1000": per_1000_employees(costs, processed),
        "startup_s": startup_s,
        "timings": timings,
        "config": config,
        "load_before": load_before,
        "gauge_ms": {"before": gauge_before, "after": gauge_after},
    }


def format_service_concurrency(pairs: tuple[tuple[str, int], ...]) -> str:
    """``money-movement=2,...`` (``parse_service_concurrency``'s input)."""
    return ",".join(f"{service}={workers}" for service, workers in pairs)


def parse_service_concurrency(text: str) -> tuple[tuple[str, int], ...]:
    """``money-movement=2,...``: workers per function of each service named."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        service, _, workers = part.partition("=")
        if not service or not workers.isdigit() or int(workers) < 1:
            raise ValueError(f"{part!r}: expected <service>=<workers of at least 1>")
        pairs.append((service, int(workers)))
    return tuple(pairs)


def run_in_subprocess(shape: PayRunShape, run_dir: Path) -> dict[str, Any]:
    """One more measured pay run (the comparison, or one of ``bench-scale``'s), in a
    process of its own: moto's backends live in the process that serves them, so a
    second local cloud in this one would meet the first's stacks. Its ``bench.json``."""
    runs_dir = run_dir / "runs"
    command = [
        sys.executable, "-m", "payroll_platform.cli", "--run-dir", str(run_dir),
        "bench", "--employers", str(shape.employers),
        "--employees-per-employer", str(shape.employees_per_employer),
        "--chunk-size", str(shape.chunk_size), "--seed", str(shape.seed),
        "--pay-date", shape.pay_date.isoformat(), "--schedule", shape.schedule.value,
        "--timeout", str(shape.timeout_s), "--library-n", "0", "--runs-dir", str(runs_dir),
    ]  # fmt: skip
    if shape.lambda_concurrency is not None:
        command += ["--lambda-concurrency", str(shape.lambda_concurrency)]
    if shape.poller_concurrency is not None:
        command += ["--poller-concurrency", str(shape.poller_concurrency)]
    command += ["--service-concurrency", format_service_concurrency(shape.service_concurrency)]
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own command
        command, capture_output=True, text=True, timeout=shape.timeout_s + 600, check=False
    )
    out = runs_dir / pay_run_id_for(shape.schedule, shape.pay_date) / "bench.json"
    if not out.exists():
        raise RuntimeError(
            f"the pay run of {shape.employers} x {shape.employees_per_employer} at chunk size "
            f"{shape.chunk_size} failed: "
            f"{completed.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def run_bench(
    *,
    employers: int,
    employees_per_employer: int,
    chunk_size: int,
    runs_dir: Path,
    run_dir: Path,
    seed: int = 7,
    pay_date: date = date(2026, 7, 31),
    schedule: PayFrequency = PayFrequency.BIWEEKLY,
    library_n: int = 5000,
    timeout_s: float = 3600,
    lambda_concurrency: int | None = None,
    poller_concurrency: int | None = None,
    service_concurrency: tuple[tuple[str, int], ...] = (),
    baseline_chunk_size: int | None = None,
    baseline_employers: int | None = None,
) -> dict[str, Any]:
    """Seed exactly ``employers`` x ``employees_per_employer`` active employees on one
    schedule, bring a fresh local cloud up with ``chunk_size``, run that schedule's pay
    run through payment and notices, and write ``runs/<pay_run_id>/bench.json`` (with the
    run's ``summary.json`` and ``pay-register.csv`` beside it). With
    ``baseline_chunk_size``, a second pay run of ``baseline_employers`` employers (as many
    employees each) on a fresh cloud with that chunk size, counted and priced the same
    way, is the comparison (``baseline``, ``cost_ratio_vs_baseline``). Returns the result."""
    if employers < 1 or employees_per_employer < 1 or chunk_size < 1:
        raise ValueError("employers, employees per employer and chunk size must be at least 1")
    if baseline_chunk_size is not None and baseline_chunk_size < 1:
        raise ValueError("the baseline chunk size must be at least 1")
    pay_period(schedule, pay_date)  # a date that does not end a period is an error now
    prices = load_prices()
    shape = PayRunShape(
        employers=employers,
        employees_per_employer=employees_per_employer,
        chunk_size=chunk_size,
        seed=seed,
        pay_date=pay_date,
        schedule=schedule,
        timeout_s=timeout_s,
        lambda_concurrency=lambda_concurrency,
        poller_concurrency=poller_concurrency,
        service_concurrency=service_concurrency,
    )
    run = _measured_run(shape, runs_dir, run_dir, prices)
    baseline: dict[str, Any] | None = None
    if baseline_chunk_size is not None:
        base_employers = baseline_employers or min(employers, 2)
        base = run_in_subprocess(
            replace(shape, employers=base_employers, chunk_size=baseline_chunk_size),
            run_dir.with_name(run_dir.name + "-baseline"),
        )
        baseline = {
            "chunk_size": baseline_chunk_size,
            "employers": base_employers,
            "employees_per_employer": employees_per_employer,
            "employees": base["employees"],
            "paid": base["paid"],
            "duration_s": base["duration_s"],
            "employees_per_s": base["employees_per_s"],
            "state_transitions": base["aws_ops"]["stepfunctions"]["state_transitions"],
            "aws_cost_per_1000_employees_usd": base["aws_cost_per_1000_employees_usd"],
            "aws_cost_per_1000_employees_by_service_usd": base[
                "aws_cost_per_1000_employees_by_service_usd"
            ],
        }
    library = library_rate(n=library_n, seed=seed)

    summary = run["summary"]
    duration = run["duration_s"]
    processed = run["employees"]
    memory = run["memory"]
    per_1000 = run["per_1000"]
    config = run["config"]
    result: dict[str, Any] = {
        "pay_run_id": run["pay_run_id"],
        "execution_status": run["execution_status"],
        "ended_by": run["ended_by"],
        "employers": employers,
        "employees_per_employer": employees_per_employer,
        "seeded_employees": run["seeded_employees"],
        "employees": processed,
        "paid": summary["paid"],
        "failed": summary["failed"],
        "notices_published": summary["notices_published"],
        "chunk_size": chunk_size,
        "seed": seed,
        "pay_date": pay_date.isoformat(),
        "pay_schedule": schedule.value,
        "duration_s": round(duration, 3),
        "employees_per_s": round(processed / duration, 3) if duration > 0 else None,
        "peak_rss_mb": memory.peak_rss_mb,
        "peak_pss_mb": memory.peak_pss_mb,
        "peak_cloud_rss_mb": memory.peak_root_rss_mb,
        "peak_processes": memory.peak_processes,
        "cpu_s": memory.cpu_s,
        "cpu_ms_per_employee": (
            round(1000 * memory.cpu_s / processed, 3) if memory.cpu_s and processed else None
        ),
        "cpu_s_by_process": run["cpu_s_by_process"],
        "aws_ops": run["ops"],
        "aws_cost_usd": run["costs"],
        "aws_cost_per_1000_employees_usd": per_1000["total"],
        "aws_cost_per_1000_employees_by_service_usd": per_1000,
        "baseline": baseline,
        "cost_ratio_vs_baseline": (
            round(baseline["aws_cost_per_1000_employees_usd"] / per_1000["total"], 1)
            if baseline is not None and per_1000["total"] > 0
            else None
        ),
        "prices": {
            "file": f"payroll_platform/bench/{PRICES_FILE}",
            "region": prices["region"],
            "as_of": prices["as_of"],
        },
        "library_paychecks_per_s": library["paychecks_per_s"] if library else None,
        "library": library,
        "local_cloud": {
            "startup_s": round(run["startup_s"], 3),
            "timings": run["timings"],
            "lambda_concurrency": config.lambda_concurrency,
            "poller_concurrency": config.poller_concurrency,
            "service_concurrency": config.service_concurrency,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m": {"before": run["load_before"], "after": _load_average()},
            # The machine's speed before and after the run, and how its CPU time was spent
            # during it (steal: given by the host to other machines).
            "gauge_ms": run["gauge_ms"],
            "cpu_during_run": memory.machine,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "approximations": APPROXIMATIONS,
    }
    out = runs_dir / run["pay_run_id"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _machine_text(machine: dict[str, Any]) -> str:
    share = machine.get("cpu_during_run") or {}
    gauge = machine.get("gauge_ms") or {}
    return (
        f"busy {share.get('busy_pct')}%, idle {share.get('idle_pct')}%, steal "
        f"{share.get('steal_pct')}%; gauge {gauge.get('before')} / {gauge.get('after')} ms"
    )


def print_result(result: dict[str, Any], path: Path) -> None:
    """A readable summary of ``bench.json``."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 120)
    head = Table(title=f"payroll bench {result['pay_run_id']}", show_header=False)
    head.add_column("figure")
    head.add_column("value", justify="right")
    rows = [
        ("employers x employees", f"{result['employers']} x {result['employees_per_employer']}"),
        ("chunk size", str(result["chunk_size"])),
        ("employees (paid / failed)", f"{result['employees']} ({result['paid']} / "
         f"{result['failed']})"),
        ("notices", str(result["notices_published"])),
        ("duration", f"{result['duration_s']:.1f} s ({result['ended_by']})"),
        ("employees per second", f"{result['employees_per_s']}"),
        ("CPU of the cloud and its workers", f"{result['cpu_s']} s "
         f"({result['cpu_ms_per_employee']} ms per employee)"),
        ("CPU seconds by process (top 4)", ", ".join(
            f"{label} {cpu}" for label, cpu in list(result["cpu_s_by_process"].items())[:4])),
        ("machine during the run", _machine_text(result["machine"])),
        ("peak RSS (sum) / PSS", f"{result['peak_rss_mb']} MB / {result['peak_pss_mb']} MB "
         f"({result['peak_processes']} processes)"),
        ("peak RSS of the cloud's own process", f"{result.get('peak_cloud_rss_mb')} MB"),
        ("library paychecks per second", f"{result['library_paychecks_per_s']}"),
        ("AWS cost of the run", f"${result['aws_cost_usd']['total']:.6f}"),
        ("AWS cost per 1,000 employees", f"${result['aws_cost_per_1000_employees_usd']:.4f}"),
    ]  # fmt: skip
    baseline = result.get("baseline")
    if baseline:
        rows.append((
            f"baseline: chunk size {baseline['chunk_size']}, {baseline['employees']} employees",
            f"${baseline['aws_cost_per_1000_employees_usd']:.4f} per 1,000 "
            f"({result['cost_ratio_vs_baseline']}x), {baseline['duration_s']:.1f} s",
        ))  # fmt: skip
    for name, value in rows:
        head.add_row(name, value)
    console.print(head)

    ops = result["aws_ops"]
    table = Table(title="AWS requests by service (pipeline only)")
    for column in ("service", "operations", "billed as", "$ per 1,000 employees"):
        table.add_column(column)
    per_1000 = result["aws_cost_per_1000_employees_by_service_usd"]
    billed = {
        "stepfunctions": f"{ops['stepfunctions']['state_transitions']} state transitions",
        "lambda": f"{ops['lambda']['invocations']} invocations "
        f"({ops['lambda']['cold_invocations']} cold), {ops['lambda']['gb_seconds']:.1f} GB-s "
        f"({ops['lambda']['cold_gb_seconds']:.1f} cold)",
        "sqs": f"{ops['sqs']['billable_requests'] - ops['sqs']['empty_receives']} requests "
        f"(+{ops['sqs']['empty_receives']} empty receives)",
        "dynamodb": f"{ops['dynamodb']['write_request_units']:.0f} WRU, "
        f"{ops['dynamodb']['read_request_units']:.1f} RRU",
        "s3": f"{ops['s3']['put_class_requests']} PUT-class, "
        f"{ops['s3']['get_class_requests']} GET-class",
        "sns": f"{ops['sns']['billable_publishes']} publishes",
        "kms": f"{ops['kms']['requests']} requests",
        "logs": f"{ops['logs']['lambda_log_bytes'] / 1024:.0f} KB of handler logs",
    }
    services = sorted(set(ops["requests"]) | set(billed))
    for service in services:
        operations = ops["requests"].get(service, {})
        text = ", ".join(f"{op} {n}" for op, n in sorted(operations.items(), key=lambda i: -i[1]))
        table.add_row(
            service,
            text or "-",
            billed.get(service, "not priced"),
            f"{per_1000[service]:.5f}" if service in per_1000 else "-",
        )
    console.print(table)
    console.print(f"wrote {path}")
