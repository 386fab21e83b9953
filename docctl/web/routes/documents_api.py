"""The JSON API for documents, revisions and document types (`/api/v1`)."""

from __future__ import annotations

import shutil
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from docctl.db.models import Document, DocumentType, Revision
from docctl.domain.policy import Permission
from docctl.errors import NotFound, PermissionDenied
from docctl.services import copies, documents, revisions, search
from docctl.web.deps import Caller, Info, RequireApi, State
from docctl.web.files import blob_response

router = APIRouter(prefix="/api/v1")

Reader = Annotated[Caller, Depends(RequireApi(Permission.DOCUMENTS_READ))]
Creator = Annotated[Caller, Depends(RequireApi(Permission.DOCUMENTS_CREATE))]
Editor = Annotated[Caller, Depends(RequireApi(Permission.DOCUMENTS_EDIT))]
TypeAdmin = Annotated[Caller, Depends(RequireApi(Permission.DOCUMENT_TYPES_MANAGE))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)


class TypeOut(BaseModel):
    code: str
    name: str
    numbering_pattern: str
    review_interval_months: int
    training_window_days: int
    training_required: bool
    active: bool

    @classmethod
    def of(cls, t: DocumentType) -> TypeOut:
        return cls.model_validate(t, from_attributes=True)


class TypeCreate(Strict):
    code: str = Field(max_length=16)
    name: str = Field(max_length=200)
    numbering_pattern: str = Field(max_length=64)
    review_interval_months: int = Field(24, ge=1, le=120)
    training_window_days: int = Field(14, ge=0, le=365)
    training_required: bool = True


class TypeUpdate(Strict):
    reason: str = Field(min_length=1, max_length=2000)
    name: str | None = Field(None, max_length=200)
    numbering_pattern: str | None = Field(None, max_length=64)
    review_interval_months: int | None = Field(None, ge=1, le=120)
    training_window_days: int | None = Field(None, ge=0, le=365)
    training_required: bool | None = None
    active: bool | None = None


class RevisionOut(BaseModel):
    id: uuid.UUID
    version: str
    state: str
    change: str
    change_summary: str
    reason: str
    file: str
    media_type: str
    size: int
    content_sha256: str
    rendition_sha256: str | None
    rendition: str
    rendition_note: str
    pages: int | None
    training_required: bool
    created_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    effective_at: datetime | None
    superseded_at: datetime | None
    obsolete_at: datetime | None
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, r: Revision) -> RevisionOut:
        return cls(
            id=r.id, version=r.version, state=r.state, change=r.change_kind, change_summary=r.change_summary,
            reason=r.reason, file=r.source_filename, media_type=r.source_media_type, size=r.source_size,
            content_sha256=r.source_sha256, rendition_sha256=r.rendition_sha256, rendition=r.rendition_kind,
            rendition_note=r.rendition_note, pages=r.page_count, training_required=r.training_required,
            created_at=r.created_at, submitted_at=r.submitted_at, approved_at=r.approved_at,
            effective_at=r.effective_at, superseded_at=r.superseded_at, obsolete_at=r.obsolete_at,
            withdrawn_at=r.withdrawn_at,
        )


class DocumentOut(BaseModel):
    id: uuid.UUID
    number: str
    title: str
    type: str
    department: str
    owner_id: uuid.UUID
    external: bool
    external_source: str
    external_version: str
    external_issued_on: date | None
    next_review_on: date | None
    created_at: datetime
    updated_at: datetime
    current: RevisionOut | None
    revisions: list[RevisionOut]

    @classmethod
    def of(cls, d: Document, visible: list[Revision]) -> DocumentOut:
        now = revisions.current(d)
        return cls(
            id=d.id, number=d.number, title=d.title, type=d.type.code, department=d.department, owner_id=d.owner_id,
            external=d.external, external_source=d.external_source, external_version=d.external_version,
            external_issued_on=d.external_issued_on, next_review_on=d.next_review_on, created_at=d.created_at,
            updated_at=d.updated_at, current=RevisionOut.of(now) if now else None,
            revisions=[RevisionOut.of(r) for r in visible],
        )


class DocumentCreate(Strict):
    type: str = Field(max_length=16)
    title: str = Field(max_length=300)
    department: str = Field(max_length=12)
    owner_id: uuid.UUID | None = None
    external: bool = False
    external_source: str = Field("", max_length=300)
    external_version: str = Field("", max_length=64)
    external_issued_on: date | None = None


