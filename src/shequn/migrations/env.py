"""Alembic environment: runs on the connection shequn hands it, or on a URL for the alembic CLI."""

from alembic import context
from sqlalchemy import Connection

from shequn import models  # noqa: F401 - registers every table on Base.metadata
from shequn.db import Base, create_engine

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        run(connection)
