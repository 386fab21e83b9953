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

from sqlalchemy import select
from sqlalchemy.orm import Session

from docctl.audit.canonical import canonical_json
from docctl.audit.merkle import EMPTY_ROOT, Frontier, leaf_hash
from docctl.audit.tags import Tag
from docctl.clock import rfc3339
from docctl.db.models import AuditEvent, AuditHead


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


def _lock_head(session: Session) -> AuditHead:
    stmt = select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
    head = session.execute(stmt).scalar_one_or_none()
    if head is None:  # a fresh database: the first append creates the head
        head = AuditHead(id=1, size=0, frontier=b"", root=EMPTY_ROOT)
        session.add(head)
    return head


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
) -> AuditEvent:
    """Append one event in the caller's transaction and return its row."""
    head = _lock_head(session)
    seq = head.size + 1
    event = {
        "seq": seq,
        "at": rfc3339(at),
        "actor": actor.as_json(),
        "action": str(action),
        "subject": subject.as_json(),
        "reason": reason,
        "before": jsonable(before) if before is not None else None,
        "after": jsonable(after) if after is not None else None,
        "request": request.as_json() if request is not None else None,
    }
    data = canonical_json(event)
    leaf = leaf_hash(data)
    frontier = Frontier.from_bytes(head.size, head.frontier)
    frontier.append_leaf_hash(leaf)
    root = frontier.root()
    row = AuditEvent(
        seq=seq,
        at=at,
        actor_id=actor.id,
        action=str(action),
        subject_type=subject.type,
        subject_id=subject.id,
        canonical=data,
        leaf_hash=leaf,
        root=root,
    )
    session.add(row)
    head.size = seq
    head.frontier = frontier.to_bytes()
    head.root = root
    session.flush()
    return row
