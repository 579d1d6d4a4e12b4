"""invite codes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 22:09:49.851697
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "invite_code",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "code", name=op.f("pk_invite_code")),
    )
    with op.batch_alter_table("invite_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invite_code_owner"), ["owner"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("invite_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_code_owner"))

    op.drop_table("invite_code")
