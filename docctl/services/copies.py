"""Controlled copies (A11-8.1, ISO-4.2.4h): the rendition stamped on every page with what it is, who printed it
and when, and that a printout is uncontrolled; superseded and obsolete revisions marked as such; a signature page
appended. Every copy made is an audit event."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from docctl import renditions
from docctl.audit import log
from docctl.audit.log import RequestInfo
from docctl.audit.tags import Tag
from docctl.blobstore.base import BlobStore
from docctl.db.models import Document, Revision
from docctl.domain.lifecycle import State
from docctl.services import approvals
from docctl.services.principal import Principal
from docctl.services.revisions import revision_subject

WATERMARKS = {
    State.SUPERSEDED: "SUPERSEDED",
    State.OBSOLETE: "OBSOLETE",
    State.DRAFT: "DRAFT",
    State.IN_REVIEW: "IN REVIEW",
    State.APPROVED: "NOT YET EFFECTIVE",
    State.WITHDRAWN: "WITHDRAWN",
}
STATE_NAMES = {s: s.value.replace("_", " ").upper() for s in State}


@dataclass(frozen=True)
class Copy:
    path: Path  # a temporary file; the caller removes `path.parent` when it has sent it
    filename: str
    media_type: str
    pages: int | None


def approval_lines(session: Session, revision: Revision, zone: str, base_url: str = "") -> tuple[str, ...]:
    """The signature page: every electronic signature of the revision with printed name, title, date and time
    with zone, and meaning (P11-50a, P11-50b), then the approval state."""
    z = ZoneInfo(zone)

    def when(at: datetime | None) -> str:
        return at.astimezone(z).isoformat(sep=" ", timespec="seconds") + f" ({zone})" if at else "—"

    lines = []
    for sig in approvals.signatures_of(session, revision.id):
        title = f" ({sig.title})" if sig.title else ""
        lines.append(f"{sig.meaning}: {sig.printed_name}{title}, {when(sig.signed_at)}, signature {sig.id}, "
                     f"manifest SHA-256 {sig.manifest_sha256[:16]}")
    if not lines:
        lines.append("No electronic signatures are recorded for this revision.")
    lines += [
        f"Approval state of version {revision.version}: {STATE_NAMES[State(revision.state)]}",
        f"Submitted for approval: {when(revision.submitted_at)}; approved: {when(revision.approved_at)}; "
        f"effective: {when(revision.effective_at)}",
        f"Check a signature at {base_url.rstrip('/')}/api/v1/signatures/<signature id>, or offline with openssl "
        "from its bundle (.../bundle.zip).",
    ]
    return tuple(lines)


def make_copy(
    session: Session, store: BlobStore, *, principal: Principal, document: Document, revision: Revision,
    zone: str, base_url: str, at: datetime,
) -> Copy:
    """Stamp the revision's rendition into a temporary file (read-only: run it outside the write transaction,
    stamping takes a while); then `record_copy` in a unit of work. The caller has checked that the principal
    may see the revision."""
    local = at.astimezone(ZoneInfo(zone))
    state = State(revision.state)
    printed_by = principal.actor.name or principal.actor.username
    info = renditions.StampInfo(
        number=document.number,
        title=document.title,
        version=revision.version,
        state=STATE_NAMES[state],
        effective_date=(
            revision.effective_at.astimezone(ZoneInfo(zone)).date().isoformat() if revision.effective_at else None
        ),
        printed_by=printed_by,
        printed_at=local.isoformat(sep=" ", timespec="seconds") + f" ({zone})",
        check_url=f"{base_url.rstrip('/')}/documents/{document.number}",
        watermark=WATERMARKS.get(state),
        signature_lines=approval_lines(session, revision, zone, base_url),
    )
    workdir = Path(tempfile.mkdtemp(prefix="docctl-copy-"))
    source = workdir / ("rendition.pdf" if revision.rendition_kind == "pdf" else "rendition.docx")
    with store.open(revision.rendition_sha256 or revision.source_sha256) as reader, source.open("wb") as out:
        while chunk := reader.read(1024 * 1024):
            out.write(chunk)
    stem = f"{document.number}_v{revision.version}_controlled-copy"
    if revision.rendition_kind == "pdf":
        target = workdir / f"{stem}.pdf"
        with target.open("wb") as out:
            pages = renditions.stamp_pdf(source, out, info)
        media = renditions.PDF_TYPE
    else:
        target = workdir / f"{stem}.docx"
        with target.open("wb") as out:
            renditions.stamp_docx(source, out, info)
        pages, media = None, renditions.DOCX_TYPE
    return Copy(target, target.name, media, pages)


def record_copy(
    session: Session, *, principal: Principal, document: Document, revision: Revision, copy: Copy, at: datetime,
    request: RequestInfo | None = None,
) -> None:
    """Who printed what, when (every controlled copy made is an audit event)."""
    log.append(
        session, Tag.CONTROLLED_COPY, actor=principal.actor, subject=revision_subject(document, revision), at=at,
        after={"state": revision.state, "format": revision.rendition_kind, "pages": copy.pages,
               "rendition_sha256": revision.rendition_sha256 or revision.source_sha256},
        request=request,
    )
