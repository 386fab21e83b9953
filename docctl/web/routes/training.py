"""Training pages: My training, reading and signing read and understood, offline training, job functions, their
holders and requirements, the HR file import and the grid editor."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from docctl.db.models import (
    JobFunction,
    Revision,
    Signature,
    TrainingAssignment,
    TrainingRecord,
    User,
)
from docctl.domain import esig
from docctl.domain import training as rules
from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.domain.policy import Permission
from docctl.errors import DocctlError, InvalidInput, NotFound, PermissionDenied
from docctl.services import accounts, documents, revisions, search, training, training_signing
from docctl.services.principal import Principal
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.errors import status_for
from docctl.web.files import blob_response
from docctl.web.render import render
from docctl.web.routes.documents import _page_png

router = APIRouter()

Anyone = Annotated[Caller, Depends(Require())]
Signer = Annotated[Caller, Depends(Require(Permission.SIGN))]
Trainer = Annotated[Caller, Depends(Require(Permission.TRAINING_RECORD))]
Manager = Annotated[Caller, Depends(Require(Permission.TRAINING_MANAGE))]
UserId = Annotated[str, Form(max_length=64)]
Password = Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)]
Reason = Annotated[str, Form(max_length=2000)]
Code = Annotated[str, Form(max_length=32)]

WRONG_CREDENTIALS = ("The user ID or password is incorrect. The attempt was recorded; repeated failures lock the "
                     "account.")
GRID_PAGE_SIZE = 50
MAX_PAGES_SHOWN = 50


def _redirect(request: Request, target: str) -> Response:
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


# --- My training ------------------------------------------------------------------------------------------------


@router.get("/training")
def my_training(request: Request, state: State, caller: Anyone) -> Response:
    now = state.clock.now()
    with state.db.read() as s:
        rows = training.my_assignments(s, caller.user.id)
        ids = [a.record_id for a, _ in rows if a.record_id]
        records = {rec.id: rec for rec in s.scalars(select(TrainingRecord).where(TrainingRecord.id.in_(ids)))} \
            if ids else {}
    open_ = [(a, r, rules.status_of(a.state, a.due_at, now)) for a, r in rows if a.state == "open"]
    history = [(a, r, records.get(a.record_id)) for a, r in rows if a.state != "open"]
    return render(request, "pages/training/my.html", caller=caller, open=open_, history=history,
                  labels=rules.STATUS_LABELS)


# --- one assignment: the facts, the document, the signature -----------------------------------------------------


@dataclass
class RecordView:
    record: TrainingRecord
    signature: Signature | None
    trainer: str
    recorded_by: str


def _content_allowed(principal: Principal, a: TrainingAssignment, r: Revision) -> bool:
    """The revision's content: its person while the training is open (even on a version approved and not yet in
    force, which they could not otherwise read), else whoever may read that revision."""
    mine = principal.user is not None and a.user_id == principal.user.id
    return (mine and a.state == "open") or revisions.can_see(principal, r)


def _readable(s: Session, principal: Principal, assignment_id: uuid.UUID) -> tuple[TrainingAssignment, Revision]:
    a = training.get_assignment(s, principal=principal, assignment_id=assignment_id)
    r = s.get(Revision, a.revision_id)
    assert r is not None
    if not _content_allowed(principal, a, r):
        raise PermissionDenied(f"{r.document.number} v{r.version} is {r.state.replace('_', ' ')} and this training "
                               f"is {a.state}: the version is no longer available to you.")
    return a, r


def _assignment_context(s: Session, caller: Caller, a: TrainingAssignment) -> dict[str, Any]:
    r = s.get(Revision, a.revision_id)
    person = s.get(User, a.user_id)
    assert r is not None and person is not None
    records = training_signing.records_of(s, a.id)
    people = {u.id: u.full_name for u in accounts.users_by_id(
        s, {x for rec in records for x in (rec.trainer_id, rec.recorded_by_id) if x})}
    views = [RecordView(rec, s.get(Signature, rec.signature_id) if rec.signature_id else None,
                        people.get(rec.trainer_id, "") if rec.trainer_id else "",
                        people.get(rec.recorded_by_id, "") if rec.recorded_by_id else "") for rec in records]
    function = s.get(JobFunction, a.function_id) if a.function_id else None
    mine = a.user_id == caller.user.id
    return {
        "assignment": a, "revision": r, "document": r.document, "person": person, "records": views,
        "function": function, "mine": mine, "pages": _page_count(r),
        "content_ok": _content_allowed(caller.principal, a, r),
        "can_sign": caller.principal.can(Permission.SIGN),
        "readiness": accounts.signing_readiness(accounts.get_user(s, caller.user.id)) if mine else None,
        "can_record": caller.principal.can(Permission.TRAINING_RECORD) and not mine and a.state == "open",
        "statement": esig.STATEMENT, "meaning": rules.READ_AND_UNDERSTOOD, "labels": rules.STATUS_LABELS,
    }


def _page_count(r: Revision) -> int:
    return min(r.page_count or 0, MAX_PAGES_SHOWN) if r.rendition_kind == "pdf" and r.rendition_sha256 else 0


def _assignment_page(request: Request, state: State, caller: Caller, assignment_id: uuid.UUID, *,
                     reading: bool = False, error: str | None = None, status: int = 200) -> Response:
    if request.headers.get("HX-Request") and error:
        return render(request, "partials/_upload_result.html", caller=caller, error=error, status_code=status)
    now = state.clock.now()
    with state.db.read() as s:
        a = training.get_assignment(s, principal=caller.principal, assignment_id=assignment_id)
        ctx = _assignment_context(s, caller, a)
    ctx["due"] = rules.status_of(a.state, a.due_at, now) if a.state == "open" else None
    return render(request, "pages/training/assignment.html", caller=caller, reading=reading, error=error,
                  status_code=status, **ctx)


@router.get("/training/assignments/{assignment_id}")
def assignment_page(request: Request, assignment_id: uuid.UUID, state: State, caller: Anyone) -> Response:
    return _assignment_page(request, state, caller, assignment_id)


@router.get("/training/assignments/{assignment_id}/read")
def read_page(request: Request, assignment_id: uuid.UUID, state: State, info: Info, caller: Anyone) -> Response:
    """The person opens the revision: the view is recorded (it unlocks signing, and completes nothing)."""
    with state.db.unit_of_work() as s:
        a, _ = _readable(s, caller.principal, assignment_id)
        if a.user_id != caller.user.id:
            raise PermissionDenied("Only the person being trained opens the document here; read it from the "
                                   "document's own page.")
        training_signing.record_view(s, principal=caller.principal, assignment_id=assignment_id, what="pages",
                                     at=state.clock.now(), request=info)
    return _assignment_page(request, state, caller, assignment_id, reading=True)


@router.get("/training/assignments/{assignment_id}/pages/{page}.png")
def page_image(assignment_id: uuid.UUID, page: int, state: State, caller: Anyone) -> Response:
    with state.db.read() as s:
        _, r = _readable(s, caller.principal, assignment_id)
        sha, count = r.rendition_sha256, _page_count(r)
    if not sha or not 1 <= page <= count:
        raise NotFound("No such page.")
    image = _page_png(state, sha, page)
    return FileResponse(image, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/training/assignments/{assignment_id}/document.pdf")
def document_file(assignment_id: uuid.UUID, state: State, info: Info, caller: Anyone) -> Response:
    """The revision's PDF (or its Word file when it has no PDF rendition); its person's opening is recorded."""
    with state.db.unit_of_work() as s:
        a, r = _readable(s, caller.principal, assignment_id)
        if a.user_id == caller.user.id:
            training_signing.record_view(s, principal=caller.principal, assignment_id=assignment_id, what="pdf",
                                         at=state.clock.now(), request=info)
        pdf = r.rendition_kind == "pdf" and r.rendition_sha256 is not None
        sha = r.rendition_sha256 if pdf else r.source_sha256
        media = "application/pdf" if pdf else r.source_media_type
        name = f"{r.document.number}_v{r.version}.{'pdf' if pdf else r.rendition_kind}"
    assert sha is not None
    return blob_response(state.blobs, sha, media, name, inline=pdf)


@router.post("/training/assignments/{assignment_id}/acknowledge")
def acknowledge(request: Request, assignment_id: uuid.UUID, state: State, info: Info, caller: Signer,
                username: UserId, password: Password, meaning: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Read and understood: user ID, password and meaning, checked every time (TR-RU)."""
    at = state.clock.now()
    try:
        with state.db.read() as s:
            prepared = training_signing.prepare_acknowledgement(
                s, state.accounts, user_id=caller.user.id, assignment_id=assignment_id, username=username,
                password=password, meaning=meaning, at=at)
        with state.db.unit_of_work() as s:
            sig = training_signing.record_acknowledgement(s, state.accounts, prepared=prepared, at=at, request=info)
    except DocctlError as exc:
        return _assignment_page(request, state, caller, assignment_id, error=exc.message, status=status_for(exc))
    if sig is None:
        # 422, not 401: the person stays logged in; the form shows the message in place
        return _assignment_page(request, state, caller, assignment_id, error=WRONG_CREDENTIALS, status=422)
    return _redirect(request, "/training?signed=1")


