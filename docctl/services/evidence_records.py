"""What an evidence package holds, read from the database as JSON-ready dicts (read-only queries; the caller's
session). `for_document` gathers a document, every revision, every signature on them (approvals and training),
its training assignments and records; `for_range` the signatures and training records made in [since, until).
Audit events come later, against the checkpoint (`docctl.services.evidence`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from docctl.audit.log import jsonable
from docctl.db.models import Document, Revision, Signature, SigningKey, TrainingAssignment, TrainingRecord, User
from docctl.evidence import layout
from docctl.renditions import DOCX_TYPE, PDF_TYPE
from docctl.services import accounts, documents

EXTENSIONS = {PDF_TYPE: "pdf", DOCX_TYPE: "docx"}


@dataclass
class SignatureFiles:
    """One signature's stored bytes, for its openssl bundle."""

    id: str
    manifest: bytes
    signature: bytes
    cert_pem: bytes


@dataclass
class Records:
    document: dict[str, Any] | None = None
    revisions: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    signature_files: list[SignatureFiles] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    blobs: list[tuple[str, str]] = field(default_factory=list)  # (member path, blob sha256)
    subjects: list[tuple[str, list[str]]] = field(default_factory=list)  # (subject type, ids) of its audit events


def _person(users: dict[uuid.UUID, User], user_id: uuid.UUID | None) -> dict[str, Any] | None:
    u = users.get(user_id) if user_id else None
    if u is None:
        return None if user_id is None else {"id": str(user_id), "username": None, "name": None}
    return {"id": str(u.id), "username": u.username, "name": u.full_name, "title": u.title}


def _users(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, User]:
    return {u.id: u for u in accounts.users_by_id(session, {i for i in ids if i})}


def _revision_json(r: Revision, users: dict[uuid.UUID, User]) -> dict[str, Any]:
    original = layout.revision_member(r.version, f"original.{EXTENSIONS.get(r.source_media_type, 'bin')}")
    separate = r.rendition_sha256 is not None and r.rendition_sha256 != r.source_sha256
    rendition = layout.revision_member(r.version, f"rendition.{r.rendition_kind}") if separate else None
    keys = ("id", "version", "state", "change_kind", "change_summary", "reason", "source_filename",
            "source_media_type", "source_size", "source_sha256", "rendition_kind", "rendition_sha256",
            "rendition_note", "page_count", "training_required", "train_before_effective", "round", "created_at",
            "planned_effective_at", "submitted_at", "approved_at", "effective_at", "superseded_at", "obsolete_at",
            "withdrawn_at")
    out = {k: jsonable(getattr(r, k)) for k in keys}
    out["created_by"] = _person(users, r.created_by_id)
    out["files"] = {"original": original, "rendition": rendition}
    return out


def _signature_json(s: Signature, key: SigningKey, number: str, version: str) -> dict[str, Any]:
    return {"id": str(s.id), "revision_id": str(s.revision_id), "document": number, "version": version,
            "meaning": s.meaning, "printed_name": s.printed_name, "title": s.title,
            "signed_at": jsonable(s.signed_at), "signer_id": str(s.signer_id), "task_id": jsonable(s.task_id),
            "assignment_id": jsonable(s.assignment_id), "statement_version": s.statement_version,
            "manifest_sha256": s.manifest_sha256, "certificate_serial": key.certificate_serial,
            "bundle": f"signatures/{s.id}/"}


def _signatures(session: Session, out: Records, condition: Any) -> None:
    rows = session.execute(
        select(Signature, SigningKey, Document.number, Revision.major, Revision.minor)
        .join(SigningKey, SigningKey.id == Signature.signing_key_id)
        .join(Revision, Revision.id == Signature.revision_id).join(Document, Document.id == Revision.document_id)
        .where(condition).order_by(Signature.signed_at, Signature.id)
    ).all()
    for s, key, number, major, minor in rows:
        out.signatures.append(_signature_json(s, key, number, f"{major}.{minor}"))
        out.signature_files.append(SignatureFiles(str(s.id), s.manifest, s.signature, key.certificate_pem.encode()))


def _training(session: Session, out: Records, records_where: Any, assignments_where: Any) -> None:
    records = list(session.scalars(select(TrainingRecord).where(records_where)
                                   .order_by(TrainingRecord.recorded_at, TrainingRecord.id)))
    assignments = list(session.scalars(select(TrainingAssignment).where(assignments_where)
                                       .order_by(TrainingAssignment.assigned_at, TrainingAssignment.id)))
    users = _users(session, [a.user_id for a in assignments] + [r.user_id for r in records]
                   + [r.trainer_id for r in records] + [r.recorded_by_id for r in records])
    for a in assignments:
        keys = ("id", "revision_id", "document_id", "function_id", "state", "assigned_at", "due_at", "opened_at",
                "reminded_at", "overdue_at", "completed_at", "record_id", "closed_at", "close_reason",
                "superseded_by_id")
        out.assignments.append({**{k: jsonable(getattr(a, k)) for k in keys}, "person": _person(users, a.user_id)})
    for r in records:
        keys = ("id", "assignment_id", "revision_id", "method", "result", "signature_id", "performed_on",
                "performed_at", "recorded_at", "carried_from_id", "note", "version")
        out.records.append({**{k: jsonable(getattr(r, k)) for k in keys}, "person": _person(users, r.user_id),
                            "trainer": _person(users, r.trainer_id), "recorded_by": _person(users, r.recorded_by_id)})


def for_document(session: Session, number: str) -> tuple[Document, Records]:
    d = documents.get_document(session, number)
    revisions = sorted(d.revisions, key=lambda r: (r.major, r.minor))
    owners = _users(session, [d.owner_id, d.created_by_id, *(r.created_by_id for r in revisions)])
    out = Records()
    out.document = {**documents.snapshot(d), "id": str(d.id), "type_name": d.type.name,
                    "owner": _person(owners, d.owner_id), "created_by": _person(owners, d.created_by_id),
                    "created_at": jsonable(d.created_at), "updated_at": jsonable(d.updated_at)}
    for r in revisions:
        item = _revision_json(r, owners)
        out.revisions.append(item)
        out.blobs.append((item["files"]["original"], r.source_sha256))
        if item["files"]["rendition"]:
            out.blobs.append((item["files"]["rendition"], r.rendition_sha256 or ""))
    out.history = [{"edition": h.edition, "at": jsonable(h.at), "actor_id": jsonable(h.actor_id),
                    "reason": h.reason, "snapshot": jsonable(h.snapshot)} for h in documents.history(session, d)]
    rev_ids = [r.id for r in revisions]
    _signatures(session, out, Signature.revision_id.in_(rev_ids))
    _training(session, out, TrainingRecord.revision_id.in_(rev_ids), TrainingAssignment.document_id == d.id)
    out.subjects = [("document", [str(d.id)]), ("revision", [str(i) for i in rev_ids]),
                    ("training_assignment", [a["id"] for a in out.assignments])]
    return d, out


def for_range(session: Session, since: datetime, until: datetime) -> Records:
    out = Records()
    _signatures(session, out, and_(Signature.signed_at >= since, Signature.signed_at < until))
    in_range = and_(TrainingRecord.recorded_at >= since, TrainingRecord.recorded_at < until)
    _training(session, out, in_range,
              TrainingAssignment.id.in_(select(TrainingRecord.assignment_id).where(in_range)))
    return out
