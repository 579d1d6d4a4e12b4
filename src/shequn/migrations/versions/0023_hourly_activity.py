"""activity per group and per org by local day and hour, for the heatmap

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-23 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "group_hourly_activity",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org", "group_id", "day", "hour", name=op.f("pk_group_hourly_activity")
        ),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "org_hourly_activity",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org", "day", "hour", name=op.f("pk_org_hourly_activity")),
        postgresql_with={"fillfactor": 70},
    )


def downgrade() -> None:
    op.drop_table("org_hourly_activity")
    op.drop_table("group_hourly_activity")
