"""The Alembic environment, driven from code by ``payroll_platform.db.migrate``.

``migrate`` hands over an open connection in ``config.attributes["connection"]`` so
the IAM-token engine (which has no password in its URL) works unchanged. Without
one, the URL comes from ``sqlalchemy.url`` or the usual environment (see
``payroll_platform.db.engine``). ``render_as_batch`` lets later migrations alter
SQLite tables (copy-and-move) with the same code as PostgreSQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from payroll_platform.db.engine import make_engine
from payroll_platform.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or None)
    try:
        with engine.connect() as connection:
            _configure(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
