"""documents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 00:44:46.230903
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
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


def search_table() -> None:
    """The full-text index of revisions (number, title, text): FTS5 on SQLite, a tsvector with GIN on PostgreSQL.
    Maintained by docctl.services.search; not part of the ORM metadata (dialect-specific)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE revision_search (revision_id uuid PRIMARY KEY REFERENCES revisions (id), "
            "document_id uuid NOT NULL REFERENCES documents (id), body tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_revision_search_body ON revision_search USING gin (body)")
        op.execute("CREATE INDEX ix_revision_search_document ON revision_search (document_id)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE revision_search USING fts5(revision_id UNINDEXED, document_id UNINDEXED, "
            "number, title, body, tokenize = 'unicode61 remove_diacritics 2')"
        )


def seed_types() -> None:
    now = datetime.now(UTC)
    table = sa.table(
        "document_types",
        sa.column("id", sa.Uuid()), sa.column("code", sa.String()), sa.column("name", sa.String()),
        sa.column("numbering_pattern", sa.String()), sa.column("review_interval_months", sa.Integer()),
        sa.column("training_window_days", sa.Integer()), sa.column("training_required", sa.Boolean()),
        sa.column("active", sa.Boolean()), sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    rows = [
        ("SOP", "Standard operating procedure", "SOP-{dept}-{seq:03}", 24, 14, True),
        ("WI", "Work instruction", "WI-{dept}-{seq:03}", 24, 14, True),
        ("POL", "Policy", "POL-{seq:03}", 36, 30, True),
        ("FORM", "Form or template", "FORM-{dept}-{seq:03}", 36, 14, False),
    ]
    stamp = now if op.get_bind().dialect.name == "postgresql" else now.replace(tzinfo=None)
    op.bulk_insert(table, [
        {"id": uuid.uuid4(), "code": code, "name": name, "numbering_pattern": pattern,
         "review_interval_months": review, "training_window_days": window, "training_required": training,
         "active": True, "created_at": stamp, "updated_at": stamp}
        for code, name, pattern, review, window, training in rows
    ])


def upgrade() -> None:
    op.create_table('document_types',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('numbering_pattern', sa.String(length=64), nullable=False),
    sa.Column('review_interval_months', sa.Integer(), nullable=False),
    sa.Column('training_window_days', sa.Integer(), nullable=False),
    sa.Column('training_required', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_types')),
    sa.UniqueConstraint('code', name=op.f('uq_document_types_code'))
    )
    op.create_table('number_counters',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_number_counters'))
    )
    op.create_table('documents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('type_id', sa.Uuid(), nullable=False),
    sa.Column('department', sa.String(length=12), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=False),
    sa.Column('external', sa.Boolean(), nullable=False),
    sa.Column('external_source', sa.String(length=300), nullable=False),
    sa.Column('external_version', sa.String(length=64), nullable=False),
    sa.Column('external_issued_on', sa.Date(), nullable=True),
    sa.Column('next_review_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_documents_created_by_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_documents_owner_id_users')),
    sa.ForeignKeyConstraint(['type_id'], ['document_types.id'], name=op.f('fk_documents_type_id_document_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('number', name=op.f('uq_documents_number'))
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_type_id'), ['type_id'], unique=False)

    op.create_table('document_history',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('edition', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_document_history_actor_id_users')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_history_document_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_history')),
    sa.UniqueConstraint('document_id', 'edition', name=op.f('uq_document_history_document_id_edition'))
    )
    with op.batch_alter_table('document_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_history_document_id'), ['document_id'], unique=False)

    op.create_table('revisions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('major', sa.Integer(), nullable=False),
    sa.Column('minor', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('change_kind', sa.String(length=8), nullable=False),
    sa.Column('change_summary', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_filename', sa.String(length=255), nullable=False),
    sa.Column('source_media_type', sa.String(length=128), nullable=False),
    sa.Column('source_size', sa.BigInteger(), nullable=False),
    sa.Column('rendition_sha256', sa.String(length=64), nullable=True),
    sa.Column('rendition_kind', sa.String(length=8), nullable=False),
    sa.Column('rendition_note', sa.Text(), nullable=False),
    sa.Column('page_count', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('training_required', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('obsolete_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("change_kind IN ('major', 'minor')", name=op.f('ck_revisions_change_kind')),
    sa.CheckConstraint("state IN ('draft', 'in_review', 'approved', 'effective', 'superseded', 'obsolete', 'withdrawn')", name=op.f('ck_revisions_state')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_revisions_created_by_id_users')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_revisions_document_id_documents')),
    sa.ForeignKeyConstraint(['rendition_sha256'], ['blobs.sha256'], name=op.f('fk_revisions_rendition_sha256_blobs')),
    sa.ForeignKeyConstraint(['source_sha256'], ['blobs.sha256'], name=op.f('fk_revisions_source_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revisions')),
    sa.UniqueConstraint('document_id', 'major', 'minor', name=op.f('uq_revisions_document_id_major_minor'))
    )
    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revisions_document_id'), ['document_id'], unique=False)
        batch_op.create_index('ix_revisions_state', ['state'], unique=False)
        batch_op.create_index('uq_revisions_one_effective', ['document_id'], unique=True, sqlite_where=sa.text("state = 'effective'"), postgresql_where=sa.text("state = 'effective'"))

    append_only(("document_history",))
    search_table()
    seed_types()


def downgrade() -> None:
    raise NotImplementedError("docctl migrations only go forward: restore a backup to go back")
