"""Verification of the whole trail, raising `AuditTampered` naming the first event that does not verify.

Recomputes every leaf from the stored canonical bytes and every stored tree root from the leaves, checks that `seq`
has no gaps, that the columns kept for filtering hold exactly what the hashed bytes say (compared as stored, so a
changed byte is found even where the typed value would read back the same, e.g. the case of a hex digit), and that
the log head matches the last event.

How it is fast (a million events in a few seconds):

- rows come through the raw DB-API cursor in chunks (`fetchmany`), not ORM objects;
- a chunk is first checked on a fast path: leaves and roots are hashed a chunk at a time (`merkle.prefix_roots`)
  and compared as whole lists, and the columns are checked against the canonical bytes by exact byte fragments
  (each built with an injective encoding of the column and anchored where only that field can be), not by parsing
  JSON. Anything the fast path does not accept is re-checked row by row by the reference path (`json.loads`,
  storage form derived from the parsed event, every check in order), which names the first bad event, so the fast
  path can only save time, never change the verdict;
- on large logs, a second process verifies the upper half of the log from its own connection. It starts from the
  tree frontier at the split, taken from stored values (the stored root of the largest power of two below the split,
  and stored leaf hashes after it), and its result is accepted only if that frontier equals the one this process
  computed from the verified lower half. If the helper cannot run or disagrees, this process verifies the rest
  itself.

The trail is read in a consistent snapshot where the database gives one (SQLite read transactions, the helper's
REPEATABLE READ on PostgreSQL); under READ COMMITTED the log head may be ahead of the rows read, and the rows it
accounts for are then read and verified too before the head is compared.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from docctl.audit.merkle import EMPTY_ROOT, Frontier, prefix_roots
from docctl.clock import rfc3339
from docctl.errors import AuditTampered

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_COLUMNS = "seq, {at}, {actor}, action, subject_type, subject_id, canonical, leaf_hash, root"
# PostgreSQL renders `at` in the canonical form itself (UTC, microseconds, Z) and the UUID as text: both
# renderings are injective, so comparing them to the event's strings compares the stored values exactly.
_PG_AT = """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_SELECT = {
    "sqlite": "SELECT " + _COLUMNS.format(at="at", actor="actor_id") + " FROM audit_events",
    "postgresql": "SELECT " + _COLUMNS.format(at=_PG_AT, actor="actor_id::text") + " FROM audit_events",
}
_PARAM = {"sqlite": "?", "postgresql": "%s"}

DEFAULT_BATCH = 16384
PARALLEL_MIN_EVENTS = 150_000  # below this a helper process costs more than it saves


@dataclass(frozen=True)
class VerifyReport:
    size: int
    root: bytes


# --- the named checks (reference path) -----------------------------------------------------------------------


def verify_leaf(seq: int, canonical: bytes, stored_leaf: bytes) -> bytes:
    if not isinstance(canonical, bytes):
        raise AuditTampered(seq, "event bytes are not stored as bytes")
    leaf = sha256(b"\x00" + canonical).digest()
    if leaf != stored_leaf:
        found = stored_leaf.hex() if isinstance(stored_leaf, bytes) else repr(stored_leaf)
        raise AuditTampered(seq, "leaf hash does not match the event's bytes", leaf.hex(), found)
    return leaf


def verify_root(seq: int, computed: bytes, stored: bytes) -> None:
    if computed != stored:
        found = stored.hex() if isinstance(stored, bytes) else repr(stored)
        raise AuditTampered(seq, "tree root does not match", computed.hex(), found)


def _parse(seq: int, canonical: bytes) -> dict[str, Any]:
    try:
        event = json.loads(canonical)
    except ValueError as exc:
        raise AuditTampered(seq, "event bytes are not JSON") from exc
    if not isinstance(event, dict):
        raise AuditTampered(seq, "event bytes are not a JSON object")
    return event


def _field(event: dict[str, Any], outer: str, inner: str) -> Any:
    value = event.get(outer)
    return value.get(inner) if isinstance(value, dict) else None


