"""analytics: the staff audit log and phone numbers sealed at rest

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shequn.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_audit_log")),
    )
    with op.batch_alter_table("staff_audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_staff_audit_log_at", ["org", "at"], unique=False)

    op.create_table(
        "member_phone",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("sealed", sa.String(length=200), nullable=False),
        sa.Column("masked", sa.String(length=40), nullable=False),
        sa.Column("sealed_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "member", name=op.f("pk_member_phone")),
    )


def downgrade() -> None:
    op.drop_table("member_phone")
    with op.batch_alter_table("staff_audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_audit_log_at")
    op.drop_table("staff_audit_log")
