"""commerce: order attribution, products and price schedules, coupons, group-buys, bargains,
assist tasks and fission coupon shares

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shequn.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assist_task",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("opened_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("helped", sa.Integer(), nullable=False),
        sa.Column("coupon", sa.String(length=64), nullable=True),
        sa.Column("closed_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_assist_task")),
    )
    op.create_table(
        "bargain",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("start_price", sa.BigInteger(), nullable=False),
        sa.Column("target_price", sa.BigInteger(), nullable=False),
        sa.Column("assists", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=100), nullable=False),
        sa.Column("opened_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cut", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_bargain")),
    )
    op.create_table(
        "coupon",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_off", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.Integer(), nullable=False),
        sa.Column("valid_from", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_until", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("issued_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("used_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", "code", name=op.f("pk_coupon")),
    )
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.create_index("ix_coupon_member", ["org", "member", "template"], unique=False)

    op.create_table(
        "coupon_share",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("sharer", sa.String(length=200), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_coupon_share")),
    )
    op.create_table(
        "coupon_template",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_off", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.Integer(), nullable=False),
        sa.Column("valid_from", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_until", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_coupon_template")),
    )
    op.create_table(
        "coupon_use",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("restored_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", "order_id", "code", name=op.f("pk_coupon_use")),
    )
    op.create_table(
        "friend_help",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("friend", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "kind", "target", "friend", name=op.f("pk_friend_help")),
    )
    op.create_table(
        "group_buy_deal",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_group_buy_deal")),
    )
    op.create_table(
        "group_buy_join",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("order_ref", sa.String(length=200), nullable=True),
        sa.Column("joined_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org", "team", "member", name=op.f("pk_group_buy_join")),
    )
    op.create_table(
        "group_buy_team",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("deal", sa.String(length=100), nullable=False),
        sa.Column("leader", sa.String(length=200), nullable=False),
        sa.Column("opened_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("settled_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_group_buy_team")),
    )
    op.create_table(
        "order_attribution",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("group_source", sa.String(length=16), nullable=False),
        sa.Column("store", sa.String(length=200), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("puller", sa.String(length=200), nullable=True),
        sa.Column("inviter", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_key", sa.String(length=48), nullable=False),
        sa.PrimaryKeyConstraint("org", "order_id", name=op.f("pk_order_attribution")),
    )
    with op.batch_alter_table("order_attribution", schema=None) as batch_op:
        batch_op.create_index("ix_order_attribution_campaign", ["org", "campaign"], unique=False)
        batch_op.create_index("ix_order_attribution_paid", ["org", "paid_at"], unique=False)

    op.create_table(
        "price_change",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("effective_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_price_change")),
    )
    with op.batch_alter_table("price_change", schema=None) as batch_op:
        batch_op.create_index("ix_price_change_sku", ["org", "sku", "effective_at"], unique=False)

    op.create_table(
        "product",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "sku", name=op.f("pk_product")),
    )


def downgrade() -> None:
    op.drop_table("product")
    with op.batch_alter_table("price_change", schema=None) as batch_op:
        batch_op.drop_index("ix_price_change_sku")

    op.drop_table("price_change")
    with op.batch_alter_table("order_attribution", schema=None) as batch_op:
        batch_op.drop_index("ix_order_attribution_paid")
        batch_op.drop_index("ix_order_attribution_campaign")

    op.drop_table("order_attribution")
    op.drop_table("group_buy_team")
    op.drop_table("group_buy_join")
    op.drop_table("group_buy_deal")
    op.drop_table("friend_help")
    op.drop_table("coupon_use")
    op.drop_table("coupon_template")
    op.drop_table("coupon_share")
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_member")

    op.drop_table("coupon")
    op.drop_table("bargain")
    op.drop_table("assist_task")
