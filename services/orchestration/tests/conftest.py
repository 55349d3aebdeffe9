import sys
from pathlib import Path

import pytest

SERVICE_DIR = Path(__file__).resolve().parents[1]
# The stack module lives in infra/ (not part of the installed package).
sys.path.insert(0, str(SERVICE_DIR / "infra"))
# Test the workspace source even where the venv holds a non-editable copy of the package.
sys.path.insert(0, str(SERVICE_DIR / "src"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit tests get no network at all; the others may reach loopback only."""
    for item in items:
        path = Path(str(item.fspath))
        if SERVICE_DIR not in path.parents:
            continue
        if "unit" in path.relative_to(SERVICE_DIR).parts:
            item.add_marker(pytest.mark.disable_socket)
        else:
            item.add_marker(pytest.mark.allow_hosts(["127.0.0.1"]))
