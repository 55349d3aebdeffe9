"""The relational layer of the payroll platform.

- ``models``: SQLAlchemy models (employers, employees, time entries, other earnings,
  pay statements, payments), portable between SQLite and PostgreSQL.
- ``engine``: ``make_engine``/``get_engine``/``session_scope``; ``DATABASE_URL``, or
  RDS Proxy with IAM auth (``DB_PROXY_ENDPOINT``), or a local SQLite file.
- ``migrate``: ``migrate()`` upgrades to the newest Alembic revision from code.
- ``seed``: deterministic demo data; ``repository``: the pay run's read queries.
- ``python -m payroll_platform.db migrate|seed --pay-date YYYY-MM-DD``.

Import from the submodules (``from payroll_platform.db.seed import seed``): the
functions share their modules' names, so they are not re-exported here.
"""