# --- offline training, recorded by a trainer --------------------------------------------------------------------


def _offline_page(request: Request, state: State, caller: Caller, assignment_id: uuid.UUID, *,
                  form: dict[str, str] | None = None, error: str | None = None, status: int = 200) -> Response:
    with state.db.read() as s:
        a = training.get_assignment(s, principal=caller.principal, assignment_id=assignment_id)
        ctx = _assignment_context(s, caller, a)
        trainer = accounts.get_user(s, caller.user.id)
    today = state.clock.now().astimezone(ZoneInfo(trainer.time_zone)).date().isoformat()
    return render(request, "pages/training/offline.html", caller=caller, error=error, status_code=status,
                  form=form or {"performed_on": today, "result": "passed", "note": ""}, today=today,
                  sign_off=rules.TRAINER_SIGN_OFF, trainer_ready=accounts.signing_readiness(trainer), **ctx)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("The date the training was performed is not a date (YYYY-MM-DD).") from None


@router.get("/training/assignments/{assignment_id}/offline")
def offline_page(request: Request, assignment_id: uuid.UUID, state: State, caller: Trainer) -> Response:
    return _offline_page(request, state, caller, assignment_id)


@router.post("/training/assignments/{assignment_id}/offline")
def record_offline(request: Request, assignment_id: uuid.UUID, state: State, info: Info, caller: Trainer,
                   username: UserId, password: Password, performed_on: Annotated[str, Form(max_length=32)],
                   result: Annotated[str, Form(max_length=16)], note: Annotated[str, Form(max_length=2000)] = ""
                   ) -> Response:
    """The trainer signs for training given outside the system: the day it was performed as entered, the entry
    time from the server clock (DI-ALCOA)."""
    form = {"performed_on": performed_on, "result": result, "note": note}
    at = state.clock.now()
    try:
        day = _day(performed_on)
        with state.db.read() as s:
            prepared, meaning = training_signing.prepare_offline(
                s, state.accounts, principal=caller.principal, assignment_id=assignment_id, username=username,
                password=password, performed_on=day, result=result, at=at)
        with state.db.unit_of_work() as s:
            record = training_signing.record_offline(
                s, state.accounts, principal=caller.principal, prepared=prepared, meaning=meaning, performed_on=day,
                result=result, note=note, at=at, request=info)
    except DocctlError as exc:
        return _offline_page(request, state, caller, assignment_id, form=form, error=exc.message,
                             status=status_for(exc))
    if record is None:
        return _offline_page(request, state, caller, assignment_id, form=form, error=WRONG_CREDENTIALS, status=422)
    return _redirect(request, f"/training/assignments/{assignment_id}?recorded={record.result}")


