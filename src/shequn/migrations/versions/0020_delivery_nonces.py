"""delivery nonces

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_nonce",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "key", name=op.f("pk_delivery_nonce")),
    )
    op.create_index("ix_delivery_nonce_expires_at", "delivery_nonce", ["expires_at"], unique=False)
    op.create_index(
        "ix_action_group_created", "action", ["org", "group_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_action_group_created", table_name="action")
    op.drop_index("ix_delivery_nonce_expires_at", table_name="delivery_nonce")
    op.drop_table("delivery_nonce")
