"""The audit trail page (administrators, QA and inspectors): newest first, filtered, paginated."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from docctl.audit.tags import Tag
from docctl.domain.policy import Permission
from docctl.errors import InvalidInput
from docctl.services import audit_exceptions, audit_export, audit_trail
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.render import render

router = APIRouter()

Auditor = Annotated[Caller, Depends(Require(Permission.AUDIT_READ))]
Text = Annotated[str, Query(max_length=200)]


def _day(value: str, zone: str, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD).") from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _filters(zone: str, actor: str, action: str, subject_type: str, subject_id: str, since: str, until: str,
             preset: str = "", *, document: str = "", signature: str = "") -> audit_trail.TrailFilter:
    return audit_trail.TrailFilter(
        actor=actor.strip(), action=action.strip(), subject_type=subject_type.strip(), subject_id=subject_id.strip(),
        since=_day(since, zone, end=False), until=_day(until, zone, end=True), preset=preset.strip(),
        document=document.strip(), signature=signature.strip(),
    )


def report_filter(state: State, filters: audit_trail.TrailFilter) -> audit_trail.TrailFilter:
    """An exception report's preset checked and completed (working hours, its date range); others unchanged."""
    return audit_exceptions.report_filter(filters, settings=state.settings, now=state.clock.now())


def pdf_response(state: State, caller: Caller, info: Info, filters: audit_trail.TrailFilter) -> FileResponse:
    """Check the limit, checkpoint and record the export (committed), then render the PDF into a temporary file
    (removed once sent) and send it."""
    now = state.clock.now()
    with state.db.unit_of_work() as s:
        tree_size, root = audit_export.prepare_export(
            s, state.blobs, principal=caller.principal, secret=state.settings.secret_key.get_secret_value().encode(),
            filters=filters, at=now, request=info, format="pdf", max_events=state.settings.audit_pdf_max_events)
    fd, path = tempfile.mkstemp(prefix="docctl-audit-", suffix=".pdf")
    os.close(fd)
    try:
        audit_export.write_pdf(state.db.read, path, filters=filters, tree_size=tree_size, root=root, at=now,
                               generated_by=f"{caller.user.username} ({caller.user.full_name})",
                               zone=caller.user.time_zone)
    except BaseException:
        os.unlink(path)
        raise
    name = f"audit-trail-{tree_size}-{now.astimezone(UTC).date().isoformat()}.pdf"
    return FileResponse(path, media_type="application/pdf", background=BackgroundTask(os.unlink, path), headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
        "X-Docctl-Checkpoint-Tree-Size": str(tree_size), "X-Docctl-Checkpoint-Root": root.hex()})


def export_response(state: State, caller: Caller, info: Info, filters: audit_trail.TrailFilter) -> StreamingResponse:
    """Checkpoint and record the export (committed before the first byte), then stream the CSV through it."""
    now = state.clock.now()
    with state.db.unit_of_work() as s:
        tree_size, root = audit_export.prepare_export(
            s, state.blobs, principal=caller.principal, secret=state.settings.secret_key.get_secret_value().encode(),
            filters=filters, at=now, request=info)
    rows = audit_export.iter_audit_csv(state.db.read, filters=filters, through_seq=tree_size)
    name = f"audit-trail-{tree_size}-{now.astimezone(UTC).date().isoformat()}.csv"
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
        "X-Docctl-Checkpoint-Tree-Size": str(tree_size), "X-Docctl-Checkpoint-Root": root.hex()})


@router.get("/audit/export.csv")
def export_csv(
    state: State, info: Info, caller: Auditor, actor: Text = "", action: Text = "", subject_type: Text = "",
    subject_id: Text = "", since: Text = "", until: Text = "", preset: Text = "", document: Text = "",
    signature: Text = "",
) -> StreamingResponse:
    """The trail with the page's filters (dates in the viewer's time zone) as CSV, through a checkpoint made now."""
    filters = _filters(caller.user.time_zone, actor, action, subject_type, subject_id, since, until, preset,
                       document=document, signature=signature)
    return export_response(state, caller, info, report_filter(state, filters))


@router.get("/audit/export.pdf")
def export_pdf(
    state: State, info: Info, caller: Auditor, actor: Text = "", action: Text = "", subject_type: Text = "",
    subject_id: Text = "", since: Text = "", until: Text = "", preset: Text = "", document: Text = "",
    signature: Text = "",
) -> FileResponse:
    """The same as a printable PDF (every field of every event), up to DOCCTL_AUDIT_PDF_MAX_EVENTS events."""
    filters = _filters(caller.user.time_zone, actor, action, subject_type, subject_id, since, until, preset,
                       document=document, signature=signature)
    return pdf_response(state, caller, info, report_filter(state, filters))


@router.get("/audit")
def trail(
    request: Request, state: State, caller: Auditor, actor: Text = "", action: Text = "", subject_type: Text = "",
    subject_id: Text = "", document: Text = "", signature: Text = "", since: Text = "", until: Text = "",
    before: Annotated[int | None, Query(ge=1)] = None, after: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    filters = _filters(caller.user.time_zone, actor, action, subject_type, subject_id, since, until,
                       document=document, signature=signature)
    with state.db.read() as s:
        page = audit_trail.events(s, principal=caller.principal, filters=filters, before=before, after=after,
                                  limit=limit)
    query = {"actor": actor, "action": action, "subject_type": subject_type, "subject_id": subject_id,
             "document": document, "signature": signature, "since": since, "until": until, "limit": limit}
    chosen = urlencode({k: v for k, v in query.items() if v and k != "limit"})
    return render(request, "pages/audit.html", "partials/_audit_rows.html", caller=caller, page=page,
                  query=query, tags=[t.value for t in Tag], paged=before is not None or after is not None,
                  trail_exports=True,
                  export_url="/audit/export.csv?" + chosen, export_pdf_url="/audit/export.pdf?" + chosen,
                  evidence_url="/audit/evidence.zip?" + urlencode({k: v for k, v in query.items()
                                                                    if v and k in ("since", "until")}))
