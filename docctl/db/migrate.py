"""Running Alembic from code, and the PostgreSQL grants for the application role."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from docctl.db.models import DERIVED_TABLES, HISTORY_TABLES

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision, in one transaction (PostgreSQL) or as far as SQLite allows."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, "alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def grant_app_role(engine: Engine, role: str) -> list[str]:
    """Give the application role what it needs and no more; returns the statements run.

    History tables: SELECT and INSERT only. Other tables: SELECT, INSERT, UPDATE (nothing is ever deleted), except
    derived caches that are not records (`DERIVED_TABLES`), which may also be pruned.
    The role owns nothing, so it can neither drop nor disable the append-only triggers.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError("application-role grants apply to PostgreSQL only")
    statements: list[str] = []
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        if not exists:
            raise LookupError(f"PostgreSQL role {role!r} does not exist; create it first (see README)")
        quoted = conn.dialect.identifier_preparer.quote(role)
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        ]
        # PostgreSQL 15 no longer lets PUBLIC create in the public schema; older servers do: close it everywhere
        statements.append("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        statements.append(f"GRANT USAGE ON SCHEMA public TO {quoted}")
        statements.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}")
        for table in sorted(tables):
            qt = conn.dialect.identifier_preparer.quote(table)
            if table in HISTORY_TABLES:
                statements.append(f"GRANT SELECT, INSERT ON {qt} TO {quoted}")
            elif table == "alembic_version":
                statements.append(f"GRANT SELECT ON {qt} TO {quoted}")
            elif table in DERIVED_TABLES:
                statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {qt} TO {quoted}")
            else:
                statements.append(f"GRANT SELECT, INSERT, UPDATE ON {qt} TO {quoted}")
        statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        for stmt in statements:
            conn.execute(text(stmt))
    return statements
