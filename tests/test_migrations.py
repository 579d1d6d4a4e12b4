"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shequn.config import Settings
from shequn.db import Base, upgrade
from shequn.wiring import Shequn, open_shequn
from tests.conftest import downgraded, event, ingest, state_of


def test_migrated_schema_matches_the_models(shequn: Shequn) -> None:
    with shequn.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrading_an_up_to_date_store_changes_nothing(shequn: Shequn) -> None:
    upgrade(shequn.engine)
    with shequn.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == "0024"


def test_a_store_upgraded_past_the_daily_table_has_it_filled_from_its_log(
    shequn: Shequn, settings: Settings
) -> None:
    ingest(shequn, [
        event("g1", "group.upserted", "2020-11-06T09:00:00", {"group": "g1", "name": "老一群"}),
        event("j1", "member.joined", "2020-11-06T10:00:00", {"group": "g1", "member": "u1"}),
        event("p1", "message.posted", "2020-11-07T23:59:00",
              {"group": "g1", "member": "u1", "message": "m1", "kind": "text"}),
        event("l1", "member.left", "2020-11-08T00:01:00",
              {"group": "g1", "member": "u1", "reason": "quit"}),
    ])  # fmt: skip
    live = state_of(shequn)
    assert len(live["group_daily_figures"]) == 3
    # The store as the release before the table left it.
    downgraded(shequn, "0018")
    reopened = open_shequn(settings)
    try:
        assert state_of(reopened) == live
    finally:
        reopened.close()
