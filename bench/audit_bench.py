"""Audit trail benchmark: append throughput and verification throughput, on SQLite and PostgreSQL.

    .venv/bin/python bench/audit_bench.py                      # everything, 1,000,000 events verified
    .venv/bin/python bench/audit_bench.py --events 200000      # a smaller log to verify
    .venv/bin/python bench/audit_bench.py --skip-pg            # SQLite only

(a) Appends, one event per transaction through `docctl.audit.log.append` in `Database.unit_of_work()`,
    exactly as services do: one writer, then 8 writer threads; afterwards the log must verify with no gaps and
    no errors. SQLite is a temporary file; PostgreSQL a temporary database created by the superuser, migrated
    by an owner role and written by the restricted application role, as in production. Server settings are
    only read, never changed (--explain-pg changes synchronous_commit for the bench's own transactions only).
(b) Verification (`docctl.audit.verify.verify_log`) of a log bulk-created by computing the rows here
    (canonical bytes, leaf hashes and roots, the same code paths as `append`) and inserting them with
    executemany (COPY on PostgreSQL); compared with the raw SHA-256 rate over the same canonical byte
    strings, one hash per event.

Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from docctl.audit import log  # noqa: E402
from docctl.audit.canonical import canonical_json  # noqa: E402
from docctl.audit.merkle import Frontier, prefix_roots  # noqa: E402
from docctl.audit.tags import Tag  # noqa: E402
from docctl.audit.verify import verify_log  # noqa: E402
from docctl.clock import rfc3339  # noqa: E402
from docctl.db.migrate import grant_app_role, upgrade  # noqa: E402
from docctl.db.session import Database, make_engine  # noqa: E402

PG_ADMIN_URL = os.environ.get("DOCCTL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BENCH_OWNER = "docctl_bench_owner"
BENCH_APP = "docctl_bench_app"
T0 = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC)

ACTORS = [
    log.Actor(uuid.UUID(int=(0x5EED << 96) + i), f"user{i:02d}", f"Person Number{i:02d}") for i in range(40)
]
TAGS = [Tag.USER_LOGIN, Tag.USER_UPDATE, Tag.ROLE_GRANT, Tag.CONFIG_CHANGE, Tag.BLOB_STORE, Tag.TOKEN_ISSUE]
REQUEST = log.RequestInfo(
    "10.20.30.40", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari"
)


def event_args(i: int) -> dict:
    """A plausible event: a person, an action on a subject, a small before/after, a request; some reasons."""
    actor = ACTORS[i % len(ACTORS)] if i % 11 else log.SYSTEM
    return {
        "action": TAGS[i % len(TAGS)],
        "actor": actor,
        "subject": log.Subject("revision", str(uuid.UUID(int=i * 7919)), f"SOP-QA-{i % 1000:03d} v{i % 9}.0"),
        "at": T0 + timedelta(milliseconds=250 * i),
        "reason": "Periodic review: wording of section 4 clarified" if i % 7 == 0 else None,
        "before": {"state": "draft", "title": f"Cleaning of equipment {i % 50}"},
        "after": {"state": "in_review", "title": f"Cleaning of equipment {i % 50} (rev)"},
        "request": REQUEST if i % 3 else None,
    }


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} events/s  ({n:,} events in {seconds:.2f} s)"


# --- (a) appends --------------------------------------------------------------------------------------------


def append_one(db: Database, i: int) -> None:
    with db.unit_of_work() as s:
        log.append(s, **event_args(i))


def bench_single_writer(db: Database, n: int, start: int = 0) -> float:
    t = time.perf_counter()
    for i in range(start, start + n):
        append_one(db, i)
    return time.perf_counter() - t


def bench_threads(
    db: Database, threads: int, per_thread: int, start: int
) -> tuple[float, list[BaseException]]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def work(k: int) -> None:
        barrier.wait()
        try:
            for j in range(per_thread):
                append_one(db, start + k * per_thread + j)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    barrier.wait()
    t = time.perf_counter()
    for th in pool:
        th.join()
    return time.perf_counter() - t, errors


def check_log(db: Database, expected: int) -> str:
    with db.read() as s:
        seqs = [r[0] for r in s.execute(text("SELECT seq FROM audit_events ORDER BY seq"))]
        report = verify_log(s)
    gapless = seqs == list(range(1, len(seqs) + 1))
    return (
        f"rows {len(seqs):,} (expected {expected:,}), seq gapless 1..n: {gapless}, "
        f"verify_log: size {report.size:,} ok"
    )


def run_appends(name: str, db: Database, single: int, threads: int, per_thread: int) -> None:
    print(f"\n[{name}] append, one event per transaction")
    append_one(db, 0)  # warm up: connection, statement cache
    seconds = bench_single_writer(db, single, start=1)
    print(f"  1 writer        {rate(single, seconds)}")
    seconds, errors = bench_threads(db, threads, per_thread, start=1 + single)
    total = threads * per_thread
    print(f"  {threads} threads       {rate(total, seconds)}")
    print(f"  errors: {len(errors)}" + (f"  first: {errors[0]!r}" if errors else ""))
    print(f"  after: {check_log(db, 1 + single + total)}")


def sqlite_appends(tmp: Path, args: argparse.Namespace) -> None:
    path = tmp / "append.sqlite3"
    db = Database.from_url(f"sqlite:///{path}")
    upgrade(db.engine)
    try:
        run_appends("SQLite (WAL, synchronous=NORMAL)", db, args.append_events, args.threads, args.per_thread)
    finally:
        db.dispose()


class PgBench:
    """A temporary database on the PostgreSQL server: created by the superuser, owned and migrated by an owner
    role, used by the restricted application role. Roles this created are dropped again at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created_roles: list[str] = []
        self.databases: list[str] = []

    def url(self, database: str, user: str) -> str:
        return self.admin_url.set(database=database, username=user, password=None).render_as_string(
            hide_password=False
        )

    def settings(self) -> dict[str, str]:
        with self.admin.connect() as conn:
            return {
                k: conn.execute(text(f"SHOW {k}")).scalar()
                for k in ("server_version", "synchronous_commit", "fsync", "wal_sync_method", "commit_delay")
            }

    def create(self) -> str:
        with self.admin.connect() as conn:
            for role in (BENCH_OWNER, BENCH_APP):
                if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar():
                    conn.execute(text(f"CREATE ROLE {role} LOGIN"))
                    self.created_roles.append(role)
            name = f"docctl_bench_{os.getpid()}_{len(self.databases)}"
            conn.execute(text(f"CREATE DATABASE {name} OWNER {BENCH_OWNER}"))
        self.databases.append(name)
        owner = make_engine(self.url(name, BENCH_OWNER))
        upgrade(owner)
        grant_app_role(owner, BENCH_APP)
        owner.dispose()
        return name

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in self.databases:
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                    {"d": name},
                )
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            for role in self.created_roles:
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        self.admin.dispose()


