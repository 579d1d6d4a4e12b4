"""wecom member versions and telegram join requests

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wecom_chat_version",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("chat", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("seen_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "chat", name=op.f("pk_wecom_chat_version")),
    )
    op.create_table(
        "telegram_join_request",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("requested_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("nickname", sa.String(length=200), nullable=False),
        sa.Column("bio", sa.String(length=300), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("answered_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint(
            "org", "group_id", "member_id", "requested_at", name=op.f("pk_telegram_join_request")
        ),
    )


def downgrade() -> None:
    op.drop_table("telegram_join_request")
    op.drop_table("wecom_chat_version")
