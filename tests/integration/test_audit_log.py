"""The audit trail on real databases: gapless appends whose rows commit to their prefix (RFC 6962), events in
the same transaction as the change, concurrent writers, append-only tables, and tampering behind the
application's back (a file edit on SQLite, a superuser on PostgreSQL) that verification must name exactly."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from docctl.audit import log
from docctl.audit.canonical import canonical_json
from docctl.audit.merkle import Frontier, leaf_hash, subtree_root
from docctl.audit.tags import Tag
from docctl.audit.verify import verify_log
from docctl.db.models import AuditEvent, AuditHead, Blob
from docctl.db.session import Database
from docctl.errors import AuditTampered

T0 = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC)
JANE = log.Actor(uuid.UUID("0b7d0c3e-7f1a-4c1e-9d55-3a1f6f1b2c3d"), "jsmith", "Jane Smith")
BOB = log.Actor(uuid.UUID("9d1e0000-aaaa-4bbb-8ccc-0123456789ab"), "bob", "Bob Ó'Brien")
REQUEST = log.RequestInfo("192.0.2.7", 'Mozilla/5.0 "quoted"')


def event(i: int) -> dict:
    """Varied events: people and the system, reasons, before/after, requests, odd characters."""
    return {
        "action": [Tag.USER_UPDATE, Tag.ROLE_GRANT, Tag.CONFIG_CHANGE, Tag.USER_LOGIN][i % 4],
        "actor": [JANE, BOB, log.SYSTEM][i % 3],
        "subject": log.Subject("user", str(uuid.UUID(int=i + 1)), f"label {i} «é»"),
        "at": T0 + timedelta(seconds=i, microseconds=i * 37),
        "reason": f"reason {i}\nsecond line" if i % 2 else None,
        "before": {"title": f"old {i}", "n": i} if i % 3 else None,
        "after": {"title": f"new {i}", "n": i + 1} if i % 3 else None,
        "request": REQUEST if i % 5 else None,
    }


def append(db: Database, i: int, **overrides: object) -> None:
    with db.unit_of_work() as s:
        log.append(s, **{**event(i), **overrides})


def append_many(db: Database, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        append(db, i)


def rows(db: Database) -> list[AuditEvent]:
    with db.read() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def head(db: Database) -> AuditHead | None:
    with db.read() as s:
        return s.get(AuditHead, 1)


def verify(db: Database, **kwargs: int) -> tuple[int, bytes]:
    with db.read() as s:
        report = verify_log(s, **kwargs)
    return report.size, report.root


def tampered_at(db: Database, **kwargs: int) -> AuditTampered:
    with pytest.raises(AuditTampered) as caught:
        verify(db, **kwargs)
    return caught.value


# --- appends ------------------------------------------------------------------------------------------------


@pytest.mark.req("P11-10e.4")
def test_appends_are_gapless_and_every_root_is_the_root_of_its_prefix(db: Database) -> None:
    append_many(db, 19)
    with db.unit_of_work() as s:  # several events in one transaction too
        for i in range(19, 23):
            log.append(s, **event(i))
    stored = rows(db)
    assert [r.seq for r in stored] == list(range(1, 24))
    leaves = []
    for r in stored:
        assert r.leaf_hash == leaf_hash(r.canonical)
        leaves.append(r.leaf_hash)
        assert r.root == subtree_root(leaves), r.seq
        data = json.loads(r.canonical)
        assert canonical_json(data) == r.canonical
        assert data["seq"] == r.seq and data["action"] == r.action
        assert data["at"] == r.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    h = head(db)
    assert h is not None and h.size == 23 and h.root == stored[-1].root
    assert h.frontier == Frontier.from_bytes(23, h.frontier).to_bytes()
    assert verify(db) == (23, stored[-1].root)


@pytest.mark.req("P11-10e.4")
def test_a_batch_append_writes_exactly_what_appending_one_by_one_writes(db: Database, tmp_path) -> None:
    """`log.append_many` (one head lock, one insert, one head update) against `append` per event on a second
    database: the same canonical events, leaves, roots and head."""
    append_many(db, 3)
    with db.unit_of_work() as s:
        written = log.append_many(s, [log.Entry(**event(i)) for i in range(3, 40)])
    assert [w.seq for w in written] == list(range(4, 41))
    other = Database.from_url(f"sqlite:///{tmp_path / 'one-by-one.sqlite3'}")
    from docctl.db.migrate import upgrade

    upgrade(other.engine)
    try:
        append_many(other, 40)
        assert [(r.seq, r.canonical, r.leaf_hash, r.root) for r in rows(db)] == \
            [(r.seq, r.canonical, r.leaf_hash, r.root) for r in rows(other)]
        assert verify(db) == verify(other) == (40, rows(other)[-1].root)
    finally:
        other.dispose()
    with db.unit_of_work() as s:
        assert log.append_many(s, []) == []


@pytest.mark.req("P11-10e.1")
def test_the_event_is_in_the_same_transaction_as_the_change(db: Database) -> None:
    append_many(db, 2)
    before = head(db)
    assert before is not None

    def change(s, digest: str) -> None:  # type: ignore[no-untyped-def]
        s.add(Blob(sha256=digest, size=1, media_type="application/pdf", backend="file", created_at=T0))
        log.append(s, Tag.BLOB_STORE, actor=JANE, subject=log.Subject("blob", digest), at=T0)

    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        change(s, "a" * 64)
        s.flush()
        raise RuntimeError("the use case fails after its event was appended")
    after = head(db)
    assert after is not None and (after.size, after.root, after.frontier) == (
        before.size,
        before.root,
        before.frontier,
    )
    assert len(rows(db)) == 2
    with db.read() as s:
        assert s.get(Blob, "a" * 64) is None  # no change without its event, no event without its change

    with db.unit_of_work() as s:
        change(s, "b" * 64)
    with db.read() as s:
        assert s.get(Blob, "b" * 64) is not None
    assert [r.subject_id for r in rows(db)][-1] == "b" * 64
    assert verify(db)[0] == 3


@pytest.mark.req("P11-10e.4")
def test_eight_concurrent_writers_leave_no_gaps_no_duplicates_and_a_log_that_verifies(db: Database) -> None:
    threads, per_thread = 8, 15
    errors: list[BaseException] = []
    verified: list[int] = []
    barrier = threading.Barrier(threads + 1)

    def writer(k: int) -> None:
        barrier.wait()
        try:
            for j in range(per_thread):
                append(db, k * 1000 + j)
        except BaseException as exc:  # noqa: BLE001  (asserted below)
            errors.append(exc)

    pool = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    barrier.wait()
    while any(th.is_alive() for th in pool):  # verifying while others append must not cry wolf
        verified.append(verify(db, batch=4)[0])
    for th in pool:
        th.join()

    assert errors == []
    total = threads * per_thread
    stored = rows(db)
    assert [r.seq for r in stored] == list(range(1, total + 1))
    assert len({r.canonical for r in stored}) == total
    assert verify(db)[0] == total
    assert verified == sorted(verified)


# --- append-only --------------------------------------------------------------------------------------------


@pytest.mark.req("P11-10e.4", "P11-10e.3")
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'user:login' WHERE seq = 1",
        "UPDATE audit_events SET root = leaf_hash",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
    ],
)
def test_update_and_delete_are_refused(db: Database, statement: str) -> None:
    append_many(db, 3)
    with pytest.raises(DBAPIError) as caught, db.unit_of_work() as s:
        s.execute(text(statement))
    message = str(caught.value.orig).lower()
    # SQLite: the trigger; PostgreSQL: the app role has no UPDATE/DELETE privilege at all
    assert "append-only" in message or "permission denied" in message
    assert verify(db)[0] == 3


@pytest.mark.req("P11-10e.4", "P11-10e.3")
def test_truncate_is_refused_on_postgresql(pg_url: str) -> None:
    db = Database.from_url(pg_url)
    try:
        append_many(db, 2)
        with pytest.raises(DBAPIError, match="permission denied|append-only"), db.unit_of_work() as s:
            s.execute(text("TRUNCATE audit_events"))
        assert verify(db)[0] == 2
    finally:
        db.dispose()


# --- tampering on SQLite: the file edited behind the application's back -------------------------------------


@contextmanager
def sqlite_behind_the_back(db: Database) -> Iterator[sqlite3.Connection]:
    """A raw connection to the database file with the append-only triggers dropped."""
    conn = sqlite3.connect(db.engine.url.database, isolation_level=None)
    try:
        for verb in ("update", "delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}")
        yield conn
    finally:
        conn.close()


def flip_byte(value: bytes, at: int) -> bytes:
    return value[:at] + bytes([value[at] ^ 0x01]) + value[at + 1 :]


def change_char(value: str, at: int) -> str:
    c = value[at]
    new = c.upper() if c.islower() else ("0" if c != "0" else "1")  # a hex digit's case counts too
    return value[:at] + new + value[at + 1 :]


# column -> how to change one byte of its stored value (positions: first, middle, last)
SINGLE_BYTE_CHANGES: dict[str, Callable[[object, int], object]] = {
    "canonical": lambda v, i: flip_byte(v, i),  # type: ignore[arg-type]
    "leaf_hash": lambda v, i: flip_byte(v, i),  # type: ignore[arg-type]
    "root": lambda v, i: flip_byte(v, i),  # type: ignore[arg-type]
    "at": lambda v, i: change_char(v, i),  # type: ignore[arg-type]
    "actor_id": lambda v, i: change_char(v, i),  # type: ignore[arg-type]
    "action": lambda v, i: change_char(v, i),  # type: ignore[arg-type]
    "subject_type": lambda v, i: change_char(v, i),  # type: ignore[arg-type]
    "subject_id": lambda v, i: change_char(v, i),  # type: ignore[arg-type]
}


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize("processes", [1, 2])
def test_sqlite_any_single_byte_change_names_that_seq(sqlite_db: Database, processes: int) -> None:
    db = sqlite_db
    n = 37
    append_many(db, n)
    good = verify(db)
    targets = [1, 8, 9, 16, 22, 36, 37]  # chunk edges with batch=8, both sides of the helper's split
    with sqlite_behind_the_back(db) as conn:
        for column, change in SINGLE_BYTE_CHANGES.items():
            for seq in targets:
                select_sql = f"SELECT {column} FROM audit_events WHERE seq = ?"  # noqa: S608  (fixed names)
                (original,) = conn.execute(select_sql, (seq,)).fetchone()
                if original is None:  # the system actor: no id to change a byte of, so give it one
                    positions, values = [0], ["0" * 32]
                else:
                    positions = sorted({0, len(original) // 2, len(original) - 1})
                    if isinstance(original, str):  # and the first letter, whose case is changed
                        positions.append(next((i for i, c in enumerate(original) if c.isalpha()), 0))
                    values = [change(original, at) for at in positions]
                for value in values:
                    assert value != original
                    conn.execute(f"UPDATE audit_events SET {column} = ? WHERE seq = ?", (value, seq))  # noqa: S608  (names from this file)
                    try:
                        caught = tampered_at(db, batch=8, processes=processes)
                        assert caught.seq == seq, (column, seq, value, caught)
                    finally:
                        conn.execute(f"UPDATE audit_events SET {column} = ? WHERE seq = ?", (original, seq))  # noqa: S608  (names from this file)
    assert verify(db, batch=8, processes=processes) == good


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("seq", [1, 5, 20, 30])
@pytest.mark.parametrize("new_seq", ["far", "zero", "negative"])
def test_sqlite_a_renumbered_event_is_named(
    sqlite_db: Database, processes: int, seq: int, new_seq: str
) -> None:
    append_many(sqlite_db, 30)
    value = {"far": 10_000, "zero": 0, "negative": -seq}[new_seq]
    with sqlite_behind_the_back(sqlite_db) as conn:
        conn.execute("UPDATE audit_events SET seq = ? WHERE seq = ?", (value, seq))
    assert tampered_at(sqlite_db, batch=8, processes=processes).seq == seq


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("seq", [1, 2, 17, 29, 30])
def test_sqlite_a_deleted_event_is_named(sqlite_db: Database, processes: int, seq: int) -> None:
    append_many(sqlite_db, 30)
    with sqlite_behind_the_back(sqlite_db) as conn:
        conn.execute("DELETE FROM audit_events WHERE seq = ?", (seq,))
    assert tampered_at(sqlite_db, batch=8, processes=processes).seq == seq


def forged_row(db: Database, seq: int, *, correct_root: bool) -> tuple:
    """A row for `seq` exactly as `append` would write it, leaf and root included (or a wrong root)."""
    stored = rows(db)
    frontier = Frontier()
    for r in stored[: seq - 1]:
        frontier.append_leaf_hash(r.leaf_hash)
    e = event(999)
    data = canonical_json(
        {
            "seq": seq,
            "at": e["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": JANE.as_json(),
            "action": str(Tag.ROLE_GRANT),
            "subject": e["subject"].as_json(),
            "reason": "forged",
            "before": None,
            "after": {"role": "admin"},
            "request": None,
        }
    )
    leaf = leaf_hash(data)
    frontier.append_leaf_hash(leaf)
    root = frontier.root() if correct_root else sha256(b"wrong").digest()
    at = e["at"].strftime("%Y-%m-%d %H:%M:%S.%f")
    return (seq, at, JANE.id.hex, str(Tag.ROLE_GRANT), "user", e["subject"].id, data, leaf, root)


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("correct_root", [True, False])
def test_sqlite_a_forged_appended_event_is_named(
    sqlite_db: Database, processes: int, correct_root: bool
) -> None:
    append_many(sqlite_db, 30)
    row = forged_row(sqlite_db, 31, correct_root=correct_root)
    with sqlite_behind_the_back(sqlite_db) as conn:
        conn.execute("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    caught = tampered_at(sqlite_db, batch=8, processes=processes)
    assert caught.seq == 31
    if correct_root:  # a well-made forgery: only the log head knows
        assert "beyond the log head" in caught.what


@pytest.mark.req("P11-10e.4")
def test_sqlite_a_forged_event_below_one_is_named(sqlite_db: Database) -> None:
    append_many(sqlite_db, 5)
    row = forged_row(sqlite_db, 6, correct_root=True)
    with sqlite_behind_the_back(sqlite_db) as conn:
        conn.execute("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (0, *row[1:]))
    assert tampered_at(sqlite_db).seq == 0


@pytest.mark.req("P11-10e.4")
def test_sqlite_a_rewritten_event_with_recomputed_leaf_is_caught_by_the_roots(sqlite_db: Database) -> None:
    append_many(sqlite_db, 20)
    original = rows(sqlite_db)[6]
    data = original.canonical.replace(b'"label 6 ', b'"label 9 ', 1)  # what the event says, not its columns
    assert data != original.canonical
    with sqlite_behind_the_back(sqlite_db) as conn:
        conn.execute(
            "UPDATE audit_events SET canonical = ?, leaf_hash = ? WHERE seq = 7", (data, leaf_hash(data))
        )
    caught = tampered_at(sqlite_db)
    assert caught.seq == 7 and "root" in caught.what


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize("column", ["size", "root", "frontier"])
def test_sqlite_a_changed_log_head_is_caught(sqlite_db: Database, column: str) -> None:
    append_many(sqlite_db, 12)
    with sqlite_behind_the_back(sqlite_db) as conn:
        (value,) = conn.execute(f"SELECT {column} FROM audit_head").fetchone()  # noqa: S608  (names from this file)
        new = value - 1 if column == "size" else flip_byte(value, 3)
        conn.execute(f"UPDATE audit_head SET {column} = ?", (new,))  # noqa: S608  (names from this file)
    caught = tampered_at(sqlite_db)
    assert caught.seq == 12 and "head" in caught.what


@pytest.mark.req("P11-10e.4")
def test_events_the_fast_check_cannot_read_are_verified_the_slow_way(sqlite_db: Database) -> None:
    """Fields that need JSON escapes, and an `at` key inside `after`: the reference path decides, and
    still names a changed column exactly."""
    append_many(sqlite_db, 5)
    odd = log.Subject('doc"1\\', 'id "quoted" \\ back\tslash', "label")
    append(sqlite_db, 5, subject=odd, after={"at": "2026-01-01T00:00:00.000000Z", "before": 1})
    append_many(sqlite_db, 4, start=6)
    assert verify(sqlite_db, batch=4)[0] == 10
    with sqlite_behind_the_back(sqlite_db) as conn:
        for column, value in [
            ("subject_id", json.dumps(odd.id)[1:-1]),  # the escaped form of the id
            ("subject_type", json.dumps(odd.type)[1:-1]),
            ("at", "2026-01-01 00:00:00.000000"),  # the nested "at"
        ]:
            (original,) = conn.execute(f"SELECT {column} FROM audit_events WHERE seq = 6").fetchone()  # noqa: S608  (names from this file)
            conn.execute(f"UPDATE audit_events SET {column} = ? WHERE seq = 6", (value,))  # noqa: S608  (names from this file)
            try:
                assert tampered_at(sqlite_db, batch=4).seq == 6, column
            finally:
                conn.execute(f"UPDATE audit_events SET {column} = ? WHERE seq = 6", (original,))  # noqa: S608  (names from this file)
    assert verify(sqlite_db, batch=4)[0] == 10


# --- tampering on PostgreSQL: a superuser with the triggers switched off ------------------------------------


@contextmanager
def pg_superuser(pg_server, db: Database) -> Iterator:  # type: ignore[no-untyped-def]
    engine = create_engine(pg_server.url(db.engine.url.database, "postgres"))
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # no triggers fire
            yield conn
    finally:
        engine.dispose()


FLIP = "set_byte({c}, {i}, get_byte({c}, {i}) # 1)"  # one byte changed (xor 1)
PG_EDITS = {
    "canonical": f"UPDATE audit_events SET canonical = {FLIP.format(c='canonical', i=40)} WHERE seq = :s",  # noqa: S608  (names from this file)
    "leaf_hash": f"UPDATE audit_events SET leaf_hash = {FLIP.format(c='leaf_hash', i=4)} WHERE seq = :s",  # noqa: S608  (names from this file)
    "root": f"UPDATE audit_events SET root = {FLIP.format(c='root', i=31)} WHERE seq = :s",  # noqa: S608  (names from this file)
    "action": "UPDATE audit_events SET action = 'role:revoke' WHERE seq = :s",
    "at": "UPDATE audit_events SET at = at + interval '1 microsecond' WHERE seq = :s",
    "actor_id": "UPDATE audit_events SET actor_id = gen_random_uuid() WHERE seq = :s",
    "subject_type": "UPDATE audit_events SET subject_type = upper(subject_type) WHERE seq = :s",
    "subject_id": "UPDATE audit_events SET subject_id = subject_id || 'x' WHERE seq = :s",
    "seq": "UPDATE audit_events SET seq = 100000 WHERE seq = :s",
    "delete": "DELETE FROM audit_events WHERE seq = :s",
}


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize("edit", sorted(PG_EDITS))
@pytest.mark.parametrize("processes", [1, 2])
def test_postgresql_a_superuser_edit_is_named(pg_server, pg_url: str, edit: str, processes: int) -> None:  # type: ignore[no-untyped-def]
    db = Database.from_url(pg_url)  # the application role
    try:
        append_many(db, 25)
        good = verify(db, batch=8, processes=processes)
        assert good[0] == 25
        for seq in (3, 21):  # either side of the helper's split
            with pg_superuser(pg_server, db) as conn:
                kept = (
                    conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": seq})
                    .mappings()
                    .one()
                )
                conn.execute(text(PG_EDITS[edit]), {"s": seq})
            caught = tampered_at(db, batch=8, processes=processes)
            assert caught.seq == seq, (edit, caught)
            with pg_superuser(pg_server, db) as conn:  # put it back
                conn.execute(text("DELETE FROM audit_events WHERE seq IN (:s, 100000)"), {"s": seq})
                names = ", ".join(kept.keys())
                values = ", ".join(f":{k}" for k in kept)
                conn.execute(text(f"INSERT INTO audit_events ({names}) VALUES ({values})"), dict(kept))  # noqa: S608  (names from this file)
            assert verify(db, batch=8, processes=processes) == good
    finally:
        db.dispose()


@pytest.mark.req("P11-10e.4")
def test_postgresql_a_forged_appended_event_is_named(pg_server, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    db = Database.from_url(pg_url)
    try:
        append_many(db, 10)
        row = forged_row(db, 11, correct_root=True)
        with pg_superuser(pg_server, db) as conn:
            names = ["seq", "at", "actor", "action", "st", "sid", "c", "leaf", "root"]
            values = ", ".join(f":{n}" for n in names)
            insert = text(f"INSERT INTO audit_events VALUES ({values})")  # noqa: S608  (fixed names)
            conn.execute(insert, dict(zip(names, row, strict=True)) | {"at": row[1] + "+00"})
        caught = tampered_at(db)
        assert caught.seq == 11 and "beyond the log head" in caught.what
    finally:
        db.dispose()


# --- the helper process -------------------------------------------------------------------------------------


@pytest.mark.req("P11-10e.4")
def test_the_helper_process_does_its_part(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from docctl.audit import verify as verify_module

    append_many(db, 40)
    results: list[dict] = []
    real = verify_module._helper_result
    monkeypatch.setattr(verify_module, "_helper_result", lambda out: results.append(real(out)) or results[-1])
    assert verify(db, batch=8, processes=2) == verify(db, processes=1)
    assert [r["status"] for r in results] == ["ok"]


@pytest.mark.req("P11-10e.4")
@pytest.mark.parametrize(
    "answer",
    [
        "garbage",  # a helper that fails
        '{"status": "ok", "start": "00", "size": 40, "root": "00"}',  # one that started from elsewhere
    ],
)
def test_a_helper_that_fails_or_lies_is_not_trusted(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    import subprocess
    import sys

    from docctl.audit import verify as verify_module

    append_many(sqlite_db, 40)
    good = verify(sqlite_db, processes=1)
    fake = [sys.executable, "-c", f"import sys; sys.stdin.read(); sys.stdout.write({answer!r})"]
    monkeypatch.setattr(
        verify_module,
        "_start_helper",
        lambda spec: subprocess.Popen(fake, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE),
    )
    assert verify(sqlite_db, batch=8, processes=2) == good  # this process verified the rest itself
    with sqlite_behind_the_back(sqlite_db) as conn:
        conn.execute("UPDATE audit_events SET action = 'x' WHERE seq = 39")
    assert tampered_at(sqlite_db, batch=8, processes=2).seq == 39
