"""Drive pay runs on the local cloud: trigger, watch, report.

The trigger is the same GetEmployers function the schedules invoke in AWS, so
``payroll run`` exercises the deployed path: GetEmployers -> the state machine -> the
queues and step consumers. The report is read back from the status tables.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from payroll_shared import names
from payroll_shared.contracts import PayRunTrigger, stored_results
from payroll_shared.names import PlatformParam
from payroll_shared.payrun import PayFrequency, pay_run_id

#: The local cloud's subscriber of the completion topic (a queue).
NOTICES_QUEUE = "payroll-local-completion-notices"
#: After the workflow: employer validation, then payment.
DOWNSTREAM_SERVICES = ("employer-validation", "money-movement")

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
MONEY_COLUMNS = (
    "gross_pay",
    "regular_pay",
    "overtime_pay",
    "section125",
    "deferral",
    "employer_match",
    "taxable_wages",
    "federal_income_tax",
    "social_security",
    "medicare",
    "additional_medicare",
    "state_income_tax",
    "employer_social_security",
    "employer_medicare",
    "futa",
    "net_pay",
)


@dataclass
class PayRunView:
    pay_run_id: str
    start: dict[str, Any]
    status: str = "PENDING"
    execution_arn: str | None = None
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None


class PayRunDriver:
    def __init__(self, client_factory: Any, stage: str) -> None:
        self.client = client_factory
        self.stage = stage

    def param(self, path: str) -> str:
        value: str = self.client("ssm").get_parameter(Name=path)["Parameter"]["Value"]
        return value

    def trigger(self, schedule: PayFrequency, pay_date: date) -> PayRunView:
        function = self.param(names.service_param(self.stage, "orchestration", names.FUNCTION_NAME))
        trigger = PayRunTrigger(pay_schedule=schedule, pay_date=pay_date, requested_by="cli")
        response = self.client("lambda").invoke(
            FunctionName=function, Payload=trigger.model_dump_json().encode()
        )
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise RuntimeError(f"GetEmployers failed: {payload}")
        view = PayRunView(pay_run_id=pay_run_id(schedule, pay_date), start=payload)
        view.execution_arn = payload.get("execution_arn")
        view.status = "RUNNING" if view.execution_arn else str(payload.get("status"))
        return view

    def refresh(self, view: PayRunView) -> None:
        if view.execution_arn is None or view.status in TERMINAL:
            return
        described = self.client("stepfunctions").describe_execution(executionArn=view.execution_arn)
        view.status = described["status"]
        if view.status in TERMINAL and view.finished_at is None:
            view.finished_at = time.monotonic()

    def employee_items(self, pay_run: str | None = None) -> list[dict[str, Any]]:
        table = self.param(
            names.platform_param(self.stage, PlatformParam.EMPLOYEE_STATUS_TABLE_NAME)
        )
        return self._scan(table, "pay_run_id", pay_run)

    def employer_items(self, pay_run: str | None = None) -> list[dict[str, Any]]:
        table = self.param(
            names.platform_param(self.stage, PlatformParam.EMPLOYER_STATUS_TABLE_NAME)
        )
        return self._scan(table, "pay_run_id", pay_run)

    def _scan(self, table: str, key: str, value: str | None) -> list[dict[str, Any]]:
        paginator = self.client("dynamodb").get_paginator("scan")
        items: list[dict[str, Any]] = []
        for page in paginator.paginate(TableName=table, ConsistentRead=True):
            for raw in page["Items"]:
                item = {k: _plain(v) for k, v in raw.items()}
                if value is None or str(item.get(key, item.get("pk", ""))).startswith(value):
                    items.append(item)
        return items

    def settle(self, timeout_s: float = 600) -> None:
        """Wait until validation and payment have nothing left to do (visible or in
        flight): the workflow ends before its employers are validated and paid."""
        sqs = self.client("sqs")
        urls = [
            self.param(names.service_param(self.stage, service, names.QUEUE_URL))
            for service in DOWNSTREAM_SERVICES
        ]
        quiet = 0
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = 0
            for url in urls:
                attributes = sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                busy += sum(int(v) for v in attributes.values())
            quiet = quiet + 1 if busy == 0 else 0
            if quiet >= 3:
                return
            time.sleep(0.5)
        raise TimeoutError("employer validation and payment did not settle")

    def _peek(self, url: str) -> list[dict[str, Any]]:
        """Every message body on a queue, without consuming it: each message received is
        hidden until the queue is read through, then made visible again."""
        sqs = self.client("sqs")
        bodies: dict[str, dict[str, Any]] = {}
        receipts: list[str] = []
        try:
            while True:
                got = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120
                ).get("Messages", [])
                if not got:
                    break
                for message in got:
                    bodies[message["MessageId"]] = json.loads(message["Body"])
                    receipts.append(message["ReceiptHandle"])
        finally:
            for start in range(0, len(receipts), 10):
                sqs.change_message_visibility_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                        for i, handle in enumerate(receipts[start : start + 10])
                    ],
                )
        return list(bodies.values())

    def dead_letters(self, pay_run: str) -> int:
        url = self.param(names.platform_param(self.stage, PlatformParam.PROCESS_DLQ_URL))
        return sum(1 for body in self._peek(url) if body.get("pay_run_id") == pay_run)

    def notices(self, pay_run: str) -> list[dict[str, Any]]:
        """Completion notices of a pay run, as the local topic subscriber received them."""
        sqs = self.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=NOTICES_QUEUE)["QueueUrl"]
        except Exception:
            return []
        return [body for body in self._peek(url) if body.get("pay_run_id") == pay_run]

    def payments(self, pay_run: str) -> list[dict[str, Any]]:
        """The payment provider's record of this pay run's payments (the truth)."""
        import requests

        base = self.param(names.service_param(self.stage, "money-movement", "payment-api-url"))
        data = requests.get(f"{base}/v1/payments", timeout=30).json()["data"]
        return [p for p in data if str(p.get("reference", "")).startswith(f"{pay_run}/")]


def _plain(value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    if kind == "M":
        return {k: _plain(v) for k, v in raw.items()}
    if kind == "L":
        return [_plain(v) for v in raw]
    if kind == "N":
        return Decimal(raw)
    if kind == "NULL":
        return None
    return raw


def _results(item: dict[str, Any]) -> dict[str, Any]:
    """Every step result's figures of a status item, in one mapping."""
    merged: dict[str, Any] = {}
    for result in stored_results(item).values():
        merged.update(result)
    return merged


