"""audit subtrees: cached hashes of complete subtrees of the audit trail, derived
(recomputable from audit_events; the application role may prune it)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 04:30:05.824512
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_subtrees',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_audit_subtrees'))
    )


def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