def verify_columns(seq: int, canonical: bytes, row: tuple) -> None:
    """The typed columns (seq, at, actor_id, action, subject_type, subject_id), as the ORM reads them, agree with
    the event. `verify_log` compares the stored forms instead, which is stricter."""
    _, at, actor_id, action, subject_type, subject_id = row[:6]
    event = _parse(seq, canonical)
    expected = (seq, rfc3339(at), str(actor_id) if actor_id else None, action, subject_type, subject_id)
    found = (
        event.get("seq"),
        event.get("at"),
        _field(event, "actor", "id"),
        event.get("action"),
        _field(event, "subject", "type"),
        _field(event, "subject", "id"),
    )
    if expected != found:
        raise AuditTampered(seq, "indexed columns disagree with the hashed event", str(found), str(expected))


_BAD = object()  # never equal to a stored value
_COLUMN_NAMES = ("seq", "at", "actor_id", "action", "subject_type", "subject_id")


def _stored_sqlite(event: dict[str, Any]) -> tuple:
    """What SQLite holds for an event: `at` as SQLAlchemy's 'YYYY-MM-DD HH:MM:SS.ffffff', the UUID as 32 hex."""
    at = event.get("at")
    if isinstance(at, str) and len(at) == 27 and at[10] == "T" and at[26] == "Z":
        at_stored: Any = at[:10] + " " + at[11:26]
    else:
        at_stored = _BAD
    actor = _field(event, "actor", "id")
    actor_stored = actor.replace("-", "") if isinstance(actor, str) else (None if actor is None else _BAD)
    return (
        event.get("seq"),
        at_stored,
        actor_stored,
        event.get("action"),
        _field(event, "subject", "type"),
        _field(event, "subject", "id"),
    )


def _stored_postgresql(event: dict[str, Any]) -> tuple:
    return (
        event.get("seq"),
        event.get("at"),
        _field(event, "actor", "id"),
        event.get("action"),
        _field(event, "subject", "type"),
        _field(event, "subject", "id"),
    )


_STORED = {"sqlite": _stored_sqlite, "postgresql": _stored_postgresql}


def _verify_stored_columns(seq: int, row: Sequence[Any], dialect: str) -> None:
    event = _parse(seq, row[6])
    expected = _STORED[dialect](event)
    for name, want, got in zip(_COLUMN_NAMES, expected, row[:6], strict=True):
        if want is _BAD or want != got or type(want) is not type(got):
            raise AuditTampered(
                seq, f"column {name} disagrees with the hashed event", "?" if want is _BAD else repr(want), repr(got)
            )


def _verify_rows_slow(rows: Sequence[Sequence[Any]], next_seq: int, frontier: Frontier, dialect: str) -> None:
    """Every check, row by row, in order: raises at the first event that does not verify."""
    for row in rows:
        seq = row[0]
        if seq != next_seq or type(seq) is not int:
            if isinstance(seq, int | float) and seq < next_seq:
                # this row's seq was changed to a smaller value: name the event by the seq it was hashed with
                claimed = _claimed_seq(row[6])
                raise AuditTampered(claimed if claimed is not None else next_seq, f"seq column holds {seq!r}")
            raise AuditTampered(next_seq, f"event missing (next stored event is {seq!r})")
        leaf = verify_leaf(seq, row[6], row[7])
        _verify_stored_columns(seq, row, dialect)
        frontier.append_leaf_hash(leaf)
        verify_root(seq, frontier.root(), row[8])
        next_seq += 1


def _claimed_seq(canonical: Any) -> int | None:
    try:
        seq = json.loads(canonical).get("seq")
    except (ValueError, TypeError, AttributeError):
        return None
    return seq if type(seq) is int else None


# --- the fast path -------------------------------------------------------------------------------------------


def _at_json_sqlite(at: str) -> str | None:
    if len(at) != 26 or at[10] != " ":
        return None
    return f'"{at[:10]}T{at[11:]}Z"'


def _actor_json_sqlite(actor: str | None) -> str:
    if actor is None:
        return "null"
    # inserts the hyphens at fixed places: injective, so only the stored value that was written can match
    return f'"{actor[:8]}-{actor[8:12]}-{actor[12:16]}-{actor[16:20]}-{actor[20:]}"'


def _actor_json_postgresql(actor: str | None) -> str:
    return "null" if actor is None else encode_basestring(actor)


