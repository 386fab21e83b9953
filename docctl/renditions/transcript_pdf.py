"""A person's training transcript as a PDF (A4, reportlab): who they are, their job functions over time, every
training record with the signature behind it written out in full (printed name, title, meaning, date and time in
UTC, signature ID: P11-50a/b, MHRA 6.14), what is still open, and on every page a header, the time it was made
and "page n of m"."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from docctl.renditions.fonts import drawable, stamp_fonts
from docctl.renditions.text import clean

METHOD_LABELS = {
    "read_and_understood": "Read and understood (e-signature)",
    "offline": "Trained by a trainer (offline)",
    "carried_over": "Carried over (no retraining)",
}
RESULT_LABELS = {"completed": "Completed", "passed": "Passed", "failed": "Failed"}

_INK = colors.Color(0.13, 0.13, 0.13)
_GREY = colors.Color(0.38, 0.38, 0.38)
_RULE = colors.Color(0.75, 0.77, 0.8)
_HEAD = colors.Color(0.94, 0.95, 0.97)
_MARGIN = 16 * mm


@dataclass(frozen=True)
class SignatureLine:
    meaning: str
    printed_name: str
    title: str
    signed_at: datetime
    signature_id: str
    manifest_sha256: str = ""


@dataclass(frozen=True)
class RecordLine:
    number: str
    title: str
    revision_version: str  # the revision the record is on
    trained_version: str  # the version the person actually trained on (differs when carried over)
    method: str
    result: str
    performed_at: datetime
    recorded_at: datetime
    trainer: str = ""
    note: str = ""
    signature: SignatureLine | None = None
    performed_on: date | None = None  # offline training: the day it was given (a day, not a moment)


@dataclass(frozen=True)
class FunctionLine:
    code: str
    name: str
    granted_at: datetime
    revoked_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class OpenLine:
    number: str
    title: str
    version: str
    assigned_at: datetime
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class TranscriptInfo:
    username: str
    full_name: str
    title: str
    department: str
    status: str
    generated_at: datetime
    generated_by: str  # "Name (user ID)"
    base_url: str = ""
    functions: list[FunctionLine] = field(default_factory=list)
    records: list[RecordLine] = field(default_factory=list)
    open: list[OpenLine] = field(default_factory=list)


def utc(at: datetime | None) -> str:
    """Date and time in UTC, to the second, saying so."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "—"


def performed(line: RecordLine) -> str:
    """When the training counts from: the day given for offline training, else the moment (the signature)."""
    return f"{line.performed_on.isoformat()} (day given)" if line.performed_on else utc(line.performed_at)


def manifestation(sig: SignatureLine, number: str = "", version: str = "") -> str:
    """The signature written out: meaning — name (title) — date and time UTC — record — signature ID."""
    who = sig.printed_name + (f" ({sig.title})" if sig.title else "")
    parts = [sig.meaning, who, utc(sig.signed_at)]
    if number:
        parts.append(f"{number} v{version}" if version else number)
    parts.append(f"signature {sig.signature_id}")
    if sig.manifest_sha256:
        parts.append(f"manifest SHA-256 {sig.manifest_sha256[:16]}…")
    return " — ".join(parts)


def _t(text: object) -> str:
    """Text for a Paragraph: one clean line, drawable in the font, XML-escaped."""
    return html.escape(drawable(clean(str(text))), quote=False)


class _Styles:
    def __init__(self) -> None:
        regular, bold, _ = stamp_fonts()
        self.regular, self.bold = regular, bold
        self.title = ParagraphStyle("title", fontName=bold, fontSize=15, leading=19, textColor=_INK, spaceAfter=4)
        self.h2 = ParagraphStyle("h2", fontName=bold, fontSize=11, leading=14, textColor=_INK, spaceBefore=10,
                                 spaceAfter=5)
        self.body = ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=11, textColor=_INK)
        self.small = ParagraphStyle("small", fontName=regular, fontSize=7.5, leading=9.5, textColor=_INK)
        self.muted = ParagraphStyle("muted", parent=self.small, textColor=_GREY)
        self.head = ParagraphStyle("head", fontName=bold, fontSize=7.5, leading=9.5, textColor=_GREY)
        self.sig = ParagraphStyle("sig", fontName=regular, fontSize=7.5, leading=9.5, textColor=_INK, leftIndent=6)


