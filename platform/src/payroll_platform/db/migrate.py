"""Schema migrations, run from code: no alembic.ini, no working-directory assumptions.

The Alembic environment lives in this package (``migrations/``), so the same call
works from a checkout, an installed wheel and a Lambda bundle.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from payroll_platform.db.engine import get_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory lock key held while migrating ("payroll" in ASCII).
MIGRATION_LOCK_KEY = 0x706179726F6C6C
# Alembic's ``context`` and ``op`` are module-level proxies: one migration per process.
_process_lock = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    """An in-code Alembic config pointing at this package's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser interpolation treats % specially (URL-encoded passwords).
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str | None = None, *, engine: Engine | None = None) -> None:
    """Upgrade the database to the newest revision.

    ``url`` (else ``DATABASE_URL``, else RDS Proxy, else the SQLite default) picks the
    cached engine of ``get_engine``; pass ``engine`` to use one you hold. The upgrade
    runs in one transaction where the database allows (PostgreSQL DDL is
    transactional), so a failed migration leaves the previous schema. On PostgreSQL
    concurrent callers (several cold starts) are serialized by an advisory lock: the
    later ones wait, then find the schema at head and do nothing.
    """
    bind = engine if engine is not None else get_engine(url)
    config = alembic_config()
    with _process_lock, bind.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


__all__ = [
    "MIGRATIONS_DIR",
    "MIGRATION_LOCK_KEY",
    "alembic_config",
    "current_revision",
    "head_revision",
    "migrate",
]
