"""group daily figures

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("joins", "leaves", "kicked", "messages", "speakers", "active", "orders", "buyers",
            "items")  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "group_daily_figures",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS],
        sa.Column("gmv", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org", "group_id", "day", name=op.f("pk_group_daily_figures")),
        postgresql_with={"fillfactor": 70},
    )
    with op.batch_alter_table("group_daily_figures", schema=None) as batch_op:
        batch_op.create_index("ix_group_daily_figures_day", ["org", "day"], unique=False)
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.create_index("ix_shop_order_paid", ["org", "paid_at"], unique=False)
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.create_index("ix_refund_refunded", ["org", "refunded_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index("ix_refund_refunded")
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.drop_index("ix_shop_order_paid")
    with op.batch_alter_table("group_daily_figures", schema=None) as batch_op:
        batch_op.drop_index("ix_group_daily_figures_day")
    op.drop_table("group_daily_figures")
