"""the invite tree: each member's first join, inviter credit, generation and channel, kept at join

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-23 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invite_tree_node",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("join_key", sa.String(length=48), nullable=False),
        sa.Column("joined_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("reported_inviter", sa.String(length=200), nullable=True),
        sa.Column("via_code", sa.String(length=200), nullable=True),
        sa.Column("inviter", sa.String(length=200), nullable=True),
        sa.Column("is_credited", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("org", "member", name=op.f("pk_invite_tree_node")),
    )
    with op.batch_alter_table("invite_tree_node", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invite_tree_node_inviter", ["org", "inviter", "is_credited"], unique=False
        )
        batch_op.create_index("ix_invite_tree_node_via_code", ["org", "via_code"], unique=False)
        batch_op.create_index(
            "ix_invite_tree_node_report", ["org", "generation", "channel", "is_credited"],
            unique=False,
        )  # fmt: skip
        batch_op.create_index(
            "ix_invite_tree_node_group", ["org", "group_id", "joined_at"], unique=False
        )
    # Filled from the members' first joins when the store is opened (wiring).


def downgrade() -> None:
    with op.batch_alter_table("invite_tree_node", schema=None) as batch_op:
        batch_op.drop_index("ix_invite_tree_node_group")
        batch_op.drop_index("ix_invite_tree_node_report")
        batch_op.drop_index("ix_invite_tree_node_via_code")
        batch_op.drop_index("ix_invite_tree_node_inviter")
    op.drop_table("invite_tree_node")
