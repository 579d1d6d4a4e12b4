"""member tags, and the upsert a sealed phone came with

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-23 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_tag",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "member", "tag", name=op.f("pk_member_tag")),
    )
    with op.batch_alter_table("member_tag", schema=None) as batch_op:
        batch_op.create_index("ix_member_tag_tag", ["org", "tag"], unique=False)
    with op.batch_alter_table("member_phone", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_key", sa.String(length=48), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member_phone", schema=None) as batch_op:
        batch_op.drop_column("source_key")
    with op.batch_alter_table("member_tag", schema=None) as batch_op:
        batch_op.drop_index("ix_member_tag_tag")
    op.drop_table("member_tag")
