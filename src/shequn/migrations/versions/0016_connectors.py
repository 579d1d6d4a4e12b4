"""connectors

An action's new status `awaiting` (a WeCom task waiting for an employee) fits the existing
action.status column (String(16)) and its ix_action_due index, and a task's details live in the
action's payload; join ways and per-member invite links live in invite_code.link. So this
revision changes no table: it marks the schema the connectors run on.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 02:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
