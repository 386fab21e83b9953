"""The JSON API of the approval workflow and signatures (`/api/v1`). A signature through the API still needs the
signer's user ID and password in that request."""

from __future__ import annotations

import base64
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from docctl import signatures
from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.domain.policy import Permission
from docctl.errors import LoginFailed
from docctl.services import approvals, documents, revisions, sessions, signature_check, signing_keys, training
from docctl.web.deps import Caller, Info, RequireApi, State
from docctl.web.files import zip_download
from docctl.web.routes.training_api import task_json as training_task_json

router = APIRouter(prefix="/api/v1")

Reader = Annotated[Caller, Depends(RequireApi(Permission.DOCUMENTS_READ))]
Creator = Annotated[Caller, Depends(RequireApi(Permission.DOCUMENTS_CREATE))]
Signer = Annotated[Caller, Depends(RequireApi(Permission.SIGN))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)


class Submit(Strict):
    effective_at: datetime | None = None
    use_current_route: bool = False
    override_reason: str = Field("", max_length=2000)
    # None: the document type's rule; False ("no retraining") only for a minor revision of a document in force
    training_required: bool | None = None
    train_before_effective: bool = False


class Recall(Strict):
    reason: str = Field("", max_length=2000)


class SignRequest(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    meaning: str = Field(max_length=200)


class RejectRequest(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    reason: str = Field(min_length=1, max_length=2000)


def task_json(task: Any, revision: Any) -> dict[str, Any]:
    return {"id": str(task.id), "kind": "approval", "document": revision.document.number,
            "title": revision.document.title, "version": revision.version, "stage": task.stage_name,
            "meaning": task.meaning, "state": task.state,
            "content_sha256": revision.source_sha256, "created_at": task.created_at.isoformat()}


def signature_json(sig: Any) -> dict[str, Any]:
    return {"id": str(sig.id), "printed_name": sig.printed_name, "title": sig.title, "meaning": sig.meaning,
            "signed_at": sig.signed_at.isoformat(), "manifest_sha256": sig.manifest_sha256,
            "statement_version": sig.statement_version}


@router.post("/documents/{number}/revisions/{version}/submit")
def submit(number: str, version: str, body: Submit, state: State, info: Info, caller: Creator) -> dict[str, Any]:
    with state.db.unit_of_work() as s:
        r = approvals.submit(s, principal=caller.principal, number=number, version=version,
                             effective_at=body.effective_at, use_current_route=body.use_current_route,
                             override_reason=body.override_reason, training_required=body.training_required,
                             train_before_effective=body.train_before_effective, at=state.clock.now(), request=info)
        tasks = approvals.tasks_of(s, r.id)
        return {"state": r.state, "round": r.round, "tasks": [task_json(t, r) for t in tasks if t.round == r.round]}


@router.post("/documents/{number}/revisions/{version}/recall")
def recall(number: str, version: str, body: Recall, state: State, info: Info, caller: Creator) -> dict[str, Any]:
    with state.db.unit_of_work() as s:
        r = approvals.recall(s, principal=caller.principal, number=number, version=version, reason=body.reason,
                             at=state.clock.now(), request=info)
        return {"state": r.state}


@router.get("/tasks")
def my_tasks(state: State, caller: Reader,
             kind: Annotated[str, Query(pattern="^(|approval|training)$")] = "") -> list[dict[str, Any]]:
    """The caller's open tasks: approval signatures (`kind: approval`, signed at /tasks/{id}/sign) and training to
    read and acknowledge (`kind: training`, at /training/assignments/{id}/acknowledge); `?kind=` keeps one."""
    now = state.clock.now()
    with state.db.read() as s:
        found = [] if kind == "training" else [task_json(t, r) for t, r in approvals.open_tasks(s, caller.user.id)]
        if kind != "approval":
            found += [training_task_json(a, r, now) for a, r in training.my_assignments(s, caller.user.id)
                      if a.state == "open"]
        return found


@router.post("/tasks/{task_id}/sign", status_code=201)
def sign(task_id: uuid.UUID, body: SignRequest, state: State, info: Info, caller: Signer) -> dict[str, Any]:
    at = state.clock.now()
    with state.db.read() as s:
        prepared = approvals.prepare_signature(s, state.accounts, user_id=caller.user.id, task_id=task_id,
                                               username=body.username, password=body.password,
                                               meaning=body.meaning, at=at)
    with state.db.unit_of_work() as s:
        sig = approvals.record_signature(s, state.accounts, prepared=prepared, at=at, request=info)
        out = signature_json(sig) if sig else None
    if out is None:
        raise LoginFailed("The user ID or password is incorrect; the attempt was recorded.")
    return out


@router.post("/tasks/{task_id}/reject")
def reject(task_id: uuid.UUID, body: RejectRequest, state: State, info: Info, caller: Signer) -> dict[str, Any]:
    with state.db.read() as s:
        verdict = sessions.verify_credentials(s, state.accounts, username=body.username, password=body.password)
    with state.db.unit_of_work() as s:
        ok = approvals.reject(s, state.accounts, user_id=caller.user.id, task_id=task_id,
                              verified_hash=verdict.verified_hash if verdict.user_id == caller.user.id else None,
                              username=body.username, reason=body.reason, at=state.clock.now(), request=info)
    if not ok:
        raise LoginFailed("The user ID or password is incorrect; the attempt was recorded.")
    return {"state": "rejected"}


@router.get("/documents/{number}/revisions/{version}/signatures")
def revision_signatures(number: str, version: str, state: State, caller: Reader) -> list[dict[str, Any]]:
    with state.db.read() as s:
        _, r = revisions.get_revision(s, principal=caller.principal, number=number, version=version)
        return [signature_json(sig) for sig in approvals.signatures_of(s, r.id)]


def _readable(s: Any, caller: Caller, signature_id: uuid.UUID) -> Any:
    sig, key, r = signature_check.get(s, signature_id)
    revisions.get_revision(s, principal=caller.principal, number=r.document.number, version=r.version)
    return sig, key, r


@router.get("/signatures/{signature_id}")
def signature(signature_id: uuid.UUID, state: State, caller: Reader) -> dict[str, Any]:
    """The manifest, the signature, the certificate chain and the result of re-checking all of it now."""
    with state.db.read() as s:
        sig, key, r = _readable(s, caller, signature_id)
        result = signature_check.verify(s, state.blobs, signature_id)
        ca = signing_keys.instance_ca(s)
        return {
            **signature_json(sig),
            "document": r.document.number, "version": r.version,
            "manifest": result.manifest, "manifest_base64": base64.b64encode(sig.manifest).decode(),
            "signature_der_base64": base64.b64encode(sig.signature).decode(),
            "certificate_pem": key.certificate_pem, "ca_certificate_pem": ca.certificate_pem.decode() if ca else None,
            "verification": result.as_json(),
        }


@router.get("/signatures/{signature_id}/bundle.zip")
def bundle(signature_id: uuid.UUID, state: State, caller: Reader) -> Response:
    """Everything an inspector needs to check the signature with `openssl` alone, as a zip."""
    return bundle_response(state, caller, signature_id)


def bundle_response(state: State, caller: Caller, signature_id: uuid.UUID) -> Response:
    """The openssl bundle of a signature the caller may read, as a zip download (the API and the signature page)."""
    with state.db.read() as s:
        sig, key, _ = _readable(s, caller, signature_id)
        ca = signing_keys.instance_ca(s)
        assert ca is not None
    with tempfile.TemporaryDirectory() as tmp:
        files = signatures.openssl_bundle(Path(tmp), manifest=sig.manifest, signature_der=sig.signature,
                                          cert_pem=key.certificate_pem.encode(), ca_certificate_pem=ca.certificate_pem)
        return zip_download(files, f"signature-{sig.id}")


@router.get("/document-types/{code}/route")
def get_route(code: str, state: State, caller: Reader) -> dict[str, Any]:
    with state.db.read() as s:
        route = approvals.current_route(s, documents.get_type(s, code).id)
        stages = approvals.route_json(approvals.rules_of(route))
        return {"type": code.upper(), "version": route.version, "stages": stages}


class StageIn(Strict):
    name: str = Field(max_length=200)
    meaning: str = Field(max_length=200)
    rule: str = Field(pattern="^(role|users)$")
    role: str | None = Field(None, max_length=32)
    users: list[str] = Field(default_factory=list, max_length=20)  # user IDs (usernames)
    required: int = Field(1, ge=1, le=10)
    author_may_sign: bool = False


class RouteIn(Strict):
    stages: list[StageIn] = Field(min_length=1, max_length=10)
    reason: str = Field(min_length=1, max_length=2000)


@router.put("/document-types/{code}/route")
def put_route(code: str, body: RouteIn, state: State, info: Info,
              caller: Annotated[Caller, Depends(RequireApi(Permission.USERS_MANAGE))]) -> dict[str, Any]:
    """A new version of the type's approval route (administrators; audited; applies to new submissions)."""
    with state.db.unit_of_work() as s:
        stages = [approvals.stage_rule(s, position=n, **stage.model_dump()) for n, stage in enumerate(body.stages, 1)]
        route = approvals.update_route(s, principal=caller.principal, type_code=code, stages=stages,
                                       reason=body.reason, at=state.clock.now(), request=info)
        return {"type": code.upper(), "version": route.version, "stages": approvals.route_json(stages)}
