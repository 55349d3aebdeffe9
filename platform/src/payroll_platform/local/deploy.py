"""Deploy synthesized CloudFormation templates into moto, with the fixes design.md lists.

- Resource types moto's CloudFormation cannot create (WAF, RDS cluster and proxy,
  Secrets Manager, Scheduler, API Gateway stages, CDK metadata...) are left out, with
  what is built on them; a reference to one becomes a visible placeholder
  ``arn:aws:local-unsupported:::<LogicalId>:<attribute>``.
  Their properties are checked by the CDK assertion tests instead.
- The CDK bootstrap check is dropped and file assets are uploaded to the bootstrap
  bucket the templates name, as ``cdk deploy`` would.
- SQS event source mappings are created disabled; the local cloud's pollers run them.
- State machines are re-created in moto's executing Step Functions backend.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.cloudformation.parsing import resource_class_from_type

from payroll_platform.local.synth import SynthesizedStack

PLACEHOLDER = "local-unsupported"


@dataclass(frozen=True)
class EventSourceMapping:
    stack: str
    function_logical_id: str
    queue_logical_id: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass
class PreparedTemplate:
    template: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)
    mappings: list[EventSourceMapping] = field(default_factory=list)


def _supported(resource_type: str) -> bool:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resource_class_from_type(resource_type) is not None


SKIP_WITH_DEPENDENCY = frozenset(
    {"AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress", "AWS::RDS::DBInstance"}
)


def _references(node: Any, logical_ids: dict[str, str]) -> bool:
    if isinstance(node, dict):
        if "Ref" in node and node["Ref"] in logical_ids:
            return True
        target = node.get("Fn::GetAtt")
        if target is not None:
            logical = target[0] if isinstance(target, list) else str(target).split(".")[0]
            if logical in logical_ids:
                return True
        sub = node.get("Fn::Sub")
        if isinstance(sub, str) and any("${" + logical in sub for logical in logical_ids):
            return True
        return any(_references(value, logical_ids) for value in node.values())
    if isinstance(node, list):
        return any(_references(item, logical_ids) for item in node)
    return False


def placeholder(logical: str, attribute: str) -> str:
    """Shaped like an ARN so that Fn::Split/Fn::Select over it still work."""
    return f"arn:aws:{PLACEHOLDER}:::{logical}:{attribute}"


def _replace_refs(node: Any, skipped: dict[str, str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in skipped:
            return placeholder(node["Ref"], "Ref")
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            logical = target[0] if isinstance(target, list) else str(target).split(".")[0]
            if logical in skipped:
                attribute = target[1] if isinstance(target, list) else str(target).split(".", 1)[1]
                return placeholder(logical, attribute)
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            for logical in skipped:
                text = text.replace("${" + logical, "${!" + logical)
            return {"Fn::Sub": text}
        return {key: _replace_refs(value, skipped) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_refs(item, skipped) for item in node]
    return node


def prepare_template(stack: SynthesizedStack) -> PreparedTemplate:
    template = json.loads(json.dumps(stack.template))
    template.pop("Rules", None)
    template.get("Parameters", {}).pop("BootstrapVersion", None)
    resources: dict[str, Any] = template["Resources"]
    skipped = {
        logical: body["Type"] for logical, body in resources.items() if not _supported(body["Type"])
    }
    # A cluster's instances and rules on its port cannot take a placeholder: leave them out
    # too. Everything else (an SSM parameter, a policy, a method) keeps a placeholder.
    changed = True
    while changed:
        changed = False
        for logical, body in resources.items():
            if logical in skipped or body["Type"] not in SKIP_WITH_DEPENDENCY:
                continue
            if _references(body, skipped):
                skipped[logical] = body["Type"]
                changed = True
    for logical in skipped:
        del resources[logical]
    for body in resources.values():
        depends = body.get("DependsOn")
        if isinstance(depends, list):
            body["DependsOn"] = [d for d in depends if d not in skipped]
            if not body["DependsOn"]:
                del body["DependsOn"]
        elif isinstance(depends, str) and depends in skipped:
            del body["DependsOn"]
    template = _replace_refs(template, skipped)
    template["Outputs"] = {
        key: value
        for key, value in template.get("Outputs", {}).items()
        if PLACEHOLDER not in json.dumps(value)
    }
    prepared = PreparedTemplate(template=template, skipped=skipped)
    for body in template["Resources"].values():
        if body["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        props = body["Properties"]
        source = props.get("EventSourceArn", {})
        queue = source.get("Fn::GetAtt", [None])[0] if isinstance(source, dict) else None
        function = props.get("FunctionName", {})
        function_id = function.get("Ref") if isinstance(function, dict) else None
        if queue and function_id:
            prepared.mappings.append(
                EventSourceMapping(
                    stack=stack.name,
                    function_logical_id=function_id,
                    queue_logical_id=queue,
                    batch_size=int(props.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in props.get("FunctionResponseTypes", []),
                )
            )
        props["Enabled"] = False
    return prepared


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory))
    return buffer.getvalue()


def upload_assets(stack: SynthesizedStack, session: boto3.session.Session, account: str) -> int:
    s3 = session.client("s3")
    region = session.region_name
    uploaded = 0
    for asset in stack.assets.get("files", {}).values():
        source = stack.directory / asset["source"]["path"]
        if asset["source"].get("packaging") == "zip" or source.is_dir():
            body = _zip_directory(source)
        else:
            body = source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = (
                destination["bucketName"]
                .replace("${AWS::AccountId}", account)
                .replace("${AWS::Region}", region)
            )
            try:
                s3.head_bucket(Bucket=bucket)
            except Exception:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
            uploaded += 1
    return uploaded


@dataclass
class DeployedStack:
    name: str
    resources: dict[str, str]  # logical id -> physical id
    skipped: dict[str, str]
    mappings: list[EventSourceMapping]


def deploy_stack(
    stack: SynthesizedStack, session: boto3.session.Session, account: str
) -> DeployedStack:
    prepared = prepare_template(stack)
    upload_assets(stack, session, account)
    cfn = session.client("cloudformation")
    try:
        cfn.create_stack(
            StackName=stack.name,
            TemplateBody=json.dumps(prepared.template),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except Exception as exc:
        raise RuntimeError(f"deploying {stack.name} into the local cloud failed: {exc}") from exc
    status = cfn.describe_stacks(StackName=stack.name)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack.name} ended in {status}")
    resources = {
        item["LogicalResourceId"]: item.get("PhysicalResourceId", "")
        for item in cfn.describe_stack_resources(StackName=stack.name)["StackResources"]
    }
    return DeployedStack(stack.name, resources, prepared.skipped, prepared.mappings)


def recreate_state_machines(
    deployed: DeployedStack, stack: SynthesizedStack, session: boto3.session.Session, account: str
) -> list[str]:
    """Create each state machine again in the executing backend (execution must be on)."""
    from moto.stepfunctions.models import stepfunctions_backends

    plain = stepfunctions_backends[account][session.region_name]
    sfn = session.client("stepfunctions")
    arns = []
    for logical, body in stack.template["Resources"].items():
        if body["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        physical = deployed.resources[logical]
        machine = plain.describe_state_machine(physical)
        created = sfn.create_state_machine(
            name=machine.name,
            definition=machine.definition,
            roleArn=machine.roleArn,
            type=body["Properties"].get("StateMachineType", "STANDARD"),
        )
        arns.append(created["stateMachineArn"])
    return arns