def report(driver: PayRunDriver, view: PayRunView, runs_dir: Path) -> dict[str, Any]:
    """Write runs/<pay_run_id>/summary.json and pay-register.csv; return the summary."""
    employees = [i for i in driver.employee_items() if i.get("pay_run_id") == view.pay_run_id]
    employers = driver.employer_items(view.pay_run_id)
    counts = Counter(str(i.get("status")) for i in employees)
    payments = driver.payments(view.pay_run_id)
    out = runs_dir / view.pay_run_id
    out.mkdir(parents=True, exist_ok=True)
    gross = net = Decimal("0.00")
    with (out / "pay-register.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["employer_id", "employee_id", "status", "failed_step", "error", *MONEY_COLUMNS]
        )
        for item in sorted(employees, key=lambda i: (i["employer_id"], i["employee_id"])):
            results = _results(item)
            if item.get("status") in {"CALCULATED", "COMMITTED", "PAID"}:
                gross += Decimal(results.get("gross_pay", "0"))
                net += Decimal(results.get("net_pay", "0"))
            writer.writerow(
                [
                    item["employer_id"],
                    item["employee_id"],
                    item.get("status"),
                    item.get("failed_step") or "",
                    item.get("error_message") or "",
                    *[results.get(column, "") for column in MONEY_COLUMNS],
                ]
            )
    finished = view.finished_at or time.monotonic()
    summary = {
        "pay_run_id": view.pay_run_id,
        "execution_status": view.status,
        "employers": len(employers),
        "employees": len(employees),
        "calculated": counts["CALCULATED"] + counts["COMMITTED"] + counts["PAID"],
        "failed": counts["FAILED"],
        "in_progress": sum(
            n for s, n in counts.items() if s not in {"CALCULATED", "COMMITTED", "PAID", "FAILED"}
        ),
        "dead_lettered": driver.dead_letters(view.pay_run_id),
        "paid": counts["PAID"],
        "gross_total": str(gross),
        "net_total": str(net),
        "payments_total": str(
            sum(
                (Decimal(p["amount"]) for p in payments if p["status"] == "accepted"),
                Decimal("0.00"),
            )
        ),
        "notices_published": len(driver.notices(view.pay_run_id)),
        "duration_s": round(finished - view.started_at, 3),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def watch(driver: PayRunDriver, views: list[PayRunView], timeout_s: float = 1800) -> None:
    """A live progress bar of employees done (calculated or failed) until every run ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    deadline = time.monotonic() + timeout_s
    running = [v for v in views if v.execution_arn]
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task("employees", total=None, detail="")
        while time.monotonic() < deadline:
            for view in running:
                driver.refresh(view)
            items = driver.employee_items()
            counts = Counter(str(i.get("status")) for i in items)
            done = counts["CALCULATED"] + counts["FAILED"] + counts["COMMITTED"] + counts["PAID"]
            employers = len(driver.employer_items())
            progress.update(
                task,
                total=max(len(items), 1),
                completed=done,
                detail=f"employers {employers}  failed {counts['FAILED']}  "
                + " ".join(f"{v.pay_run_id}:{v.status}" for v in running),
            )
            if all(v.status in TERMINAL for v in running):
                return
            time.sleep(1.0)
    raise TimeoutError("pay runs did not finish in time")


def print_summaries(summaries: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Pay runs")
    columns = (
        "pay_run_id", "execution_status", "employers", "employees", "calculated",
        "failed", "dead_lettered", "paid", "gross_total", "net_total", "payments_total",
        "notices_published", "duration_s",
    )  # fmt: skip
    for column in columns:
        table.add_column(column)
    for summary in summaries:
        table.add_row(*[str(summary[c]) for c in columns])
    console = Console()
    console.width = max(console.width, 150)  # a pipe or CI log reports 80 columns
    console.print(table)


def due_schedules(pay_date: date) -> list[PayFrequency]:
    from payroll_shared.payrun import pay_period

    due = []
    for schedule in PayFrequency:
        try:
            pay_period(schedule, pay_date)
        except ValueError:
            continue
        due.append(schedule)
    return due


def run_all(driver: PayRunDriver, pay_date: date, runs_dir: Path) -> list[dict[str, Any]]:
    views = [driver.trigger(schedule, pay_date) for schedule in due_schedules(pay_date)]
    for view in views:
        print(f"{view.pay_run_id}: {json.dumps(view.start)}")
    watch(driver, views)
    driver.settle()
    summaries = [report(driver, view, runs_dir) for view in views if view.execution_arn]
    print_summaries(summaries)
    for summary in summaries:
        print(f"wrote {runs_dir / summary['pay_run_id']}/summary.json and pay-register.csv")
    return summaries


def fresh_database(run_dir: Path, **seed_options: Any) -> tuple[str, Any]:
    """An empty ``run_dir`` with a migrated SQLite database seeded with ``seed_options``
    (``payroll_platform.db.seed.seed``'s keywords); its URL and the seed summary."""
    from payroll_platform.db.engine import make_engine
    from payroll_platform.db.migrate import migrate
    from payroll_platform.db.seed import seed

    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    database_url = f"sqlite:///{run_dir / 'payroll.sqlite'}"
    migrate(database_url)
    return database_url, seed(make_engine(database_url), **seed_options)


def run_demo(
    *, employers: int, employees: int, pay_date: date, seed: int, chunk_size: int, runs_dir: Path
) -> int:
    from payroll_platform.local.cloud import DEFAULT_RUN_DIR, LocalCloud, LocalCloudConfig

    run_dir = DEFAULT_RUN_DIR / "demo"
    database_url, seeded = fresh_database(
        run_dir, employers=employers, employees=employees, pay_date=pay_date, seed=seed
    )
    print(f"seeded {employers} employers, {employees} employees: {seeded}")
    config = LocalCloudConfig(
        run_dir=run_dir,
        database_url=database_url,
        extra_context={"payroll:chunk-size": str(chunk_size)},
    )
    print("bringing the local cloud up (synthesizes the CDK app once, then cached)...")
    with LocalCloud(config) as cloud:
        print(f"local cloud at {cloud.endpoint_url}: {json.dumps(cloud.timings)}")
        driver = PayRunDriver(cloud.client, config.stage)
        summaries = run_all(driver, pay_date, runs_dir)
    failed = [s for s in summaries if s["execution_status"] != "SUCCEEDED"]
    return 1 if failed or not summaries else 0


def run_on_running_cloud(*, pay_date: date, run_dir: Path, runs_dir: Path) -> int:
    import boto3

    from payroll_platform.local.cloud import read_state

    state = read_state(run_dir)
    if state is None:
        print("the local cloud is not running: `payroll local up` first, or use --demo")
        return 2
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fixed credentials
        region_name=state["region"],
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=state["endpoint_url"])  # type: ignore[call-overload]

    summaries = run_all(PayRunDriver(client, state["stage"]), pay_date, runs_dir)
    return 0 if summaries and all(s["execution_status"] == "SUCCEEDED" for s in summaries) else 1