# --- job functions ----------------------------------------------------------------------------------------------


@router.get("/training/functions")
def functions_page(request: Request, state: State, caller: Manager) -> Response:
    return _functions_page(request, state, caller)


def _functions_page(request: Request, state: State, caller: Caller, *, form: dict[str, str] | None = None,
                    error: str | None = None, status: int = 200) -> Response:
    with state.db.read() as s:
        functions = training.list_functions(s)
        holders = {f.id: len(training.holders(s, f.id)) for f in functions}
    return render(request, "pages/training/functions.html", caller=caller, functions=functions, holders=holders,
                  form=form or {}, error=error, status_code=status)


@router.post("/training/functions")
def create_function(request: Request, state: State, info: Info, caller: Manager, code: Code,
                    name: Annotated[str, Form(max_length=200)],
                    description: Annotated[str, Form(max_length=4000)] = "") -> Response:
    try:
        with state.db.unit_of_work() as s:
            f = training.create_function(s, principal=caller.principal, code=code, name=name,
                                         description=description, at=state.clock.now(), request=info)
            created = f.code
    except DocctlError as exc:
        return _functions_page(request, state, caller, form={"code": code, "name": name, "description": description},
                               error=exc.message, status=status_for(exc))
    return RedirectResponse(f"/training/functions/{created}?done=created", status_code=303)


