"""The training JSON API (`/api/v1/training/...`): job functions, their holders and requirements, the HR file,
assignments, reading ("opening") a revision, the read-and-understood signature, offline training recorded by a
trainer, and the reports (matrix, compliance, overdue, point in time).

Every change goes through the training services, which authorize it and write its audit event. Signatures take
the signer's user ID and password in the request, in two steps like approvals (`approvals_api`): the slow part
(password, key, manifest) in a read transaction, then the locked part that re-checks everything and stores it.
The client never supplies a time (DI-ALCOA): signature and record times come from the server clock.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from docctl.db.models import (
    Document,
    DocumentType,
    JobFunction,
    Revision,
    Signature,
    TrainingAssignment,
    TrainingRecord,
    TrainingRequirement,
    User,
)
from docctl.domain import training as rules
from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.domain.policy import Permission
from docctl.domain.usernames import username_key
from docctl.errors import InvalidInput, LoginFailed, NotFound
from docctl.services import accounts, training, training_reports, training_signing
from docctl.services.principal import Principal
from docctl.web.deps import Caller, Info, RequireApi, State
from docctl.web.files import blob_response

router = APIRouter(prefix="/api/v1")

Anyone = Annotated[Caller, Depends(RequireApi(Permission.DOCUMENTS_READ))]  # every role reads documents
Manager = Annotated[Caller, Depends(RequireApi(Permission.TRAINING_MANAGE))]
TrainingReader = Annotated[Caller, Depends(RequireApi(Permission.TRAINING_READ))]
Trainer = Annotated[Caller, Depends(RequireApi(Permission.TRAINING_RECORD))]
Signer = Annotated[Caller, Depends(RequireApi(Permission.SIGN))]

MAX_HR_FILE_BYTES = 20 * 1024 * 1024
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/octet-stream", "application/vnd.ms-excel")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)


class FunctionCreate(Strict):
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    description: str = Field("", max_length=4000)


class FunctionUpdate(Strict):
    reason: str = Field(min_length=1, max_length=2000)
    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=4000)
    active: bool | None = None


class Grant(Strict):
    username: str = Field(max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


class Reason(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class RequirementIn(Strict):
    document: str | None = Field(None, max_length=64)  # a document number
    type: str | None = Field(None, max_length=16)  # or every document of a type ...
    department: str = Field("", max_length=12)  # ... in one department (empty: every department)
    reason: str = Field(min_length=1, max_length=2000)


class Acknowledge(BaseModel):
    """Read and understood. Extra fields are accepted and ignored: a client's `signed_at` or `signedAt` never
    reaches the record (DI-ALCOA), the time is the server's."""

    model_config = ConfigDict(extra="ignore", str_max_length=4000)
    username: str = Field(max_length=64)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    meaning: str = Field(max_length=200)


