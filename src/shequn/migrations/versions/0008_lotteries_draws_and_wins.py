"""lotteries, draws and wins

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 23:24:35.151909
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lottery",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("prizes", sa.JSON(), nullable=False),
        sa.Column("rules_text", sa.String(length=4000), nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_lottery")),
    )
    op.create_table(
        "lottery_draw",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("lottery", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("due_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("freeze_text", sa.String(length=40), nullable=False),
        sa.Column("seed_hex", sa.String(length=128), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("entrant_count", sa.Integer(), nullable=True),
        sa.Column("list_hash", sa.String(length=64), nullable=True),
        sa.Column("published", sa.JSON(), nullable=True),
        sa.Column("exclusions", sa.JSON(), nullable=True),
        sa.Column("skip_reason", sa.String(length=300), nullable=True),
        sa.Column("drawn_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_draw")),
    )
    with op.batch_alter_table("lottery_draw", schema=None) as batch_op:
        batch_op.create_index("ix_lottery_draw_lottery", ["org", "lottery"], unique=False)

    op.create_table(
        "lottery_win",
        sa.Column("draw_id", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("prize", sa.String(length=200), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("won_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("draw_id", "rank", name=op.f("pk_lottery_win")),
        sa.UniqueConstraint("code", name=op.f("uq_lottery_win_code")),
    )
    with op.batch_alter_table("lottery_win", schema=None) as batch_op:
        batch_op.create_index("ix_lottery_win_member", ["org", "member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lottery_win", schema=None) as batch_op:
        batch_op.drop_index("ix_lottery_win_member")

    op.drop_table("lottery_win")
    with op.batch_alter_table("lottery_draw", schema=None) as batch_op:
        batch_op.drop_index("ix_lottery_draw_lottery")

    op.drop_table("lottery_draw")
    op.drop_table("lottery")
