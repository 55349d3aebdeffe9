"""End-to-end fixtures: a seeded database and the local cloud, once per session.

By default the pay runs go through the local cloud (the composed CDK app deployed into
moto, the real handlers). Running against a deployed staging stage is not wired yet:
with ``STAGING`` set these tests skip, saying so, rather than pretend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PAY_DATE = date(2026, 7, 31)  # every schedule has a period ending on it
EMPLOYERS = 6
EMPLOYEES = 120


@dataclass
class Environment:
    cloud: Any
    database_url: str
    run_dir: Path
    seeded: Any


@pytest.fixture(scope="session")
def environment(tmp_path_factory) -> Environment:
    if os.environ.get("STAGING"):
        pytest.skip("running against a staging account is not wired yet (no AWS here)")
    from payroll_platform.db.engine import make_engine
    from payroll_platform.db.migrate import migrate
    from payroll_platform.db.seed import seed
    from payroll_platform.local.cloud import LocalCloud, LocalCloudConfig

    run_dir = tmp_path_factory.mktemp("e2e")
    database_url = f"sqlite:///{run_dir / 'payroll.sqlite'}"
    migrate(database_url)
    seeded = seed(
        make_engine(database_url),
        employers=EMPLOYERS,
        employees=EMPLOYEES,
        pay_date=PAY_DATE,
        seed=11,
    )
    config = LocalCloudConfig(
        run_dir=run_dir,
        database_url=database_url,
        retry_delay_s=1,
        extra_context={"payroll:chunk-size": "10"},
    )
    with LocalCloud(config) as cloud:
        yield Environment(cloud, database_url, run_dir, seeded)