class DocumentUpdate(Strict):
    reason: str = Field(min_length=1, max_length=2000)
    title: str | None = Field(None, max_length=300)
    department: str | None = Field(None, max_length=12)
    owner_id: uuid.UUID | None = None
    external: bool | None = None
    external_source: str | None = Field(None, max_length=300)
    external_version: str | None = Field(None, max_length=64)
    external_issued_on: date | None = None
    next_review_on: date | None = None


class Withdraw(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class SearchOut(BaseModel):
    total: int
    page: int
    pages: int
    results: list[dict[str, Any]]


@router.get("/document-types")
def list_types(state: State, caller: Reader) -> list[TypeOut]:
    with state.db.read() as s:
        return [TypeOut.of(t) for t in documents.list_types(s, include_inactive=True)]


@router.post("/document-types", status_code=201)
def create_type(body: TypeCreate, state: State, info: Info, caller: TypeAdmin) -> TypeOut:
    with state.db.unit_of_work() as s:
        return TypeOut.of(documents.create_type(s, principal=caller.principal, **body.model_dump(),
                                                at=state.clock.now(), request=info))


@router.patch("/document-types/{code}")
def update_type(code: str, body: TypeUpdate, state: State, info: Info, caller: TypeAdmin) -> TypeOut:
    changes = body.model_dump(exclude_none=True, exclude={"reason"})
    with state.db.unit_of_work() as s:
        return TypeOut.of(documents.update_type(s, principal=caller.principal, code=code, changes=changes,
                                                reason=body.reason, at=state.clock.now(), request=info))


@router.get("/documents")
def find(
    state: State, caller: Reader,
    q: Annotated[str, Query(max_length=200)] = "", type: Annotated[str, Query(max_length=16)] = "",  # noqa: A002
    department: Annotated[str, Query(max_length=12)] = "",
    state_: Annotated[str, Query(alias="state", max_length=16)] = "current",
    owner: Annotated[str, Query(max_length=64)] = "", sort: Annotated[str, Query(max_length=16)] = "number",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1, per_page: Annotated[int, Query(ge=1, le=100)] = 25,
) -> SearchOut:
    query = search.Query(q=q, type_code=type, department=department, state=state_, owner=owner, sort=sort, page=page,
                         per_page=per_page)
    with state.db.read() as s:
        found = search.search(s, principal=caller.principal, query=query)
        results = [
            {"number": h.document.number, "title": h.document.title, "type": h.document.type_code,
             "department": h.document.department, "owner": h.owner, "version": h.revision.version,
             "state": h.revision.state, "external": h.document.external,
             "effective_at": h.revision.effective_at.isoformat() if h.revision.effective_at else None}
            for h in found.hits
        ]
    return SearchOut(total=found.total, page=found.query.page, pages=found.pages, results=results)


@router.post("/documents", status_code=201)
def create_document(body: DocumentCreate, state: State, info: Info, caller: Creator) -> DocumentOut:
    with state.db.unit_of_work() as s:
        d = documents.create_document(
            s, principal=caller.principal, type_code=body.type, title=body.title, department=body.department,
            owner_id=body.owner_id, external=body.external, external_source=body.external_source,
            external_version=body.external_version, external_issued_on=body.external_issued_on,
            at=state.clock.now(), request=info,
        )
        return DocumentOut.of(d, [])


@router.get("/documents/{number}")
def get_document(number: str, state: State, caller: Reader) -> DocumentOut:
    with state.db.read() as s:
        d = documents.get_document(s, number)
        visible = revisions.visible_revisions(caller.principal, d)
        if not visible and not caller.principal.can(Permission.DOCUMENTS_READ_ALL):
            raise NotFound(f"{number} has no current effective version.")
        return DocumentOut.of(d, visible)


@router.patch("/documents/{number}")
def edit_document(number: str, body: DocumentUpdate, state: State, info: Info, caller: Editor) -> DocumentOut:
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    with state.db.unit_of_work() as s:
        d = documents.edit_document(s, principal=caller.principal, number=number, changes=changes,
                                    reason=body.reason, at=state.clock.now(), request=info)
        return DocumentOut.of(d, revisions.visible_revisions(caller.principal, d))


@router.post("/documents/{number}/revisions", status_code=201)
def upload_revision(
    number: str, state: State, info: Info, caller: Creator,
    file: Annotated[UploadFile, File()],
    change_summary: Annotated[str, Form(min_length=1, max_length=4000)],
    change: Annotated[str, Form(pattern="^(major|minor)$")] = "major",
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> RevisionOut:
    with state.db.read() as s:  # refuse early, before spending time on the file
        d = documents.get_document(s, number)
        if not documents.can_edit(caller.principal, d):
            raise PermissionDenied("Only document control or the document's owner may upload revisions.")
    prepared = revisions.prepare_upload(state.blobs, stream=file.file, filename=file.filename or "upload",
                                        max_bytes=state.settings.max_upload_bytes)
    with state.db.unit_of_work() as s:
        r = revisions.create_revision(s, principal=caller.principal, number=number, upload=prepared, change=change,
                                      change_summary=change_summary, reason=reason, at=state.clock.now(),
                                      request=info)
        return RevisionOut.of(r)


@router.get("/documents/{number}/revisions/{version}")
def get_revision(number: str, version: str, state: State, caller: Reader) -> RevisionOut:
    with state.db.read() as s:
        _, r = revisions.get_revision(s, principal=caller.principal, number=number, version=version)
        return RevisionOut.of(r)


def original_response(state: State, caller: Caller, info: Any, number: str, version: str) -> Any:
    """The original bytes of a revision; taking a copy out is recorded (who took what, when)."""
    with state.db.unit_of_work() as s:
        d, r = revisions.get_revision(s, principal=caller.principal, number=number, version=version)
        revisions.record_download(s, principal=caller.principal, document=d, revision=r, what="original",
                                  at=state.clock.now(), request=info)
        sha, media, name = r.source_sha256, r.source_media_type, r.source_filename
    return blob_response(state.blobs, sha, media, name, inline=False)


def rendition_response(state: State, caller: Caller, number: str, version: str) -> Any:
    """The PDF rendition (inline, for viewing), or the Word file when there is no PDF."""
    with state.db.read() as s:
        d, r = revisions.get_revision(s, principal=caller.principal, number=number, version=version)
        sha = r.rendition_sha256 or r.source_sha256
        media = "application/pdf" if r.rendition_kind == "pdf" else r.source_media_type
        name = f"{d.number}_v{r.version}.{r.rendition_kind}"
    return blob_response(state.blobs, sha, media, name, inline=r.rendition_kind == "pdf")


@router.get("/documents/{number}/revisions/{version}/content")
def content(number: str, version: str, state: State, info: Info, caller: Reader) -> Any:
    return original_response(state, caller, info, number, version)


@router.get("/documents/{number}/revisions/{version}/rendition")
def rendition(number: str, version: str, state: State, caller: Reader) -> Any:
    return rendition_response(state, caller, number, version)


@router.post("/documents/{number}/revisions/{version}/withdraw")
def withdraw(number: str, version: str, body: Withdraw, state: State, info: Info, caller: Editor) -> RevisionOut:
    with state.db.unit_of_work() as s:
        r = revisions.withdraw(s, principal=caller.principal, number=number, version=version, reason=body.reason,
                               at=state.clock.now(), request=info)
        return RevisionOut.of(r)


def copy_response(state: State, caller: Caller, info: Any, number: str, version: str | None) -> FileResponse:
    """A controlled copy of `version`, or of the current effective revision; recorded in the audit trail."""
    at = state.clock.now()
    with state.db.read() as s:  # stamping takes a while: no write lock is held meanwhile
        d = documents.get_document(s, number)
        if version is None:
            now = revisions.current(d)
            if now is None:
                raise NotFound(f"{number} has no current effective version to print.")
            version = now.version
        d, r = revisions.get_revision(s, principal=caller.principal, number=number, version=version)
        made = copies.make_copy(s, state.blobs, principal=caller.principal, document=d, revision=r,
                                zone=caller.user.time_zone, base_url=state.settings.base_url, at=at)
    try:
        with state.db.unit_of_work() as s:
            copies.record_copy(s, principal=caller.principal, document=d, revision=r, copy=made, at=at, request=info)
    except BaseException:
        shutil.rmtree(made.path.parent, ignore_errors=True)  # no copy leaves without its record
        raise
    return FileResponse(made.path, media_type=made.media_type, filename=made.filename,
                        background=BackgroundTask(shutil.rmtree, made.path.parent, True))


@router.get("/documents/{number}/controlled-copy")
def controlled_copy(number: str, state: State, info: Info, caller: Reader) -> FileResponse:
    return copy_response(state, caller, info, number, None)


@router.get("/documents/{number}/revisions/{version}/controlled-copy")
def revision_copy(number: str, version: str, state: State, info: Info, caller: Reader) -> FileResponse:
    return copy_response(state, caller, info, number, version)
