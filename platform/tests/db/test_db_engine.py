"""Engines: URL resolution, SQLite pragmas, the RDS Proxy IAM branch, sessions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import JSON, Column, Engine, Integer, MetaData, Table, select, text

from payroll_platform.db import engine as engine_module
from payroll_platform.db.engine import (
    DEFAULT_DATABASE_URL,
    RdsProxyTarget,
    dispose_engines,
    get_engine,
    iam_token_provider,
    make_engine,
    rds_proxy_target_from_env,
    session_scope,
)
from payroll_platform.db.models import Employer


def test_sqlite_engine_turns_on_foreign_keys_and_wal(sqlite_url: Callable[[str], str]) -> None:
    engine = make_engine(sqlite_url("pragmas.sqlite"))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert engine.dialect.create_connect_args(engine.url)[1]["check_same_thread"] is False
    engine.dispose()


def test_database_url_env_chooses_the_database(
    sqlite_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url("env.sqlite")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DB_PROXY_ENDPOINT", "ignored.proxy.example")
    assert str(make_engine().url) == url


def test_default_is_a_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine()
    assert str(engine.url) == DEFAULT_DATABASE_URL
    assert engine.url.get_backend_name() == "sqlite"


def test_plain_postgresql_urls_use_psycopg() -> None:
    pytest.importorskip("psycopg")
    for url in ("postgresql://u@db.internal/payroll", "postgres://u@db.internal/payroll"):
        engine = make_engine(url)
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.host == "db.internal"


def test_get_engine_caches_one_engine_per_url(sqlite_url: Callable[[str], str]) -> None:
    first, second = sqlite_url("a.sqlite"), sqlite_url("b.sqlite")
    assert get_engine(first) is get_engine(first)
    assert get_engine(first) is not get_engine(second)
    cached = get_engine(first)
    dispose_engines()
    assert get_engine(first) is not cached


def test_session_scope_commits_or_rolls_back(engine: Engine) -> None:
    def employer(employer_id: str) -> Employer:
        return Employer(
            employer_id=employer_id, name="Acme", pay_schedule="weekly", fein="**-***0001"
        )

    with session_scope(engine) as session:
        session.add(employer("er-1"))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(employer("er-2"))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert session.scalars(select(Employer.employer_id)).all() == ["er-1"]


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    seen: list[int] = []

    def read() -> None:
        with engine.connect() as connection:
            seen.append(connection.execute(text("SELECT x FROM t")).scalar_one())

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert seen == [1]


def test_json_columns_store_decimals_as_strings(sqlite_url: Callable[[str], str]) -> None:
    table = Table("doc", MetaData(), Column("id", Integer, primary_key=True), Column("body", JSON))
    engine = make_engine(sqlite_url("json.sqlite"))
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"body": {"step3_credits": Decimal("2000.00")}}])
        stored = connection.exec_driver_sql("SELECT body FROM doc").scalar_one()
    assert stored == '{"step3_credits":"2000.00"}'
    engine.dispose()


def test_rds_proxy_target_reads_the_environment() -> None:
    target = rds_proxy_target_from_env(
        {
            "DB_PROXY_ENDPOINT": "payroll.proxy-abc.us-east-1.rds.amazonaws.com",
            "DB_NAME": "ledger",
            "DB_USER": "calc",
            "AWS_REGION": "us-east-1",
        }
    )
    assert target == RdsProxyTarget(
        host="payroll.proxy-abc.us-east-1.rds.amazonaws.com",
        port=5432,
        database="ledger",
        user="calc",
        region="us-east-1",
    )
    assert rds_proxy_target_from_env({}) is None
    with_port = rds_proxy_target_from_env({"DB_PROXY_ENDPOINT": "proxy.local:6432"})
    assert with_port is not None
    assert (with_port.host, with_port.port, with_port.user) == ("proxy.local", 6432, "payroll_app")


def test_iam_token_provider_puts_a_fresh_token_in_each_connection() -> None:
    calls: list[dict[str, Any]] = []

    class FakeRds:
        def generate_db_auth_token(self, **kwargs: Any) -> str:
            calls.append(kwargs)
            return f"token-{len(calls)}"

    target = RdsProxyTarget("proxy.local", 5432, "payroll", "payroll_app", "eu-west-1")
    provide = iam_token_provider(FakeRds(), target)
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    provide(None, None, (), first)
    provide(None, None, (), second)
    assert (first["password"], second["password"]) == ("token-1", "token-2")
    assert calls[0] == {
        "DBHostname": "proxy.local",
        "Port": 5432,
        "DBUsername": "payroll_app",
        "Region": "eu-west-1",
    }


def test_rds_proxy_engine_signs_iam_tokens_with_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real boto3 presigner, offline: signing an RDS token needs no network call."""
    pytest.importorskip("psycopg")
    pytest.importorskip("boto3")
    monkeypatch.setenv("DB_PROXY_ENDPOINT", "payroll.proxy-abc.us-east-1.rds.amazonaws.com")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    engine = get_engine()
    assert engine is get_engine()
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.host == "payroll.proxy-abc.us-east-1.rds.amazonaws.com"
    assert engine.url.username == "payroll_app"
    assert engine.url.password is None
    assert engine.url.query["sslmode"] == "require"

    cparams: dict[str, Any] = {}
    engine.dialect.dispatch.do_connect(engine.dialect, None, [], cparams)
    token = urlsplit("https://" + cparams["password"])
    assert token.netloc == "payroll.proxy-abc.us-east-1.rds.amazonaws.com:5432"
    query = parse_qs(token.query)
    assert query["Action"] == ["connect"]
    assert query["DBUser"] == ["payroll_app"]
    assert "X-Amz-Signature" in query


def test_boto3_is_imported_only_for_the_proxy() -> None:
    source = engine_module.__loader__.get_source(engine_module.__name__)  # type: ignore[union-attr]
    assert source is not None
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not any("boto3" in line for line in top_level)
