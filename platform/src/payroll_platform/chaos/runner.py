"""A chaos run: a pay run with faults on, redriven until nothing more can succeed, checked.

``payroll chaos --seed N --employers E --employees M --fault-rate P``:

1. seeds E weekly employers of M employees each (ids carry the seed) into a fresh
   database and brings the local cloud up with a fault plan (``local.faults``): every
   point of the pipeline injects faults at rate P, the payment emulator included;
2. triggers the weekly pay run (the trigger command itself may be killed mid-run and
   then given again for the same period), waits for the workflow and the queues;
3. redrives as the schedule does (``redrive`` service, scheduled mode) round after
   round, faults still on, until a round starts nothing;
4. checks the invariants (``chaos.invariants``) against the provider's record, the
   ledger, the status tables, the dead letters and the notices, and writes
   ``runs/<pay_run_id>/chaos-report.json``.

``ChaosSession`` runs several seeds on one local cloud (the nightly-style test): each
seed gets its own employers and its own pay date, and the previous seed's employers
are made inactive so every pay run holds only its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from payroll_platform.local.faults import (
    EMULATOR_KINDS,
    FaultPlan,
    Faults,
    Point,
    emulator_config,
    injected,
)
from payroll_platform.payrun import PayRunDriver, PayRunView
from payroll_shared.payrun import PayFrequency, pay_run_id

#: Seed N pays on this Friday plus N-1 weeks, repeating every 40 seeds so that every
#: pay date stays in tax year 2026: seeds 1 and 41 share a pay run, and one local
#: cloud can run at most 40 different seeds.
FIRST_PAY_DATE = date(2026, 3, 6)
PAY_DATES = 40
#: The payment API's read timeout in a chaos run, and the emulator's delay of a
#: timeout fault (longer than that): a timed-out payment costs seconds, not ten.
PAYMENT_READ_TIMEOUT_S = 2.0
PAYMENT_FAULT_DELAY_S = 3.0
MAX_REDRIVE_ROUNDS = 12
#: Lambda's longest run (15 minutes) and a minute more.
REDRIVE_INVOKE_TIMEOUT_S = 960


def pay_date_for(seed: int) -> date:
    return FIRST_PAY_DATE + timedelta(weeks=(seed - 1) % PAY_DATES)


@dataclass
class ChaosOptions:
    employers: int = 10
    employees: int = 500
    fault_rate: float = 0.2
    chunk_size: int = 100
    #: Task-token heartbeat: how long a lost answer holds a chunk before it is asked
    #: again. It also bounds how long a chunk may wait in its queue before a worker
    #: picks it up, so a large run needs the deployed default: at 120 s, a run of
    #: 10 x 500 timed out on the local workers' backlog, not on faults.
    heartbeat_s: int = 600
    #: Fault kinds left out.
    disabled: list[str] = field(default_factory=list)
    #: The provider ignores Idempotency-Key: a protection switched off (the check must fail).
    ignore_idempotency_keys: bool = False
    timeout_s: float = 3600


def cloud_context(options: ChaosOptions) -> dict[str, str]:
    return {
        "payroll:chunk-size": str(options.chunk_size),
        "payroll:step-heartbeat-seconds": str(options.heartbeat_s),
        "payroll:step-timeout-seconds": str(max(300, options.heartbeat_s * 10)),
        # Faults stay on while redriving: a transient failure may need a few attempts.
        "payroll:redrive-max-attempts": str(MAX_REDRIVE_ROUNDS),
    }


class ChaosSession:
    """Chaos runs on one local cloud (``cloud``: a started ``LocalCloud`` whose config
    names ``faults_file``)."""

    def __init__(self, cloud: Any, database_url: str, runs_dir: Path) -> None:
        self.cloud = cloud
        self.database_url = database_url
        self.runs_dir = runs_dir
        self.driver = PayRunDriver(cloud.client, cloud.config.stage)
        self.plan_path: Path = cloud.config.faults_file
        self._previous_seed: int | None = None

    # -- data -------------------------------------------------------------------------
    def seed_data(self, seed: int, options: ChaosOptions) -> None:
        from sqlalchemy import update

        from payroll_platform.db.engine import make_engine
        from payroll_platform.db.models import Employer
        from payroll_platform.db.seed import seed as seed_database

        engine = make_engine(self.database_url)
        try:
            with engine.begin() as connection:  # earlier seeds' employers: not in this run
                connection.execute(
                    update(Employer).where(Employer.active.is_(True)).values(active=False)
                )
            seed_database(
                engine,
                employers=options.employers,
                employees=options.employers * options.employees,
                employees_per_employer=options.employees,
                pay_date=pay_date_for(seed),
                pay_schedule=PayFrequency.WEEKLY,
                seed=seed,
                inactive_share=0.0,
            )
        finally:
            engine.dispose()

    # -- faults -----------------------------------------------------------------------
    def faults_on(self, seed: int, options: ChaosOptions, log_path: Path) -> FaultPlan:
        log_path.unlink(missing_ok=True)
        plan = FaultPlan(
            seed=seed, rate=options.fault_rate, log_path=str(log_path), disabled=options.disabled
        )
        plan.write(self.plan_path)
        payments = self.cloud.payments
        payments.reset_fault_stats()
        payments.set_faults(**emulator_config(plan, PAYMENT_FAULT_DELAY_S))
        payments.ignore_idempotency_keys = options.ignore_idempotency_keys
        return plan

    def faults_off(self) -> dict[str, int]:
        """Stop injecting; the payment faults the emulator injected, by our kind names."""
        self.plan_path.unlink(missing_ok=True)
        payments = self.cloud.payments
        stats: dict[str, int] = payments.fault_stats()
        payments.clear_faults()
        payments.ignore_idempotency_keys = False
        return {ours: stats.get(theirs, 0) for ours, theirs in EMULATOR_KINDS.items()}

    # -- the run ----------------------------------------------------------------------
    def trigger(self, plan: FaultPlan, pay_date: date) -> PayRunView:
        """Trigger the weekly pay run; the trigger command may be killed mid-run first."""
        faults = Faults(plan)
        pay_run = pay_run_id(PayFrequency.WEEKLY, pay_date)
        if faults.draw(Point.TRIGGER, f"trigger:{pay_run}"):
            command = [
                sys.executable, "-m", "payroll_platform.chaos.runner", "trigger",
                str(self.cloud.config.run_dir), pay_date.isoformat(),
            ]  # fmt: skip
            process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(0.5 + 3.0 * faults.uniform("trigger-kill", pay_run))
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        last: Exception | None = None
        for _ in range(5):  # the command given again, as an operator would
            try:
                return self.driver.trigger(PayFrequency.WEEKLY, pay_date)
            except Exception as exc:  # GetEmployers failed (faults): give it again
                last = exc
                time.sleep(1.0)
        raise RuntimeError(f"the trigger failed five times: {last}")

    def wait_for_executions(self, timeout_s: float) -> None:
        sfn = self.cloud.client("stepfunctions")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            running = sum(
                len(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"])
                for arn in self.cloud.state_machine_arns
            )
            if running == 0:
                return
            time.sleep(1.0)
        raise TimeoutError("executions still running")

    def settle(self, timeout_s: float) -> None:
        self.wait_for_executions(timeout_s)
        self.driver.settle(timeout_s)

    def queue_depths(self) -> dict[str, int]:
        """Messages left on every queue (visible and in flight), by queue name."""
        sqs = self.cloud.client("sqs")
        depths: dict[str, int] = {}
        for url in sqs.list_queues().get("QueueUrls", []):
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            count = sum(int(v) for v in attributes.values())
            if count:
                depths[url.rsplit("/", 1)[-1]] = count
        return depths

    def redrive_round(self) -> dict[str, Any]:
        """One scheduled Redrive invocation; its outcomes by action.

        Invoked as the schedule does, synchronously, with the function's own time to
        finish: a round that redrives many employers takes minutes (botocore's 60 s read
        timeout ended a 10 x 500 run), and a timed-out invoke is not sent again.
        """
        from botocore.config import Config

        client = self.cloud.session().client(
            "lambda",
            endpoint_url=self.cloud.endpoint_url,
            config=Config(read_timeout=REDRIVE_INVOKE_TIMEOUT_S, retries={"max_attempts": 0}),
        )
        function = self.cloud.function_name("redrive", "Scheduled")
        event = {"source": "aws.events", "detail-type": "Scheduled Event"}
        for _ in range(5):
            answer = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
            result = json.loads(answer["Payload"].read() or b"{}")
            if "FunctionError" not in answer:
                actions: dict[str, Any] = {}
                for outcome in result["process"]["outcomes"]:
                    actions[outcome["action"]] = actions.get(outcome["action"], 0) + 1
                    if outcome["action"] == "error":
                        actions.setdefault("errors", []).append(str(outcome.get("detail"))[:300])
                replays = result.get("triggers") or {}
                if isinstance(replays, dict):
                    actions["trigger-replayed"] = int(replays.get("replayed", 0) or 0)
                consumers = result.get("consumer_dlqs") or {}
                actions["message-replayed"] = sum(
                    int(tally.get("replayed", 0) or 0) for tally in consumers.values()
                )
                return actions
            time.sleep(1.0)
        return {"error": 1}

    def run(self, seed: int, options: ChaosOptions) -> dict[str, Any]:
        from payroll_platform.chaos.invariants import evaluate, gather

        started = time.monotonic()
        pay_date = pay_date_for(seed)
        pay_run = pay_run_id(PayFrequency.WEEKLY, pay_date)
        if self.driver.employer_items(pay_run):
            msg = (
                f"seed {seed}: pay run {pay_run} already ran in this local cloud "
                f"(seeds repeat their pay date every {PAY_DATES}); use another seed "
                "or a fresh cloud"
            )
            raise ValueError(msg)
        out = self.runs_dir / pay_run
        out.mkdir(parents=True, exist_ok=True)
        self.seed_data(seed, options)
        plan = self.faults_on(seed, options, out / "faults.jsonl")
        rounds: list[dict[str, Any]] = []
        try:
            self.trigger(plan, pay_date)
            self.settle(options.timeout_s)
            for _ in range(MAX_REDRIVE_ROUNDS):
                actions = self.redrive_round()
                rounds.append(actions)
                progress = (
                    "started",
                    "payment-sent",
                    "error",
                    "trigger-replayed",
                    "message-replayed",
                )
                if not any(actions.get(action) for action in progress):
                    break
                self.settle(options.timeout_s)
        finally:
            payment_faults = self.faults_off()
        self.settle(options.timeout_s)
        evidence = gather(self.driver, self.database_url, pay_run)
        checked = evaluate(evidence)
        faults_injected = {**injected(out / "faults.jsonl"), **payment_faults}
        report = {
            "seed": seed,
            "pay_run_id": pay_run,
            "fault_rate": options.fault_rate,
            "faults_injected": faults_injected,
            "faults_injected_total": sum(faults_injected.values()),
            **checked,
            "redrive_rounds": rounds,
            "queues_left": self.queue_depths(),
            "employer_status": {
                str(e["employer_id"]): str(e.get("status"))
                for e in self.driver.employer_items(pay_run)
            },
            "ignore_idempotency_keys": options.ignore_idempotency_keys,
            "duration_s": round(time.monotonic() - started, 1),
        }
        (out / "chaos-report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        return report


def run_chaos(seed: int, options: ChaosOptions, run_dir: Path, runs_dir: Path) -> dict[str, Any]:
    """``payroll chaos``: a fresh database and local cloud, one seed."""
    from payroll_platform.db.migrate import migrate
    from payroll_platform.local.cloud import LocalCloud, LocalCloudConfig

    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    database_url = f"sqlite:///{run_dir / 'payroll.sqlite'}"
    migrate(database_url)
    config = LocalCloudConfig(
        run_dir=run_dir,
        database_url=database_url,
        retry_delay_s=1,
        extra_context=cloud_context(options),
        faults_file=run_dir / "faults.json",
        function_environment={"PAYMENT_API_READ_TIMEOUT_SECONDS": str(PAYMENT_READ_TIMEOUT_S)},
    )
    with LocalCloud(config) as cloud:
        return ChaosSession(cloud, database_url, runs_dir).run(seed, options)


def print_report(report: dict[str, Any], path: Path) -> None:
    keys = (
        "seed", "employees", "paid_once", "paid_twice", "unpaid_without_dead_letter",
        "unpaid_with_dead_letter", "amount_mismatches", "ytd_mismatches",
        "notices_duplicated", "faults_injected_total", "duration_s", "invariants_hold",
    )  # fmt: skip
    for key in keys:
        print(f"{key:>28}: {report.get(key)}")
    injected_kinds = {k: v for k, v in report["faults_injected"].items() if v}
    print(f"{'faults_injected':>28}: {json.dumps(injected_kinds)}")
    print(f"wrote {path}")


def _trigger_main(run_dir: str, pay_date: str) -> None:
    """The trigger command a chaos run kills (a separate process, on the running cloud)."""
    import boto3

    from payroll_platform.local.cloud import read_state

    state = read_state(Path(run_dir))
    if state is None:
        raise SystemExit("the local cloud is not running")
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fixed credentials
        region_name=state["region"],
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=state["endpoint_url"])

    PayRunDriver(client, state["stage"]).trigger(PayFrequency.WEEKLY, date.fromisoformat(pay_date))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "trigger":
        _trigger_main(sys.argv[2], sys.argv[3])
