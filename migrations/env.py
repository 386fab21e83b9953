"""Alembic environment. Run through `docctl migrate` (or `docctl serve` on the embedded SQLite)."""

from __future__ import annotations

from alembic import context

import docctl.db.models  # noqa: F401  (registers every table)
from docctl.db.base import Base
from docctl.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _include_name(name, type_, _parents) -> bool:  # type: ignore[no-untyped-def]
    # the full-text index is dialect-specific DDL outside the ORM metadata (FTS5 adds shadow tables)
    return not (type_ == "table" and name is not None and name.startswith("revision_search"))


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `docctl migrate`")
run_migrations_online()
