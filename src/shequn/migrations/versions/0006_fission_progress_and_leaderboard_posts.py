"""fission progress and leaderboard posts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 23:16:58.688055
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fission_progress",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("inviter", sa.String(length=200), nullable=False),
        sa.Column("effective", sa.Integer(), nullable=False),
        sa.Column("told_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "campaign", "inviter", name=op.f("pk_fission_progress")),
    )
    with op.batch_alter_table("fission_campaign", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lang", sa.String(length=8), nullable=False, server_default="zh")
        )
        batch_op.add_column(
            sa.Column("progress_minutes", sa.Integer(), nullable=False, server_default="30")
        )
        batch_op.add_column(sa.Column("board_at", sa.String(length=5), nullable=True))
        batch_op.add_column(
            sa.Column("board_top", sa.Integer(), nullable=False, server_default="10")
        )


def downgrade() -> None:
    with op.batch_alter_table("fission_campaign", schema=None) as batch_op:
        batch_op.drop_column("board_top")
        batch_op.drop_column("board_at")
        batch_op.drop_column("progress_minutes")
        batch_op.drop_column("lang")

    op.drop_table("fission_progress")
