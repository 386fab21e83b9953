"""Evidence package downloads (`docctl.evidence_package` v1): a document's, or a time range's. GETs that write
(a checkpoint, the controlled copy's print record and `evidence:export`) before the first byte, like the CSV
export and the controlled copy. The zip is a temporary file, removed once sent."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from docctl.domain.policy import Permission
from docctl.errors import InvalidInput
from docctl.services import evidence
from docctl.web.deps import Caller, Info, Require, RequireApi, State
from docctl.web.routes.audit import _day

router = APIRouter()  # pages (session)
api_router = APIRouter(prefix="/api/v1")  # bearer tokens

Auditor = Annotated[Caller, Depends(Require(Permission.AUDIT_READ))]
ApiAuditor = Annotated[Caller, Depends(RequireApi(Permission.AUDIT_READ))]
Day = Annotated[str, Query(max_length=10, description="YYYY-MM-DD in your time zone")]


def _secret(state: State) -> bytes:
    return state.settings.secret_key.get_secret_value().encode()


def _send(package: evidence.Package) -> FileResponse:
    return FileResponse(
        package.path, media_type="application/zip", filename=package.filename,
        headers={"Cache-Control": "no-store", "X-Docctl-Checkpoint-Tree-Size": str(package.tree_size),
                 "X-Docctl-Checkpoint-Root": package.root.hex()},
        background=BackgroundTask(shutil.rmtree, package.path.parent, True))


def _document(state: State, caller: Caller, info: Info, number: str) -> FileResponse:
    return _send(evidence.document_package(
        state.db, state.blobs, principal=caller.principal, number=number, secret=_secret(state),
        zone=caller.user.time_zone, base_url=state.settings.base_url, at=state.clock.now(), request=info))


def _range(state: State, caller: Caller, info: Info, since: datetime | None, until: datetime | None) -> FileResponse:
    if since is None or until is None:
        raise InvalidInput("Give both dates of the range (since and until).")
    return _send(evidence.range_package(
        state.db, state.blobs, principal=caller.principal, since=since, until=until, secret=_secret(state),
        at=state.clock.now(), request=info))


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("/documents/{number}/evidence.zip")
def document_evidence(number: str, state: State, info: Info, caller: Auditor) -> FileResponse:
    """The document's evidence package; `docctl verify-package` checks it offline."""
    return _document(state, caller, info, number)


@router.get("/audit/evidence.zip")
def range_evidence(state: State, info: Info, caller: Auditor, since: Day = "", until: Day = "") -> FileResponse:
    """The events of the days since..until (inclusive, in the viewer's time zone) with their proofs, and the
    signatures and training records made then."""
    zone = caller.user.time_zone
    return _range(state, caller, info, _day(since, zone, end=False), _day(until, zone, end=True))


@api_router.get("/documents/{number}/evidence.zip", response_class=FileResponse)
def api_document_evidence(number: str, state: State, info: Info, caller: ApiAuditor) -> FileResponse:
    """The document's evidence package (zip); the checkpoint in X-Docctl-Checkpoint-Tree-Size and -Root."""
    return _document(state, caller, info, number)


@api_router.get("/audit/evidence.zip", response_class=FileResponse)
def api_range_evidence(state: State, info: Info, caller: ApiAuditor, since: datetime | None = None,
                       until: datetime | None = None) -> FileResponse:
    """The evidence package of [since, until) (RFC 3339 times; UTC when no offset is given)."""
    return _range(state, caller, info, _utc(since), _utc(until))
