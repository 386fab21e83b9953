"""Revisions: ingesting an upload (outside any transaction), recording it, the lifecycle steps, and who may see
a revision.

An upload is spooled to a temporary file in bounded memory, its real type found from the bytes, its text
extracted, stored in the blob store and, for DOCX, converted to PDF; all of that happens before the unit of work
begins (no database lock is held during a conversion). Then `create_revision` records the blobs and the revision
in one transaction. Blobs are written first and the rows committed after, so a failure leaves at most an
unreferenced blob, which `docctl storage scrub` reports; never a row without its bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docctl import renditions
from docctl.audit import log
from docctl.audit.log import Actor, RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.blobstore.base import BlobRef, BlobStore
from docctl.db.models import ApprovalTask, Document, Revision, RouteStage, Signature
from docctl.domain import versions
from docctl.domain.lifecycle import CURRENT, State, Step, next_state
from docctl.domain.policy import Permission
from docctl.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RenditionFailed, UploadRejected
from docctl.services import documents, search, training
from docctl.services.principal import Principal
from docctl.services.storage import record_blob

CHUNK = 1024 * 1024
MAX_FILENAME = 255


@dataclass(frozen=True)
class PreparedUpload:
    """An accepted upload, stored in the blob store, ready to be recorded."""

    filename: str
    kind: str  # "pdf" or "docx"
    media_type: str
    source: BlobRef
    rendition: BlobRef | None
    rendition_kind: str  # "pdf" or "docx"
    rendition_note: str
    page_count: int | None
    text: str
    backend: str  # the blob store's name ("local", "s3"), recorded with each blob


def _safe_filename(name: str) -> str:
    name = Path(name.replace("\\", "/")).name.strip() or "upload"
    return "".join(c for c in name if c.isprintable())[:MAX_FILENAME]


def spool(stream: BinaryIO, target: Path, *, max_bytes: int) -> int:
    """Copy an upload to a file in bounded memory, refusing it as soon as it passes the size limit."""
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadRejected(
                    f"The file is larger than the limit of {max_bytes // (1024 * 1024)} MB "
                    f"({max_bytes:,} bytes)."
                )
            out.write(chunk)
    if size == 0:
        raise UploadRejected("The file is empty.")
    return size


def prepare_upload(
    store: BlobStore, *, stream: BinaryIO, filename: str, max_bytes: int, convert: bool = True,
    conversion_timeout: float = 120.0,
) -> PreparedUpload:
    """Check and store an upload; raises UploadRejected (naming the problem) and stores nothing if it is refused."""
    workdir = Path(tempfile.mkdtemp(prefix="docctl-upload-"))
    try:
        path = workdir / "upload"
        spool(stream, path, max_bytes=max_bytes)
        found = renditions.inspect_file(path)
        with path.open("rb") as fh:
            source = store.put(fh)
        rendition, kind, note, pages = source, found.kind, "", found.page_count
        if found.kind == "docx":
            if convert and renditions.soffice_available():
                try:
                    pdf = renditions.convert_to_pdf(path, workdir / "out", timeout=conversion_timeout)
                    with pdf.open("rb") as fh:
                        rendition = store.put(fh)
                    kind, pages = "pdf", renditions.pdf_page_count(pdf)
                except RenditionFailed as exc:
                    note = f"The PDF rendition could not be made ({exc.message}); the Word file is shown instead."
                    kind = "docx"
            else:
                note = ("LibreOffice is not installed on this server, so there is no PDF rendition: the Word file is "
                        "its own rendition and controlled copies are stamped Word files.")
        return PreparedUpload(
            filename=_safe_filename(filename), kind=found.kind, media_type=found.media_type, source=source,
            rendition=rendition, rendition_kind=kind, rendition_note=note, page_count=pages, text=found.text,
            backend=store.name,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def revision_subject(d: Document, r: Revision) -> Subject:
    return Subject("revision", str(r.id), f"{d.number} v{r.version}")


def create_revision(
    session: Session, *, principal: Principal, number: str, upload: PreparedUpload, change: str,
    change_summary: str, reason: str = "", training_required: bool | None = None, at: datetime,
    request: RequestInfo | None = None,
) -> Revision:
    """Record a prepared upload as a new draft revision of the document."""
    principal.require(Permission.DOCUMENTS_CREATE)
    try:
        kind = versions.Change(change)
    except ValueError:
        raise InvalidInput("Say whether the change is major or minor.") from None
    summary = change_summary.strip()
    if not summary:
        raise InvalidInput("Describe the change (change summary).")
    d = documents.get_document(session, number, for_update=True)
    if not documents.can_edit(principal, d):
        raise PermissionDenied("Only document control or the document's owner may upload its revisions.")
    revisions = list(session.scalars(select(Revision).where(Revision.document_id == d.id)))
    if any(r.state in (State.IN_REVIEW, State.APPROVED) for r in revisions):
        raise Conflict("A revision of this document is in review or approved; it must be decided or recalled first.")
    major, minor = versions.next_version(((r.major, r.minor) for r in revisions), kind)
    for ref, media in ((upload.source, upload.media_type), (upload.rendition, _media(upload.rendition_kind))):
        if ref is not None:
            record_blob(session, ref, media_type=media, backend=upload.backend, at=at)
    r = Revision(
        document_id=d.id, major=major, minor=minor, state=State.DRAFT.value, change_kind=kind.value,
        change_summary=summary[:4000], reason=reason.strip()[:4000], source_sha256=upload.source.sha256,
        source_filename=upload.filename, source_media_type=upload.media_type, source_size=upload.source.size,
        rendition_sha256=upload.rendition.sha256 if upload.rendition else None,
        rendition_kind=upload.rendition_kind, rendition_note=upload.rendition_note, page_count=upload.page_count,
        text=upload.text,
        training_required=d.type.training_required if training_required is None else training_required,
        created_at=at, created_by_id=principal.user.id if principal.user else d.owner_id,
    )
    session.add(r)
    session.flush()
    search.index_revision(session, r, d)
    log.append(
        session, Tag.REVISION_CREATE, actor=principal.actor, subject=revision_subject(d, r), at=at,
        reason=r.reason or None,
        after={
            "version": r.version, "state": r.state, "change": r.change_kind, "change_summary": r.change_summary,
            "file": r.source_filename, "content_sha256": r.source_sha256, "size": r.source_size,
            "rendition_sha256": r.rendition_sha256, "rendition": r.rendition_kind, "pages": r.page_count,
        },
        request=request,
    )
    # an earlier draft is replaced, not changed: it is withdrawn and kept
    for old in revisions:
        if old.state == State.DRAFT:
            apply_step(session, actor=principal.actor, document=d, revision=old, step=Step.WITHDRAW,
                       reason=f"replaced by version {r.version}", at=at, request=request)
    return r


def _media(kind: str) -> str:
    return renditions.PDF_TYPE if kind == "pdf" else renditions.DOCX_TYPE


_STAMP = {
    Step.SUBMIT: "submitted_at",
    Step.APPROVE: "approved_at",
    Step.MAKE_EFFECTIVE: "effective_at",
    Step.SUPERSEDE: "superseded_at",
    Step.RETIRE: "obsolete_at",
    Step.WITHDRAW: "withdrawn_at",
}
_TAGS = {step: Tag(f"revision:{step.value}") for step in Step}


def apply_step(
    session: Session, *, actor: Actor, document: Document, revision: Revision, step: Step, at: datetime,
    reason: str | None = None, request: RequestInfo | None = None, details: dict[str, object] | None = None,
) -> None:
    """Move a revision through the lifecycle (the domain decides what is allowed), stamp the time and record the
    audit event. Making a revision effective supersedes the document's current one in the same transaction.
    Callers authorize: the approvals workflow (issue 4) submits, approves and makes effective through here."""
    before = State(revision.state)
    target = next_state(before, step, reason=reason)
    if step is Step.APPROVE and not every_stage_signed(session, revision):
        # nothing is approved, and so nothing becomes effective, without every required signature (ISO-4.2.4a)
        raise Conflict(f"{document.number} v{revision.version} lacks signatures its approval route requires.")
    previous = None
    if step is Step.MAKE_EFFECTIVE:
        previous = session.scalars(
            select(Revision).where(Revision.document_id == document.id, Revision.state == State.EFFECTIVE)
            .with_for_update()
        ).one_or_none()
        if previous is not None:
            apply_step(session, actor=actor, document=document, revision=previous, step=Step.SUPERSEDE, at=at,
                       reason=f"superseded by version {revision.version}", request=request)
            session.flush()  # the partial unique index allows one effective revision at any instant
    revision.state = target.value
    if step in _STAMP:
        setattr(revision, _STAMP[step], at)
    log.append(
        session, _TAGS[step], actor=actor, subject=revision_subject(document, revision), at=at,
        reason=(reason or "").strip() or None, before={"state": before.value},
        after={"state": target.value, **(details or {})}, request=request,
    )
    session.flush()
    # the training matrix follows the lifecycle in the same transaction (TR-MATRIX)
    if step is Step.MAKE_EFFECTIVE:
        training.on_effective(session, document, revision, previous, at=at, request=request)
    elif step is Step.APPROVE:
        training.on_approved(session, document, revision, at=at, request=request)


def every_stage_signed(session: Session, revision: Revision) -> bool:
    """Whether each stage of the revision's route has its required signatures in the current submission round."""
    if revision.route_id is None:
        return False
    stages = session.scalars(select(RouteStage).where(RouteStage.route_id == revision.route_id)).all()
    signed = dict(session.execute(
        select(ApprovalTask.position, func.count()).join(Signature, Signature.task_id == ApprovalTask.id)
        .where(ApprovalTask.revision_id == revision.id, ApprovalTask.round == revision.round,
               ApprovalTask.state == "signed")
        .group_by(ApprovalTask.position)
    ).all())
    return bool(stages) and all(signed.get(s.position, 0) >= s.required for s in stages)


