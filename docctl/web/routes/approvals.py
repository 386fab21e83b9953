"""Approval pages: the signing ceremony (htmx), rejection, submission and recall of a revision."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from docctl.db.models import Revision
from docctl.domain import esig
from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.domain.policy import Permission
from docctl.errors import DocctlError, InvalidInput
from docctl.services import accounts, approvals, sessions
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.errors import status_for
from docctl.web.render import render

router = APIRouter()

Signer = Annotated[Caller, Depends(Require(Permission.SIGN))]
Creator = Annotated[Caller, Depends(Require(Permission.DOCUMENTS_CREATE))]
UserId = Annotated[str, Form(max_length=64)]
Password = Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)]


def _ceremony(request: Request, state: State, caller: Caller, task_id: uuid.UUID, *, error: str | None = None,
              status: int = 200) -> Response:
    with state.db.read() as s:
        task = approvals.get_task(s, task_id)
        r = s.get(Revision, task.revision_id)
        assert r is not None
        d = r.document
        readiness = accounts.signing_readiness(accounts.get_user(s, caller.user.id))
        signed = approvals.signatures_of(s, r.id)
    if request.headers.get("HX-Request") and error:
        return render(request, "partials/_upload_result.html", caller=caller, error=error, status_code=status)
    return render(request, "pages/sign.html", caller=caller, task=task, revision=r, document=d, readiness=readiness,
                  statement=esig.STATEMENT, signed=signed, error=error, status_code=status,
                  mine=task.assignee_id == caller.user.id)


@router.get("/tasks/{task_id}")
def ceremony(request: Request, task_id: uuid.UUID, state: State, caller: Signer) -> Response:
    return _ceremony(request, state, caller, task_id)


@router.post("/tasks/{task_id}/sign")
def sign(request: Request, task_id: uuid.UUID, state: State, info: Info, caller: Signer, username: UserId,
         password: Password, meaning: Annotated[str, Form(max_length=200)]) -> Response:
    at = state.clock.now()
    try:
        with state.db.read() as s:
            prepared = approvals.prepare_signature(s, state.accounts, user_id=caller.user.id, task_id=task_id,
                                                   username=username, password=password, meaning=meaning, at=at)
        with state.db.unit_of_work() as s:
            sig = approvals.record_signature(s, state.accounts, prepared=prepared, at=at, request=info)
            target = None
            if sig is not None:
                r = s.get(Revision, sig.revision_id)
                assert r is not None
                target = f"/documents/{r.document.number}/revisions/{r.version}?signed=1"
    except DocctlError as exc:
        return _ceremony(request, state, caller, task_id, error=exc.message, status=status_for(exc))
    if target is None:
        # 422, not 401: the person stays logged in; the form shows the message in place
        return _ceremony(request, state, caller, task_id, status=422,
                         error="The user ID or password is incorrect. The attempt was recorded; repeated failures "
                               "lock the account.")
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/tasks/{task_id}/reject")
def reject(request: Request, task_id: uuid.UUID, state: State, info: Info, caller: Signer, username: UserId,
           password: Password, reason: Annotated[str, Form(max_length=2000)]) -> Response:
    try:
        with state.db.read() as s:
            verdict = sessions.verify_credentials(s, state.accounts, username=username, password=password)
        with state.db.unit_of_work() as s:
            ok = approvals.reject(s, state.accounts, user_id=caller.user.id, task_id=task_id,
                                  verified_hash=verdict.verified_hash if verdict.user_id == caller.user.id else None,
                                  username=username, reason=reason, at=state.clock.now(), request=info)
    except DocctlError as exc:
        return _ceremony(request, state, caller, task_id, error=exc.message, status=status_for(exc))
    if not ok:
        return _ceremony(request, state, caller, task_id, status=422,
                         error="The user ID or password is incorrect. The attempt was recorded.")
    target = "/?rejected=1"
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _local(value: str, zone: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(zone))
    except ValueError:
        raise InvalidInput("The effective date is not a date and time.") from None


@router.post("/documents/{number}/revisions/{version}/submit")
def submit(request: Request, number: str, version: str, state: State, info: Info, caller: Creator,
           effective_at: Annotated[str, Form(max_length=32)] = "",
           no_retraining: Annotated[bool, Form()] = False,
           train_before_effective: Annotated[bool, Form()] = False) -> Response:
    try:
        when = _local(effective_at, caller.user.time_zone)
        with state.db.unit_of_work() as s:
            approvals.submit(s, principal=caller.principal, number=number, version=version, effective_at=when,
                             training_required=False if no_retraining else None,
                             train_before_effective=train_before_effective, at=state.clock.now(), request=info)
    except DocctlError as exc:
        return RedirectResponse(f"/documents/{number}/revisions/{version}?problem={_q(exc.message)}", status_code=303)
    return RedirectResponse(f"/documents/{number}/revisions/{version}?submitted=1", status_code=303)


@router.post("/documents/{number}/revisions/{version}/recall")
def recall(request: Request, number: str, version: str, state: State, info: Info, caller: Creator,
           reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        with state.db.unit_of_work() as s:
            approvals.recall(s, principal=caller.principal, number=number, version=version, reason=reason,
                             at=state.clock.now(), request=info)
    except DocctlError as exc:
        return RedirectResponse(f"/documents/{number}/revisions/{version}?problem={_q(exc.message)}", status_code=303)
    return RedirectResponse(f"/documents/{number}/revisions/{version}?recalled=1", status_code=303)


def _q(text: str) -> str:
    return quote(text[:300])
