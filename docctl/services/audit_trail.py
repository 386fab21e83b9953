"""Reading the audit trail: filtered, newest first, keyset-paginated; and verifying it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from docctl.audit.verify import VerifyReport, verify_log
from docctl.db.models import AuditEvent, User
from docctl.domain.policy import Permission
from docctl.domain.usernames import username_key
from docctl.services import audit_exceptions
from docctl.services.audit_exceptions import WorkingHours
from docctl.services.principal import Principal


@dataclass(frozen=True)
class TrailFilter:
    actor: str = ""  # a user ID (username)
    action: str = ""  # an exact tag, or a subject prefix such as "user:"
    subject_type: str = ""
    subject_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    preset: str = ""  # an exception report (docctl.services.audit_exceptions), applied beside the filters above
    working_hours: WorkingHours | None = None  # for the outside-working-hours preset (audit_exceptions.report_filter)


@dataclass(frozen=True)
class TrailEntry:
    seq: int
    at: datetime
    action: str
    event: dict[str, Any]
    leaf_hash: str

    @property
    def actor(self) -> dict[str, Any]:
        return self.event.get("actor") or {}

    @property
    def subject(self) -> dict[str, Any]:
        return self.event.get("subject") or {}


@dataclass(frozen=True)
class TrailPage:
    entries: list[TrailEntry]
    before: int | None  # pass as `before` for the next (older) page
    total: int


def filter_conditions(session: Session, filters: TrailFilter) -> list[ColumnElement[bool]]:
    """The trail's filters as SQL conditions (the page, the API and the exports use the same)."""
    out: list[ColumnElement[bool]] = []
    if filters.actor:
        actor_id = session.scalars(
            select(User.id).where(User.username_key == username_key(filters.actor))
        ).one_or_none()
        out.append(AuditEvent.actor_id == (actor_id or uuid.UUID(int=0)))
    if filters.action:
        if filters.action.endswith(":"):
            out.append(AuditEvent.action.startswith(filters.action))
        else:
            out.append(AuditEvent.action == filters.action)
    if filters.subject_type:
        out.append(AuditEvent.subject_type == filters.subject_type)
    if filters.subject_id:
        out.append(AuditEvent.subject_id == filters.subject_id)
    if filters.since:
        out.append(AuditEvent.at >= filters.since)
    if filters.until:
        out.append(AuditEvent.at < filters.until)
    if filters.preset:
        out.extend(audit_exceptions.conditions(session, filters))
    return out


def events(
    session: Session, *, principal: Principal, filters: TrailFilter, before: int | None = None, limit: int = 50
) -> TrailPage:
    principal.require(Permission.AUDIT_READ)
    limit = max(1, min(limit, 500))
    conditions = filter_conditions(session, filters)
    total = session.scalars(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    stmt = select(AuditEvent).where(*conditions)
    if before is not None:
        stmt = stmt.where(AuditEvent.seq < before)
    rows = list(session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        TrailEntry(seq=r.seq, at=r.at, action=r.action, event=json.loads(r.canonical), leaf_hash=r.leaf_hash.hex())
        for r in rows
    ]
    return TrailPage(entries, rows[-1].seq if more and rows else None, total)


def verify(session: Session, *, principal: Principal) -> VerifyReport:
    principal.require(Permission.AUDIT_READ)
    return verify_log(session)
