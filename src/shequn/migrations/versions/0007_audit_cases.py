"""audit cases, decisions and kicked looks

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 23:46:34.799750
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_case",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("exempt", sa.String(length=16), nullable=True),
        sa.Column("scored_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", "member", name=op.f("pk_audit_case")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "audit_decision",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_decision")),
    )
    with op.batch_alter_table("audit_decision", schema=None) as batch_op:
        batch_op.create_index("ix_audit_decision_member", ["org", "member", "id"], unique=False)

    op.create_table(
        "audit_kicked_look",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("look", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("org", "look", "member", name=op.f("pk_audit_kicked_look")),
    )
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.create_index("ix_group_member_member", ["org", "member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.drop_index("ix_group_member_member")

    op.drop_table("audit_kicked_look")
    with op.batch_alter_table("audit_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_decision_member")

    op.drop_table("audit_decision")
    op.drop_table("audit_case")
