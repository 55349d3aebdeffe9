"""Fixtures of the relational-layer tests: migrated SQLite files, a seeded database."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

try:
    import payroll_platform.db  # noqa: F401
except ImportError:  # running from a checkout where the platform package is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from pytest_socket import disable_socket, enable_socket
from sqlalchemy import Engine

from payroll_platform.db.engine import dispose_engines, make_engine
from payroll_platform.db.migrate import migrate
from payroll_platform.db.seed import ALL_WORK_STATES, SeedSummary, seed

#: A Friday that ends no semimonthly or monthly period: those employers fall back to
#: the latest period end before it (2026-02-28).
PAY_DATE = date(2026, 3, 13)


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit tests never reach the network; a test marked enable_socket may (PostgreSQL)."""
    if request.node.get_closest_marker("enable_socket") is None:
        disable_socket(allow_unix_socket=False)
    yield
    enable_socket()


@pytest.fixture(autouse=True)
def _no_database_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The developer's environment must not choose the database of a unit test.
    for name in ("DATABASE_URL", "DB_PROXY_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    yield
    dispose_engines()


def _sqlite_url(folder: Path, name: str = "payroll.sqlite") -> str:
    return f"sqlite:///{folder / name}"


def _migrated_engine(folder: Path, name: str = "payroll.sqlite") -> Engine:
    engine = make_engine(_sqlite_url(folder, name))
    migrate(engine=engine)
    return engine


@pytest.fixture
def pay_date() -> date:
    return PAY_DATE


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Callable[[str], str]:
    """``sqlite_url("name.sqlite")``: a SQLite file URL in the test's tmp folder."""
    return lambda name: _sqlite_url(tmp_path, name)


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Callable[[str], Engine]]:
    """``fresh_engine("name.sqlite")``: a newly migrated, empty SQLite database."""
    engines: list[Engine] = []

    def make(name: str) -> Engine:
        engine = _migrated_engine(tmp_path, name)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated, empty SQLite database."""
    engine = _migrated_engine(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, SeedSummary]]:
    """One database with the default demo data (20 employers, 1000 employees)."""
    engine = _migrated_engine(tmp_path_factory.mktemp("seeded"))
    # Every state the generator knows, CA (daily overtime) and NY included.
    summary = seed(engine, pay_date=PAY_DATE, work_states=ALL_WORK_STATES)
    yield engine, summary
    engine.dispose()
