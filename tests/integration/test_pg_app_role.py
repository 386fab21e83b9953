"""The PostgreSQL application role, against the real server: it may read and append to history tables and
nothing more, may not delete anything, and cannot touch the append-only triggers; even the owner's changes to
history rows are refused by the triggers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from docctl.audit import log
from docctl.audit.tags import Tag
from docctl.db.models import DERIVED_TABLES, HISTORY_TABLES
from docctl.db.session import Database
from tests.fixtures.databases import PG_APP, PG_OWNER

pytestmark = pytest.mark.req("P11-10e.4")

T0 = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC)
USER_ID = uuid.UUID("0b7d0c3e-7f1a-4c1e-9d55-3a1f6f1b2c3d")
# one column of each history table, to write an UPDATE with
HISTORY_COLUMN = {
    "audit_events": "action",
    "blobs": "media_type",
    "password_history": "password_hash",
    "document_history": "reason",
    "instance_ca": "fingerprint",
    "approval_routes": "reason",
    "route_stages": "name",
    "signatures": "meaning",
    "training_records": "result",
    "audit_checkpoints": "made_by",
    "audit_reviews": "findings",
}
INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture
def database(pg_url: str) -> str:
    return make_url(pg_url).database or ""


@pytest.fixture
def app(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def owner(pg_server, database: str) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    engine = create_engine(pg_server.url(database, PG_OWNER))
    yield engine
    engine.dispose()


@pytest.fixture
def seeded(pg_url: str, app: Engine) -> None:
    """A row in every history table, written the way the application writes them (as the app role)."""
    db = Database.from_url(pg_url)
    try:
        with db.unit_of_work() as s:
            log.append(s, Tag.SYSTEM_INIT, actor=log.SYSTEM, subject=log.Subject("system", "init"), at=T0)
    finally:
        db.dispose()
    with app.begin() as conn:
        insert_user(conn)
        conn.execute(
            text(
                "INSERT INTO password_history (id, user_id, password_hash, set_at) VALUES (:i, :u, 'h', :t)"
            ),
            {"i": uuid.uuid4(), "u": USER_ID, "t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO blobs (sha256, size, media_type, backend, created_at)"
                " VALUES (:s, 1, 'x', 'file', :t)"
            ),
            {"s": "a" * 64, "t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO audit_checkpoints (id, tree_size, root, at, body, signature, blob_sha256, made_by)"
                " VALUES (:i, 1, :r, :t, :b, :g, :s, 'scheduler')"
            ),
            {"i": uuid.uuid4(), "r": b"\0" * 32, "t": T0, "b": b"{}", "g": b"sig", "s": "a" * 64},
        )
        document_id = uuid.uuid4()
        conn.execute(
            text(
                "INSERT INTO documents (id, number, title, type_id, department, owner_id, external,"
                " external_source, external_version, created_at, created_by_id, updated_at)"
                " SELECT :d, 'SOP-QA-001', 'Title', id, 'QA', :u, false, '', '', :t, :u, :t"
                " FROM document_types WHERE code = 'SOP'"
            ),
            {"d": document_id, "u": USER_ID, "t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO document_history (id, document_id, edition, at, actor_id, reason, snapshot)"
                " VALUES (:i, :d, 1, :t, :u, 'created', '{}')"
            ),
            {"i": uuid.uuid4(), "d": document_id, "t": T0, "u": USER_ID},
        )
        conn.execute(
            text(
                "INSERT INTO instance_ca (id, certificate_pem, encrypted_key_pem, fingerprint, created_at)"
                " VALUES (1, 'cert', 'key', 'f', :t)"
            ),
            {"t": T0},
        )
        revision_id, key_id = uuid.uuid4(), uuid.uuid4()
        conn.execute(
            text(
                "INSERT INTO revisions (id, document_id, major, minor, state, change_kind, change_summary, reason,"
                " source_sha256, source_filename, source_media_type, source_size, rendition_kind, rendition_note,"
                " text, training_required, created_at, created_by_id, round)"
                " VALUES (:r, :d, 1, 0, 'draft', 'major', 's', '', :s, 'f.pdf', 'application/pdf', 1, 'pdf', '',"
                " '', true, :t, :u, 0)"
            ),
            {"r": revision_id, "d": document_id, "s": "a" * 64, "t": T0, "u": USER_ID},
        )
        conn.execute(
            text(
                "INSERT INTO signing_keys (id, user_id, public_key_pem, fingerprint, wrapped, certificate_pem,"
                " certificate_serial, created_at) VALUES (:k, :u, 'pub', 'fp', 'w', 'cert', '01', :t)"
            ),
            {"k": key_id, "u": USER_ID, "t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO signatures (id, revision_id, signer_id, signing_key_id, printed_name, title, meaning,"
                " signed_at, statement_version, manifest, manifest_sha256, signature)"
                " VALUES (:i, :r, :u, :k, 'Jane Smith', '', 'Approved', :t, 'v1', 'm', 'h', 's')"
            ),
            {"i": uuid.uuid4(), "r": revision_id, "u": USER_ID, "k": key_id, "t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO audit_reviews (id, seq_from, seq_to, since, until, checkpoint_tree_size,"
                " checkpoint_root, scope, findings, reviewer_id, signing_key_id, printed_name, title, meaning,"
                " statement_version, signed_at, manifest, manifest_sha256, signature)"
                " VALUES (:i, 1, 1, NULL, :t, 1, :r, '[]', 'No findings', :u, :k, 'Jane Smith', '',"
                " 'Audit trail review completed', 'v1', :t, 'm', 'h', 's')"
            ),
            {"i": uuid.uuid4(), "r": b"\0" * 32, "u": USER_ID, "k": key_id, "t": T0},
        )
        assignment_id = uuid.uuid4()
        conn.execute(
            text(
                "INSERT INTO training_assignments (id, user_id, revision_id, document_id, state, assigned_at, due_at)"
                " VALUES (:a, :u, :r, :d, 'open', :t, :t)"
            ),
            {"a": assignment_id, "u": USER_ID, "r": revision_id, "d": document_id, "t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO training_records (id, assignment_id, user_id, revision_id, method, result, performed_at,"
                " recorded_at, note, version) VALUES (:i, :a, :u, :r, 'offline', 'passed', :t, :t, '', '1.0')"
            ),
            {"i": uuid.uuid4(), "a": assignment_id, "u": USER_ID, "r": revision_id, "t": T0},
        )


def insert_user(conn: Connection, user_id: uuid.UUID = USER_ID) -> None:
    conn.execute(
        text(
            "INSERT INTO users (id, username, username_key, full_name, title, email, time_zone, status,"
            " password_hash, password_set_at, password_set_by_admin, failed_attempts, created_at)"
            " VALUES (:id, :u, :u, 'Jane Smith', '', '', 'UTC', 'active', 'h', :t, true, 0, :t)"
        ),
        {"id": user_id, "u": f"user-{user_id.hex[:8]}", "t": T0},
    )


def refused(engine: Engine, statement: str) -> str:
    """Run `statement` in its own transaction; it must fail for want of privilege. Returns the message."""
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(statement))
    assert getattr(caught.value.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, caught.value
    return str(caught.value.orig)


@pytest.mark.usefixtures("seeded")
def test_the_app_role_reads_and_appends_to_history_tables(app: Engine) -> None:
    with app.begin() as conn:
        for table in HISTORY_TABLES:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() >= 1, table  # noqa: S608


@pytest.mark.req("P11-10e.3")
@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("table", HISTORY_TABLES)
@pytest.mark.parametrize("verb", ["UPDATE", "DELETE", "TRUNCATE"])
def test_the_app_role_may_not_change_history(app: Engine, table: str, verb: str) -> None:
    column = HISTORY_COLUMN[table]
    statement = {
        "UPDATE": f"UPDATE {table} SET {column} = {column}",  # noqa: S608  (fixed names)
        "DELETE": f"DELETE FROM {table}",  # noqa: S608
        "TRUNCATE": f"TRUNCATE {table}",
    }[verb]
    assert f"permission denied for table {table}" in refused(app, statement)
    with app.begin() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() >= 1  # noqa: S608


@pytest.mark.parametrize("table", HISTORY_TABLES)
@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE {table} DISABLE TRIGGER ALL",
        "ALTER TABLE {table} DISABLE TRIGGER {table}_append_only",
        "ALTER TABLE {table} DISABLE TRIGGER {table}_no_truncate",
        "DROP TRIGGER {table}_append_only ON {table}",
        "DROP TRIGGER {table}_no_truncate ON {table}",
        "ALTER TABLE {table} OWNER TO " + PG_APP,
        "DROP TABLE {table}",
    ],
)
def test_the_app_role_cannot_touch_the_triggers(app: Engine, table: str, statement: str) -> None:
    assert "must be owner" in refused(app, statement.format(table=table))


@pytest.mark.parametrize(
    "statement, message",
    [
        ("SET session_replication_role = replica", "permission denied to set parameter"),
        (
            "CREATE OR REPLACE FUNCTION docctl_refuse_change() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN NEW; END $$",
            "permission denied for schema public|must be owner",
        ),
        ("CREATE TABLE audit_events_shadow (seq bigint)", "permission denied for schema public"),
    ],
)
def test_the_app_role_cannot_get_around_the_triggers(app: Engine, statement: str, message: str) -> None:
    assert re.search(message, refused(app, statement))


def test_the_privilege_matrix_of_every_table(app: Engine) -> None:
    """History tables: SELECT and INSERT only. Derived caches (not records): also UPDATE and DELETE. Other tables:
    SELECT, INSERT, UPDATE, never DELETE. The app
    role owns nothing, has no TRIGGER or TRUNCATE right anywhere and no special attributes."""
    privileges = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    with app.begin() as conn:
        tables = (
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        )
        assert set(HISTORY_TABLES) <= set(tables)
        for table in tables:
            granted = {
                p
                for p in privileges
                if conn.execute(
                    text("SELECT has_table_privilege(current_user, :t, :p)"), {"t": table, "p": p}
                ).scalar()
            }
            if table in HISTORY_TABLES:
                expected = {"SELECT", "INSERT"}
            elif table == "alembic_version":
                expected = {"SELECT"}
            elif table in DERIVED_TABLES:
                expected = {"SELECT", "INSERT", "UPDATE", "DELETE"}
            else:
                expected = {"SELECT", "INSERT", "UPDATE"}
            assert granted == expected, table
        role = conn.execute(
            text(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, oid"
                " FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
        assert tuple(role[:5]) == (False, False, False, False, False)
        assert (
            conn.execute(text("SELECT count(*) FROM pg_class WHERE relowner = :o"), {"o": role.oid}).scalar()
            == 0
        )
        assert not conn.execute(
            text("SELECT has_schema_privilege(current_user, 'public', 'CREATE')")
        ).scalar()


def test_the_app_role_keeps_other_tables_but_deletes_nothing(app: Engine) -> None:
    other = uuid.UUID(int=7)
    with app.begin() as conn:
        insert_user(conn, other)
        conn.execute(text("UPDATE users SET full_name = 'Renamed' WHERE id = :i"), {"i": other})
        assert (
            conn.execute(text("SELECT full_name FROM users WHERE id = :i"), {"i": other}).scalar()
            == "Renamed"
        )
    assert "permission denied for table users" in refused(app, f"DELETE FROM users WHERE id = '{other}'")  # noqa: S608
    assert "permission denied for table audit_head" in refused(app, "DELETE FROM audit_head")
    assert "permission denied for table users" in refused(app, "TRUNCATE users")


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("table", HISTORY_TABLES)
@pytest.mark.parametrize("verb", ["UPDATE", "DELETE", "TRUNCATE"])
def test_even_the_owner_is_refused_by_the_triggers(owner: Engine, table: str, verb: str) -> None:
    column = HISTORY_COLUMN[table]
    statement = {
        "UPDATE": f"UPDATE {table} SET {column} = {column}",  # noqa: S608  (fixed names)
        "DELETE": f"DELETE FROM {table}",  # noqa: S608
        # CASCADE: the owner could truncate referencing tables too; the trigger must still stop it
        "TRUNCATE": f"TRUNCATE {table} CASCADE",
    }[verb]
    message = refused(owner, statement)
    assert f"docctl: {verb} on {table} refused: the table is append-only" in message
    with owner.begin() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() >= 1  # noqa: S608
