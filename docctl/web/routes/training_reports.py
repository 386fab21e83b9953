"""Training report pages: the matrix, compliance with a chart, the overdue list, CSV export, transcripts (page and
PDF) and the point-in-time answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from docctl.domain.policy import Permission
from docctl.domain.training import STATUS_LABELS, Status
from docctl.errors import DocctlError, InvalidInput, PermissionDenied
from docctl.renditions import transcript_pdf as pdf
from docctl.services import training, training_reports
from docctl.web.charts import Bar, compliance_bars
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.errors import status_for
from docctl.web.render import render

router = APIRouter()

Reader = Annotated[Caller, Depends(Require(Permission.TRAINING_READ))]
# a person's own transcript and point-in-time answers: any logged-in user; the services refuse other people's
# unless the caller holds TRAINING_READ
Person = Annotated[Caller, Depends(Require())]
Text = Annotated[str, Query(max_length=64)]

PAGE_SIZE = 50  # people per page: a department of 200 is four pages (bench/README.md, training_bench)
OVERDUE_CSV_LIMIT = 100_000
OVERDUE_CSV_HEADER = ["username", "name", "department", "document", "title", "version", "due_at_utc", "days_overdue",
                      "assignment_id"]


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _csv_headers(name: str, at: datetime) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="docctl-{name}-{_stamp(at)}.csv"',
            "Cache-Control": "no-store"}


def _check_function(s: Session, function: str) -> None:
    if function:
        training.get_function(s, function)  # NotFound before anything is streamed or recorded


def _filter_choices(s: Session) -> dict[str, object]:
    return {"departments": training_reports.departments(s),
            "functions": training.list_functions(s, include_inactive=False)}


def _query(**values: object) -> str:
    return urlencode({k: v for k, v in values.items() if v})


# --- the matrix -------------------------------------------------------------------------------------------------


# What one cell shows, worked out once in Python as a plain tuple (css class, label, date, link): Jinja reads tuple
# items far faster than attributes, and a macro per cell is too slow for 20,000 cells.
_Cell = tuple[str, str, str, str]
_BLANK: _Cell = ("", "", "", "")
_NO_VERSION: _Cell = ("trm-none", "no version", "", "")
_NOT_ASSIGNED: _Cell = ("trm-none", "not assigned", "", "")
_SHOWN = {Status.COMPLETE: "trm-ok", Status.DUE: "trm-due", Status.OVERDUE: "trm-over"}


def _cells(m: training_reports.Matrix, zone: str) -> list[list[_Cell]]:
    tz = ZoneInfo(zone)
    days: dict[datetime, str] = {}

    def day(at: datetime | None) -> str:
        if at is None:
            return ""
        found = days.get(at)
        if found is None:
            found = days[at] = at.astimezone(tz).date().isoformat()
        return found

    out = []
    for row in m.rows:
        cells: list[_Cell] = []
        append = cells.append
        for c in row.cells:
            status = c.status
            if status is Status.NOT_REQUIRED:
                append(_BLANK)
            elif status is Status.NO_VERSION:
                append(_NO_VERSION)
            elif status is Status.NOT_ASSIGNED:
                append(_NOT_ASSIGNED)
            else:
                label = f"Complete v{c.version}" if status is Status.COMPLETE else STATUS_LABELS[status]
                href = f"/training/assignments/{c.assignment_id}" if c.assignment_id else ""
                append((_SHOWN[status], label, day(c.when), href))
        out.append(cells)
    return out


@router.get("/training/matrix")
def matrix(request: Request, state: State, caller: Reader, department: Text = "", function: Text = "",
           page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    now = state.clock.now()
    with state.db.read() as s:
        m = training_reports.matrix(s, principal=caller.principal, now=now, department=department or None,
                                    function=function or None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        choices = _filter_choices(s)
    pages = max(1, -(-m.total_people // PAGE_SIZE))
    counts = m.counts()
    totals = [(css, STATUS_LABELS[status], counts[status]) for status, css in
              ((Status.COMPLETE, "trm-ok"), (Status.DUE, "trm-due"), (Status.OVERDUE, "trm-over"),
               (Status.NO_VERSION, "trm-none"), (Status.NOT_ASSIGNED, "trm-none"))]
    filters = _query(department=department, function=function)
    return render(request, "pages/training/matrix.html", "partials/_training_report_matrix.html", caller=caller,
                  m=m, rows=list(zip(m.rows, _cells(m, caller.user.time_zone), strict=True)), totals=totals,
                  page=page, pages=pages, department=department, function=function, filters=filters, now=now,
                  **choices)


@router.get("/training/matrix.csv")
def matrix_csv(state: State, info: Info, caller: Reader, department: Text = "", function: Text = "") -> Response:
    """The whole matrix (every page) in long form, streamed; the export is recorded first."""
    now = state.clock.now()
    with state.db.read() as s:
        _check_function(s, function)
    with state.db.unit_of_work() as s:
        training_reports.record_export(s, principal=caller.principal, what="matrix",
                                       filters={"department": department, "function": function}, at=now,
                                       request=info)
    rows = training_reports.iter_matrix_csv(state.db.read, now=now, department=department or None,
                                            function=function or None)
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8",
                             headers=_csv_headers("training-matrix", now))


# --- compliance -------------------------------------------------------------------------------------------------


def _bars(rows: list[training_reports.Compliance], *, by: str) -> list[Bar]:
    return [Bar(f"{r.key} · {r.name}" if by == "function" else r.name, r.complete, r.due, r.overdue, r.percent)
            for r in rows]


@router.get("/training/compliance")
def compliance(request: Request, state: State, caller: Reader) -> Response:
    found = training_reports.summary(state.db.read, state.db.unit_of_work, principal=caller.principal,
                                     now=state.clock.now())
    by_function, by_department, overall, now = found.by_function, found.by_department, found.overall, found.computed_at
    charts = {
        "function": compliance_bars(_bars(by_function, by="function"), chart_id="chart-function",
                                    title="Training complete per job function"),
        "department": compliance_bars(_bars(by_department, by="department"), chart_id="chart-department",
                                      title="Training complete per department"),
    }
    return render(request, "pages/training/compliance.html", caller=caller, by_function=by_function,
                  by_department=by_department, overall=overall, charts=charts, now=now)


# --- overdue ----------------------------------------------------------------------------------------------------


@router.get("/training/overdue")
def overdue(request: Request, state: State, caller: Reader, department: Text = "", function: Text = "") -> Response:
    now = state.clock.now()
    with state.db.read() as s:
        rows = training_reports.overdue(s, principal=caller.principal, now=now, department=department or None,
                                        function=function or None)
        choices = _filter_choices(s)
    return render(request, "pages/training/overdue.html", "partials/_training_report_overdue.html", caller=caller,
                  rows=rows, limited=len(rows) >= 500, department=department, function=function, now=now,
                  filters=_query(department=department, function=function), **choices)


@router.get("/training/overdue.csv")
def overdue_csv(state: State, info: Info, caller: Reader, department: Text = "", function: Text = "") -> Response:
    now = state.clock.now()
    with state.db.read() as s:
        rows = training_reports.overdue(s, principal=caller.principal, now=now, department=department or None,
                                        function=function or None, limit=OVERDUE_CSV_LIMIT)
    with state.db.unit_of_work() as s:
        training_reports.record_export(s, principal=caller.principal, what="overdue",
                                       filters={"department": department, "function": function}, at=now,
                                       request=info)
    line = training_reports._csv_line  # the same quoting (and formula guard) as the matrix export
    body = "\ufeff" + line(OVERDUE_CSV_HEADER) + "".join(
        line([r.username, r.name, r.department, r.number, r.title, r.version, training_reports._iso(r.due_at),
              r.days, str(r.assignment_id)]) for r in rows)
    return Response(body, media_type="text/csv; charset=utf-8", headers=_csv_headers("training-overdue", now))


# --- a person's transcript --------------------------------------------------------------------------------------


def _transcript(s: Session, caller: Caller, username: str, *, now: datetime, base_url: str
                ) -> tuple[training_reports.Transcript, pdf.TranscriptInfo]:
    """The service's transcript, and the same written out as plain values (for the page and the PDF)."""
    t = training_reports.transcript(s, principal=caller.principal, username=username)
    records = []
    for line in t.lines:
        r, sig = line.record, line.signature
        records.append(pdf.RecordLine(
            number=line.number, title=line.title, revision_version=line.revision_version, trained_version=r.version,
            method=r.method, result=r.result, performed_at=r.performed_at, recorded_at=r.recorded_at,
            trainer=line.trainer_name, note=r.note, performed_on=r.performed_on,
            signature=None if sig is None else pdf.SignatureLine(
                meaning=sig.meaning, printed_name=sig.printed_name, title=sig.title, signed_at=sig.signed_at,
                signature_id=str(sig.id), manifest_sha256=sig.manifest_sha256)))
    functions = [pdf.FunctionLine(f.code, f.name, g.granted_at, g.revoked_at,
                                  (g.revoke_reason or "") if g.revoked_at else g.grant_reason) for g, f in t.functions]
    opened = [pdf.OpenLine(r.document.number, r.document.title, r.version, a.assigned_at, a.due_at, a.due_at <= now)
              for a, r in t.open]
    u = t.user
    info = pdf.TranscriptInfo(
        username=u.username, full_name=u.full_name, title=u.title, department=u.department, status=u.status,
        generated_at=now, generated_by=f"{caller.user.full_name} ({caller.user.username})", base_url=base_url,
        functions=functions, records=records, open=opened)
    return t, info


