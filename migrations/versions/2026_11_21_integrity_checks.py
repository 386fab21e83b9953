"""integrity checks: runs of "verify integrity" started in the browser, their progress and outcome
(working state, not a record: the outcome is an audit:verify event)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 05:05:22.892587
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('integrity_checks',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('phase', sa.String(length=32), nullable=False),
    sa.Column('events_total', sa.BigInteger(), nullable=False),
    sa.Column('events_done', sa.BigInteger(), nullable=False),
    sa.Column('checkpoints_total', sa.Integer(), nullable=False),
    sa.Column('checkpoints_done', sa.Integer(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_size', sa.BigInteger(), nullable=True),
    sa.Column('verified_root', sa.String(length=64), nullable=True),
    sa.Column('problems', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['started_by'], ['users.id'], name=op.f('fk_integrity_checks_started_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_integrity_checks'))
    )
    with op.batch_alter_table('integrity_checks', schema=None) as batch_op:
        batch_op.create_index('ix_integrity_checks_started_at', ['started_at'], unique=False)


def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
