"""audit checkpoints: signed tree heads of the audit trail, append-only

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 04:03:39.652427
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
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
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.Column('blob_sha256', sa.String(length=64), nullable=False),
    sa.Column('made_by', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['blob_sha256'], ['blobs.sha256'], name=op.f('fk_audit_checkpoints_blob_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
    sa.UniqueConstraint('tree_size', name=op.f('uq_audit_checkpoints_tree_size'))
    )
    append_only(("audit_checkpoints",))


def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
