"""Alembic environment: runs on the connection ``StateStore`` passes in
``config.attributes["connection"]`` (inside its transaction; nothing is committed here).

Without one (the ``alembic`` command line with ``-x url=...`` or ``sqlalchemy.url``), it
opens its own engine."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from connectors.state import META

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=META,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True, compare_server_default=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the state store's URL: alembic -x url=sqlite:///... upgrade head")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
