"""The local cloud: the composed CDK app deployed into moto, with the real handlers.

``LocalCloud`` (a context manager for tests) and ``payroll local up|down`` (a background
process) do the same thing, with no AWS account and no Docker:

1. synthesize the composed CDK app (cached by a hash of its inputs);
2. start moto in server mode on a free loopback port, Step Functions execution on;
3. deploy the synthesized templates through moto's CloudFormation (see ``deploy``),
   with Lambda invocations routed to the real handlers (``lambda_runtime``) and SQS
   event source mappings replaced by Lambda-like pollers (``pollers``);
4. start the payment provider emulator;
5. point every handler at ``DATABASE_URL`` (default: a SQLite file in the run folder)
   and migrate it;
6. serve the redrive API's stage (``api_gateway``: moto cannot create API Gateway
   stages) at ``redrive_api_url``.

Nothing listens on anything but 127.0.0.1.
"""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import requests

from payroll_platform.local.api_gateway import LocalRestApi, lambda_invoker, routes_from_template
from payroll_platform.local.aws_ops import OPS_PATH, AwsOps, moto_item_lookup
from payroll_platform.local.faults import PLAN_ENV, PlanFile
from payroll_platform.local.http_server import LocalHttpServer
from payroll_platform.local.payment_emulator import PaymentEmulatorProcess
from payroll_platform.local.pollers import SqsPoller
from payroll_platform.local.synth import SynthesizedStack, synthesize
from payroll_platform.paths import REPO_ROOT
from payroll_platform.payrun import NOTICES_QUEUE
from payroll_shared import names

if TYPE_CHECKING:  # moto's CloudFormation and Lambda take seconds to import: read_state
    # (``payroll local status``, ``payroll dlq``) must not wait for them.
    from payroll_platform.local.deploy import DeployedStack
    from payroll_platform.local.lambda_runtime import LambdaRuntime

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
DEFAULT_RUN_DIR = REPO_ROOT / ".local-cloud"
STATE_FILE = "cloud.json"
#: The collector's thresholds while the cloud runs (``LocalCloud._quiet_collector``).
GC_THRESHOLDS = (50_000, 20, 20)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalCloudConfig:
    run_dir: Path = DEFAULT_RUN_DIR
    stage: str = "local"
    database_url: str | None = None
    port: int = 0
    lambda_concurrency: int = 4
    #: Workers at most per function of these services (stack components, such as
    #: ``money-movement``), instead of ``lambda_concurrency``.
    service_concurrency: dict[str, int] = field(default_factory=dict)
    poller_concurrency: int = 2
    retry_delay_s: int | None = 2
    extra_context: dict[str, str] = field(default_factory=dict)
    #: A fault plan file (``faults.FaultPlan``): faults are injected while it exists.
    faults_file: Path | None = None
    #: More environment for every function (e.g. a shorter payment API timeout).
    function_environment: dict[str, str] = field(default_factory=dict)
    #: Run the INIT phase of every function a pay run invokes when the cloud starts
    #: (False: each on its first invocation).
    initialize_functions: bool = True

    @property
    def resolved_database_url(self) -> str:
        return (
            self.database_url
            or os.environ.get("DATABASE_URL")
            or (f"sqlite:///{self.run_dir / 'payroll.sqlite'}")
        )


