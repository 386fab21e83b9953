"""approvals and signatures

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 01:08:25.331440
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
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


def seed_routes() -> None:
    """The default route of every seeded type: review (1 reviewer), approval (1 approver), QA approval (1 QA)."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    stamp = now if bind.dialect.name == "postgresql" else now.replace(tzinfo=None)
    routes = sa.table(
        "approval_routes", sa.column("id", sa.Uuid()), sa.column("type_id", sa.Uuid()),
        sa.column("version", sa.Integer()), sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("reason", sa.Text()),
    )
    stages = sa.table(
        "route_stages", sa.column("id", sa.Uuid()), sa.column("route_id", sa.Uuid()),
        sa.column("position", sa.Integer()), sa.column("name", sa.String()), sa.column("meaning", sa.String()),
        sa.column("rule", sa.String()), sa.column("role", sa.String()), sa.column("user_ids", sa.JSON()),
        sa.column("required", sa.Integer()), sa.column("author_may_sign", sa.Boolean()),
    )
    type_ids = bind.execute(sa.text("SELECT id FROM document_types ORDER BY code")).scalars().all()
    for type_id in type_ids:
        route_id = uuid.uuid4()
        op.bulk_insert(routes, [{"id": route_id, "type_id": type_id if isinstance(type_id, uuid.UUID)
                                 else uuid.UUID(str(type_id)), "version": 1, "created_at": stamp,
                                 "reason": "default route"}])
        op.bulk_insert(stages, [
            {"id": uuid.uuid4(), "route_id": route_id, "position": n, "name": name, "meaning": meaning,
             "rule": "role", "role": role, "user_ids": [], "required": 1, "author_may_sign": False}
            for n, (name, meaning, role) in enumerate(
                (("Review", "Reviewed", "reviewer"), ("Approval", "Approved", "approver"),
                 ("QA approval", "QA Approved", "qa")), start=1)
        ])


def upgrade() -> None:
    op.create_table('approval_routes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('type_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_approval_routes_created_by_id_users')),
    sa.ForeignKeyConstraint(['type_id'], ['document_types.id'], name=op.f('fk_approval_routes_type_id_document_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_routes')),
    sa.UniqueConstraint('type_id', 'version', name=op.f('uq_approval_routes_type_id_version'))
    )
    with op.batch_alter_table('approval_routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_routes_type_id'), ['type_id'], unique=False)

    op.create_table('route_stages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('route_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('meaning', sa.String(length=200), nullable=False),
    sa.Column('rule', sa.String(length=8), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=True),
    sa.Column('user_ids', sa.JSON(), nullable=False),
    sa.Column('required', sa.Integer(), nullable=False),
    sa.Column('author_may_sign', sa.Boolean(), nullable=False),
    sa.CheckConstraint("rule IN ('role', 'users')", name=op.f('ck_route_stages_rule')),
    sa.CheckConstraint('required >= 1', name=op.f('ck_route_stages_required')),
    sa.ForeignKeyConstraint(['route_id'], ['approval_routes.id'], name=op.f('fk_route_stages_route_id_approval_routes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route_stages')),
    sa.UniqueConstraint('route_id', 'position', name=op.f('uq_route_stages_route_id_position'))
    )
    with op.batch_alter_table('route_stages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_route_stages_route_id'), ['route_id'], unique=False)

    op.create_table('approval_tasks',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('revision_id', sa.Uuid(), nullable=False),
    sa.Column('route_id', sa.Uuid(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('stage_name', sa.String(length=200), nullable=False),
    sa.Column('meaning', sa.String(length=200), nullable=False),
    sa.Column('assignee_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('signature_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'signed', 'rejected', 'cancelled')", name=op.f('ck_approval_tasks_state')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_approval_tasks_assignee_id_users')),
    sa.ForeignKeyConstraint(['revision_id'], ['revisions.id'], name=op.f('fk_approval_tasks_revision_id_revisions')),
    sa.ForeignKeyConstraint(['route_id'], ['approval_routes.id'], name=op.f('fk_approval_tasks_route_id_approval_routes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_tasks'))
    )
    with op.batch_alter_table('approval_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_approval_tasks_assignee_state', ['assignee_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_tasks_revision_id'), ['revision_id'], unique=False)

    op.create_table('signatures',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('revision_id', sa.Uuid(), nullable=False),
    sa.Column('task_id', sa.Uuid(), nullable=True),
    sa.Column('signer_id', sa.Uuid(), nullable=False),
    sa.Column('signing_key_id', sa.Uuid(), nullable=False),
    sa.Column('printed_name', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('meaning', sa.String(length=200), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('statement_version', sa.String(length=64), nullable=False),
    sa.Column('manifest', sa.LargeBinary(), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['revision_id'], ['revisions.id'], name=op.f('fk_signatures_revision_id_revisions')),
    sa.ForeignKeyConstraint(['signer_id'], ['users.id'], name=op.f('fk_signatures_signer_id_users')),
    sa.ForeignKeyConstraint(['signing_key_id'], ['signing_keys.id'], name=op.f('fk_signatures_signing_key_id_signing_keys')),
    sa.ForeignKeyConstraint(['task_id'], ['approval_tasks.id'], name=op.f('fk_signatures_task_id_approval_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signatures'))
    )
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signatures_revision_id'), ['revision_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_signatures_signer_id'), ['signer_id'], unique=False)
        batch_op.create_index('uq_signatures_task', ['task_id'], unique=True, sqlite_where=sa.text('task_id IS NOT NULL'), postgresql_where=sa.text('task_id IS NOT NULL'))

    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('round', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('planned_effective_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_revisions_route_id_approval_routes'), 'approval_routes', ['route_id'], ['id'])

    append_only(("approval_routes", "route_stages", "signatures"))
    seed_routes()


def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