class Offline(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    performed_on: date  # the day the training was given; the time of entry is the server's
    result: str = Field(pattern="^(passed|failed)$")
    note: str = Field("", max_length=2000)


# --- JSON shapes ------------------------------------------------------------------------------------------------


def _t(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _function_json(s: Session, f: JobFunction, *, detail: bool = False) -> dict[str, Any]:
    held = training.holders(s, f.id)
    reqs = training.requirements_of(s, f.id)
    out: dict[str, Any] = {"code": f.code, "name": f.name, "description": f.description, "active": f.active,
                           "created_at": _t(f.created_at), "updated_at": _t(f.updated_at),
                           "holders_count": len(held), "requirements_count": len(reqs)}
    if detail:
        out["holders"] = [{"username": u.username, "name": u.full_name, "department": u.department,
                           "status": u.status, "grant_id": str(g.id), "granted_at": _t(g.granted_at),
                           "reason": g.grant_reason} for g, u in held]
        out["requirements"] = [_requirement_json(s, r, f) for r in reqs]
    return out


def _requirement_json(s: Session, req: TrainingRequirement, f: JobFunction | None = None) -> dict[str, Any]:
    f = f or s.get(JobFunction, req.function_id)
    d = s.get(Document, req.document_id) if req.document_id else None
    t = s.get(DocumentType, req.type_id) if req.type_id else None
    return {"id": str(req.id), "function": f.code if f else None, "document": d.number if d else None,
            "type": t.code if t else None, "department": req.department,
            "label": training.requirement_label(s, req), "created_at": _t(req.created_at), "reason": req.reason,
            "removed_at": _t(req.removed_at), "remove_reason": req.remove_reason}


def _grant_json(s: Session, user: User, f: JobFunction, g: Any) -> dict[str, Any]:
    open_ = [a for a, _ in training.my_assignments(s, user.id) if a.state == "open"]
    return {"grant_id": str(g.id), "function": f.code, "username": user.username, "name": user.full_name,
            "granted_at": _t(g.granted_at), "grant_reason": g.grant_reason, "revoked_at": _t(g.revoked_at),
            "revoke_reason": g.revoke_reason, "open_assignments": [str(a.id) for a in open_]}


def signature_json(sig: Signature) -> dict[str, Any]:
    return {"id": str(sig.id), "printed_name": sig.printed_name, "title": sig.title, "meaning": sig.meaning,
            "signed_at": _t(sig.signed_at), "manifest_sha256": sig.manifest_sha256,
            "statement_version": sig.statement_version}


def _record_json(s: Session, rec: TrainingRecord) -> dict[str, Any]:
    sig = s.get(Signature, rec.signature_id) if rec.signature_id else None
    trainer = s.get(User, rec.trainer_id) if rec.trainer_id else None
    recorder = s.get(User, rec.recorded_by_id) if rec.recorded_by_id else None
    return {"id": str(rec.id), "method": rec.method, "result": rec.result, "version": rec.version,
            "performed_on": _t(rec.performed_on), "performed_at": _t(rec.performed_at),
            "recorded_at": _t(rec.recorded_at), "recorded_by": recorder.username if recorder else None,
            "trainer": None if trainer is None else {"username": trainer.username, "name": trainer.full_name},
            "note": rec.note, "carried_from": str(rec.carried_from_id) if rec.carried_from_id else None,
            "signature": signature_json(sig) if sig else None}


def _status(a: TrainingAssignment, now: datetime) -> str:
    if a.state == "open":
        return rules.status_of(a.state, a.due_at, now).value
    return "complete" if a.state == "completed" else a.state


def _assignment_json(s: Session, a: TrainingAssignment, r: Revision, now: datetime, *,
                     detail: bool = False) -> dict[str, Any]:
    user = s.get(User, a.user_id)
    f = s.get(JobFunction, a.function_id) if a.function_id else None
    d = r.document
    out: dict[str, Any] = {
        "id": str(a.id), "username": user.username if user else None, "name": user.full_name if user else None,
        "document": d.number, "title": d.title, "version": r.version, "revision_id": str(r.id),
        "revision_state": r.state, "content_sha256": r.source_sha256, "function": f.code if f else None,
        "state": a.state, "status": _status(a, now), "assigned_at": _t(a.assigned_at), "due_at": _t(a.due_at),
        "opened_at": _t(a.opened_at), "reminded_at": _t(a.reminded_at), "overdue_at": _t(a.overdue_at),
        "completed_at": _t(a.completed_at), "closed_at": _t(a.closed_at), "close_reason": a.close_reason,
        "superseded_by": str(a.superseded_by_id) if a.superseded_by_id else None,
        "record_id": str(a.record_id) if a.record_id else None,
        "content": f"/api/v1/training/assignments/{a.id}/content",
    }
    if detail:
        out["records"] = [_record_json(s, rec) for rec in training_signing.records_of(s, a.id)]
    return out


def task_json(a: TrainingAssignment, r: Revision, now: datetime) -> dict[str, Any]:
    return {"id": str(a.id), "kind": "training", "document": r.document.number, "title": r.document.title,
            "version": r.version, "meaning": rules.READ_AND_UNDERSTOOD, "state": a.state, "status": _status(a, now),
            "content_sha256": r.source_sha256, "created_at": _t(a.assigned_at), "due_at": _t(a.due_at),
            "opened": a.opened_at is not None, "content": f"/api/v1/training/assignments/{a.id}/content",
            "acknowledge": f"/api/v1/training/assignments/{a.id}/acknowledge"}


# --- job functions ----------------------------------------------------------------------------------------------


@router.get("/training/functions")
def list_functions(state: State, caller: TrainingReader) -> list[dict[str, Any]]:
    with state.db.read() as s:
        return [_function_json(s, f) for f in training.list_functions(s)]


@router.post("/training/functions", status_code=201)
def create_function(body: FunctionCreate, state: State, info: Info, caller: Manager) -> dict[str, Any]:
    with state.db.unit_of_work() as s:
        f = training.create_function(s, principal=caller.principal, code=body.code, name=body.name,
                                     description=body.description, at=state.clock.now(), request=info)
        return _function_json(s, f, detail=True)


def _hr_problem(message: str, report: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"error": {"code": "InvalidInput", "message": message, "details": report}}, status_code=422)


async def _hr_file(request: Request, filename: str) -> tuple[bytes, str]:
    """The CSV from the request body (text/csv) or from the multipart field `file`, in bounded memory."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    too_big = HTTPException(413, f"The HR file is larger than {MAX_HR_FILE_BYTES // (1024 * 1024)} MB: split it.")
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:  # closes the spooled upload
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("Send the CSV file in the multipart field 'file'.")
            data = await upload.read(MAX_HR_FILE_BYTES + 1)
            name = upload.filename
        if len(data) > MAX_HR_FILE_BYTES:
            raise too_big
        return data, filename or name or "hr-file.csv"
    if content_type and content_type not in CSV_TYPES:
        raise HTTPException(415, "Send the HR file as text/csv (the request body) or as multipart/form-data "
                                 "with the field 'file'.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_HR_FILE_BYTES:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks), filename or "hr-file.csv"


_CSV_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "username,function,action,reason\njdoe,CRA,grant,joined\n"},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
}}}


@router.post("/training/functions/import", openapi_extra=_CSV_BODY)
async def import_functions(
    request: Request, state: State, info: Info, caller: Manager,
    apply: Annotated[str, Query(pattern="^(none|valid|all)$")] = "none",
    reason: Annotated[str, Query(max_length=2000)] = "",
    filename: Annotated[str, Query(max_length=200)] = "",
) -> Any:
    """The HR file of `username,function[,action][,reason]` rows. `apply=none` (the default) checks it and changes
    nothing; `apply=all` applies it only if every row is valid (otherwise 422 with the report); `apply=valid`
    applies the valid rows and skips the rejected ones. Every applied row is audited, and so is the file."""
    data, name = await _hr_file(request, filename)
    return await run_in_threadpool(_import, state, info, caller, data, name, apply, reason)


def _import(state: Any, info: Any, caller: Caller, data: bytes, name: str, apply: str, reason: str) -> Any:
    if apply == "none":
        with state.db.read() as s:
            return training.check_file(s, data).as_json()
    with state.db.unit_of_work() as s:
        report = training.import_file(s, principal=caller.principal, data=data, filename=name, reason=reason,
                                      accept_partial=apply == "valid", at=state.clock.now(), request=info)
    if report.problem:
        return _hr_problem(f"Nothing was applied: {report.problem}", report.as_json())
    if not report.applied:
        return _hr_problem(f"Nothing was applied: {len(report.rejected)} of {len(report.rows)} rows are rejected "
                           "(apply=valid applies the valid rows alone).", report.as_json())
    return report.as_json()


@router.get("/training/functions/{code}")
def get_function(code: str, state: State, caller: TrainingReader) -> dict[str, Any]:
    with state.db.read() as s:
        return _function_json(s, training.get_function(s, code), detail=True)


@router.post("/training/functions/{code}")
def update_function(code: str, body: FunctionUpdate, state: State, info: Info, caller: Manager) -> dict[str, Any]:
    """Change the name, description or whether the function is active (fields left out keep their value)."""
    with state.db.unit_of_work() as s:
        f = training.get_function(s, code)
        f = training.update_function(
            s, principal=caller.principal, code=code, reason=body.reason,
            name=f.name if body.name is None else body.name,
            description=f.description if body.description is None else body.description,
            active=f.active if body.active is None else body.active, at=state.clock.now(), request=info)
        return _function_json(s, f, detail=True)


@router.post("/training/functions/{code}/holders", status_code=201)
def grant_function(code: str, body: Grant, state: State, info: Info, caller: Manager) -> dict[str, Any]:
    """Give a person the function: they get assignments for the effective revisions it requires."""
    with state.db.unit_of_work() as s:
        g = training.grant_function(s, principal=caller.principal, username=body.username, code=code,
                                    reason=body.reason, at=state.clock.now(), request=info)
        return _grant_json(s, accounts.get_user(s, g.user_id), training.get_function(s, code), g)


@router.post("/training/functions/{code}/holders/{username}/revoke")
def revoke_function(code: str, username: str, body: Reason, state: State, info: Info,
                    caller: Manager) -> dict[str, Any]:
    with state.db.unit_of_work() as s:
        g = training.revoke_function(s, principal=caller.principal, username=username, code=code,
                                     reason=body.reason, at=state.clock.now(), request=info)
        return _grant_json(s, accounts.get_user(s, g.user_id), training.get_function(s, code), g)


@router.post("/training/functions/{code}/requirements", status_code=201)
def add_requirement(code: str, body: RequirementIn, state: State, info: Info, caller: Manager) -> dict[str, Any]:
    """The function must know one document, or every document of a type (optionally of one department)."""
    if bool(body.document) == bool(body.type):
        raise InvalidInput("Name either a document, or a document type (and optionally a department).")
    if body.document and body.department:
        raise InvalidInput("A department goes with a document type, not with one document.")
    with state.db.unit_of_work() as s:
        req = training.add_requirement(s, principal=caller.principal, code=code, reason=body.reason,
                                       number=body.document, type_code=body.type, department=body.department,
                                       at=state.clock.now(), request=info)
        return _requirement_json(s, req)


@router.post("/training/requirements/{requirement_id}/remove")
def remove_requirement(requirement_id: uuid.UUID, body: Reason, state: State, info: Info,
                       caller: Manager) -> dict[str, Any]:
    with state.db.unit_of_work() as s:
        req = training.remove_requirement(s, principal=caller.principal, requirement_id=requirement_id,
                                          reason=body.reason, at=state.clock.now(), request=info)
        return _requirement_json(s, req)


# --- assignments, reading and signing ---------------------------------------------------------------------------


def _whose(s: Session, principal: Principal, caller: Caller, username: str) -> User:
    """The caller, or (for those who read everyone's training) the person named."""
    if not username or username_key(username) == caller.user.username_key:
        return accounts.get_user(s, caller.user.id)
    principal.require(Permission.TRAINING_READ)
    user = accounts.find_user(s, username)
    if user is None:
        raise NotFound(f"No user {username!r}.")
    return user


@router.get("/training/assignments")
def list_assignments(
    state: State, caller: Anyone,
    user: Annotated[str, Query(max_length=64)] = "",
    state_: Annotated[str, Query(alias="state", pattern="^(|open|completed|superseded|cancelled)$")] = "",
) -> list[dict[str, Any]]:
    """A person's assignments (the caller's by default), open ones first by due date."""
    now = state.clock.now()
    with state.db.read() as s:
        person = _whose(s, caller.principal, caller, user)
        return [_assignment_json(s, a, r, now) for a, r in training.my_assignments(s, person.id)
                if not state_ or a.state == state_]


@router.get("/training/tasks")
def training_tasks(state: State, caller: Anyone) -> list[dict[str, Any]]:
    """The caller's open training: what to read and sign "read and understood", soonest due first."""
    now = state.clock.now()
    with state.db.read() as s:
        return [task_json(a, r, now) for a, r in training.my_assignments(s, caller.user.id) if a.state == "open"]


@router.get("/training/assignments/{assignment_id}")
def get_assignment(assignment_id: uuid.UUID, state: State, caller: Anyone) -> dict[str, Any]:
    with state.db.read() as s:
        a = training.get_assignment(s, principal=caller.principal, assignment_id=assignment_id)
        r = s.get(Revision, a.revision_id)
        assert r is not None
        return _assignment_json(s, a, r, state.clock.now(), detail=True)


@router.get("/training/assignments/{assignment_id}/content")
def assignment_content(assignment_id: uuid.UUID, state: State, info: Info, caller: Anyone) -> Any:
    """Open the revision to read it: its PDF rendition (the original when there is none). The view is recorded
    and makes the acknowledgement possible; it completes nothing (TR-RU)."""
    with state.db.unit_of_work() as s:
        a = training_signing.record_view(s, principal=caller.principal, assignment_id=assignment_id, what="content",
                                         at=state.clock.now(), request=info)
        r = s.get(Revision, a.revision_id)
        assert r is not None
        pdf = r.rendition_kind == "pdf" and r.rendition_sha256 is not None
        sha = r.rendition_sha256 if pdf else r.source_sha256
        media = "application/pdf" if pdf else r.source_media_type
        name = f"{r.document.number}_v{r.version}.pdf" if pdf else r.source_filename
    assert sha is not None
    return blob_response(state.blobs, sha, media, name, inline=pdf)


@router.post("/training/assignments/{assignment_id}/acknowledge", status_code=201)
def acknowledge(assignment_id: uuid.UUID, body: Acknowledge, state: State, info: Info,
                caller: Signer) -> dict[str, Any]:
    """Sign "read and understood" with user ID, password and meaning; the time is the server's."""
    at = state.clock.now()
    with state.db.read() as s:
        prepared = training_signing.prepare_acknowledgement(
            s, state.accounts, user_id=caller.user.id, assignment_id=assignment_id, username=body.username,
            password=body.password, meaning=body.meaning, at=at)
    with state.db.unit_of_work() as s:
        sig = training_signing.record_acknowledgement(s, state.accounts, prepared=prepared, at=at, request=info)
        if sig is None:
            out = None
        else:
            a = training.find_assignment(s, assignment_id)
            out = {**signature_json(sig), "assignment": {"id": str(a.id), "state": a.state,
                                                         "completed_at": _t(a.completed_at),
                                                         "record_id": str(a.record_id) if a.record_id else None}}
    if out is None:
        raise LoginFailed("The user ID or password is incorrect; the attempt was recorded.")
    return out


@router.post("/training/assignments/{assignment_id}/offline", status_code=201)
def record_offline(assignment_id: uuid.UUID, body: Offline, state: State, info: Info,
                   caller: Trainer) -> dict[str, Any]:
    """A trainer records training given outside the system, signing with their own user ID and password: the day
    it was performed as given, the time of entry from the server clock. Failed leaves the assignment open."""
    at = state.clock.now()
    with state.db.read() as s:
        prepared, meaning = training_signing.prepare_offline(
            s, state.accounts, principal=caller.principal, assignment_id=assignment_id, username=body.username,
            password=body.password, performed_on=body.performed_on, result=body.result, at=at)
    with state.db.unit_of_work() as s:
        rec = training_signing.record_offline(s, state.accounts, principal=caller.principal, prepared=prepared,
                                              meaning=meaning, performed_on=body.performed_on, result=body.result,
                                              note=body.note, at=at, request=info)
        if rec is None:
            out = None
        else:
            a = training.find_assignment(s, assignment_id)
            out = {**_record_json(s, rec), "assignment": {"id": str(a.id), "state": a.state,
                                                          "completed_at": _t(a.completed_at)}}
    if out is None:
        raise LoginFailed("The user ID or password is incorrect; the attempt was recorded.")
    return out


# --- reports ----------------------------------------------------------------------------------------------------


@router.get("/training/matrix")
def matrix(
    state: State, caller: TrainingReader,
    department: Annotated[str, Query(max_length=12)] = "", function: Annotated[str, Query(max_length=32)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """People (filtered by department and function, by user ID) against the documents their functions require."""
    with state.db.read() as s:
        m = training_reports.matrix(s, principal=caller.principal, now=state.clock.now(), department=department,
                                    function=function or None, offset=offset, limit=limit)
    return {
        "total": m.total_people, "offset": m.offset, "limit": m.limit,
        "counts": {status.value: n for status, n in m.counts().items()},
        "columns": [{"document": c.number, "title": c.title, "version_in_force": c.version or None}
                    for c in m.columns],
        "rows": [{"username": row.username, "name": row.name, "department": row.department,
                  "functions": row.functions,
                  "cells": [{"document": col.number, "status": cell.status.value, "version": cell.version or None,
                             "when": _t(cell.when),
                             "assignment_id": str(cell.assignment_id) if cell.assignment_id else None}
                            for col, cell in zip(m.columns, row.cells, strict=True)]}
                 for row in m.rows],
    }


def _compliance_json(c: training_reports.Compliance) -> dict[str, Any]:
    return {"key": c.key, "name": c.name, "required": c.required, "complete": c.complete, "due": c.due,
            "overdue": c.overdue, "percent": c.percent, "people": c.people}


@router.get("/training/compliance")
def compliance(state: State, caller: TrainingReader) -> dict[str, Any]:
    found = training_reports.summary(state.db.read, state.db.unit_of_work, principal=caller.principal,
                                     now=state.clock.now())
    return {"as_of": found.computed_at.isoformat(), "overall": _compliance_json(found.overall),
            "by_function": [_compliance_json(c) for c in found.by_function],
            "by_department": [_compliance_json(c) for c in found.by_department]}


@router.get("/training/overdue")
def overdue(
    state: State, caller: TrainingReader,
    department: Annotated[str, Query(max_length=12)] = "", function: Annotated[str, Query(max_length=32)] = "",
) -> list[dict[str, Any]]:
    with state.db.read() as s:
        found = training_reports.overdue(s, principal=caller.principal, now=state.clock.now(),
                                         department=department or None, function=function or None)
    return [{"assignment_id": str(o.assignment_id), "username": o.username, "name": o.name,
             "department": o.department, "document": o.number, "title": o.title, "version": o.version,
             "due_at": _t(o.due_at), "days_overdue": o.days} for o in found]


_OFFSET_AS_SPACE = re.compile(r"(T\d\d:\d\d(:\d\d(\.\d+)?)?) (\d\d:?\d\d)$")


def _moment(raw: str) -> datetime:
    """An RFC 3339 date and time with its zone (`Z` or an offset)."""
    text = _OFFSET_AS_SPACE.sub(r"\1+\4", raw.strip())  # a '+' sent unencoded in a query string arrives as ' '
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or "T" not in text.upper() or at.tzinfo is None:
        raise InvalidInput("'at' must be an RFC 3339 date and time with its zone, e.g. 2026-03-14T09:42:07Z or "
                           "2026-03-14T10:42:07+01:00.")
    return at


@router.get("/training/point-in-time")
def point_in_time(
    state: State, caller: Anyone,
    document: Annotated[str, Query(min_length=1, max_length=64)],
    at: Annotated[str, Query(min_length=1, max_length=64)],
    user: Annotated[str, Query(max_length=64)] = "",
) -> dict[str, Any]:
    """Was the person (the caller by default) trained on the version of the document in force at that moment,
    and when did they sign? (TR-PIT)"""
    moment = _moment(at)
    with state.db.read() as s:
        answer = training_reports.point_in_time(s, principal=caller.principal, username=user or caller.user.username,
                                                number=document, at=moment)
        return answer.as_json()
