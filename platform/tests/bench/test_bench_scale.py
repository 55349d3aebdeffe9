"""``payroll bench-scale``: medians per size, their spread, the interleaved order, and
(at a tiny size, in its own process) that the command runs."""

import json
import os

import pytest

from payroll_platform.bench.scale import round_order, run_record, summarize


def _bench(employers, employees, duration, cpu_ms=5.0, cost=0.008, paid=None):
    return {
        "employers": employers,
        "employees": employees,
        "paid": employees if paid is None else paid,
        "duration_s": duration,
        "cpu_ms_per_employee": cpu_ms,
        "aws_cost_per_1000_employees_usd": cost,
        "peak_rss_mb": 100.0 * employers,
        "machine": {"gauge_ms": {"before": 40.0, "after": 41.0}},
    }


def test_a_run_is_reduced_to_its_figures_per_employee():
    record = run_record(_bench(10, 1000, 6.3), round_index=2)
    assert record["round"] == 2
    assert record["ms_per_employee"] == pytest.approx(6.3)
    assert record["gauge_ms"] == {"before": 40.0, "after": 41.0}


def test_medians_per_size_and_the_spread_across_sizes():
    records = [
        run_record(_bench(10, 1000, d, cpu_ms=c), 1)
        for d, c in ((6.0, 10.0), (9.0, 11.0), (5.0, 12.0))
    ] + [run_record(_bench(100, 10000, d, cpu_ms=10.0, cost=0.0081), 1) for d in (50.0, 52.0, 99.0)]
    result = summarize(records)
    small, large = result["sizes"]
    assert (small["employees"], large["employees"]) == (1000, 10000)
    # The median, not the mean: one slow minute of the host does not move it.
    assert small["median_duration_s"] == 6.0
    assert small["median_ms_per_employee"] == pytest.approx(6.0)
    assert large["median_ms_per_employee"] == pytest.approx(5.2)
    assert small["median_cpu_ms_per_employee"] == 11.0
    assert large["max_peak_rss_mb"] == 10000.0
    assert result["spread_pct"]["ms_per_employee"] == pytest.approx(100 * (6.0 / 5.2 - 1), abs=0.1)
    assert result["spread_pct"]["cpu_ms_per_employee"] == pytest.approx(10.0)
    assert result["spread_pct"]["aws_cost_per_1000_employees_usd"] == pytest.approx(1.2, abs=0.1)
    assert result["time_within_limit"] is True
    assert small["all_paid"] and large["all_paid"]


def test_a_spread_over_the_limit_and_an_unpaid_run_are_reported():
    records = [
        run_record(_bench(10, 1000, 7.0), 1),
        run_record(_bench(100, 10000, 50.0, paid=9990), 1),
    ]
    result = summarize(records, limit_pct=20.0)
    assert result["spread_pct"]["ms_per_employee"] == pytest.approx(40.0)
    assert result["time_within_limit"] is False
    assert result["sizes"][1]["all_paid"] is False


def test_one_size_has_no_spread():
    result = summarize([run_record(_bench(10, 1000, 7.0), 1)])
    assert result["spread_pct"]["ms_per_employee"] is None
    assert result["time_within_limit"] is False


def test_sizes_are_interleaved_in_order_then_reversed():
    assert [round_order([1, 10, 100], r) for r in range(3)] == [
        [1, 10, 100],
        [100, 10, 1],
        [1, 10, 100],
    ]


@pytest.mark.localcloud
@pytest.mark.slow
def test_payroll_bench_scale_runs_each_size_in_its_own_process(tmp_path, payroll_cli):
    runs = tmp_path / "runs"
    payroll_cli(
        "bench-scale", "--employers", "1,2", "--employees-per-employer", "3",
        "--chunk-size", "3", "--repeat", "1", "--runs-dir", str(runs), "--timeout", "600",
    )  # fmt: skip
    result = json.loads((runs / "bench-scale.json").read_text())
    assert [row["employees"] for row in result["sizes"]] == [3, 6]
    assert all(row["all_paid"] and row["runs"] == 1 for row in result["sizes"])
    assert sorted(os.listdir(runs / "bench-scale")) == ["1x3-r1.json", "2x3-r1.json"]
    for run in result["runs"]:
        assert run["duration_s"] > 0
        assert run["cpu_ms_per_employee"] > 0
        assert run["gauge_ms"]["before"] > 0
        assert set(run["cpu_during_run"]) == {"busy_pct", "idle_pct", "steal_pct"}
    assert result["spread_pct"]["ms_per_employee"] is not None


def test_service_concurrency_is_parsed_and_formatted_back():
    from payroll_platform.bench.runner import format_service_concurrency, parse_service_concurrency

    pairs = parse_service_concurrency("money-movement=2, tax-calc=3")
    assert pairs == (("money-movement", 2), ("tax-calc", 3))
    assert parse_service_concurrency(format_service_concurrency(pairs)) == pairs
    assert parse_service_concurrency("") == ()
    for wrong in ("money-movement", "money-movement=0", "=2", "money-movement=two"):
        with pytest.raises(ValueError, match="expected <service>="):
            parse_service_concurrency(wrong)