_AT_JSON: dict[str, Callable[[str], str | None]] = {"sqlite": _at_json_sqlite, "postgresql": encode_basestring}
_ACTOR_JSON: dict[str, Callable[[str | None], str]] = {
    "sqlite": _actor_json_sqlite,
    "postgresql": _actor_json_postgresql,
}


def _columns_match(columns: Sequence[Sequence[Any]], dialect: str) -> bool:
    """True only if every row's columns equal what its canonical bytes say; False means "check the slow way".

    Canonical events have exactly the keys action, actor, after, at, before, reason, request, seq, subject, in that
    (sorted) order; actor's first key is id and subject's are id, label, type. Inside a JSON string every `"` is
    escaped, so a fragment holding an unescaped quote can only match the document's own structure:
    - the document starts with `{"action":A,"actor":{"id":I,`, with A and I built from the columns by injective
      encodings (JSON string encoding; the UUID's fixed hyphens);
    - it ends with `,"type":T}}`; before the last `,"label":"` (the label string cannot hold one) it ends with
      `,"seq":N,"subject":{"id":S`;
    - `"at":"` occurs exactly once (the top-level key always makes one occurrence) and is `,"at":"X","before":`.
    """
    at_json = _AT_JSON[dialect]
    actor_json = _ACTOR_JSON[dialect]
    enc = encode_basestring
    seqs, ats, actors, actions, stypes, sids, canons = columns[:7]
    try:
        for seq, at, actor, action, stype, sid, c in zip(seqs, ats, actors, actions, stypes, sids, canons):
            if not c.startswith(f'{{"action":{enc(action)},"actor":{{"id":{actor_json(actor)},'.encode()):
                return False
            tail = f',"type":{enc(stype)}}}}}'.encode()
            if not c.endswith(tail):
                return False
            label = c.rfind(b',"label":"', 0, len(c) - len(tail))
            if label < 0 or not c.endswith(f',"seq":{seq:d},"subject":{{"id":{enc(sid)}'.encode(), 0, label):
                return False
            at_text = at_json(at)
            if at_text is None or c.count(b'"at":"') != 1 or f',"at":{at_text},"before":'.encode() not in c:
                return False
    except (TypeError, ValueError, AttributeError):  # a column of an unexpected type: let the slow path say which
        return False
    return True


def _verify_chunk_fast(rows: list[Sequence[Any]], next_seq: int, frontier: Frontier, dialect: str) -> bool:
    """Verify a chunk as a whole; True and `frontier` advanced if every check passed, else False, untouched."""
    n = len(rows)
    columns = list(zip(*rows, strict=True))
    seqs = columns[0]
    if seqs != tuple(range(next_seq, next_seq + n)):
        return False
    try:
        leaves = [sha256(b"\x00" + c).digest() for c in columns[6]]
    except TypeError:
        return False
    if leaves != list(columns[7]):
        return False
    if not _columns_match(columns, dialect):
        return False
    advanced = frontier.copy()
    if prefix_roots(advanced, leaves) != list(columns[8]):
        return False
    frontier.size, frontier.hashes = advanced.size, advanced.hashes
    return True


def _verify_stream(
    chunks: Generator[list[Sequence[Any]], None, None], next_seq: int, frontier: Frontier, dialect: str
) -> int:
    """Verify rows chunk by chunk from `next_seq`, advancing `frontier`; returns the next expected seq."""
    try:
        for rows in chunks:
            if not _verify_chunk_fast(rows, next_seq, frontier, dialect):
                _verify_rows_slow(rows, next_seq, frontier, dialect)
            next_seq += len(rows)
    finally:
        chunks.close()  # closes the cursor now, not when collected
    return next_seq


# --- reading ------------------------------------------------------------------------------------------------


