"""What a pay run would cost on AWS: the counted requests times public on-demand prices.

The prices are a data file beside this module (``prices-us-east-1.json``: its ``as_of``
date and a source URL per service). The counts are ``LocalCloud.aws_ops()``
(``payroll_platform.local.aws_ops``). Priced:

- Step Functions: state transitions (standard workflows);
- Lambda: invocations, and GB-seconds from each handler call's duration (rounded up to
  the millisecond) at the function's configured memory;
- SQS: billable requests (64 KB chunks), except receives that returned nothing: their
  number depends on the local pollers' 1 s long poll, not on the pay run (Lambda's
  pollers wait 20 s; idle polling is a fixed monthly cost, not a per-employee one);
- DynamoDB: estimated read and write request units;
- S3: PUT-class and GET-class requests (DELETE is free);
- SNS: publishes (delivery to SQS is free);
- KMS: requests the pipeline makes itself (service-side KMS calls are not visible);
- CloudWatch Logs: ingestion of the bytes the handlers logged.

Not priced (not a per-request charge, or not observable locally): free tiers, data
transfer, storage, Step Functions' own CloudWatch Logs and X-Ray traces, the database
(Aurora Serverless v2 and RDS Proxy are billed by capacity and time), NAT and VPC
endpoints, API Gateway and WAF (idle during a pay run).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

PRICES_FILE = "prices-us-east-1.json"
GB = 1024**3


def load_prices(name: str = PRICES_FILE) -> dict[str, Any]:
    text = resources.files("payroll_platform.bench").joinpath(name).read_text()
    prices: dict[str, Any] = json.loads(text)
    return prices


def cost_usd(ops: Mapping[str, Any], prices: Mapping[str, Any]) -> dict[str, float]:
    """Dollars per service for the counted ``ops``, and their ``total``."""
    p = prices["services"]
    sfn = ops.get("stepfunctions", {})
    lam = ops.get("lambda", {})
    sqs = ops.get("sqs", {})
    ddb = ops.get("dynamodb", {})
    s3 = ops.get("s3", {})
    costs = {
        "stepfunctions": sfn.get("state_transitions", 0)
        * p["stepfunctions"]["per_state_transition"],
        "lambda": lam.get("invocations", 0) * p["lambda"]["per_request"]
        + lam.get("gb_seconds", 0.0) * p["lambda"]["per_gb_second"],
        "sqs": max(0, sqs.get("billable_requests", 0) - sqs.get("empty_receives", 0))
        * p["sqs"]["per_request"],
        "dynamodb": ddb.get("write_request_units", 0.0) * p["dynamodb"]["per_write_request_unit"]
        + ddb.get("read_request_units", 0.0) * p["dynamodb"]["per_read_request_unit"],
        "s3": s3.get("put_class_requests", 0) * p["s3"]["per_put_class_request"]
        + s3.get("get_class_requests", 0) * p["s3"]["per_get_class_request"],
        "sns": ops.get("sns", {}).get("billable_publishes", 0) * p["sns"]["per_publish"],
        "kms": ops.get("kms", {}).get("requests", 0) * p["kms"]["per_request"],
        "logs": ops.get("logs", {}).get("lambda_log_bytes", 0) / GB * p["logs"]["per_gb_ingested"],
    }
    costs["total"] = sum(costs.values())
    return {name: round(value, 8) for name, value in costs.items()}


def per_1000_employees(costs: Mapping[str, float], employees: int) -> dict[str, float]:
    if employees <= 0:
        return {name: 0.0 for name in costs}
    return {name: round(value * 1000 / employees, 6) for name, value in costs.items()}
