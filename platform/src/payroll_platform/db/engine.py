"""Engines and sessions: one ``DATABASE_URL`` chooses the database.

Resolution order when no URL is passed:

1. ``DATABASE_URL`` (any SQLAlchemy URL; ``postgresql://`` and ``postgres://`` are
   taken to mean the psycopg 3 driver).
2. ``DB_PROXY_ENDPOINT``: PostgreSQL through RDS Proxy with IAM authentication. Also
   read: ``DB_PORT`` (5432), ``DB_NAME`` (``payroll``), ``DB_USER`` (``payroll_app``)
   and ``AWS_REGION``/``AWS_DEFAULT_REGION``. Each new connection gets a fresh IAM
   token (they live 15 minutes), so pooled reconnects never reuse an expired one.
3. The embedded default, a SQLite file ``payroll.sqlite`` in the working directory.

Engines are cached per target (``get_engine``) so a warm Lambda reuses its pool.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

DEFAULT_DATABASE_URL = "sqlite:///payroll.sqlite"
DEFAULT_DB_PORT = 5432
DEFAULT_DB_NAME = "payroll"
DEFAULT_DB_USER = "payroll_app"

# Seconds a SQLite writer waits for another writer's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class RdsProxyTarget:
    """Where the IAM-authenticated engine connects; the token is made per connection."""

    host: str
    port: int
    database: str
    user: str
    region: str | None

    @property
    def url(self) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            host=self.host,
            port=self.port,
            database=self.database,
            query={"sslmode": "require"},
        )

    @property
    def cache_key(self) -> str:
        return f"rds-proxy-iam://{self.user}@{self.host}:{self.port}/{self.database}"


def rds_proxy_target_from_env(environ: Mapping[str, str] | None = None) -> RdsProxyTarget | None:
    env = os.environ if environ is None else environ
    endpoint = env.get("DB_PROXY_ENDPOINT", "").strip()
    if not endpoint:
        return None
    host, _, port_text = endpoint.partition(":")
    port = int(port_text or env.get("DB_PORT") or DEFAULT_DB_PORT)
    return RdsProxyTarget(
        host=host,
        port=port,
        database=env.get("DB_NAME") or DEFAULT_DB_NAME,
        user=env.get("DB_USER") or DEFAULT_DB_USER,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
    )


def _json_default(value: Any) -> Any:
    # Amounts go into JSON columns as exact strings, never as binary floats.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> str:
    """The JSON serializer of every engine: Decimal and dates become strings."""
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _resolve(url: str | None) -> str | RdsProxyTarget:
    if url:
        return url
    env_url = os.environ.get("DATABASE_URL", "").strip()
    if env_url:
        return env_url
    target = rds_proxy_target_from_env()
    if target is not None:
        return target
    return DEFAULT_DATABASE_URL


def _normalize(url: str) -> URL:
    parsed = make_url(url)
    # psycopg 3 is the one PostgreSQL driver the project ships.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_sqlite_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # SQLite ignores foreign keys unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets readers run beside the one writer (local pollers share the file).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _make_sqlite_engine(url: URL, **engine_kwargs: Any) -> Engine:
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
    connect_args.update(engine_kwargs.pop("connect_args", {}))
    if _is_sqlite_memory(url):
        # One shared connection, or every thread would see its own empty database.
        engine_kwargs.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args=connect_args, **engine_kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def iam_token_provider(
    rds_client: Any, target: RdsProxyTarget
) -> Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], None]:
    """A ``do_connect`` listener that puts a fresh IAM auth token in the password."""

    def provide_token(
        _dialect: Any, _conn_rec: Any, _cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> None:
        kwargs: dict[str, Any] = {
            "DBHostname": target.host,
            "Port": target.port,
            "DBUsername": target.user,
        }
        if target.region:
            kwargs["Region"] = target.region
        cparams["password"] = rds_client.generate_db_auth_token(**kwargs)

    return provide_token


def _make_rds_proxy_engine(target: RdsProxyTarget, **engine_kwargs: Any) -> Engine:
    import boto3  # only here: SQLite users and unit tests never need it

    rds_client = boto3.client("rds", region_name=target.region)
    engine_kwargs.setdefault("pool_pre_ping", True)
    # The proxy drops idle client connections; recycle well before that.
    engine_kwargs.setdefault("pool_recycle", 600)
    engine = create_engine(target.url, **engine_kwargs)
    event.listen(engine, "do_connect", iam_token_provider(rds_client, target))
    return engine


def make_engine(url: str | None = None, **engine_kwargs: Any) -> Engine:
    """A new engine for ``url``, or for the environment's database (see module doc).

    Extra keyword arguments go to ``sqlalchemy.create_engine``.
    """
    resolved = _resolve(url)
    engine_kwargs.setdefault("json_serializer", json_dumps)
    if isinstance(resolved, RdsProxyTarget):
        return _make_rds_proxy_engine(resolved, **engine_kwargs)
    parsed = _normalize(resolved)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, **engine_kwargs)
    engine_kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **engine_kwargs)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str | None = None) -> Engine:
    """The cached engine for ``url`` (or the environment's database): one per target."""
    resolved = _resolve(url)
    key = resolved.cache_key if isinstance(resolved, RdsProxyTarget) else resolved
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = make_engine(url)
            _engines[key] = engine
        return engine


def dispose_engines() -> None:
    """Dispose and forget every cached engine (tests; a process about to fork)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    session = Session(engine if engine is not None else get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


__all__ = [
    "DEFAULT_DATABASE_URL",
    "RdsProxyTarget",
    "dispose_engines",
    "get_engine",
    "iam_token_provider",
    "json_dumps",
    "make_engine",
    "rds_proxy_target_from_env",
    "session_scope",
]
