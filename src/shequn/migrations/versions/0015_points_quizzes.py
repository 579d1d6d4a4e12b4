"""points quizzes

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "points_group",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("is_sign_in_open", sa.Boolean(), nullable=False),
        sa.Column("changed_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "group_id", name=op.f("pk_points_group")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "points_quiz",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("question", sa.String(length=1000), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("opens_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("points > 0", name=op.f("ck_points_quiz_quiz_points_positive")),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_points_quiz")),
        postgresql_with={"fillfactor": 70},
    )
    with op.batch_alter_table("points_quiz", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_quiz_group", ["org", "group_id", "closes_at"], unique=False
        )

    op.create_table(
        "points_quiz_answer",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("quiz", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org", "quiz", "member", name=op.f("pk_points_quiz_answer")),
    )


def downgrade() -> None:
    op.drop_table("points_quiz_answer")
    with op.batch_alter_table("points_quiz", schema=None) as batch_op:
        batch_op.drop_index("ix_points_quiz_group")

    op.drop_table("points_quiz")
    op.drop_table("points_group")
