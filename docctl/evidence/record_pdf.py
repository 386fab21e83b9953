"""record.pdf: the human-readable certified copy in an evidence package (P11-10b, FDAQA-Q3). The document's
metadata, every revision, every electronic signature written out in full (meaning, printed name and title, date
and time UTC, signature ID, manifest SHA-256: P11-50a/b), the training records, and the audit trail with every
field of every event. Built with reportlab from the same dicts as document.json and audit/events.jsonl."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from docctl.renditions.fonts import drawable
from docctl.renditions.text import clean
from docctl.renditions.transcript_pdf import _GREY, _INK, _RULE, _Styles, _t, _table  # shared look

_MARGIN = 16 * mm


@dataclass
class RecordInfo:
    title: str  # "SOP-QA-001 Monitoring visits" or "Audit records 2026-11-01 to 2026-11-21"
    made_at: str
    made_by: str
    generator: str
    checkpoint: str  # "tree size N, root R"
    document: dict[str, Any] | None = None
    revisions: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # parsed canonical events, seq order


def utc_text(value: str | None) -> str:
    """An RFC 3339 UTC time as "YYYY-MM-DD HH:MM:SS UTC"."""
    if not value:
        return "—"
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def manifestation(sig: dict[str, Any]) -> str:
    """One signature written out; the same text appears in record.pdf (tests look for it)."""
    who = sig["printed_name"] + (f" ({sig['title']})" if sig.get("title") else "")
    return (f"{sig['meaning']} — {who} — {utc_text(sig['signed_at'])} — {sig['document']} v{sig['version']} — "
            f"signature {sig['id']} — manifest SHA-256 {sig['manifest_sha256']}")


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _facts(info: RecordInfo, st: _Styles, width: float) -> Any:
    d = info.document or {}
    facts = [("Made", f"{info.made_at} by {info.made_by} with {info.generator}"),
             ("Audit checkpoint", info.checkpoint)]
    if d:
        facts += [(k.replace("_", " ").capitalize(), _json(v) if isinstance(v, dict) else str(v))
                  for k, v in sorted(d.items()) if v not in (None, "")]
    rows = [[Paragraph(_t(k), st.head), Paragraph(_t(v), st.small)] for k, v in facts]
    return _table(rows, [0.22 * width, 0.78 * width])


def _revisions(info: RecordInfo, st: _Styles, width: float) -> Any:
    head = [Paragraph(h, st.head) for h in ("Version", "State", "Change", "Original (SHA-256)", "Dates (UTC)")]
    rows: list[list[Any]] = [head]
    for r in info.revisions:
        dates = "; ".join(f"{k.replace('_at', '')}: {utc_text(r[k])}" for k in (
            "created_at", "submitted_at", "approved_at", "effective_at", "superseded_at", "obsolete_at",
            "withdrawn_at") if r.get(k))
        rows.append([Paragraph(_t(r["version"]), st.small), Paragraph(_t(r["state"]), st.small),
                     Paragraph(_t(f"{r['change_kind']}: {r['change_summary']}"), st.small),
                     Paragraph(_t(f"{r['source_filename']} ({r['source_size']} bytes) {r['source_sha256']}"),
                               st.small), Paragraph(_t(dates), st.small)])
    return _table(rows, [w * width for w in (0.08, 0.1, 0.22, 0.32, 0.28)])


def _events(info: RecordInfo, st: _Styles, width: float) -> Any:
    head = [Paragraph(h, st.head) for h in ("Seq", "At (UTC)", "Actor", "Action and subject", "Details")]
    rows: list[list[Any]] = [head]
    for e in info.events:
        actor = e.get("actor") or {}
        subject = e.get("subject") or {}
        details = "; ".join(f"{k}: {_json(e.get(k)) if not isinstance(e.get(k), str) else e.get(k)}"
                            for k in ("reason", "before", "after", "request") if e.get(k))
        rows.append([Paragraph(_t(f"#{e['seq']}"), st.small), Paragraph(_t(utc_text(e.get("at"))), st.small),
                     Paragraph(_t(f"{actor.get('name')} ({actor.get('username')})"), st.small),
                     Paragraph(_t(f"{e.get('action')} {subject.get('type')} {subject.get('label') or ''} "
                                  f"{subject.get('id')}"), st.small),
                     Paragraph(_t(details or "—"), st.small)])
    return _table(rows, [w * width for w in (0.07, 0.14, 0.15, 0.24, 0.40)])


def _training(info: RecordInfo, st: _Styles) -> list[Any]:
    out: list[Any] = []
    for r in info.records:
        person = r.get("person") or {}
        trainer = (r.get("trainer") or {}).get("name")
        text = (f"{person.get('name')} ({person.get('username')}): {r['method']}, {r['result']}, version "
                f"{r.get('version') or '—'}, performed {r.get('performed_on') or utc_text(r['performed_at'])}, "
                f"recorded {utc_text(r['recorded_at'])}" + (f", trainer {trainer}" if trainer else "")
                + (f", signature {r['signature_id']}" if r.get("signature_id") else "")
                + (f", note: {r['note']}" if r.get("note") else ""))
        out.append(Paragraph(_t(text), st.small))
    return out or [Paragraph("No training records.", st.muted)]


def _canvas_maker(info: RecordInfo, st: _Styles) -> type[Canvas]:
    header = drawable(clean(f"Certified copy: {info.title}"))
    made = drawable(clean(f"Made {info.made_at} by {info.made_by} with {info.generator}"))

    class NumberedCanvas(Canvas):
        """Holds every page until the end, so each can say "page n of m"."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            for number, page in enumerate(self._pages, start=1):
                self.__dict__.update(page)
                self._frame(number, len(self._pages))
                super().showPage()
            super().save()

        def _frame(self, number: int, total: int) -> None:
            width, height = A4
            left, right = _MARGIN + 6, width - _MARGIN - 6
            self.saveState()
            self.setStrokeColor(_RULE)
            self.setFillColor(_INK)
            self.setFont(st.bold, 8.5)
            self.drawString(left, height - 11 * mm, header[:110])
            self.line(left, height - 12.5 * mm, right, height - 12.5 * mm)
            self.line(left, 12.5 * mm, right, 12.5 * mm)
            self.setFont(st.regular, 7.5)
            self.setFillColor(_GREY)
            self.drawString(left, 9 * mm, made[:120])
            self.drawRightString(right, 9 * mm, f"Page {number} of {total}")
            self.restoreState()

    return NumberedCanvas


def render_record(info: RecordInfo) -> bytes:
    st = _Styles()
    buffer = BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=_MARGIN, rightMargin=_MARGIN, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=drawable(clean(f"Certified copy: {info.title}")),
                            author="docctl", subject="docctl evidence package record", invariant=1)
    width = doc.width - 12
    story: list[Any] = [Paragraph(_t(f"Certified copy: {info.title}"), st.title), _facts(info, st, width)]
    if info.revisions:
        story += [Paragraph("Revisions", st.h2), _revisions(info, st, width)]
    story.append(Paragraph("Electronic signatures", st.h2))
    story += [Paragraph(_t(manifestation(s)), st.sig) for s in info.signatures] or [
        Paragraph("No electronic signatures.", st.muted)]
    story += [Paragraph("Training records", st.h2), *_training(info, st)]
    story += [Paragraph("Audit trail", st.h2), Paragraph(_t(
        "Every audit event in this package, oldest first, with every field; audit/events.jsonl holds each event's "
        "exact canonical text and its inclusion proof."), st.muted), Spacer(1, 4), _events(info, st, width)]
    doc.build(story, canvasmaker=_canvas_maker(info, st))
    return buffer.getvalue()
