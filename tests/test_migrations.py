"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shequn.db import Base, upgrade
from shequn.wiring import Shequn


def test_migrated_schema_matches_the_models(shequn: Shequn) -> None:
    with shequn.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrading_an_up_to_date_store_changes_nothing(shequn: Shequn) -> None:
    upgrade(shequn.engine)
    with shequn.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == "0018"
