"""Appending to the audit trail.

Every mutating service calls `append` inside its own transaction, so the event commits or rolls back with the change
it records. Appends are serialized by the lock on the single `audit_head` row (on SQLite, by the write lock that
`BEGIN IMMEDIATE` already holds), which is what makes `seq` gapless and the Merkle tree well defined.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from docctl.audit.canonical import canonical_json
from docctl.audit.merkle import Frontier, leaf_hash
from docctl.audit.tags import Tag
from docctl.clock import rfc3339
from docctl.db.models import AuditEvent, AuditHead
from docctl.errors import ConfigurationError


@dataclass(frozen=True)
class Actor:
    id: uuid.UUID | None
    username: str
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id) if self.id else None, "username": self.username, "name": self.name}


SYSTEM = Actor(id=None, username="system", name="docctl")


@dataclass(frozen=True)
class Subject:
    type: str
    id: str
    label: str = ""

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "label": self.label}


@dataclass(frozen=True)
class RequestInfo:
    """Where a request came from; filled by the web layer, never trusted for time."""

    ip: str = ""
    user_agent: str = ""

    def as_json(self) -> dict[str, str]:
        return {"ip": self.ip, "user_agent": self.user_agent[:400]}


def jsonable(value: Any) -> Any:
    """Turn a stored value into what canonical JSON holds: times as RFC 3339 UTC, UUIDs as strings."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, float):
        raise TypeError("no floats in audit events; store integers or strings")
    return str(value)


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose values differ, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: jsonable(before.get(k)) for k in keys}, {k: jsonable(after.get(k)) for k in keys}


# Statements built once: the append is the one serialized step, so it is kept short (table-level Core, no ORM
# bookkeeping, no per-call statement construction).
_events = AuditEvent.__table__
_head = AuditHead.__table__
_LOCK_HEAD = select(_head.c.size, _head.c.frontier).where(_head.c.id == 1).with_for_update()
_INSERT_EVENT = _events.insert()
_UPDATE_HEAD = (
    _head.update()
    .where(_head.c.id == 1)
    .values(size=bindparam("new_size"), frontier=bindparam("new_frontier"), root=bindparam("new_root"))
)


@dataclass(frozen=True)
class Appended:
    """What an append wrote: the event's number, its canonical bytes, leaf hash and the new tree root."""

    seq: int
    canonical: bytes
    leaf_hash: bytes
    root: bytes


def lock_head(session: Session) -> None:
    """Take the log head's lock now, before any row lock of the caller. A transaction that appends and then
    changes rows another transaction may already hold (training assignments, when a revision takes effect) must
    not meet one that locked those rows first and then appends: both take the head first, and wait for each other
    instead of deadlocking (PostgreSQL; SQLite serializes writers anyway)."""
    session.flush()
    session.connection().execute(_LOCK_HEAD).one_or_none()


def append(
    session: Session,
    action: Tag,
    *,
    actor: Actor,
    subject: Subject,
    at: datetime,
    reason: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request: RequestInfo | None = None,
) -> Appended:
    """Append one event in the caller's transaction. Locks the log head until the caller commits."""
    return append_many(session, [Entry(action, actor, subject, at, reason, before, after, request)])[0]


@dataclass(frozen=True)
class Entry:
    """One event for `append_many`: what `append` takes."""

    action: Tag
    actor: Actor
    subject: Subject
    at: datetime
    reason: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    request: RequestInfo | None = None


def append_many(session: Session, entries: list[Entry]) -> list[Appended]:
    """Append events in order, in the caller's transaction, with one lock of the log head, one batched insert and
    one update of the head: the same events, leaves and roots as appending them one by one (a revision taking
    effect for thousands of people writes an event per assignment)."""
    for e in entries:
        if len(e.subject.type) > 32 or len(e.subject.id) > 64 or len(str(e.action)) > 64:
            raise ValueError("audit subject type, subject id or action too long for the indexed columns")
    session.flush()  # the caller's pending changes go first, in order
    conn = session.connection()
    head = conn.execute(_LOCK_HEAD).one_or_none()
    if head is None:
        # created by the first migration; a missing head means the database was not migrated or was tampered with
        raise ConfigurationError("the audit log head is missing: run `docctl migrate`, then `docctl audit verify`")
    if not entries:
        return []
    frontier = Frontier.from_bytes(head.size, head.frontier)
    rows, out = [], []
    for seq, e in enumerate(entries, start=head.size + 1):
        event = {
            "seq": seq,
            "at": rfc3339(e.at),
            "actor": e.actor.as_json(),
            "action": str(e.action),
            "subject": e.subject.as_json(),
            "reason": e.reason,
            "before": jsonable(e.before) if e.before is not None else None,
            "after": jsonable(e.after) if e.after is not None else None,
            "request": e.request.as_json() if e.request is not None else None,
        }
        data = canonical_json(event)
        leaf = leaf_hash(data)
        frontier.append_leaf_hash(leaf)
        root = frontier.root()
        rows.append({"seq": seq, "at": e.at, "actor_id": e.actor.id, "action": str(e.action),
                     "subject_type": e.subject.type, "subject_id": e.subject.id, "canonical": data,
                     "leaf_hash": leaf, "root": root})
        out.append(Appended(seq, data, leaf, root))
    conn.execute(_INSERT_EVENT, rows)
    last = out[-1]
    conn.execute(_UPDATE_HEAD, {"new_size": last.seq, "new_frontier": frontier.to_bytes(), "new_root": last.root})
    return out
