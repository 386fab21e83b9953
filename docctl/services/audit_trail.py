"""Reading the audit trail: filtered, newest first, keyset-paginated; and verifying it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from docctl.audit.verify import VerifyReport, verify_log
from docctl.db.models import AuditEvent, Document, Revision, Signature, TrainingAssignment, User
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
    document: str = ""  # a document number: events about it, its revisions and their training assignments
    signature: str = ""  # a signature id: the events that name it (its creation, its failures are not named)
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
    after: int | None = None  # pass as `after` for the previous (newer) page


def _document_conditions(session: Session, number: str) -> ColumnElement[bool]:
    """Events about a document: the document itself, each of its revisions (uploads, workflow steps, signatures,
    downloads, controlled copies) and each training assignment on them (views, acknowledgements)."""
    doc_id = session.scalars(select(Document.id).where(Document.number == number.strip().upper())).one_or_none()
    if doc_id is None:
        return false()
    revision_ids = [str(r) for r in session.scalars(select(Revision.id).where(Revision.document_id == doc_id))]
    assignment_ids = [str(a) for a in session.scalars(
        select(TrainingAssignment.id).where(TrainingAssignment.document_id == doc_id))]
    return or_(
        and_(AuditEvent.subject_type == "document", AuditEvent.subject_id == str(doc_id)),
        and_(AuditEvent.subject_type == "revision", AuditEvent.subject_id.in_(revision_ids)),
        and_(AuditEvent.subject_type == "training_assignment", AuditEvent.subject_id.in_(assignment_ids)),
    )


def _signature_conditions(session: Session, signature_id: str) -> ColumnElement[bool]:
    """Events naming a signature: recorded on its revision (approvals) or its training assignment."""
    try:
        sig = session.get(Signature, uuid.UUID(signature_id.strip()))
    except ValueError:
        sig = None
    if sig is None:
        return false()
    subjects = [str(sig.revision_id)] + ([str(sig.assignment_id)] if sig.assignment_id else [])
    named = str(sig.id).encode()
    # SQLite's LIKE never matches a BLOB; instr does. PostgreSQL's LIKE works on bytea.
    mentions = (func.instr(AuditEvent.canonical, named) > 0 if session.get_bind().dialect.name == "sqlite"
                else AuditEvent.canonical.contains(named))
    return and_(AuditEvent.subject_id.in_(subjects), AuditEvent.action.startswith("signature:"), mentions)


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
    if filters.document:
        out.append(_document_conditions(session, filters.document))
    if filters.signature:
        out.append(_signature_conditions(session, filters.signature))
    if filters.since:
        out.append(AuditEvent.at >= filters.since)
    if filters.until:
        out.append(AuditEvent.at < filters.until)
    if filters.preset:
        out.extend(audit_exceptions.conditions(session, filters))
    return out


def _exists(session: Session, conditions: list[ColumnElement[bool]], beyond: ColumnElement[bool]) -> bool:
    return session.scalars(select(AuditEvent.seq).where(*conditions, beyond).limit(1)).first() is not None


def events(
    session: Session, *, principal: Principal, filters: TrailFilter, before: int | None = None,
    after: int | None = None, limit: int = 50,
) -> TrailPage:
    """A page of matching events, newest first: the newest, or those just older than `before`, or just newer than
    `after` (keyset pagination on seq, the primary key: as fast on page 20,000 as on page 1)."""
    principal.require(Permission.AUDIT_READ)
    limit = max(1, min(limit, 500))
    conditions = filter_conditions(session, filters)
    total = session.scalars(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    # the page's seqs first, then their rows: when the database sorts many matches (a date range read through the
    # `at` index) it sorts integers, not whole events
    stmt = select(AuditEvent.seq).where(*conditions)
    if after is not None and before is None:
        seqs = list(session.scalars(stmt.where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit + 1)))
        newer = len(seqs) > limit
        seqs = seqs[:limit][::-1]
        older = bool(seqs) and _exists(session, conditions, AuditEvent.seq < seqs[-1])
    else:
        if before is not None:
            stmt = stmt.where(AuditEvent.seq < before)
        seqs = list(session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
        older = len(seqs) > limit
        seqs = seqs[:limit]
        newer = before is not None and bool(seqs) and _exists(session, conditions, AuditEvent.seq > seqs[0])
    rows = list(session.scalars(select(AuditEvent).where(AuditEvent.seq.in_(seqs)).order_by(AuditEvent.seq.desc())))
    entries = [
        TrailEntry(seq=r.seq, at=r.at, action=r.action, event=json.loads(r.canonical), leaf_hash=r.leaf_hash.hex())
        for r in rows
    ]
    return TrailPage(entries, rows[-1].seq if older and rows else None, total, rows[0].seq if newer and rows else None)


def verify(session: Session, *, principal: Principal) -> VerifyReport:
    principal.require(Permission.AUDIT_READ)
    return verify_log(session)


def record_trail(session: Session, *, principal: Principal, filters: TrailFilter, limit: int = 10) -> TrailPage | None:
    """The newest events about one record (a document, revision, user or signature) for its page; None for those
    who may not read the trail (the page then shows no trail)."""
    if not principal.can(Permission.AUDIT_READ):
        return None
    return events(session, principal=principal, filters=filters, limit=limit)
