"""Measure a whole local pay run: throughput, memory, AWS requests and their cost.

``payroll bench --employers E --employees-per-employer M --chunk-size N`` seeds exactly
E x M active employees on one pay schedule, brings a fresh local cloud up, runs that
schedule's pay run from the trigger through payment and the completion notices, and
writes ``runs/<pay_run_id>/bench.json``:

- ``employees``, ``duration_s`` (trigger to the last employer's notice),
  ``employees_per_s``;
- ``peak_rss_mb`` (and ``peak_pss_mb``) of the local cloud and the run together: the
  benchmark's process and every subprocess (``bench.memory``);
- ``aws_ops``: every AWS request the pipeline made, by service and operation, counted
  where the local cloud serves them (``payroll_platform.local.aws_ops``), with Step
  Functions state transitions, Lambda invocations and GB-seconds, DynamoDB request
  units, SQS/SNS billable requests and S3 requests by price class;
- ``aws_cost_per_1000_employees_usd``: those counts at the public on-demand prices in
  ``prices-us-east-1.json`` (``bench.cost``; dated, with sources);
- ``library_paychecks_per_s``: the payroll library alone on the same machine in the
  same run (``shared/bench/bench_paycheck.py``'s inputs), the ceiling;
- ``cpu_s`` of the same process tree, and the machine's speed (``machine.gauge_ms``)
  and busy/idle/steal split during the run.

``payroll bench-scale --employers 10,100 ...`` runs it per size over interleaved rounds
(``bench.scale``) and reports the medians per employee and how far apart they are.

A benchmark is not a test: ``make test`` runs it once at a tiny size to prove it works.
"""

from payroll_platform.bench.cost import cost_usd, load_prices, per_1000_employees

__all__ = ["cost_usd", "load_prices", "per_1000_employees"]
