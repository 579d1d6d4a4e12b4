"""a fission campaign's own welcome for newcomers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 23:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fission_campaign") as batch_op:
        batch_op.add_column(sa.Column("welcome_text", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fission_campaign") as batch_op:
        batch_op.drop_column("welcome_text")
