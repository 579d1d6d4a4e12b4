"""campaign runs

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_run",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("playbook", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("start_date", sa.String(length=10), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_campaign_run")),
    )
    op.create_table(
        "campaign_step",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("due_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("ran_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("log", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org", "run_id", "step_id", "group_id", name=op.f("pk_campaign_step")
        ),
    )
    with op.batch_alter_table("campaign_step", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_step_due", ["org", "run_id", "due_at"], unique=False)
        batch_op.create_index("ix_campaign_step_group", ["org", "group_id", "ran_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_step", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_step_group")
        batch_op.drop_index("ix_campaign_step_due")
    op.drop_table("campaign_step")
    op.drop_table("campaign_run")
