"""The models and the migrations describe the same schema, on SQLite and PostgreSQL, and every history table
gets its append-only triggers from the migrations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

import docctl.db.models
from docctl.db.base import Base, UTCDateTime
from docctl.db.migrate import upgrade
from docctl.db.session import make_engine
from tests.fixtures.databases import PG_OWNER

HISTORY_TABLES = docctl.db.models.HISTORY_TABLES
DIALECT_SPECIFIC_TABLES = ("revision_search",)


def differences(engine: Engine, metadata: sa.MetaData = Base.metadata, seen: list | None = None) -> list:
    """alembic's autogenerate comparison of `metadata` with the database's schema, types and server defaults
    included. The models' UTCDateTime is a TypeDecorator over DateTime(timezone=True), which is what the
    migrations write: it is compared as that implementation; every other type by alembic's own rules."""

    def compare_type(
        context: Any, inspected_column: Any, metadata_column: Any, _inspected: Any, meta: Any
    ) -> Any:
        if isinstance(meta, UTCDateTime):
            if seen is not None:
                seen.append(f"{metadata_column.table.name}.{metadata_column.name}")
            as_stored = sa.Column(metadata_column.name, meta.impl, nullable=metadata_column.nullable)
            return context.impl.compare_type(inspected_column, as_stored)
        return None  # alembic's default comparison

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        # the full-text index is dialect-specific DDL kept outside the ORM metadata (FTS5 adds shadow tables)
        return not (type_ == "table" and name is not None and name.startswith(DIALECT_SPECIFIC_TABLES))

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"compare_type": compare_type, "compare_server_default": True, "include_name": include_name},
        )
        return compare_metadata(context, metadata)


def flat(diffs: list) -> list:
    """alembic groups column modifications in lists."""
    return [d for diff in diffs for d in (diff if isinstance(diff, list) else [diff])]


@pytest.fixture
def sqlite_migrated(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_migrated(pg_server) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A new empty database migrated by the owner role, as `docctl migrate` does."""
    pg_server.ensure_roles()
    name = pg_server.create_database()
    engine = make_engine(pg_server.url(name, PG_OWNER))
    upgrade(engine)
    yield engine
    engine.dispose()
    pg_server.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("sqlite_migrated" if request.param == "sqlite" else "pg_migrated")


def test_models_and_migrations_do_not_drift(migrated: Engine) -> None:
    seen: list[str] = []
    assert differences(migrated, seen=seen) == []
    assert "audit_events.at" in seen  # the UTCDateTime rule was used, for every such column
    zoned = [
        f"{t.name}.{c.name}"
        for t in Base.metadata.sorted_tables
        for c in t.c
        if isinstance(c.type, UTCDateTime)
    ]
    assert sorted(seen) == sorted(zoned)


def test_drift_would_be_seen(migrated: Engine) -> None:
    """The comparison is live: a column the migrations lack, and one they have that the models lack."""
    metadata = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["blobs"].append_column(sa.Column("surplus", sa.Integer))
    metadata.tables["audit_events"]._columns.remove(metadata.tables["audit_events"].c.subject_id)
    found = {(d[0], d[2], d[3].name) for d in differences(migrated, metadata) if isinstance(d, tuple)}
    assert ("add_column", "blobs", "surplus") in found
    assert ("remove_column", "audit_events", "subject_id") in found


def test_a_timestamp_without_zone_would_be_seen_on_postgresql(pg_migrated: Engine) -> None:
    """The UTCDateTime rule hides nothing real: a column migrated as a plain timestamp is reported."""
    with pg_migrated.begin() as conn:
        conn.execute(text("ALTER TABLE blobs ALTER COLUMN created_at TYPE timestamp without time zone"))
    changes = flat(differences(pg_migrated))
    assert [(c[0], c[2], c[3]) for c in changes] == [("modify_type", "blobs", "created_at")]


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_every_history_table_has_its_triggers_on_sqlite(sqlite_migrated: Engine, table: str) -> None:
    with sqlite_migrated.connect() as conn:
        triggers = dict(
            conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                {"t": table},
            ).all()
        )
    assert set(triggers) >= {f"{table}_no_update", f"{table}_no_delete"}
    for verb in ("update", "delete"):
        sql = " ".join(triggers[f"{table}_no_{verb}"].split()).upper()
        assert f"BEFORE {verb.upper()} ON {table.upper()}" in sql
        assert "RAISE(ABORT" in sql


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_every_history_table_has_its_triggers_on_postgresql(pg_migrated: Engine, table: str) -> None:
    with pg_migrated.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.tgname, t.tgtype, t.tgenabled, p.proname FROM pg_trigger t"
                " JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE t.tgrelid = CAST(:t AS regclass) AND NOT t.tgisinternal"
            ),
            {"t": table},
        ).all()
    triggers = {name: (tgtype, enabled, function) for name, tgtype, enabled, function in rows}
    # tgtype bits: 1 row-level, 2 before, 8 delete, 16 update, 32 truncate; 'O' = enabled (origin)
    assert triggers.get(f"{table}_append_only") == (1 | 2 | 8 | 16, "O", "docctl_refuse_change")
    assert triggers.get(f"{table}_no_truncate") == (2 | 32, "O", "docctl_refuse_change")
