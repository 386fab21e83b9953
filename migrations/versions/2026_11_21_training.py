"""training: job functions, the training matrix, assignments and append-only training records

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 02:30:57.033171
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
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
    op.create_table('job_functions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_job_functions_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_functions')),
    sa.UniqueConstraint('code', name=op.f('uq_job_functions_code'))
    )
    op.create_table('training_requirements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('function_id', sa.Uuid(), nullable=False),
    sa.Column('document_id', sa.Uuid(), nullable=True),
    sa.Column('type_id', sa.Uuid(), nullable=True),
    sa.Column('department', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by_id', sa.Uuid(), nullable=True),
    sa.Column('remove_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("(document_id IS NOT NULL AND type_id IS NULL AND department = '') OR (document_id IS NULL AND type_id IS NOT NULL)", name=op.f('ck_training_requirements_target')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_training_requirements_created_by_id_users')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_training_requirements_document_id_documents')),
    sa.ForeignKeyConstraint(['function_id'], ['job_functions.id'], name=op.f('fk_training_requirements_function_id_job_functions')),
    sa.ForeignKeyConstraint(['removed_by_id'], ['users.id'], name=op.f('fk_training_requirements_removed_by_id_users')),
    sa.ForeignKeyConstraint(['type_id'], ['document_types.id'], name=op.f('fk_training_requirements_type_id_document_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_requirements'))
    )
    with op.batch_alter_table('training_requirements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_requirements_document_id'), ['document_id'], unique=False)
        batch_op.create_index('ix_training_requirements_function', ['function_id', 'removed_at'], unique=False)

    op.create_table('user_job_functions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('function_id', sa.Uuid(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('granted_by_id', sa.Uuid(), nullable=True),
    sa.Column('grant_reason', sa.Text(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Uuid(), nullable=True),
    sa.Column('revoke_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['function_id'], ['job_functions.id'], name=op.f('fk_user_job_functions_function_id_job_functions')),
    sa.ForeignKeyConstraint(['granted_by_id'], ['users.id'], name=op.f('fk_user_job_functions_granted_by_id_users')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['users.id'], name=op.f('fk_user_job_functions_revoked_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_job_functions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_job_functions'))
    )
    with op.batch_alter_table('user_job_functions', schema=None) as batch_op:
        batch_op.create_index('ix_user_job_functions_function', ['function_id', 'user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_job_functions_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_user_job_functions_active', ['user_id', 'function_id'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))

    op.create_table('training_assignments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('revision_id', sa.Uuid(), nullable=False),
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('function_id', sa.Uuid(), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('record_id', sa.Uuid(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.Text(), nullable=True),
    sa.Column('superseded_by_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("state IN ('open', 'completed', 'superseded', 'cancelled')", name=op.f('ck_training_assignments_state')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_training_assignments_document_id_documents')),
    sa.ForeignKeyConstraint(['function_id'], ['job_functions.id'], name=op.f('fk_training_assignments_function_id_job_functions')),
    sa.ForeignKeyConstraint(['revision_id'], ['revisions.id'], name=op.f('fk_training_assignments_revision_id_revisions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_training_assignments_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_assignments'))
    )
    with op.batch_alter_table('training_assignments', schema=None) as batch_op:
        batch_op.create_index('ix_training_assignments_document_user', ['document_id', 'user_id'], unique=False)
        batch_op.create_index('ix_training_assignments_revision_state', ['revision_id', 'state'], unique=False)
        batch_op.create_index('ix_training_assignments_state_due', ['state', 'due_at'], unique=False)
        batch_op.create_index('ix_training_assignments_user_revision', ['user_id', 'revision_id', 'state'],
                              unique=False)
        batch_op.create_index('ix_training_assignments_user_state', ['user_id', 'state'], unique=False)
        batch_op.create_index('uq_training_assignments_live', ['user_id', 'revision_id'], unique=True, sqlite_where=sa.text("state IN ('open', 'completed')"), postgresql_where=sa.text("state IN ('open', 'completed')"))

    op.create_table('training_records',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('assignment_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('revision_id', sa.Uuid(), nullable=False),
    sa.Column('method', sa.String(length=24), nullable=False),
    sa.Column('result', sa.String(length=12), nullable=False),
    sa.Column('signature_id', sa.Uuid(), nullable=True),
    sa.Column('trainer_id', sa.Uuid(), nullable=True),
    sa.Column('performed_on', sa.Date(), nullable=True),
    sa.Column('performed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('carried_from_id', sa.Uuid(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by_id', sa.Uuid(), nullable=True),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.CheckConstraint("method IN ('read_and_understood', 'offline', 'carried_over')", name=op.f('ck_training_records_method')),
    sa.CheckConstraint("result IN ('completed', 'passed', 'failed')", name=op.f('ck_training_records_result')),
    sa.ForeignKeyConstraint(['assignment_id'], ['training_assignments.id'], name=op.f('fk_training_records_assignment_id_training_assignments')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_training_records_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['revision_id'], ['revisions.id'], name=op.f('fk_training_records_revision_id_revisions')),
    sa.ForeignKeyConstraint(['signature_id'], ['signatures.id'], name=op.f('fk_training_records_signature_id_signatures')),
    sa.ForeignKeyConstraint(['trainer_id'], ['users.id'], name=op.f('fk_training_records_trainer_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_training_records_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_records'))
    )
    with op.batch_alter_table('training_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_records_assignment_id'), ['assignment_id'], unique=False)
        batch_op.create_index('ix_training_records_user_revision', ['user_id', 'revision_id'], unique=False)

    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('train_before_effective', sa.Boolean(), server_default=sa.false(), nullable=False))

    # plain ALTER TABLE (no batch copy): signatures is append-only and keeps its triggers
    op.add_column('signatures', sa.Column('assignment_id', sa.Uuid(), nullable=True))
    op.create_index('uq_signatures_read_and_understood', 'signatures', ['assignment_id'], unique=True, sqlite_where=sa.text("assignment_id IS NOT NULL AND meaning = 'Read and understood'"), postgresql_where=sa.text("assignment_id IS NOT NULL AND meaning = 'Read and understood'"))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department', sa.String(length=12), server_default=sa.text("''"), nullable=False))

    op.create_table('training_compliance_snapshots',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('through_seq', sa.BigInteger(), nullable=False),
    sa.Column('millis', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_compliance_snapshots'))
    )
    append_only(("training_records",))


def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
