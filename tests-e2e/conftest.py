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
STEP_HEARTBEAT_S = 45


@dataclass
class Environment:
    cloud: Any
    database_url: str
    run_dir: Path
    seeded: Any
    broken_employee: str


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
    engine = make_engine(database_url)
    seeded = seed(engine, employers=EMPLOYERS, employees=EMPLOYEES, pay_date=PAY_DATE, seed=11)
    broken = break_one_hourly_rate(engine)
    config = LocalCloudConfig(
        run_dir=run_dir,
        database_url=database_url,
        retry_delay_s=1,
        extra_context={
            "payroll:chunk-size": "10",
            # Short enough that a consumer that is down fails its chunk within the test.
            "payroll:step-heartbeat-seconds": str(STEP_HEARTBEAT_S),
            "payroll:step-timeout-seconds": "300",
        },
    )
    with LocalCloud(config) as cloud:
        yield Environment(cloud, database_url, run_dir, seeded, broken)


def break_one_hourly_rate(engine: Any) -> str:
    """Bad input: one hourly employee with no pay rate (the record a later step rejects)."""
    from sqlalchemy import select, update

    from payroll_platform.db.models import Employee

    with engine.begin() as connection:
        employee_id = connection.execute(
            select(Employee.employee_id)
            .where(Employee.pay_type == "hourly", Employee.active.is_(True))
            .order_by(Employee.employee_id)
            .limit(1)
        ).scalar_one()
        connection.execute(
            update(Employee).where(Employee.employee_id == employee_id).values(hourly_rate=None)
        )
    return str(employee_id)
