"""the event log, outbox, jobs and first projections

Revision ID: 0001
Revises:
Create Date: 2026-11-22 21:55:15.375184
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shequn.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "action",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=True),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("member_id", sa.String(length=200), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("connector", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action")),
    )
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.create_index("ix_action_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "api_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_org"), ["org"], unique=False)

    op.create_table(
        "chat_group",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("store", sa.String(length=200), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_seen_key", sa.String(length=48), nullable=False),
        sa.Column("profile_key", sa.String(length=48), nullable=True),
        sa.Column("dismissed_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_chat_group")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "event",
        sa.Column("batch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("member_id", sa.String(length=200), nullable=True),
        sa.Column("key", sa.String(length=48), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("batch", "position", name=op.f("pk_event")),
        sa.UniqueConstraint("org", "source", "event_id", name=op.f("uq_event_org_source_event_id")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_key"), ["key"], unique=False)
        batch_op.create_index(
            "ix_event_pair", ["org", "group_id", "member_id", "key"], unique=False
        )

    op.create_table(
        "group_member",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("is_member", sa.Boolean(), nullable=False),
        sa.Column("stints", sa.Integer(), nullable=False),
        sa.Column("joined_key", sa.String(length=48), nullable=True),
        sa.Column("last_key", sa.String(length=48), nullable=False),
        sa.PrimaryKeyConstraint("org", "group_id", "member_id", name=op.f("pk_group_member")),
    )
    op.create_table(
        "intake_batch",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("received_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_batch")),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("due_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ran_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_due", ["status", "due_at"], unique=False)

    op.create_table(
        "member",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_seen_key", sa.String(length=48), nullable=False),
        sa.Column("nickname", sa.String(length=200), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=1000), nullable=True),
        sa.Column("avatar_url", sa.String(length=2000), nullable=True),
        sa.Column("avatar_flags", sa.JSON(), nullable=False),
        sa.Column("album_flags", sa.JSON(), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("profile_key", sa.String(length=48), nullable=True),
        sa.Column("first_join_key", sa.String(length=48), nullable=True),
        sa.Column("first_joined_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_group", sa.String(length=200), nullable=True),
        sa.Column("first_inviter", sa.String(length=200), nullable=True),
        sa.Column("first_via_kind", sa.String(length=32), nullable=True),
        sa.Column("first_via_code", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_member")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "member_activity",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.Column("last_active_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", "group_id", "member_id", name=op.f("pk_member_activity")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "membership",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("stint", sa.Integer(), nullable=False),
        sa.Column("joined_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("join_key", sa.String(length=48), nullable=False),
        sa.Column("inviter", sa.String(length=200), nullable=True),
        sa.Column("via_kind", sa.String(length=32), nullable=True),
        sa.Column("via_code", sa.String(length=200), nullable=True),
        sa.Column("left_at", shequn.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_reason", sa.String(length=16), nullable=True),
        sa.Column("left_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint(
            "org", "group_id", "member_id", "stint", name=op.f("pk_membership")
        ),
    )
    op.create_table(
        "org",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org")),
    )
    op.create_table(
        "refund",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("refunded_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "source", "event_id", name=op.f("pk_refund")),
    )
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_order_id"), ["order_id"], unique=False)

    op.create_table(
        "shop_order",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("store", sa.String(length=200), nullable=True),
        sa.Column("staff", sa.String(length=200), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("coupon", sa.String(length=100), nullable=True),
        sa.Column("paid_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_key", sa.String(length=48), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_shop_order")),
    )
    op.create_table(
        "staff",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("first_seen_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_staff")),
    )
    op.create_table(
        "store",
        sa.Column("org", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("first_seen_at", shequn.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "id", name=op.f("pk_store")),
    )


def downgrade() -> None:

    op.drop_table("store")
    op.drop_table("staff")
    op.drop_table("shop_order")
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_order_id"))

    op.drop_table("refund")
    op.drop_table("org")
    op.drop_table("membership")
    op.drop_table("member_activity")
    op.drop_table("member")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_due")

    op.drop_table("job")
    op.drop_table("intake_batch")
    op.drop_table("group_member")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_pair")
        batch_op.drop_index(batch_op.f("ix_event_key"))

    op.drop_table("event")
    op.drop_table("chat_group")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_org"))

    op.drop_table("api_token")
    with op.batch_alter_table("action", schema=None) as batch_op:
        batch_op.drop_index("ix_action_due")

    op.drop_table("action")