@router.get("/training/people/{username}")
def person(request: Request, username: str, state: State, caller: Person) -> Response:
    now = state.clock.now()
    with state.db.read() as s:
        t, info = _transcript(s, caller, username, now=now, base_url=state.settings.base_url)
    open_ids = [a.id for a, _ in t.open]
    return render(request, "pages/training/person.html", caller=caller, t=t, info=info, now=now,
                  open_rows=list(zip(open_ids, info.open, strict=True)), methods=pdf.METHOD_LABELS,
                  results=pdf.RESULT_LABELS, utc=pdf.utc,
                  reader=caller.principal.can(Permission.TRAINING_READ))


@router.get("/training/people/{username}/transcript.pdf")
def transcript_pdf(username: str, state: State, info: Info, caller: Person) -> Response:
    """The transcript as PDF: the export is recorded in the audit trail (the person's own, too)."""
    now = state.clock.now()
    with state.db.read() as s:
        t, doc = _transcript(s, caller, username, now=now, base_url=state.settings.base_url)
    body = pdf.render_transcript(doc)
    with state.db.unit_of_work() as s:
        training_reports.record_export(s, principal=caller.principal, what="transcript",
                                       filters={"user": t.user.username}, at=now, request=info)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="docctl-transcript-{t.user.username}-{_stamp(now)}.pdf"',
        "Cache-Control": "no-store"})


