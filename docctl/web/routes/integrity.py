"""'Verify integrity' in the browser and through the API: start a background run, watch its progress bar, read its
result. Open to every reader of the audit trail (the inspector included): a run changes no record, and is itself
recorded in the trail (docctl.services.integrity)."""

from __future__ import annotations

import threading
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from docctl.domain.policy import Permission
from docctl.services import checkpoints, integrity
from docctl.web.deps import Caller, Info, Require, RequireApi, State
from docctl.web.render import render

router = APIRouter()
api = APIRouter(prefix="/api/v1")

Auditor = Annotated[Caller, Depends(Require(Permission.AUDIT_READ))]
ApiAuditor = Annotated[Caller, Depends(RequireApi(Permission.AUDIT_READ))]


def _start(state: State, caller: Caller, info: Info) -> tuple[uuid.UUID, bool]:
    with state.db.unit_of_work() as s:
        run_id, new = integrity.start(s, principal=caller.principal, at=state.clock.now(), request=info)
    if new:  # committed: the run's row exists for the thread and for every process that shows it
        threading.Thread(target=integrity.run, args=(state.db, state.blobs, state.clock, run_id),
                         name=f"integrity-{run_id}", daemon=True).start()
    return run_id, new


def _run(state: State, caller: Caller, run_id: uuid.UUID) -> integrity.RunView:
    with state.db.read() as s:
        return integrity.get(s, run_id, principal=caller.principal, at=state.clock.now())


@router.get("/audit/integrity")
def integrity_page(request: Request, state: State, caller: Auditor) -> Response:
    with state.db.read() as s:
        runs = integrity.recent(s, principal=caller.principal, at=state.clock.now())
        latest = checkpoints.latest(s)
        checkpoint = (latest.tree_size, latest.root.hex(), latest.at) if latest is not None else None
    return render(request, "pages/integrity.html", caller=caller, runs=runs, checkpoint=checkpoint)


@router.post("/audit/integrity")
def integrity_start(state: State, info: Info, caller: Auditor) -> RedirectResponse:
    run_id, _ = _start(state, caller, info)
    return RedirectResponse(f"/audit/integrity/{run_id}", status_code=303)


@router.get("/audit/integrity/{run_id}")
def integrity_run(request: Request, run_id: uuid.UUID, state: State, caller: Auditor) -> Response:
    """The run's page; while it runs, htmx asks for the progress partial every second."""
    return render(request, "pages/integrity_run.html", "partials/_integrity_progress.html", caller=caller,
                  run=_run(state, caller, run_id))


@api.post("/audit/integrity-checks", status_code=202)
def api_integrity_start(state: State, info: Info, caller: ApiAuditor) -> JSONResponse:
    """Start verifying the whole trail and every checkpoint in the background (202), or return the run already
    going (200). Poll GET /api/v1/audit/integrity-checks/{id} until its state is no longer "running"."""
    run_id, new = _start(state, caller, info)
    return JSONResponse(_run(state, caller, run_id).as_json(), status_code=202 if new else 200)


@api.get("/audit/integrity-checks/{run_id}")
def api_integrity_get(run_id: uuid.UUID, state: State, caller: ApiAuditor) -> dict[str, Any]:
    """A run: state (running, passed, failed, error, interrupted), progress, and each problem found (where, what)."""
    return _run(state, caller, run_id).as_json()
