"""audit events: the time index also holds seq, so a date range's page and count are read from the index alone

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 06:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at_seq', ['at', 'seq'], unique=False)
        batch_op.drop_index('ix_audit_events_at')


def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
