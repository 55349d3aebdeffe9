"""``payroll bench`` end to end at a tiny size: a benchmark is not a test, this only
proves it runs (the README shows the real one). About a minute or two."""

import json
import os

import pytest

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]


def test_payroll_bench_runs_a_measured_pay_run(tmp_path, payroll_cli):
    runs = tmp_path / "runs"
    payroll_cli(
        "bench", "--employers", "2", "--employees-per-employer", "5", "--chunk-size", "5",
        "--runs-dir", str(runs), "--library-n", "200", "--timeout", "900",
        "--baseline-chunk-size", "1", "--baseline-employers", "1",
    )  # fmt: skip
    bench = json.loads((runs / "pr-biweekly-2026-07-31" / "bench.json").read_text())

    assert bench["employees"] == bench["paid"] == 10
    assert bench["notices_published"] == 2
    assert bench["duration_s"] > 0
    assert bench["employees_per_s"] == pytest.approx(10 / bench["duration_s"], rel=0.01)
    assert bench["peak_rss_mb"] > bench["peak_cloud_rss_mb"] > 0
    # The CPU the cloud and its workers spent, and how fast and busy the machine was.
    assert bench["cpu_s"] > 0
    assert bench["cpu_ms_per_employee"] == pytest.approx(1000 * bench["cpu_s"] / 10, rel=0.01)
    by_process = bench["cpu_s_by_process"]
    assert sum(by_process.values()) == pytest.approx(bench["cpu_s"], abs=0.05)
    assert {"cloud", "payment-emulator"} <= set(by_process)
    assert any(label.endswith("MoneyMovement-Consumer") for label in by_process)
    assert bench["machine"]["gauge_ms"]["before"] > 0
    assert bench["machine"]["cpu_during_run"]["busy_pct"] > 0
    assert bench["library_paychecks_per_s"] > 0
    assert bench["local_cloud"]["lambda_concurrency"] == 1  # the benchmark's default
    assert bench["local_cloud"]["service_concurrency"] == {"money-movement": 2}
    assert bench["aws_cost_per_1000_employees_usd"] > 0

    # The comparison: one employer of 5 at chunk size 1, counted and priced the same way.
    baseline = bench["baseline"]
    assert baseline["chunk_size"] == 1
    assert baseline["employees"] == baseline["paid"] == 5
    assert baseline["state_transitions"] > 0
    assert bench["cost_ratio_vs_baseline"] == pytest.approx(
        baseline["aws_cost_per_1000_employees_usd"] / bench["aws_cost_per_1000_employees_usd"],
        abs=0.06,
    )
    assert bench["cost_ratio_vs_baseline"] > 1  # five chunks of one cost more than one of five

    ops = bench["aws_ops"]
    requests = ops["requests"]
    # One chunk per employer: four step requests each, then validation and payment.
    assert requests["sqs"]["SendMessage"] == 2 * 4 + 2 + 2
    assert requests["s3"]["PutObject"] == 3  # employers.json and one chunks.json each
    assert requests["sns"]["Publish"] == 2
    # The pay run, and one notice workflow per employer (it publishes the notice).
    assert requests["stepfunctions"]["StartExecution"] == 1 + 2
    assert requests["stepfunctions"]["SendTaskSuccess"] == 2 * 4
    # GetEmployers, GetEmployees x2, four steps x2 chunks, validation, payment: no merges,
    # each step answers with the chunk after it.
    assert ops["lambda"]["invocations"] == 1 + 2 + 8 + 2 + 2
    assert ops["lambda"]["gb_seconds"] > 0
    # Every worker the run used was warm when it started: MoneyMovement's two included.
    assert ops["lambda"]["cold_invocations"] == 0
    # The distributed maps' iterations are counted: far more than the parent's own states.
    assert ops["stepfunctions"]["state_transitions"] > 30
    assert ops["dynamodb"]["write_request_units"] >= requests["dynamodb"].get("PutItem", 0)
    # The benchmark's own polling is not pipeline work.
    assert "DescribeExecution" in ops["observer_requests"]["stepfunctions"]
    assert "summary.json" in os.listdir(runs / "pr-biweekly-2026-07-31")
