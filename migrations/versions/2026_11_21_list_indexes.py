"""list indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 01:16:24.430360
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revisions_state'))
        batch_op.create_index('ix_revisions_state_document', ['state', 'document_id'], unique=False)



def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