class _Reader:
    """Raw DB-API access to the trail for one connection (the caller's, or the helper process's own)."""

    def __init__(self, dbapi_connection: Any, dialect: str, chunk: int) -> None:
        if dialect not in _SELECT:
            raise ValueError(f"audit verification supports sqlite and postgresql, not {dialect}")
        self.conn = dbapi_connection
        self.dialect = dialect
        self.chunk = chunk
        self._n = 0

    def _cursor(self) -> Any:
        if self.dialect == "postgresql":
            self._n += 1
            # a server-side cursor, so a million rows are never all in memory; binary: bytea comes as is
            return self.conn.cursor(name=f"docctl_verify_{os.getpid()}_{self._n}", binary=True)
        return self.conn.cursor()

    def rows(self, after: int, upto: int | None = None) -> Generator[list[Sequence[Any]], None, None]:
        p = _PARAM[self.dialect]
        sql = _SELECT[self.dialect] + f" WHERE seq > {p}"
        params: tuple[int, ...] = (after,)
        if upto is not None:
            sql += f" AND seq <= {p}"
            params = (after, upto)
        cur = self._cursor()
        try:
            cur.execute(sql + " ORDER BY seq", params)
            while True:
                rows = cur.fetchmany(self.chunk)
                if not rows:
                    return
                yield rows
        finally:
            cur.close()

    def scalar_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql.replace("?", _PARAM[self.dialect]), params)
            return list(cur.fetchall())
        finally:
            cur.close()

    def max_seq(self) -> int:
        (top,) = self.scalar_rows("SELECT max(seq) FROM audit_events")[0]
        return top if isinstance(top, int) else 0

    def head(self) -> tuple[Any, Any, Any] | None:
        rows = self.scalar_rows("SELECT size, frontier, root FROM audit_head WHERE id = 1")
        return tuple(rows[0]) if rows else None  # type: ignore[return-value]


def _verify_tail(reader: _Reader, next_seq: int, frontier: Frontier) -> VerifyReport:
    """Verify every event from `next_seq` on, then the log head; catches up while the head is ahead of the
    rows read (other transactions appending under READ COMMITTED)."""
    next_seq = _verify_stream(reader.rows(next_seq - 1), next_seq, frontier, reader.dialect)
    while True:
        size = next_seq - 1
        head = reader.head()
        if head is None:
            if size:
                raise AuditTampered(size, "log head is missing")
            return VerifyReport(size=0, root=EMPTY_ROOT)
        head_size, head_frontier, head_root = head
        if head_size == size:
            root = frontier.root()
            if head_root != root:
                raise AuditTampered(size, "log head root does not match the last event", root.hex(), _hex(head_root))
            if head_frontier != frontier.to_bytes():
                raise AuditTampered(size, "log head frontier does not match the events")
            return VerifyReport(size=size, root=root)
        if not isinstance(head_size, int):
            raise AuditTampered(size, f"log head size is {head_size!r}")
        if head_size < size:
            raise AuditTampered(
                head_size + 1,
                "event beyond the log head (appended behind the log's back)",
                f"size {head_size}",
                f"size {size}",
            )
        before = next_seq
        next_seq = _verify_stream(reader.rows(size), next_seq, frontier, reader.dialect)
        if next_seq == before:
            raise AuditTampered(size + 1, f"event missing (the log head counts {head_size} events)")


