"""The cost of counted requests at the dated public prices (no network)."""

from datetime import date

import pytest

from payroll_platform.bench.cost import cost_usd, load_prices, per_1000_employees


def test_the_price_file_is_dated_and_sourced():
    prices = load_prices()
    assert prices["region"] == "us-east-1"
    date.fromisoformat(prices["as_of"])
    for service, entry in prices["services"].items():
        assert entry["source"].startswith("https://aws.amazon.com/"), service
    services = prices["services"]
    assert services["stepfunctions"]["per_state_transition"] * 1000 == pytest.approx(0.025)
    assert services["lambda"]["per_request"] * 1e6 == pytest.approx(0.20)
    assert services["lambda"]["per_gb_second"] == pytest.approx(0.0000166667)
    assert services["sqs"]["per_request"] * 1e6 == pytest.approx(0.40)
    assert services["dynamodb"]["per_write_request_unit"] * 1e6 == pytest.approx(0.625)
    assert services["dynamodb"]["per_read_request_unit"] * 1e6 == pytest.approx(0.125)
    assert services["s3"]["per_put_class_request"] * 1000 == pytest.approx(0.005)
    assert services["s3"]["per_get_class_request"] * 1000 == pytest.approx(0.0004)
    assert services["sns"]["per_publish"] * 1e6 == pytest.approx(0.50)
    assert services["kms"]["per_request"] * 10_000 == pytest.approx(0.03)


OPS = {
    "stepfunctions": {"state_transitions": 40_000},
    "lambda": {"invocations": 1_000_000, "gb_seconds": 10_000.0},
    "sqs": {"billable_requests": 1_000_500, "empty_receives": 500},
    "dynamodb": {"write_request_units": 2_000_000, "read_request_units": 4_000_000},
    "s3": {"put_class_requests": 1000, "get_class_requests": 10_000},
    "sns": {"billable_publishes": 2_000_000},
    "kms": {"requests": 10_000},
    "logs": {"lambda_log_bytes": 2 * 1024**3},
}


def test_cost_per_service():
    costs = cost_usd(OPS, load_prices())
    assert costs["stepfunctions"] == pytest.approx(1.00)  # 40 x $0.025
    assert costs["lambda"] == pytest.approx(0.20 + 0.166667)
    assert costs["sqs"] == pytest.approx(0.40)  # empty receives are not priced
    assert costs["dynamodb"] == pytest.approx(1.25 + 0.50)
    assert costs["s3"] == pytest.approx(0.005 + 0.004)
    assert costs["sns"] == pytest.approx(1.00)
    assert costs["kms"] == pytest.approx(0.03)
    assert costs["logs"] == pytest.approx(1.00)
    parts = sum(v for k, v in costs.items() if k != "total")
    assert costs["total"] == pytest.approx(parts)


def test_missing_counts_cost_nothing():
    assert cost_usd({}, load_prices())["total"] == 0


def test_per_1000_employees():
    per = per_1000_employees({"sqs": 0.5, "total": 2.0}, employees=4000)
    assert per == {"sqs": 0.125, "total": 0.5}
    assert per_1000_employees({"total": 1.0}, employees=0) == {"total": 0.0}