def pg_appends(pg: PgBench, args: argparse.Namespace) -> None:
    settings = pg.settings()
    print(
        "\n[PostgreSQL] server settings (read, not changed): "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
    )
    name = pg.create()
    db = Database.from_url(pg.url(name, BENCH_APP))
    try:
        run_appends(
            f"PostgreSQL as {BENCH_APP} (synchronous_commit={settings['synchronous_commit']})",
            db,
            args.append_events_pg,
            args.threads,
            args.per_thread_pg,
        )
        if args.explain_pg:
            explain_pg_append(db, args.append_events_pg)
    finally:
        db.dispose()


def explain_pg_append(db: Database, n: int) -> None:
    """Where a PostgreSQL append's time goes: the commit's WAL flush versus the statements themselves.

    Measured by setting synchronous_commit = off for this benchmark's own sessions only (SET LOCAL, in each
    transaction): the server's settings are not changed, and nothing else is affected."""
    from sqlalchemy import event

    @event.listens_for(db.engine, "begin")
    def _async_commit(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")

    seconds = bench_single_writer(db, n, start=10_000_000)
    event.remove(db.engine, "begin", _async_commit)
    print(
        "  diagnosis: the same 1-writer appends with SET LOCAL synchronous_commit = off in the bench's own "
        f"transactions (server settings unchanged):\n                  {rate(n, seconds)}"
    )


# --- (b) verification ---------------------------------------------------------------------------------------


def generate_rows(n: int, batch: int = 50_000) -> Iterator[tuple[list[tuple], list[bytes]]]:
    """Rows exactly as `log.append` writes them on SQLite (at in SQLAlchemy's text form, UUIDs as hex), with
    correct leaves and roots; yields (rows, canonical byte strings) in batches."""
    frontier = Frontier()
    for lo in range(1, n + 1, batch):
        hi = min(lo + batch, n + 1)
        canon: list[bytes] = []
        meta: list[tuple] = []
        for seq in range(lo, hi):
            a = event_args(seq)
            event = {
                "seq": seq,
                "at": rfc3339(a["at"]),
                "actor": a["actor"].as_json(),
                "action": str(a["action"]),
                "subject": a["subject"].as_json(),
                "reason": a["reason"],
                "before": log.jsonable(a["before"]),
                "after": log.jsonable(a["after"]),
                "request": a["request"].as_json() if a["request"] else None,
            }
            canon.append(canonical_json(event))
            actor_id = a["actor"].id
            meta.append(
                (
                    seq,
                    a["at"].strftime("%Y-%m-%d %H:%M:%S.%f"),
                    actor_id.hex if actor_id else None,
                    str(a["action"]),
                    a["subject"].type,
                    a["subject"].id,
                )
            )
        leaves = [sha256(b"\x00" + c).digest() for c in canon]
        roots = prefix_roots(frontier, leaves)
        yield [(*m, c, lf, r) for m, c, lf, r in zip(meta, canon, leaves, roots, strict=True)], canon
    yield [], [frontier.to_bytes(), frontier.root(), frontier.size.to_bytes(8, "big")]


def bulk_sqlite(path: Path, n: int) -> tuple[list[bytes], float]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a throwaway file being filled
    t = time.perf_counter()
    all_canon: list[bytes] = []
    conn.execute("BEGIN")
    for rows, canon in generate_rows(n):
        if not rows:
            frontier, root, _ = canon
            conn.execute(
                "UPDATE audit_head SET size = ?, frontier = ?, root = ? WHERE id = 1", (n, frontier, root)
            )
            break
        conn.executemany("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        all_canon.extend(canon)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return all_canon, time.perf_counter() - t


def bulk_pg(pg: PgBench, n: int) -> tuple[str, float]:
    """The same rows into a fresh PostgreSQL database with COPY, as the owner (the app role could INSERT)."""
    import psycopg

    name = pg.create()
    t = time.perf_counter()
    url = make_url(pg.url(name, BENCH_OWNER))
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as conn:
        with conn.cursor() as cur:
            columns = "seq, at, actor_id, action, subject_type, subject_id, canonical, leaf_hash, root"
            with cur.copy(f"COPY audit_events ({columns}) FROM STDIN") as copy:
                for rows, canon in generate_rows(n):
                    if not rows:
                        frontier, root, _ = canon
                        break
                    for r in rows:
                        copy.write_row((r[0], r[1] + "+00", *r[2:]))
            cur.execute(
                "UPDATE audit_head SET size = %s, frontier = %s, root = %s WHERE id = 1", (n, frontier, root)
            )
        conn.commit()
    return name, time.perf_counter() - t


def raw_sha256_rate(canon: list[bytes]) -> float:
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for c in canon:
            sha256(c).digest()
        best = max(best, len(canon) / (time.perf_counter() - t))
    return best


def time_verify(db: Database, processes: int | None) -> tuple[float, int]:
    with db.read() as s:
        t = time.perf_counter()
        report = verify_log(s, processes=processes)
        return time.perf_counter() - t, report.size


def run_verify(name: str, db: Database, n: int, raw: float, modes: list[tuple[str, int | None]]) -> None:
    for label, processes in modes:
        seconds, size = time_verify(db, processes)
        assert size == n, (size, n)  # noqa: S101  (a broken bench, not a timing assertion)
        per_s = n / seconds
        print(f"  verify_log, {label:<21} {rate(n, seconds)}   = {per_s / raw:.2f} x raw SHA-256 rate")


def sqlite_verify(tmp: Path, n: int) -> float:
    path = tmp / "verify.sqlite3"
    canon, seconds = bulk_sqlite(path, n)
    size = path.stat().st_size
    mean = sum(map(len, canon)) / len(canon)
    print(f"\n[SQLite] verify: bulk-created {n:,} events in {seconds:.1f} s (file {size / 2**20:,.0f} MiB)")
    raw = raw_sha256_rate(canon)
    print(
        f"  raw hashlib.sha256, one hash per event over the same bytes (mean {mean:.0f} B): {raw:>12,.0f} /s"
    )
    del canon
    db = Database.from_url(f"sqlite:///{path}")
    try:
        run_verify("SQLite", db, n, raw, [("1 process", 1), ("2 processes", 2), ("default", None)])
    finally:
        db.dispose()
    return raw


def pg_verify(pg: PgBench, n: int, raw: float) -> None:
    name, seconds = bulk_pg(pg, n)
    print(
        f"\n[PostgreSQL] verify: bulk-created {n:,} events with COPY in {seconds:.1f} s (read as {BENCH_APP})"
    )
    db = Database.from_url(pg.url(name, BENCH_APP))
    try:
        run_verify("PostgreSQL", db, n, raw, [("1 process", 1), ("2 processes", 2)])
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log to verify (SQLite)")
    parser.add_argument(
        "--pg-events", type=int, default=None, help="events to verify on PostgreSQL (--events)"
    )
    parser.add_argument("--append-events", type=int, default=5000, help="1-writer appends, SQLite")
    parser.add_argument("--append-events-pg", type=int, default=3000, help="1-writer appends, PostgreSQL")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-thread", type=int, default=500, help="appends per thread, SQLite")
    parser.add_argument("--per-thread-pg", type=int, default=300, help="appends per thread, PostgreSQL")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-append", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument(
        "--explain-pg",
        action="store_true",
        help="also time PostgreSQL appends with SET LOCAL synchronous_commit=off",
    )
    args = parser.parse_args(argv)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"audit bench: Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average at start {load} (others' work on this machine slows wall times)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="docctl-bench-"))
    pg: PgBench | None = None
    steps: list[Callable[[], None]] = []
    try:
        if not args.skip_pg:
            try:
                pg = PgBench(PG_ADMIN_URL)
                pg.settings()
            except Exception as exc:  # noqa: BLE001
                print(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc!r}; PostgreSQL figures skipped")
                pg = None
        if not args.skip_append:
            steps.append(lambda: sqlite_appends(tmp, args))
            if pg:
                steps.append(lambda: pg_appends(pg, args))
        for step in steps:
            step()
        if not args.skip_verify:
            raw = sqlite_verify(tmp, args.events)
            if pg:
                pg_verify(pg, args.pg_events or args.events, raw)
    finally:
        if pg:
            pg.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
