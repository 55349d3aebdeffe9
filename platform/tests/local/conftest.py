import os
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory):
    """The composed app deployed into the local cloud, once for the session."""
    from payroll_platform.local.cloud import LocalCloud, LocalCloudConfig

    run_dir: Path = tmp_path_factory.mktemp("local-cloud")
    config = LocalCloudConfig(
        run_dir=run_dir, database_url=f"sqlite:///{run_dir / 'payroll.sqlite'}", retry_delay_s=1
    )
    with LocalCloud(config) as cloud:
        yield cloud
