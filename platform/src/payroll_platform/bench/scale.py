"""``payroll bench-scale``: does time (and cost) per employee stay flat as the pay run grows?

One ``payroll bench`` per size and round, each in a process of its own (moto's backends
live in the process that serves them), the sizes interleaved round by round (in order,
then reversed, ...): on a shared host the machine's speed drifts from minute to minute,
and interleaving gives every size the same share of fast and slow minutes. Per size,
the median of the rounds; then the spread: how far the largest per-employee figure is
above the smallest (the issue's "within 20% of each other"). Writes
``<runs-dir>/bench-scale.json`` and every run's ``bench.json`` under
``<runs-dir>/bench-scale/``.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from payroll_platform.bench.runner import PayRunShape, run_in_subprocess


def run_record(bench: dict[str, Any], round_index: int) -> dict[str, Any]:
    """What one run of one size contributes: its figures per employee."""
    employees = int(bench["employees"])
    duration = float(bench["duration_s"])
    machine = bench.get("machine") or {}
    return {
        "round": round_index,
        "employers": bench["employers"],
        "employees": employees,
        "paid": bench["paid"],
        "duration_s": duration,
        "ms_per_employee": round(1000 * duration / employees, 3) if employees else None,
        "cpu_ms_per_employee": bench.get("cpu_ms_per_employee"),
        "aws_cost_per_1000_employees_usd": bench["aws_cost_per_1000_employees_usd"],
        "peak_rss_mb": bench["peak_rss_mb"],
        "gauge_ms": machine.get("gauge_ms"),
        "cpu_during_run": machine.get("cpu_during_run"),
    }


def _median(values: list[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def _spread(values: list[float | None]) -> float | None:
    """How far the largest of ``values`` is above the smallest, in percent."""
    present = [v for v in values if v is not None]
    if len(present) < 2 or min(present) <= 0:
        return None
    return round(100 * (max(present) / min(present) - 1), 1)


def summarize(records: list[dict[str, Any]], limit_pct: float = 20.0) -> dict[str, Any]:
    """Per size, the medians of its rounds; across sizes, the spread of each median per
    employee, and whether the time's is within ``limit_pct``."""
    sizes: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        sizes.setdefault(int(record["employees"]), []).append(record)
    rows = []
    for employees, runs in sorted(sizes.items()):
        rows.append({
            "employers": runs[0]["employers"],
            "employees": employees,
            "runs": len(runs),
            "all_paid": all(r["paid"] == r["employees"] for r in runs),
            "duration_s": [r["duration_s"] for r in runs],
            "median_duration_s": _median([r["duration_s"] for r in runs]),
            "median_ms_per_employee": _median([r["ms_per_employee"] for r in runs]),
            "median_cpu_ms_per_employee": _median([r["cpu_ms_per_employee"] for r in runs]),
            "median_aws_cost_per_1000_employees_usd": _median(
                [r["aws_cost_per_1000_employees_usd"] for r in runs]
            ),
            "max_peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in runs) or None,
        })  # fmt: skip
    time_spread = _spread([row["median_ms_per_employee"] for row in rows])
    return {
        "sizes": rows,
        "spread_pct": {
            "ms_per_employee": time_spread,
            "cpu_ms_per_employee": _spread([row["median_cpu_ms_per_employee"] for row in rows]),
            "aws_cost_per_1000_employees_usd": _spread(
                [row["median_aws_cost_per_1000_employees_usd"] for row in rows]
            ),
        },
        "limit_pct": limit_pct,
        "time_within_limit": time_spread is not None and time_spread <= limit_pct,
    }


def round_order(sizes: list[int], round_index: int) -> list[int]:
    """The sizes in order on even rounds, reversed on odd ones."""
    return list(sizes) if round_index % 2 == 0 else list(reversed(sizes))


def run_scale(
    shape: PayRunShape, employer_counts: list[int], repeat: int, runs_dir: Path, run_dir: Path
) -> dict[str, Any]:
    """``repeat`` rounds of one ``payroll bench`` per employer count (``shape`` gives the
    rest), interleaved; ``bench-scale.json`` in ``runs_dir``. Returns it."""
    if repeat < 1 or not employer_counts or min(employer_counts) < 1:
        raise ValueError("at least one round and one employer count of at least 1")
    out = runs_dir / "bench-scale"
    records = []
    for round_index in range(repeat):
        for employers in round_order(employer_counts, round_index):
            name = f"{employers}x{shape.employees_per_employer}-r{round_index + 1}"
            bench = run_in_subprocess(replace(shape, employers=employers), run_dir / name)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.json").write_text(json.dumps(bench, indent=2) + "\n")
            records.append(run_record(bench, round_index + 1))
    result = {
        "employees_per_employer": shape.employees_per_employer,
        "chunk_size": shape.chunk_size,
        "seed": shape.seed,
        "pay_date": shape.pay_date.isoformat(),
        "pay_schedule": shape.schedule.value,
        "repeat": repeat,
        "lambda_concurrency": shape.lambda_concurrency,
        "service_concurrency": dict(shape.service_concurrency),
        "runs": records,
        **summarize(records),
    }
    runs_dir.mkdir(parents=True, exist_ok=True)
    (runs_dir / "bench-scale.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_scale(result: dict[str, Any], path: Path) -> None:
    """A readable summary of ``bench-scale.json``."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 120)
    table = Table(
        title=f"payroll bench-scale: chunk size {result['chunk_size']}, "
        f"median of {result['repeat']} round(s)"
    )
    for column in (
        "employees", "durations (s)", "median s", "ms / employee", "CPU ms / employee",
        "$ per 1,000", "peak RSS MB",
    ):  # fmt: skip
        table.add_column(column, justify="right")
    for row in result["sizes"]:
        table.add_row(
            f"{row['employees']:,}" + ("" if row["all_paid"] else " (not all paid)"),
            ", ".join(f"{d:.1f}" for d in row["duration_s"]),
            f"{row['median_duration_s']:.1f}",
            f"{row['median_ms_per_employee']:.2f}",
            str(row["median_cpu_ms_per_employee"]),
            f"{row['median_aws_cost_per_1000_employees_usd']:.4f}",
            str(row["max_peak_rss_mb"]),
        )
    console.print(table)
    spread = result["spread_pct"]
    console.print(
        f"spread of the medians per employee: time {spread['ms_per_employee']}%, CPU "
        f"{spread['cpu_ms_per_employee']}%, cost {spread['aws_cost_per_1000_employees_usd']}% "
        f"(limit {result['limit_pct']}%: "
        f"{'within' if result['time_within_limit'] else 'NOT within'})"
    )
    console.print(f"wrote {path}")