def _table(rows: list[list[Any]], widths: list[float], extra: list[tuple[Any, ...]] | None = None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), _HEAD),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, _RULE),
        ("BOX", (0, 0), (-1, -1), 0.6, _RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        *(extra or []),
    ]))
    return table


def _records_table(info: TranscriptInfo, st: _Styles, width: float) -> Table:
    head = [Paragraph(h, st.head) for h in ("Document", "Version trained", "Method", "Result", "Performed (UTC)",
                                            "Recorded (UTC)", "Trainer")]
    widths = [w * width for w in (0.23, 0.09, 0.15, 0.10, 0.14, 0.14, 0.15)]
    rows: list[list[Any]] = [head]
    extra: list[tuple[Any, ...]] = []
    for line in info.records:
        version = line.trained_version or line.revision_version
        if line.trained_version and line.trained_version != line.revision_version:
            version += f" (counts for v{line.revision_version})"
        rows.append([
            Paragraph(f"<b>{_t(line.number)}</b> {_t(line.title)}", st.small),
            Paragraph(_t(version), st.small),
            Paragraph(_t(METHOD_LABELS.get(line.method, line.method)), st.small),
            Paragraph(_t(RESULT_LABELS.get(line.result, line.result)), st.small),
            Paragraph(_t(performed(line)), st.small),
            Paragraph(_t(utc(line.recorded_at)), st.small),
            Paragraph(_t(line.trainer or "—"), st.small),
        ])
        under = []
        if line.signature is not None:
            under.append("<b>Signed:</b> " + _t(manifestation(line.signature, line.number, line.revision_version)))
        elif line.method != "carried_over":
            under.append("<b>Signed:</b> no electronic signature is linked to this record.")
        if line.note:
            under.append("<b>Note:</b> " + _t(line.note))
        if under:
            rows.append([Paragraph("<br/>".join(under), st.sig), "", "", "", "", "", ""])
            n = len(rows) - 1
            extra += [("SPAN", (0, n), (-1, n)), ("LINEABOVE", (0, n), (-1, n), 0, colors.white),
                      ("LINEBELOW", (0, n - 1), (-1, n - 1), 0, colors.white)]
    if len(rows) == 1:
        rows.append([Paragraph("No training records.", st.muted), "", "", "", "", "", ""])
        extra.append(("SPAN", (0, 1), (-1, 1)))
    return _table(rows, widths, extra)


def _functions_table(info: TranscriptInfo, st: _Styles, width: float) -> Table:
    rows: list[list[Any]] = [[Paragraph(h, st.head) for h in ("Function", "Name", "Granted (UTC)", "Revoked (UTC)",
                                                              "Reason")]]
    for f in info.functions:
        rows.append([Paragraph(_t(f.code), st.small), Paragraph(_t(f.name), st.small),
                     Paragraph(_t(utc(f.granted_at)), st.small),
                     Paragraph(_t(utc(f.revoked_at) if f.revoked_at else "held"), st.small),
                     Paragraph(_t(f.reason or ""), st.small)])
    extra: list[tuple[Any, ...]] = []
    if len(rows) == 1:
        rows.append([Paragraph("No job functions.", st.muted), "", "", "", ""])
        extra.append(("SPAN", (0, 1), (-1, 1)))
    return _table(rows, [w * width for w in (0.14, 0.26, 0.18, 0.18, 0.24)], extra)


