"""Exactly once under faults: chaos runs of seeds 1 to 20, and one with a protection off.

The nightly-style run at a small size: one local cloud with a fault plan; per seed its
own employers and weekly pay date, every fault point injecting at 20 %, redrives until
nothing more can succeed, then the invariants (``payroll_platform.chaos.invariants``):
nobody paid twice, no amount or year-to-date figure wrong, no notice duplicated, and
every unpaid employee explained by a dead letter. Every chunk's items travel by key
(``CHUNK_INLINE_BYTES`` 0), so the faults hit the objects' path. The large run is ``payroll chaos
--seed 1 --employers 10 --employees 500 --fault-rate 0.2`` (README).

The last test switches one protection off (the provider ignores ``Idempotency-Key``)
under payment faults that make the payment client send again: the same check must
then fail, which proves it can.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from payroll_platform.chaos.runner import PAY_DATES, ChaosOptions, ChaosSession, cloud_context
from payroll_platform.local.faults import ALL_KINDS

pytestmark = [pytest.mark.localcloud, pytest.mark.chaos]

SEEDS = range(1, int(os.environ.get("CHAOS_SEEDS", "20")) + 1)
#: Its own pay date: seeds repeat pay dates every PAY_DATES (seed 90 once shared seed
#: 10's pay run and saw no payment at all).
PROTECTION_OFF_SEED = PAY_DATES
assert PROTECTION_OFF_SEED not in SEEDS, "CHAOS_SEEDS must stay below PAY_DATES"
SMALL = ChaosOptions(employers=2, employees=3, fault_rate=0.2, chunk_size=3, heartbeat_s=15)
HARM = ("paid_twice", "amount_mismatches", "ytd_mismatches", "notices_duplicated")


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if os.environ.get("STAGING"):
        pytest.skip("faults are injected by the local cloud only")
    from payroll_platform.chaos.runner import PAYMENT_READ_TIMEOUT_S
    from payroll_platform.db.migrate import migrate
    from payroll_platform.local.cloud import LocalCloud, LocalCloudConfig

    run_dir = tmp_path_factory.mktemp("chaos")
    database_url = f"sqlite:///{run_dir / 'payroll.sqlite'}"
    migrate(database_url)
    config = LocalCloudConfig(
        run_dir=run_dir,
        database_url=database_url,
        retry_delay_s=1,
        extra_context=cloud_context(SMALL),
        faults_file=run_dir / "faults.json",
        function_environment={
            "PAYMENT_API_READ_TIMEOUT_SECONDS": str(PAYMENT_READ_TIMEOUT_S),
            # Every chunk's items by key (payroll_shared.chunks), as chunks of the
            # deployed size travel: the small chunks here would otherwise go inline.
            "CHUNK_INLINE_BYTES": "0",
        },
    )
    with LocalCloud(config) as cloud:
        yield ChaosSession(cloud, database_url, Path(run_dir) / "runs")


@pytest.mark.parametrize("seed", SEEDS)
def test_a_chaos_run_pays_everyone_at_most_once_and_explains_the_rest(chaos, seed):
    report = chaos.run(seed, SMALL)

    assert sum(report["faults_injected"].values()) > 0, report
    for harm in HARM:
        assert report[harm] == 0, (harm, report["details"])
    assert report["unpaid_without_dead_letter"] == 0, report["details"]
    assert report["paid_once"] + report["unpaid_with_dead_letter"] == report["employees"]
    assert report["invariants_hold"] is True, report


def test_the_check_fails_when_the_provider_ignores_the_idempotency_key(chaos):
    """Payment faults where the provider accepted but the client saw an error: the
    client sends the same key again. A provider that honours the key pays once; one
    that ignores it pays twice, and the chaos check must say so."""
    only_these = {"payment_timeout_after_accept", "payment_accepted_then_500"}
    options = ChaosOptions(
        employers=1,
        employees=4,
        fault_rate=0.6,
        chunk_size=SMALL.chunk_size,
        heartbeat_s=SMALL.heartbeat_s,
        disabled=[kind for kind in ALL_KINDS if kind not in only_these],
        ignore_idempotency_keys=True,
    )
    report = chaos.run(PROTECTION_OFF_SEED, options)

    assert sum(report["faults_injected"][k] for k in only_these) > 0, report
    assert report["paid_twice"] > 0, report
    assert report["invariants_hold"] is False
