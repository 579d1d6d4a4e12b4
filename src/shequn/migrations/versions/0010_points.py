"""points ledger, mall, sign-ins and replies

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 00:35:22.426965
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mall_item",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_mall_item_price_positive")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_mall_item_stock_not_negative")),
        sa.PrimaryKeyConstraint("org", "sku", name=op.f("pk_mall_item")),
    )
    op.create_table(
        "mall_redemption",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("reservation", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_mall_redemption")),
    )
    with op.batch_alter_table("mall_redemption", schema=None) as batch_op:
        batch_op.create_index("ix_mall_redemption_member", ["org", "member", "sku"], unique=False)

    op.create_table(
        "points_balance",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_points_balance_balance_not_negative")),
        sa.PrimaryKeyConstraint("org", "member", name=op.f("pk_points_balance")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "points_entry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=False),
        sa.Column("lot", sa.String(length=1000), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_entry")),
        sa.UniqueConstraint("org", "lot", "key", name=op.f("uq_points_entry_org_lot_key")),
    )
    with op.batch_alter_table("points_entry", schema=None) as batch_op:
        batch_op.create_index("ix_points_entry_kind", ["org", "kind", "at"], unique=False)
        batch_op.create_index("ix_points_entry_member", ["org", "member", "at"], unique=False)

    op.create_table(
        "points_lot",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=1000), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("earned", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("earned_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= earned",
            name=op.f("ck_points_lot_remaining_within_earned"),
        ),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_points_lot")),
    )
    with op.batch_alter_table("points_lot", schema=None) as batch_op:
        batch_op.create_index("ix_points_lot_expiry", ["org", "expires_at"], unique=False)
        batch_op.create_index("ix_points_lot_member", ["org", "member", "expires_at"], unique=False)

    op.create_table(
        "points_pending_invite",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("invitee", sa.String(length=200), nullable=False),
        sa.Column("due_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "invitee", name=op.f("pk_points_pending_invite")),
    )
    with op.batch_alter_table("points_pending_invite", schema=None) as batch_op:
        batch_op.create_index("ix_points_pending_invite_due", ["org", "due_at"], unique=False)

    op.create_table(
        "points_reply",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("window", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org", "group_id", "window", "member", "kind", name=op.f("pk_points_reply")
        ),
    )
    op.create_table(
        "points_reservation",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("taken", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("org", "key", name=op.f("pk_points_reservation")),
    )
    op.create_table(
        "points_sign_in",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("org", "member", "day", name=op.f("pk_points_sign_in")),
    )
    op.create_table(
        "points_tally",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org", "member", "day", "kind", name=op.f("pk_points_tally")),
        postgresql_with={"fillfactor": 70},
    )


def downgrade() -> None:
    op.drop_table("points_tally")
    op.drop_table("points_sign_in")
    op.drop_table("points_reservation")
    op.drop_table("points_reply")
    with op.batch_alter_table("points_pending_invite", schema=None) as batch_op:
        batch_op.drop_index("ix_points_pending_invite_due")

    op.drop_table("points_pending_invite")
    with op.batch_alter_table("points_lot", schema=None) as batch_op:
        batch_op.drop_index("ix_points_lot_member")
        batch_op.drop_index("ix_points_lot_expiry")

    op.drop_table("points_lot")
    with op.batch_alter_table("points_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_points_entry_member")
        batch_op.drop_index("ix_points_entry_kind")

    op.drop_table("points_entry")
    op.drop_table("points_balance")
    with op.batch_alter_table("mall_redemption", schema=None) as batch_op:
        batch_op.drop_index("ix_mall_redemption_member")

    op.drop_table("mall_redemption")
    op.drop_table("mall_item")