def _hex(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else repr(value)


# --- the helper process -------------------------------------------------------------------------------------


def _start_frontier(reader: _Reader, split: int) -> Frontier | None:
    """The frontier at `split` from stored values: the stored root after the largest power of two <= split
    (a perfect tree, so that root is the frontier's first subtree) and the stored leaf hashes after it."""
    base = 1 << (split.bit_length() - 1)
    found = reader.scalar_rows("SELECT root FROM audit_events WHERE seq = ?", (base,))
    if not found or not isinstance(found[0][0], bytes):
        return None
    frontier = Frontier(base, [found[0][0]])
    leaves = reader.scalar_rows(
        "SELECT leaf_hash FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq", (base, split)
    )
    if len(leaves) != split - base:
        return None
    for (leaf,) in leaves:
        frontier.append_leaf_hash(leaf)
    return frontier


def _connect(spec: dict[str, Any]) -> Any:
    if spec["dialect"] == "sqlite":
        import sqlite3

        conn = sqlite3.connect(spec["path"], timeout=30, isolation_level=None)
        conn.execute("BEGIN")  # one read transaction: a consistent snapshot of rows and head (WAL)
        return conn
    import psycopg

    conn = psycopg.connect(**spec["connect"])
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _helper(spec: dict[str, Any], out: Any) -> None:
    """Runs in the helper process: verify every event after `split`, then the head."""
    try:
        conn = _connect(spec)
        try:
            reader = _Reader(conn, spec["dialect"], spec["chunk"])
            start = _start_frontier(reader, spec["split"])
            if start is None:
                out.send(("unusable", None))
                return
            started = start.to_bytes()
            try:
                report = _verify_tail(reader, spec["split"] + 1, start)
            except AuditTampered as exc:
                out.send(("tampered", started, exc.seq, exc.what, exc.expected, exc.found))
                return
            out.send(("ok", started, report.size, report.root))
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001  (any failure of the helper means: verify it in the parent)
        out.send(("error", repr(exc)))
    finally:
        out.close()


def _helper_spec(session: Session, dialect: str) -> dict[str, Any] | None:
    """How the helper reaches the same database, or None if it cannot (in-memory SQLite, another driver)."""
    url = session.get_bind().url
    if dialect == "sqlite":
        path = url.database
        if not path or path == ":memory:" or path.startswith("file:") or url.query:
            return None
        return {"dialect": dialect, "path": os.path.abspath(path)}
    if url.get_driver_name() != "psycopg":
        return None
    connect: dict[str, Any] = {
        k: v
        for k, v in {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "dbname": url.database,
        }.items()
        if v is not None
    }
    connect.update({k: v for k, v in url.query.items() if isinstance(v, str)})
    return {"dialect": dialect, "connect": connect}


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _split_point(top: int, chunk: int) -> int:
    # the helper starts later (a fresh interpreter) and first rebuilds the frontier, so it takes a bit less
    target = top // 2 + min(top // 16, 24_000)
    return max(chunk, (target // chunk) * chunk)


# --- entry point --------------------------------------------------------------------------------------------


def verify_log(session: Session, *, batch: int = DEFAULT_BATCH, processes: int | None = None) -> VerifyReport:
    """Raise AuditTampered naming the first event that does not verify; return the verified size and root.

    `processes`: 1 verifies in this process only; 2 uses a helper process for the upper half of the log where the
    database can be reached again (a SQLite file, PostgreSQL through psycopg); None (the default) does so when the
    log has at least PARALLEL_MIN_EVENTS events and two CPUs are available.
    """
    conn = session.connection()
    dialect = conn.dialect.name
    chunk = 1 << max(0, batch.bit_length() - 1)  # a power of two keeps chunks aligned with the tree
    reader = _Reader(conn.connection.dbapi_connection, dialect, chunk)
    top = reader.max_seq()

    if processes is None:
        processes = 2 if top >= PARALLEL_MIN_EVENTS and _usable_cpus() >= 2 else 1
    split = _split_point(top, chunk) if processes >= 2 else 0
    spec = _helper_spec(session, dialect) if 0 < split < top else None
    if spec is None:
        return _verify_tail(reader, 1, Frontier())

    import multiprocessing

    spec.update(split=split, chunk=chunk)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections or locks
    receiver, sender = ctx.Pipe(duplex=False)
    helper = ctx.Process(target=_helper, args=(spec, sender), name="docctl-verify", daemon=True)
    try:
        helper.start()
    except (OSError, AssertionError):  # e.g. called from a daemonic process, which may not have children
        return _verify_tail(reader, 1, Frontier())
    sender.close()
    try:
        frontier = Frontier()
        next_seq = _verify_stream(reader.rows(0, split), 1, frontier, dialect)
        if next_seq <= split:
            raise AuditTampered(next_seq, f"event missing (no stored event after {next_seq - 1})")
        try:
            result = receiver.recv()
        except EOFError:
            result = ("error", "helper exited without a result")
    finally:
        if helper.is_alive() and not receiver.poll(0):
            helper.terminate()
        helper.join()
        receiver.close()

    if result[0] in ("ok", "tampered") and result[1] == frontier.to_bytes():
        if result[0] == "tampered":
            _, _, seq, what, expected, found = result
            raise AuditTampered(seq, what, expected, found)
        _, _, size, root = result
        return VerifyReport(size=size, root=root)
    # the helper could not run, or started from a frontier this process did not verify: do the rest here
    return _verify_tail(reader, split + 1, frontier)
