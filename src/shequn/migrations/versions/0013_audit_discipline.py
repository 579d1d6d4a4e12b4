"""audit discipline: strikes, restores, message tails and the learned text model

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_strike",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("offences", sa.JSON(), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("expires_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cleared_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_audit_strike")),
    )
    with op.batch_alter_table("audit_strike", schema=None) as batch_op:
        batch_op.create_index("ix_audit_strike_member", ["org", "member", "at"], unique=False)

    op.create_table(
        "audit_restore",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("stint", sa.Integer(), nullable=True),
        sa.Column("restored_by", sa.String(length=200), nullable=False),
        sa.Column("restored_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_restore")),
    )
    with op.batch_alter_table("audit_restore", schema=None) as batch_op:
        batch_op.create_index("ix_audit_restore_member", ["org", "member", "id"], unique=False)

    op.create_table(
        "audit_message_tail",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("times", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("org", "group_id", "member", name=op.f("pk_audit_message_tail")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "audit_model",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("trained_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("trained_by", sa.String(length=200), nullable=False),
        sa.Column("fakes", sa.Integer(), nullable=False),
        sa.Column("genuine", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("org", name=op.f("pk_audit_model")),
    )


def downgrade() -> None:
    op.drop_table("audit_model")
    op.drop_table("audit_message_tail")
    with op.batch_alter_table("audit_restore", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_restore_member")

    op.drop_table("audit_restore")
    with op.batch_alter_table("audit_strike", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_strike_member")

    op.drop_table("audit_strike")