def _open_table(info: TranscriptInfo, st: _Styles, width: float) -> Table:
    rows: list[list[Any]] = [[Paragraph(h, st.head) for h in ("Document", "Version", "Assigned (UTC)", "Due (UTC)",
                                                              "Status")]]
    for o in info.open:
        rows.append([Paragraph(f"<b>{_t(o.number)}</b> {_t(o.title)}", st.small), Paragraph(_t(o.version), st.small),
                     Paragraph(_t(utc(o.assigned_at)), st.small), Paragraph(_t(utc(o.due_at)), st.small),
                     Paragraph("<b>Overdue</b>" if o.overdue else "Due", st.small)])
    extra: list[tuple[Any, ...]] = []
    if len(rows) == 1:
        rows.append([Paragraph("Nothing open.", st.muted), "", "", "", ""])
        extra.append(("SPAN", (0, 1), (-1, 1)))
    return _table(rows, [w * width for w in (0.38, 0.1, 0.2, 0.2, 0.12)], extra)


def _canvas_maker(info: TranscriptInfo, st: _Styles) -> type[Canvas]:
    header = drawable(clean(f"Training transcript — {info.full_name} ({info.username})"))
    made = drawable(clean(f"Generated {utc(info.generated_at)} by {info.generated_by}"))

    class NumberedCanvas(Canvas):
        """Holds every page until the end, so each can say "page n of m"."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, page in enumerate(self._pages, start=1):
                self.__dict__.update(page)
                self._frame(number, total)
                super().showPage()
            super().save()

        def _frame(self, number: int, total: int) -> None:
            width, height = A4
            left, right = _MARGIN + 6, width - _MARGIN - 6  # aligned with the frame's content
            self.saveState()
            self.setStrokeColor(_RULE)
            self.setLineWidth(0.5)
            self.setFillColor(_INK)
            self.setFont(st.bold, 8.5)
            self.drawString(left, height - 11 * mm, header)
            self.setFont(st.regular, 7.5)
            self.setFillColor(_GREY)
            self.drawRightString(right, height - 11 * mm, "docctl training record")
            self.line(left, height - 12.5 * mm, right, height - 12.5 * mm)
            self.line(left, 12.5 * mm, right, 12.5 * mm)
            self.drawString(left, 9 * mm, made)
            self.drawRightString(right, 9 * mm, f"Page {number} of {total}")
            self.restoreState()

    return NumberedCanvas


def render_transcript(info: TranscriptInfo) -> bytes:
    """The transcript as PDF bytes."""
    st = _Styles()
    buffer = BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=_MARGIN, rightMargin=_MARGIN, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=drawable(clean(f"Training transcript {info.username}")),
                            author="docctl", subject=drawable(clean(f"Training records of {info.full_name}")),
                            invariant=1)
    width = doc.width - 12  # the frame's padding, 6 pt a side
    facts = [
        ("Person", f"{info.full_name} ({info.username})"),
        ("Title", info.title or "—"),
        ("Department", info.department or "—"),
        ("Account", info.status),
        ("Generated", f"{utc(info.generated_at)} by {info.generated_by}"),
    ]
    fact_rows = [[Paragraph(_t(k), st.head), Paragraph(_t(v), st.body)] for k, v in facts]
    story: list[Any] = [
        Paragraph(_t(f"Training transcript: {info.full_name}"), st.title),
        Table(fact_rows, colWidths=[32 * mm, width - 32 * mm], style=TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)])),
        Paragraph("Job functions", st.h2),
        _functions_table(info, st, width),
        Paragraph("Training records", st.h2),
        Paragraph(_t("Performed: when the training counts from (the signature, or the day the trainer gave it). "
                     "Recorded: when it was entered in docctl, from the server clock. Every signature is shown with "
                     "the signer's printed name, its meaning and the date and time in UTC."), st.muted),
        Spacer(1, 4),
        _records_table(info, st, width),
        Paragraph("Open training", st.h2),
        _open_table(info, st, width),
    ]
    check = f"{info.base_url.rstrip('/')}/api/v1/signatures/<signature id>" if info.base_url else \
        "/api/v1/signatures/<signature id>"
    story.append(KeepTogether([Spacer(1, 8), Paragraph(
        _t(f"Each signature can be checked at {check}. This transcript is a report generated from the records "
           "held in docctl at the time shown; the records themselves stay in docctl."), st.muted)]))
    doc.build(story, canvasmaker=_canvas_maker(info, st))
    return buffer.getvalue()
