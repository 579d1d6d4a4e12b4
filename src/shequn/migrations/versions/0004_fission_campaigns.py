"""fission campaigns and reward grants

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 22:42:01.529300
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "fission_campaign",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("starts_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_fission_campaign")),
    )
    op.create_table(
        "reward_grant",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("inviter", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("count_at_grant", sa.Integer(), nullable=False),
        sa.Column("granted_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("flagged_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_grant")),
    )
    with op.batch_alter_table("reward_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reward_grant_org"), ["org"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("reward_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_grant_org"))

    op.drop_table("reward_grant")
    op.drop_table("fission_campaign")
