"""Engine, sessions and the unit of work.

On SQLite every write transaction starts with `BEGIN IMMEDIATE`, taking the database's write lock up front: that is
what serializes audit appends on the embedded default and spares writers the deadlock of upgrading a read lock.
Reads use plain deferred transactions and, in WAL mode, never block or wait for the writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

_WRITE = {"docctl_write": True}


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("docctl_write") else "BEGIN")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """The engine and a session factory; built once at start-up and passed down."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        # same pool; the option makes SQLite's BEGIN an IMMEDIATE one, issued at the unit of work's first query,
        # so pure work a service does before touching the database (argon2) holds no lock
        self.write_sessions = sessionmaker(engine.execution_options(**_WRITE), expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One use case, one transaction: committed if the block succeeds, rolled back whole if it raises."""
        with self.write_sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session. Closing it rolls back anything written; objects loaded in it stay readable
        (detached) afterwards."""
        with self.sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