# --- point in time (TR-PIT) -------------------------------------------------------------------------------------


def _moment(value: str, zone: str) -> datetime:
    try:
        local = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date and time (YYYY-MM-DD HH:MM).") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


@router.get("/training/point-in-time")
def point_in_time(request: Request, state: State, caller: Person, user: Text = "", document: Text = "",
                  at: Text = "") -> Response:
    zone = caller.user.time_zone
    reader = caller.principal.can(Permission.TRAINING_READ)
    user, document, at = user.strip(), document.strip(), at.strip()
    now_local = state.clock.now().astimezone(ZoneInfo(zone)).replace(microsecond=0, tzinfo=None)
    form = {"user": user or ("" if reader else caller.user.username), "document": document,
            "at": at or now_local.isoformat(timespec="seconds")}
    answer, problem, status = None, "", 200
    if document or at:  # a user ID alone (the transcript's link) only fills in the form
        try:
            if not document:
                raise InvalidInput("Name the document (its number, e.g. SOP-QA-001).")
            moment = _moment(at, zone) if at else state.clock.now()
            with state.db.read() as s:
                answer = training_reports.point_in_time(s, principal=caller.principal,
                                                        username=user or caller.user.username, number=document,
                                                        at=moment)
        except PermissionDenied:
            raise
        except DocctlError as exc:
            problem, status = exc.message, status_for(exc)
    return render(request, "pages/training/pit.html", caller=caller, form=form, answer=answer, problem=problem,
                  status_code=status, reader=reader, utc=pdf.utc, methods=pdf.METHOD_LABELS)
