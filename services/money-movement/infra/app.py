"""Deploy this service alone: ``cdk deploy --app "python infra/app.py"``."""

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import STACK_CLASS

from payroll_shared import names

app = cdk.App()
stage = app.node.try_get_context("payroll:stage") or names.DEFAULT_STAGE
STACK_CLASS(
    app,
    names.stack_name(stage, "money-movement"),
    env=cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION"),
    ),
)
cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
app.synth()
