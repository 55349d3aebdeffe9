"""The composed CDK app: PlatformStack and every service stack, in deploy order.

The same app is synthesized for a staging account (``cdk deploy --all --app
"python -m payroll_platform.infra.composed"``) and by the local cloud, which deploys
the very same templates into moto.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from payroll_platform.infra.platform_stack import PlatformStack
from payroll_platform.paths import REPO_ROOT
from payroll_shared import names

#: Deploy order: a service after everything whose SSM parameters it reads.
SERVICE_ORDER: tuple[str, ...] = (
    "time-entry",
    "payroll-calc",
    "retirement-calc",
    "tax-calc",
    "money-movement",
    "employer-validation",
    "orchestration",
    "redrive",
)
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "employer-validation": ("money-movement",),
    "orchestration": (
        "time-entry",
        "payroll-calc",
        "retirement-calc",
        "tax-calc",
        "employer-validation",
    ),
    "redrive": ("orchestration", "employer-validation"),
}


def load_stack_module(service: str) -> ModuleType:
    """Import ``services/<service>/infra/stack.py`` under a unique module name."""
    path = REPO_ROOT / "services" / service / "infra" / "stack.py"
    module_name = f"payroll_infra_{service.replace('-', '_')}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def build_app(
    context: dict[str, Any] | None = None, outdir: Path | None = None, nag: bool = True
) -> tuple[cdk.App, dict[str, cdk.Stack]]:
    app = cdk.App(context=context or {}, outdir=str(outdir) if outdir else None)
    stage = str(app.node.try_get_context("payroll:stage") or names.DEFAULT_STAGE)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    stacks: dict[str, cdk.Stack] = {
        "platform": PlatformStack(app, names.stack_name(stage, "platform"), env=env)
    }
    for service in SERVICE_ORDER:
        module = load_stack_module(service)
        stack = module.STACK_CLASS(app, names.stack_name(stage, service), env=env)
        stack.add_stack_dependency(stacks["platform"])
        for upstream in DEPENDS_ON.get(service, ()):
            stack.add_stack_dependency(stacks[upstream])
        stacks[service] = stack
    if nag:
        cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stacks


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
