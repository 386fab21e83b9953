"""audit reviews: QA's signed "Audit trail review completed" over a range of the trail, append-only

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 05:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def append_only(tables: Sequence[str]) -> None:
    """Triggers refusing UPDATE, DELETE (and TRUNCATE) on each table; the function comes from revision 0001."""
    dialect = op.get_bind().dialect.name
    for table in tables:
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION docctl_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION docctl_refuse_change()"
            )
        else:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'docctl: {verb} on {table} refused: the table is append-only'); END"
                )


def upgrade() -> None:
    op.create_table('audit_reviews',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('seq_from', sa.BigInteger(), nullable=False),
    sa.Column('seq_to', sa.BigInteger(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checkpoint_tree_size', sa.BigInteger(), nullable=False),
    sa.Column('checkpoint_root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('reviewer_id', sa.Uuid(), nullable=False),
    sa.Column('signing_key_id', sa.Uuid(), nullable=False),
    sa.Column('printed_name', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('meaning', sa.String(length=200), nullable=False),
    sa.Column('statement_version', sa.String(length=64), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('manifest', sa.LargeBinary(), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_audit_reviews_reviewer_id_users')),
    sa.ForeignKeyConstraint(['signing_key_id'], ['signing_keys.id'],
                            name=op.f('fk_audit_reviews_signing_key_id_signing_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_reviews')),
    sa.UniqueConstraint('reviewer_id', 'seq_from', 'seq_to', name=op.f('uq_audit_reviews_reviewer_id_seq_from_seq_to'))
    )
    op.create_index('ix_audit_reviews_seq_to', 'audit_reviews', ['seq_to'], unique=False)
    append_only(("audit_reviews",))


def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