# --- the HR file (declared before /training/functions/{code}) ---------------------------------------------------


def _import_limit(state: State) -> int:
    """The largest file accepted: its base64 text must fit the confirming form under the request size limit."""
    return (state.settings.max_request_bytes - 64 * 1024) * 3 // 4


@router.get("/training/functions/import")
def import_page(request: Request, state: State, caller: Manager) -> Response:
    return render(request, "pages/training/import.html", caller=caller, report=None, limit=_import_limit(state),
                  error=None)


@router.post("/training/functions/import")
def import_preview(request: Request, state: State, caller: Manager,
                   file: Annotated[UploadFile, File()]) -> Response:
    """Check the file and show every row's outcome; nothing is applied."""
    limit = _import_limit(state)
    data = file.file.read(limit + 1)
    filename = (file.filename or "hr-file.csv")[:200]
    if len(data) > limit:
        return _import_result(request, state, caller, None, filename=filename, status=413,
                              error=f"The file is larger than {limit // 1024:,} KiB: split it into smaller files.")
    with state.db.read() as s:
        report = training.check_file(s, data)
    return _import_result(request, state, caller, report, filename=filename, error=None,
                          content=base64.b64encode(data).decode("ascii"), status=422 if report.problem else 200)


@router.post("/training/functions/import/apply")
def import_apply(request: Request, state: State, info: Info, caller: Manager,
                 content: Annotated[str, Form(max_length=2 * 1024 * 1024)],
                 filename: Annotated[str, Form(max_length=200)], reason: Reason = "",
                 accept_partial: Annotated[bool, Form()] = False) -> Response:
    """Apply the previewed file (sent back as base64): checked again in the writing transaction, so rows that
    became invalid since the preview are not applied."""
    try:
        data = base64.b64decode(content.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return _import_result(request, state, caller, None, filename=filename, status=422,
                              error="The file sent back for confirmation is damaged; upload it again.")
    try:
        with state.db.unit_of_work() as s:
            report = training.import_file(s, principal=caller.principal, data=data, filename=filename, reason=reason,
                                          accept_partial=accept_partial, at=state.clock.now(), request=info)
    except DocctlError as exc:
        with state.db.read() as s:
            report = training.check_file(s, data)
        return _import_result(request, state, caller, report, filename=filename, content=content, reason=reason,
                              error=exc.message, status=status_for(exc))
    if not report.applied:
        error = report.problem or (f"{len(report.rejected)} row(s) are rejected, so nothing was applied. Tick the box "
                                   "to apply the valid rows and skip the rejected ones, or correct the file.")
        return _import_result(request, state, caller, report, filename=filename, content=content, reason=reason,
                              error=error, status=422 if report.problem else 409)
    counts = {k: report.counts.get(k, 0) for k in ("grant", "revoke", "unchanged", "rejected")}
    return RedirectResponse(f"/training/functions/import?{urlencode({'applied': filename, **counts})}",
                            status_code=303)


def _import_result(request: Request, state: State, caller: Caller, report: training.ImportReport | None, *,
                   filename: str, error: str | None, status: int, content: str = "", reason: str = "") -> Response:
    return render(request, "pages/training/import.html", caller=caller, report=report, limit=_import_limit(state),
                  filename=filename, content=content, reason=reason, error=error, status_code=status)


# --- one job function: edit, holders, requirements --------------------------------------------------------------


@dataclass
class HolderView:
    username: str
    name: str
    granted_at: datetime
    granted_by: str
    reason: str


@dataclass
class RequirementView:
    id: uuid.UUID
    label: str
    created_at: datetime
    reason: str


def _function_page(request: Request, state: State, caller: Caller, code: str, *, error: str | None = None,
                   status: int = 200, form: dict[str, str] | None = None) -> Response:
    with state.db.read() as s:
        f = training.get_function(s, code)
        held = training.holders(s, f.id)
        granters = {u.id: u.full_name for u in accounts.users_by_id(s, {g.granted_by_id for g, _ in held
                                                                          if g.granted_by_id})}
        holders = [HolderView(u.username, u.full_name, g.granted_at,
                              granters.get(g.granted_by_id, "system") if g.granted_by_id else "system",
                              g.grant_reason) for g, u in held]
        requirements = [RequirementView(r.id, training.requirement_label(s, r), r.created_at, r.reason)
                        for r in training.requirements_of(s, f.id)]
        types = documents.list_types(s, include_inactive=True)
    return render(request, "pages/training/function.html", caller=caller, f=f, holders=holders,
                  requirements=requirements, types=types, error=error, form=form or {}, status_code=status)


def _function_action(request: Request, state: State, caller: Caller, code: str, done: str,
                     action: Callable[[Session], object], form: dict[str, str] | None = None) -> Response:
    """Run one change in a unit of work; back to the function's page with its outcome or the error."""
    try:
        with state.db.unit_of_work() as s:
            action(s)
    except DocctlError as exc:
        return _function_page(request, state, caller, code, error=exc.message, status=status_for(exc), form=form)
    return RedirectResponse(f"/training/functions/{code.strip().upper()}?done={done}", status_code=303)


@router.get("/training/functions/{code}")
def function_page(request: Request, code: str, state: State, caller: Manager) -> Response:
    return _function_page(request, state, caller, code)


@router.post("/training/functions/{code}")
def update_function(request: Request, code: str, state: State, info: Info, caller: Manager,
                    name: Annotated[str, Form(max_length=200)], reason: Reason = "",
                    description: Annotated[str, Form(max_length=4000)] = "",
                    active: Annotated[bool, Form()] = False) -> Response:
    return _function_action(request, state, caller, code, "saved", lambda s: training.update_function(
        s, principal=caller.principal, code=code, name=name, description=description, active=active, reason=reason,
        at=state.clock.now(), request=info))


@router.post("/training/functions/{code}/grant")
def grant(request: Request, code: str, state: State, info: Info, caller: Manager, username: UserId,
          reason: Reason = "") -> Response:
    return _function_action(request, state, caller, code, "granted", lambda s: training.grant_function(
        s, principal=caller.principal, username=username, code=code, reason=reason, at=state.clock.now(),
        request=info), form={"username": username})


@router.post("/training/functions/{code}/revoke")
def revoke(request: Request, code: str, state: State, info: Info, caller: Manager, username: UserId,
           reason: Reason = "") -> Response:
    return _function_action(request, state, caller, code, "revoked", lambda s: training.revoke_function(
        s, principal=caller.principal, username=username, code=code, reason=reason, at=state.clock.now(),
        request=info))


@router.post("/training/functions/{code}/requirements")
def add_requirement(request: Request, code: str, state: State, info: Info, caller: Manager, reason: Reason = "",
                    number: Annotated[str, Form(max_length=64)] = "",
                    type_code: Annotated[str, Form(max_length=16)] = "",
                    department: Annotated[str, Form(max_length=12)] = "") -> Response:
    return _function_action(request, state, caller, code, "required", lambda s: training.add_requirement(
        s, principal=caller.principal, code=code, reason=reason, number=number.strip() or None,
        type_code=type_code.strip() or None, department=department, at=state.clock.now(), request=info),
        form={"number": number, "type_code": type_code, "department": department})


@router.post("/training/functions/{code}/requirements/{requirement_id}/remove")
def remove_requirement(request: Request, code: str, requirement_id: uuid.UUID, state: State, info: Info,
                       caller: Manager, reason: Reason = "") -> Response:
    def remove(s: Session) -> None:
        f = training.get_function(s, code)
        if requirement_id not in {r.id for r in training.requirements_of(s, f.id)}:
            raise NotFound(f"{f.code} has no such requirement (it may have been removed already).")
        training.remove_requirement(s, principal=caller.principal, requirement_id=requirement_id, reason=reason,
                                    at=state.clock.now(), request=info)

    return _function_action(request, state, caller, code, "removed", remove)


# --- the grid editor: documents x functions ---------------------------------------------------------------------


@dataclass
class GridCell:
    code: str
    number: str
    direct: bool  # the function requires this document by name (toggleable)
    by_type: str  # the type rule that requires it too ("every SOP in QA"), "" if none


@dataclass
class FunctionRules:
    """What one function requires, ready to answer for any document: numbers named, and (type, department) rules."""

    code: str
    numbers: set[str]
    type_rules: list[tuple[str, str]]

    @classmethod
    def of(cls, s: Session, f: JobFunction, type_codes: dict[uuid.UUID, str]) -> FunctionRules:
        reqs = training.requirements_of(s, f.id)
        return cls(f.code, {training.requirement_label(s, r) for r in reqs if r.document_id is not None},
                   [(type_codes.get(r.type_id, "?"), r.department) for r in reqs if r.type_id is not None])

    def cell(self, number: str, type_code: str, department: str) -> GridCell:
        rule = next(((t, dept) for t, dept in self.type_rules if t == type_code and dept in ("", department)), None)
        label = f"every {rule[0]}" + (f" in {rule[1]}" if rule[1] else "") if rule else ""
        return GridCell(self.code, number, number in self.numbers, label)


def _type_codes(s: Session) -> dict[uuid.UUID, str]:
    return {t.id: t.code for t in documents.list_types(s, include_inactive=True)}


@router.get("/training/requirements")
def grid_page(request: Request, state: State, caller: Manager,
              type: Annotated[str, Query(max_length=16)] = "",  # noqa: A002
              department: Annotated[str, Query(max_length=12)] = "",
              page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """Documents in force (filtered, a page at a time) against the active job functions."""
    query = search.Query(type_code=type, department=department, state="current", page=page,
                         per_page=GRID_PAGE_SIZE)
    with state.db.read() as s:
        results = search.search(s, principal=caller.principal, query=query)
        types = documents.list_types(s, include_inactive=True)
        codes = {t.id: t.code for t in types}
        functions = training.list_functions(s, include_inactive=False)
        per_function = [FunctionRules.of(s, f, codes) for f in functions]
    rows = [(h, [fr.cell(h.document.number, h.document.type_code, h.document.department) for fr in per_function])
            for h in results.hits]
    return render(request, "pages/training/grid.html", caller=caller, results=results, functions=functions,
                  rows=rows, types=types)


@router.post("/training/requirements/toggle")
def grid_toggle(request: Request, state: State, info: Info, caller: Manager,
                function: Code, number: Annotated[str, Form(max_length=64)], reason: Reason = "",
                required: Annotated[bool, Form()] = False) -> Response:
    """One cell of the grid: the function requires the document, or no longer does (with the reason). The cell
    comes back as it now stands, with the error in place when nothing changed."""
    error, status = None, 200
    try:
        with state.db.unit_of_work() as s:
            training.set_document_requirement(s, principal=caller.principal, code=function, number=number,
                                              required=required, reason=reason, at=state.clock.now(), request=info)
    except DocctlError as exc:
        error, status = exc.message, status_for(exc)
    with state.db.read() as s:
        f = training.get_function(s, function)
        d = documents.get_document(s, number)
        cell = FunctionRules.of(s, f, _type_codes(s)).cell(d.number, d.type.code, d.department)
    return render(request, "partials/_training_cell.html", caller=caller, cell=cell, error=error,
                  saved=error is None, status_code=status)
