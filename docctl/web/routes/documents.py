"""Document pages: the list and search, a document, its revisions (viewed in the browser), uploads, metadata."""

from __future__ import annotations

import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response

from docctl import renditions
from docctl.domain.lifecycle import State as RevisionState
from docctl.domain.policy import Permission
from docctl.errors import DocctlError, InvalidInput, NotFound, PermissionDenied
from docctl.services import accounts, approvals, audit_trail, documents, revisions, search, signature_check
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.errors import status_for
from docctl.web.render import render
from docctl.web.routes.documents_api import copy_response, original_response, rendition_response

router = APIRouter(prefix="/documents")

Reader = Annotated[Caller, Depends(Require(Permission.DOCUMENTS_READ))]
Creator = Annotated[Caller, Depends(Require(Permission.DOCUMENTS_CREATE))]
Editor = Annotated[Caller, Depends(Require(Permission.DOCUMENTS_EDIT))]
Text = Annotated[str, Query(max_length=200)]


@router.get("")
def list_documents(
    request: Request, state: State, caller: Reader, q: Text = "", type: Text = "",  # noqa: A002
    department: Text = "", status: Text = "current", owner: Text = "", sort: Text = "number",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    query = search.Query(q=q, type_code=type, department=department, state=status, owner=owner, sort=sort,
                         page=page)
    with state.db.read() as s:
        results = search.search(s, principal=caller.principal, query=query)
        types = [] if request.headers.get("HX-Request") else documents.list_types(s)
    return render(request, "pages/documents/list.html", "partials/_document_rows.html", caller=caller,
                  results=results, types=types, states=[st.value for st in RevisionState],
                  read_all=caller.principal.can(Permission.DOCUMENTS_READ_ALL))


@router.get("/new")
def new_document_page(request: Request, state: State, caller: Creator) -> Response:
    with state.db.read() as s:
        types = documents.list_types(s)
    return render(request, "pages/documents/new.html", caller=caller, types=types, error=None, form={})


@router.post("")
def create_document(
    request: Request, state: State, info: Info, caller: Creator,
    type: Annotated[str, Form(max_length=16)],  # noqa: A002
    title: Annotated[str, Form(max_length=300)],
    department: Annotated[str, Form(max_length=12)],
    external: Annotated[bool, Form()] = False,
    external_source: Annotated[str, Form(max_length=300)] = "",
    external_version: Annotated[str, Form(max_length=64)] = "",
    external_issued_on: Annotated[date | None, Form()] = None,
) -> Response:
    form = {"type": type, "title": title, "department": department, "external": external,
            "external_source": external_source, "external_version": external_version,
            "external_issued_on": external_issued_on}
    try:
        with state.db.unit_of_work() as s:
            d = documents.create_document(
                s, principal=caller.principal, type_code=type, title=title, department=department,
                external=external, external_source=external_source, external_version=external_version,
                external_issued_on=external_issued_on, at=state.clock.now(), request=info,
            )
            number = d.number
    except DocctlError as exc:
        with state.db.read() as s:
            types = documents.list_types(s)
        return render(request, "pages/documents/new.html", caller=caller, types=types, error=exc.message, form=form,
                      status_code=status_for(exc))
    return RedirectResponse(f"/documents/{number}/revisions/new?created=1", status_code=303)


def _document_context(state: State, caller: Caller, number: str) -> dict[str, Any]:
    with state.db.read() as s:
        d = documents.get_document(s, number)
        visible = revisions.visible_revisions(caller.principal, d)
        if not visible and not caller.principal.can(Permission.DOCUMENTS_READ_ALL):
            raise NotFound(f"{number} has no current effective version.")
        owner = accounts.get_user(s, d.owner_id)
        history = documents.history(s, d) if caller.principal.can(Permission.DOCUMENTS_READ_ALL) else []
        return {"document": d, "revisions": list(reversed(visible)), "current": revisions.current(d),
                "owner": owner, "can_edit": documents.can_edit(caller.principal, d), "history": history,
                "read_all": caller.principal.can(Permission.DOCUMENTS_READ_ALL)}


@router.get("/{number}")
def document_page(request: Request, number: str, state: State, caller: Reader) -> Response:
    ctx = _document_context(state, caller, number)
    with state.db.read() as s:
        trail = audit_trail.record_trail(s, principal=caller.principal,
                                         filters=audit_trail.TrailFilter(document=ctx["document"].number))
    return render(request, "pages/documents/detail.html", caller=caller, trail=trail,
                  trail_title="Audit trail of this document (all versions, signatures and training)",
                  trail_url=f"/audit?document={quote(ctx['document'].number)}", **ctx)


@router.get("/{number}/edit")
def edit_page(request: Request, number: str, state: State, caller: Editor) -> Response:
    ctx = _document_context(state, caller, number)
    if not ctx["can_edit"]:
        raise PermissionDenied("Only document control or the document's owner may edit it.")
    return render(request, "pages/documents/edit.html", caller=caller, error=None, **ctx)


@router.post("/{number}/edit")
def edit(
    request: Request, number: str, state: State, info: Info, caller: Editor,
    title: Annotated[str, Form(max_length=300)], reason: Annotated[str, Form(max_length=2000)],
    external_source: Annotated[str, Form(max_length=300)] = "",
    external_version: Annotated[str, Form(max_length=64)] = "",
    next_review_on: Annotated[date | None, Form()] = None,
) -> Response:
    changes: dict[str, Any] = {"title": title, "next_review_on": next_review_on}
    try:
        with state.db.read() as s:
            if documents.get_document(s, number).external:
                changes.update(external_source=external_source, external_version=external_version)
        with state.db.unit_of_work() as s:
            documents.edit_document(s, principal=caller.principal, number=number, changes=changes, reason=reason,
                                    at=state.clock.now(), request=info)
    except DocctlError as exc:
        ctx = _document_context(state, caller, number)
        return render(request, "pages/documents/edit.html", caller=caller, error=exc.message,
                      status_code=status_for(exc), **ctx)
    return RedirectResponse(f"/documents/{number}?saved=1", status_code=303)


@router.get("/{number}/revisions/new")
def upload_page(request: Request, number: str, state: State, caller: Creator) -> Response:
    ctx = _document_context(state, caller, number)
    return render(request, "pages/documents/upload.html", caller=caller, error=None,
                  max_mb=state.settings.max_upload_bytes // (1024 * 1024), **ctx)


@router.post("/{number}/revisions")
def upload(
    request: Request, number: str, state: State, info: Info, caller: Creator,
    file: Annotated[UploadFile, File()],
    change_summary: Annotated[str, Form(max_length=4000)],
    change: Annotated[str, Form(max_length=8)] = "major",
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        with state.db.read() as s:
            if not documents.can_edit(caller.principal, documents.get_document(s, number)):
                raise PermissionDenied("Only document control or the document's owner may upload.")
        if not change_summary.strip():
            raise InvalidInput("Describe the change (change summary).")
        prepared = revisions.prepare_upload(state.blobs, stream=file.file, filename=file.filename or "upload",
                                            max_bytes=state.settings.max_upload_bytes)
        with state.db.unit_of_work() as s:
            r = revisions.create_revision(s, principal=caller.principal, number=number, upload=prepared,
                                          change=change, change_summary=change_summary, reason=reason,
                                          at=state.clock.now(), request=info)
            target = f"/documents/{number}/revisions/{r.version}?uploaded=1"
    except DocctlError as exc:
        status = status_for(exc)
        if request.headers.get("HX-Request"):
            return render(request, "partials/_upload_result.html", caller=caller, error=exc.message,
                          status_code=status)
        ctx = _document_context(state, caller, number)
        return render(request, "pages/documents/upload.html", caller=caller, error=exc.message,
                      max_mb=state.settings.max_upload_bytes // (1024 * 1024), status_code=status, **ctx)
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.get("/{number}/revisions/{version}")
def revision_page(request: Request, number: str, version: str, state: State, caller: Reader) -> Response:
    with state.db.read() as s:
        d, r = revisions.get_revision(s, principal=caller.principal, number=number, version=version)
        ctx = _document_context(state, caller, number)
        sigs = approvals.signatures_of(s, r.id)
        checked = signature_check.verify_many(s, [sig.id for sig in sigs])
        signed = [(sig, checked[sig.id].ok) for sig in sigs]
        all_tasks = approvals.tasks_of(s, r.id)
        tasks = [t for t in all_tasks if t.round == r.round]
        earlier = [t for t in all_tasks if t.round != r.round and t.state in ("signed", "rejected")]
        names = {u.id: u.full_name for u in accounts.users_by_id(s, {t.assignee_id for t in all_tasks})}
        trail = audit_trail.record_trail(s, principal=caller.principal, filters=audit_trail.TrailFilter(
            subject_type="revision", subject_id=str(r.id)))
    pages = min(r.page_count or 0, 50) if r.rendition_kind == "pdf" else 0
    return render(request, "pages/documents/revision.html", caller=caller, revision=r, pages=pages, signed=signed,
                  tasks=tasks, earlier=earlier, names=names, trail=trail,
                  trail_title=f"Audit trail of version {r.version}",
                  trail_url=f"/audit?subject_type=revision&subject_id={r.id}", **ctx)


@router.get("/{number}/revisions/{version}/pages/{page}.png")
def page_image(number: str, version: str, page: int, state: State, caller: Reader) -> Response:
    with state.db.read() as s:
        _, r = revisions.get_revision(s, principal=caller.principal, number=number, version=version)
        sha, count, kind = r.rendition_sha256, r.page_count or 0, r.rendition_kind
    if kind != "pdf" or not sha or not 1 <= page <= count:
        raise NotFound("No such page.")
    image = _page_png(state, sha, page)
    return FileResponse(image, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


def _page_png(state: State, sha: str, page: int) -> Path:
    """Page images are made on first view with pdftoppm and cached beside the data (derived, never a record)."""
    cache = state.settings.data_dir / "cache" / "pages" / sha
    target = cache / f"{page}.png"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    pdf = cache / "rendition.pdf"
    if not pdf.exists():
        partial = cache / f"rendition.{uuid.uuid4().hex}.tmp"
        with state.blobs.open(sha) as reader, partial.open("wb") as out:
            shutil.copyfileobj(reader, out, 1024 * 1024)
        partial.replace(pdf)
    work = cache / f"tmp-{uuid.uuid4().hex}"
    work.mkdir()
    try:
        made = renditions.page_images(pdf, work, dpi=80, first=page, last=page)
        made[0].replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@router.get("/{number}/revisions/{version}/content")
def content(number: str, version: str, state: State, info: Info, caller: Reader) -> Response:
    return original_response(state, caller, info, number, version)


@router.get("/{number}/revisions/{version}/rendition")
def rendition(number: str, version: str, state: State, caller: Reader) -> Response:
    return rendition_response(state, caller, number, version)


@router.get("/{number}/revisions/{version}/controlled-copy")
def controlled_copy(number: str, version: str, state: State, info: Info, caller: Reader) -> Response:
    return copy_response(state, caller, info, number, version)


@router.post("/{number}/revisions/{version}/withdraw")
def withdraw(
    request: Request, number: str, version: str, state: State, info: Info, caller: Editor,
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    try:
        with state.db.unit_of_work() as s:
            revisions.withdraw(s, principal=caller.principal, number=number, version=version, reason=reason,
                               at=state.clock.now(), request=info)
    except DocctlError as exc:
        ctx = _document_context(state, caller, number)
        return render(request, "pages/documents/detail.html", caller=caller, error=exc.message,
                      status_code=status_for(exc), **ctx)
    return RedirectResponse(f"/documents/{number}", status_code=303)