def withdraw(
    session: Session, *, principal: Principal, number: str, version: str, reason: str, at: datetime,
    request: RequestInfo | None = None,
) -> Revision:
    d = documents.get_document(session, number, for_update=True)
    if not documents.can_edit(principal, d):
        raise PermissionDenied("Only document control or the document's owner may withdraw a draft.")
    r = find(d, version)
    apply_step(session, actor=principal.actor, document=d, revision=r, step=Step.WITHDRAW, reason=reason, at=at,
               request=request)
    return r


def find(d: Document, version: str) -> Revision:
    major, minor = versions.parse(version)
    for r in d.revisions:
        if (r.major, r.minor) == (major, minor):
            return r
    raise NotFound(f"{d.number} has no version {version}.")


def can_see(principal: Principal, r: Revision) -> bool:
    """Current effective revisions are for everyone with a role; work in progress and history only for those
    allowed (ISO-4.2.4d, ISO-4.2.4h)."""
    if State(r.state) in CURRENT:
        return principal.can(Permission.DOCUMENTS_READ)
    return principal.can(Permission.DOCUMENTS_READ_ALL)


def visible_revisions(principal: Principal, d: Document) -> list[Revision]:
    return [r for r in d.revisions if can_see(principal, r)]


def get_revision(session: Session, *, principal: Principal, number: str, version: str) -> tuple[Document, Revision]:
    principal.require(Permission.DOCUMENTS_READ)
    d = documents.get_document(session, number)
    r = find(d, version)
    if not can_see(principal, r):
        raise PermissionDenied(f"{d.number} v{r.version} is {r.state.replace('_', ' ')}; only the current "
                               "effective version is available to you.")
    return d, r


def current(d: Document) -> Revision | None:
    return next((r for r in d.revisions if r.state == State.EFFECTIVE), None)


def record_download(
    session: Session, *, principal: Principal, document: Document, revision: Revision, what: str, at: datetime,
    request: RequestInfo | None = None,
) -> None:
    """A copy of a record left the system (the original file): who took what, when."""
    log.append(session, Tag.REVISION_DOWNLOAD, actor=principal.actor, subject=revision_subject(document, revision),
               at=at, after={"what": what, "content_sha256": revision.source_sha256}, request=request)