class LocalCloud:
    def __init__(self, config: LocalCloudConfig | None = None) -> None:
        self.config = config or LocalCloudConfig()
        self.endpoint_url = ""
        self.deployed: dict[str, DeployedStack] = {}
        self.pollers: list[SqsPoller] = []
        #: Every state machine, in deploy order (money-movement's notice workflow too).
        self.state_machine_arns: list[str] = []
        self.notices_queue_url = ""
        self.runtime: LambdaRuntime | None = None
        self.payments: PaymentEmulatorProcess | None = None
        self.redrive_api: LocalRestApi | None = None
        #: The redrive API's stage URL (``http://127.0.0.1:<port>/v1``).
        self.redrive_api_url = ""
        self._server: LocalHttpServer | None = None
        self._gc_before: tuple[int, int, int] | None = None
        self.timings: dict[str, float] = {}
        #: The functions whose INIT phase ran when the cloud started.
        self.initialized: list[str] = []
        #: What the pipeline asks of AWS, counted where moto serves it (``aws_ops``).
        self.ops = AwsOps()
        #: The fault plan in force, if the config names a plan file (chaos runs).
        faults_file = self.config.faults_file
        self.faults = PlanFile(lambda: str(faults_file) if faults_file else None)

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fixed credentials
            region_name=REGION,
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def start(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app

        from payroll_platform.db.migrate import migrate
        from payroll_platform.local import moto_compat, moto_speed
        from payroll_platform.local.deploy import deploy_stack, recreate_state_machines
        from payroll_platform.local.lambda_runtime import LambdaRuntime

        config = self.config
        config.run_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        stacks = synthesize(config.stage, config.extra_context)
        self.timings["synth_s"] = time.monotonic() - started

        port = config.port or free_port()
        os.environ["MOTO_PORT"] = str(port)  # the Step Functions executor calls back here
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            os.environ.setdefault(key, value)
        moto_compat.apply()
        moto_speed.apply()
        # moto's server application, served with keep-alive (``http_server``).
        self._server = LocalHttpServer(
            DomainDispatcherApplication(create_backend_app), port=port, name="local-cloud"
        )
        self._server.start()
        self.ops.wrap_server(self._server)
        if config.faults_file is not None:
            from payroll_platform.local.faults import FaultApp

            self._server.app = FaultApp(self._server.app, self.faults)
        self.ops.item_lookup = moto_item_lookup(ACCOUNT, REGION)
        self.ops.log_path = config.run_dir / "lambda.log"
        self.endpoint_url = f"http://127.0.0.1:{port}"
        requests.post(
            f"{self.endpoint_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()

        self.payments = PaymentEmulatorProcess(config.run_dir / "payments.sqlite")
        payment_url = self.payments.start()

        database_url = config.resolved_database_url
        migrate(database_url)

        self.runtime = LambdaRuntime(
            self.endpoint_url,
            overrides={
                "DATABASE_URL": database_url,
                **({PLAN_ENV: str(config.faults_file)} if config.faults_file else {}),
                **config.function_environment,
            },
            max_concurrency=config.lambda_concurrency,
            region=REGION,
            log_path=config.run_dir / "lambda.log",
        )
        self.runtime.install()
        self.ops.install_hooks()
        # The zygote imports while the stacks deploy (it waits on a pipe, not the GIL).
        zygote = threading.Thread(target=self.runtime.prepare, name="lambda-zygote")
        zygote.start()

        session = self._endpoint_session()
        session.client("ssm").put_parameter(
            Name=names.service_param(config.stage, "money-movement", "payment-api-url"),
            Value=payment_url,
            Type="String",
            Overwrite=True,
        )
        deployed_at = time.monotonic()
        for stack in stacks:
            deployed = deploy_stack(stack, session, ACCOUNT)
            self.deployed[stack.name] = deployed
            self.state_machine_arns += recreate_state_machines(deployed, stack, session, ACCOUNT)
        self.timings["deploy_s"] = time.monotonic() - deployed_at
        for component, workers in config.service_concurrency.items():
            for function in self.functions_of(component):
                self.runtime.function_concurrency[function] = workers
        zygote.join()
        moto_speed.warm_clients(REGION)
        self.notices_queue_url = self._subscribe_notices(session)
        self._start_pollers(session)
        if config.initialize_functions:
            self._initialize_functions(session)
        self._start_redrive_api(stacks)
        self._write_state(payment_url, database_url)
        self.ops.reset()  # count what runs on the cloud, not its deployment
        self._quiet_collector()

    def _quiet_collector(self) -> None:
        """The cloud holds everything a pay run stored (every item, message, execution's
        history) in this process, and Python's collector walked all of it: in a pay run
        of 10,000 employees, 6.5 s of the cloud's CPU went to collections, six of them
        full ones of 0.6 s each with the interpreter lock held (every request waited).
        What start-up made (moto's models, botocore's data, the deployed stacks) is
        frozen out of the collector's sight, and collections wait for ``GC_THRESHOLDS``
        (Python's are 700, 10, 10): 1.6 s, and no full collection. ``stop`` puts both
        back."""
        self._gc_before = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    def _initialize_functions(self, session: _EndpointSession) -> None:
        """The INIT phase of every function a pay run invokes, now (``LambdaRuntime.
        initialize``), two at a time: the cloud is ready when they are, as with
        provisioned concurrency. The others (the redrive's) start on first use."""
        from concurrent.futures import ThreadPoolExecutor

        from moto.awslambda.models import lambda_backends

        assert self.runtime is not None
        invoked = {poller.function_name for poller in self.pollers}
        invoked.add(
            session.client("ssm").get_parameter(
                Name=names.service_param(self.config.stage, "orchestration", names.FUNCTION_NAME)
            )["Parameter"]["Value"]
        )
        sfn = session.client("stepfunctions")
        definitions = [
            sfn.describe_state_machine(stateMachineArn=arn)["definition"]
            for arn in self.state_machine_arns
        ]
        functions = [
            fn
            for fn in lambda_backends[ACCOUNT][REGION].list_functions()
            if fn.function_name in invoked
            or any(f":function:{fn.function_name}" in d for d in definitions)
        ]
        # A function given more workers than the rest (``service_concurrency``) gets
        # them all warm: its second worker is not a cold start in the middle of a run.
        warm = [
            fn
            for fn in functions
            for _ in range(self.runtime.function_concurrency.get(fn.function_name, 1))
        ]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lambda-init") as pool:
            ready = list(pool.map(self.runtime.initialize, warm))
        self.timings["init_s"] = time.monotonic() - started
        self.initialized = list(
            dict.fromkeys(fn.function_name for fn, ok in zip(warm, ready, strict=True) if ok)
        )

    def _endpoint_session(self) -> _EndpointSession:
        return _EndpointSession(self.session(), self.endpoint_url)

    def _subscribe_notices(self, session: _EndpointSession) -> str:
        """A queue subscribed to the completion topic: a subscriber, as a payroll team
        would have, and the local record of every notice published."""
        sqs = session.client("sqs")
        url: str = sqs.create_queue(QueueName=NOTICES_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        topic = session.client("ssm").get_parameter(
            Name=names.platform_param(self.config.stage, names.PlatformParam.COMPLETION_TOPIC_ARN)
        )["Parameter"]["Value"]
        session.client("sns").subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        return url

    def _start_pollers(self, session: _EndpointSession) -> None:
        sqs = session.client("sqs")
        for deployed in self.deployed.values():
            for mapping in deployed.mappings:
                queue_url = deployed.resources[mapping.queue_logical_id]
                queue_arn = sqs.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"]
                poller = SqsPoller(
                    session=session,  # type: ignore[arg-type]
                    queue_url=queue_url,
                    queue_arn=queue_arn,
                    function_name=deployed.resources[mapping.function_logical_id],
                    batch_size=mapping.batch_size,
                    report_batch_item_failures=mapping.report_batch_item_failures,
                    retry_delay_s=self.config.retry_delay_s,
                    faults=self.faults,
                )
                poller.start(self.config.poller_concurrency)
                self.pollers.append(poller)

    def _start_redrive_api(self, stacks: list[SynthesizedStack]) -> None:
        """The redrive API's stage, routed as the template defines its REST API."""
        stack_name = names.stack_name(self.config.stage, "redrive")
        template = next(stack.template for stack in stacks if stack.name == stack_name)
        invoke = lambda_invoker(
            self.session(), self.endpoint_url, self.function_name("redrive", "Api")
        )
        self.redrive_api = LocalRestApi(invoke, routes=routes_from_template(template) or None)
        self.redrive_api_url = self.redrive_api.start()

    @property
    def pay_run_state_machine_arn(self) -> str:
        """The pay-run workflow (orchestration's), which every pay run executes."""
        name = names.resource_name(self.config.stage, "pay-run")
        (arn,) = [a for a in self.state_machine_arns if a.endswith(f":stateMachine:{name}")]
        return arn

    def _write_state(self, payment_url: str, database_url: str) -> None:
        state = {
            "pid": os.getpid(),
            "endpoint_url": self.endpoint_url,
            "payment_api_url": payment_url,
            "redrive_api_url": self.redrive_api_url,
            "aws_ops_url": f"{self.endpoint_url}{OPS_PATH}",
            "database_url": database_url,
            "stage": self.config.stage,
            "region": REGION,
            "state_machines": self.state_machine_arns,
            "stacks": sorted(self.deployed),
            "timings": self.timings,
            "ready": True,
        }
        (self.config.run_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def stop(self) -> None:
        if self.redrive_api is not None:
            self.redrive_api.stop()
            self.redrive_api = None
        for poller in self.pollers:
            poller._stop.set()
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        self.ops.uninstall_hooks()
        if self.runtime is not None:
            self.runtime.shutdown()
            self.runtime = None
        if self.payments is not None:
            self.payments.stop()
            self.payments = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._gc_before is not None:
            gc.set_threshold(*self._gc_before)
            gc.unfreeze()
            self._gc_before = None
        (self.config.run_dir / STATE_FILE).unlink(missing_ok=True)

    def notices_received(self) -> int:
        """Completion notices in the notices queue now, read from the local cloud's own
        SQS (in this process, no request): what a watcher polls often, without adding
        requests to the busy cloud it watches."""
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT][REGION].get_queue(NOTICES_QUEUE)
        # Every message it holds, visible or not (delayed ones too), without the walk
        # moto's approximate counts make over them (1,000 notices at 100,000 employees).
        return len(queue._messages)

    # -- AWS requests --------------------------------------------------------------------
    def aws_ops(self) -> dict[str, Any]:
        """Every AWS request the pipeline made since the last reset, by service and
        operation, with Step Functions transitions, Lambda use and DynamoDB units
        (``payroll_platform.local.aws_ops``; also served at ``<endpoint>/_payroll/aws-ops``)."""
        return self.ops.snapshot()

    def reset_aws_ops(self) -> None:
        self.ops.reset()

    # -- lookups ----------------------------------------------------------------------
    def param(self, path: str) -> str:
        value: str = self.client("ssm").get_parameter(Name=path)["Parameter"]["Value"]
        return value

    def platform_param(self, which: names.PlatformParam) -> str:
        return self.param(names.platform_param(self.config.stage, which))

    def service_param(self, service: str, key: str) -> str:
        return self.param(names.service_param(self.config.stage, service, key))

    def process_labels(self) -> dict[int, str]:
        """What each of the local cloud's processes is: ``cloud`` (this one: moto, the
        pollers, the executor), ``payment-emulator``, ``lambda-zygote``, and each Lambda
        worker by its function (the deployed name without its stack's hash)."""
        labels = {os.getpid(): "cloud"}
        if self.payments is not None and self.payments.pid is not None:
            labels[self.payments.pid] = "payment-emulator"
        if self.runtime is not None:
            for pid, function in self.runtime.processes().items():
                labels[pid] = re.sub(r"Function[0-9A-F]{8}-[0-9A-Z]+$", "", function)
        return labels

    def functions_of(self, stack_component: str) -> list[str]:
        """The deployed names of a service's Lambda functions (its stack's)."""
        from moto.awslambda.models import lambda_backends

        deployed = self.deployed[names.stack_name(self.config.stage, stack_component)]
        functions = {fn.function_name for fn in lambda_backends[ACCOUNT][REGION].list_functions()}
        return sorted(set(deployed.resources.values()) & functions)

    def function_name(self, stack_component: str, logical_prefix: str) -> str:
        deployed = self.deployed[names.stack_name(self.config.stage, stack_component)]
        for logical, physical in deployed.resources.items():
            if logical.startswith(logical_prefix) and "Function" in logical:
                return physical
        raise KeyError(f"no function {logical_prefix}* in {stack_component}")

    def wait_idle(self, timeout_s: float = 60) -> None:
        """Wait until every poller's queue is empty (visible and in flight)."""
        sqs = self.client("sqs")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = 0
            for poller in self.pollers:
                attributes = sqs.get_queue_attributes(
                    QueueUrl=poller.queue_url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                busy += sum(int(v) for v in attributes.values())
            if busy == 0:
                return
            time.sleep(0.2)
        raise TimeoutError("queues did not drain")


class _EndpointSession:
    """A boto3 session whose clients all talk to the local cloud."""

    def __init__(self, session: boto3.session.Session, endpoint_url: str) -> None:
        self._session = session
        self.endpoint_url = endpoint_url
        self.region_name = session.region_name

    def client(self, service: str, config: Any = None) -> Any:
        return self._session.client(service, endpoint_url=self.endpoint_url, config=config)  # type: ignore[call-overload]


# -- payroll local up | down ----------------------------------------------------------
def read_state(run_dir: Path = DEFAULT_RUN_DIR) -> dict[str, Any] | None:
    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    try:
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError):
        return None
    return state


def up(run_dir: Path = DEFAULT_RUN_DIR, timeout_s: float = 600) -> dict[str, Any]:
    """Start the local cloud in the background (or return the running one's state)."""
    state = read_state(run_dir)
    if state is not None:
        return state
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    log = (run_dir / "cloud.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "payroll_platform.local.cloud", "serve", "--run-dir", str(run_dir)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local cloud exited early; see {run_dir / 'cloud.log'}")
        state = read_state(run_dir)
        if state is not None and state.get("ready"):
            return state
        time.sleep(0.5)
    process.terminate()
    raise TimeoutError(f"the local cloud did not come up; see {run_dir / 'cloud.log'}")


def down(run_dir: Path = DEFAULT_RUN_DIR, timeout_s: float = 30) -> bool:
    state = read_state(run_dir)
    if state is None:
        return False
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return True


def serve(run_dir: Path) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cloud = LocalCloud(LocalCloudConfig(run_dir=run_dir))
    cloud.start()
    try:
        stop.wait()
    finally:
        cloud.stop()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        directory = (
            Path(sys.argv[sys.argv.index("--run-dir") + 1])
            if "--run-dir" in sys.argv
            else DEFAULT_RUN_DIR
        )
        serve(directory)
