"""The audit trail as a printable PDF (P11-10e.7, A11 §9 "printable"): landscape A4, every field of every event
written out and wrapped (nothing clipped, a value longer than a page continues on the next), and on every page a
header naming the filters and the signed checkpoint the export was made against, and a footer with who made it,
when, and "page n of m".

Memory: events arrive from an iterator (keyset batches) and each is laid out as soon as it arrives; reportlab keeps
the finished pages (compressed) until `save()` writes the file, so memory grows with the PDF's compressed size
(bounded by the export limit, DOCCTL_AUDIT_PDF_MAX_EVENTS), not with the trail. "of m" is a form XObject drawn on
every page and defined once the last page is known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Frame

from docctl.renditions.fonts import stamp_fonts

PAGE = landscape(A4)
_MARGIN = 12 * mm
_HEADER_H = 16 * mm
_FOOTER_H = 9 * mm
_INK = colors.Color(0.13, 0.13, 0.13)
_GREY = colors.Color(0.38, 0.38, 0.38)
_RULE = colors.Color(0.75, 0.77, 0.8)
_HEAD = colors.Color(0.92, 0.94, 0.97)
_TOTAL_FORM = "docctlPageTotal"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class PdfContext:
    """What every page says about the export."""

    filters: str  # "all events" or the filters and preset, as a person reads them
    tree_size: int
    root_hex: str
    generated_by: str  # "username (Full Name)"
    generated_at: datetime
    zone: str  # the viewer's time zone, for the second time column


def _tz(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@cache
def _has_glyph() -> Any:
    regular, _, unicode = stamp_fonts()
    if unicode:
        glyphs = pdfmetrics.getFont(regular).face.charToGlyph
        return lambda ch: ord(ch) in glyphs

    def winansi(ch: str) -> bool:
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            return False
        return True

    return winansi


def printable(value: str) -> str:
    """The text as the PDF prints it: a character the font has no glyph for (CJK with DejaVu Sans, say) becomes
    [U+XXXX], so nothing is lost or shown as an empty box; control characters become \\xNN."""
    if value.isascii() and not _CONTROL.search(value):
        return value
    has = _has_glyph()
    out = []
    for ch in value:
        if ch == "\n" or ch == "\t":
            out.append(ch)
        elif _CONTROL.match(ch):
            out.append(f"\\x{ord(ch):02x}")
        elif ch == " " or has(ch):
            out.append(ch)
        else:
            out.append(f"[U+{ord(ch):04X}]")
    return "".join(out)


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _local(at: str, zone: ZoneInfo, zone_name: str) -> tuple[str, str]:
    """The event's RFC 3339 UTC time as stored, and the same instant in the viewer's zone with its offset."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return at, moment.astimezone(zone).isoformat(sep=" ", timespec="microseconds") + f" ({zone_name})"


class _Font:
    """Widths of one font at one size, fast: reportlab's pure-Python stringWidth is the bottleneck of a long
    export, so TrueType widths come from the face's table, cached per word."""

    def __init__(self, name: str, size: float) -> None:
        self.name, self.size = name, size
        font = pdfmetrics.getFont(name)
        face = getattr(font, "face", None)
        self._table: dict[int, float] | None = None
        if face is not None and hasattr(face, "charWidths"):
            self._table = {k: v * size / 1000 for k, v in face.charWidths.items()}
            self._default = face.defaultWidth * size / 1000
        self._cache: dict[str, float] = {}

    def width(self, text: str) -> float:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        if self._table is None:
            value = pdfmetrics.stringWidth(text, self.name, self.size)
        else:
            table, default = self._table, self._default
            value = sum(table.get(ord(ch), default) for ch in text)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[text] = value
        return value

    def fit(self, word: str, limit: float) -> int:
        """How many leading characters of `word` fit in `limit` (at least one)."""
        used = 0.0
        for n, ch in enumerate(word):
            used += self.width(ch)
            if used > limit:
                return max(n, 1)
        return len(word)

    def wrap(self, text: str, first: float, rest: float) -> list[str]:
        """Greedy word wrap, the first line `first` wide and the others `rest`; a word longer than a line is cut
        (never clipped); line breaks in the text are kept."""
        lines: list[str] = []
        space = self.width(" ")
        for paragraph in text.split("\n"):
            limit = first if not lines else rest
            current, used = "", 0.0
            for word in paragraph.split(" "):
                w = self.width(word)
                wanted = w if not current else used + space + w
                if wanted <= limit:
                    current, used = (word if not current else f"{current} {word}"), wanted
                    continue
                if current:
                    lines.append(current)
                    limit = rest
                while w > limit:
                    n = self.fit(word, limit)
                    lines.append(word[:n])
                    word, limit = word[n:], rest
                    w = self.width(word)
                current, used = word, w
            lines.append(current)
        return lines


@dataclass
class _Style:
    label: _Font
    text: _Font
    leading: float
    indent: float  # of the lines after the first
    space_before: float = 0
    background: Any = None


class _Lines(Flowable):
    """A bold label and its value, wrapped; splits between lines, so a value longer than a page continues on the
    next one."""

    def __init__(self, label: str, text: str, style: _Style, lines: list[str] | None = None,
                 labelled: bool = True) -> None:
        super().__init__()
        self.label, self.text, self.style = label, text, style
        self.lines, self.labelled = lines, labelled
        self.spaceBefore = style.space_before if labelled else 0
        self._for_width: float | None = None

    def _gap(self) -> float:
        return self.style.label.width(self.label + "  ") if self.label else 0.0

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803 - reportlab's names
        if self._for_width != availWidth:
            if self.lines is None or self._for_width is not None:
                first = availWidth - (self._gap() if self.labelled else self.style.indent)
                self.lines = self.style.text.wrap(self.text, first, availWidth - self.style.indent)
            self._for_width = availWidth
        self.width, self.height = availWidth, len(self.lines) * self.style.leading + 2
        return self.width, self.height

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        self.wrap(availWidth, availHeight)
        assert self.lines is not None
        n = int((availHeight - 2) // self.style.leading)
        if n <= 0 or n >= len(self.lines):
            return []
        head = _Lines(self.label, "", self.style, self.lines[:n], self.labelled)
        tail = _Lines(self.label, "", self.style, self.lines[n:], labelled=False)
        head._for_width = tail._for_width = availWidth  # noqa: SLF001 - already wrapped to this width
        return [head, tail]

    def draw(self) -> None:
        c, st = self.canv, self.style
        assert self.lines is not None
        if st.background is not None:
            c.setFillColor(st.background)
            c.rect(-3, 0, self.width + 6, self.height, stroke=0, fill=1)
        c.setFillColor(_INK)
        y = self.height - st.text.size - 1
        t = c.beginText()
        for n, line in enumerate(self.lines):
            if n == 0 and self.labelled:
                t.setTextOrigin(0, y)
                if self.label:
                    t.setFont(st.label.name, st.label.size)
                    t.textOut(self.label + "  ")
                t.setFont(st.text.name, st.text.size)
                t.textOut(line)
            else:
                t.setTextOrigin(st.indent, y)
                t.setFont(st.text.name, st.text.size)
                t.textOut(line)
            y -= st.leading
        c.drawText(t)


class _Styles:
    def __init__(self) -> None:
        regular, bold, _ = stamp_fonts()
        self.regular, self.bold = regular, bold
        self.head = _Style(_Font(bold, 8.5), _Font(bold, 8.5), leading=11, indent=12, space_before=8,
                           background=_HEAD)
        self.line = _Style(_Font(bold, 7.5), _Font(regular, 7.5), leading=9.5, indent=12)


def event_flowables(canonical: bytes, leaf_hash: bytes, root: bytes, styles: _Styles, zone: ZoneInfo,
                    zone_name: str) -> list[Flowable]:
    """One event: a heading line (seq, action, both times), then one wrapped line per field."""
    e = json.loads(canonical)
    utc, local = _local(e["at"], zone, zone_name)
    actor = e.get("actor") or {}
    if actor.get("id"):
        who = f"{actor.get('username') or ''} · {actor.get('name') or ''} · id {actor['id']}"
    else:
        who = f"system ({actor.get('username') or ''}, {actor.get('name') or ''})"
    subject = e.get("subject") or {}
    request = e.get("request")
    reason = e.get("reason")
    line = styles.line
    fields = [
        ("Actor", who),
        ("Subject", f"type {subject.get('type') or ''} · id {subject.get('id') or ''} · label "
                    f"{subject.get('label') or ''}"),
        ("Reason", reason if reason else "(none)"),
    ]
    before, after = e.get("before"), e.get("after")
    if before is None and after is None:
        fields.append(("Changes", "(none recorded)"))
    else:
        before, after = before or {}, after or {}
        for key in sorted(set(before) | set(after)):
            parts = []
            if key in before:
                parts.append(f"before: {_value(before[key])}")
            if key in after:
                parts.append(f"after: {_value(after[key])}")
            fields.append((key, "   →   ".join(parts)))
    if request:
        fields.append(("Request", f"ip {request.get('ip') or ''} · user agent {request.get('user_agent') or ''}"))
    else:
        fields.append(("Request", "(no web request)"))
    fields.append(("Leaf hash", f"{leaf_hash.hex()}   Root after {root.hex()}"))
    heading = f"#{e['seq']}   {e['action']}   {utc} UTC   |   {local}"
    return [_Lines("", printable(heading), styles.head),
            *(_Lines(printable(label), printable(text), line) for label, text in fields)]


class _Writer:
    def __init__(self, target: Any, context: PdfContext) -> None:
        self.context = context
        self.styles = _Styles()
        self.canvas = Canvas(target, pagesize=PAGE, pageCompression=1, invariant=1)
        self.canvas.setTitle(f"docctl audit trail, checkpoint tree size {context.tree_size}")
        self.canvas.setAuthor(printable(context.generated_by))
        self.canvas.setSubject(printable(context.filters))
        self.pages = 0
        self.frame: Frame | None = None
        regular = self.styles.regular
        self.filter_lines = simpleSplit(printable(f"Filters: {context.filters}"), regular, 7.5, PAGE[0] - 2 * _MARGIN)
        self.header_h = _HEADER_H + 9 * (len(self.filter_lines) - 1)

    def _show_page(self) -> None:
        self._footer()
        self.canvas.showPage()
        self._compress_last_page()

    def _compress_last_page(self) -> None:
        """Deflate the finished page's content stream now instead of at save(): reportlab would keep every page's
        uncompressed text (about 20 KiB a page here) until the end; compressed it is about a tenth."""
        page = self.canvas._doc.Pages.pages[-1]  # noqa: SLF001 - reportlab keeps no public handle on it
        if getattr(page, "stream", None):
            flate = pdfdoc.PDFZCompress
            dictionary = pdfdoc.PDFDictionary({"Filter": pdfdoc.PDFArray([pdfdoc.PDFName(flate.pdfname)])})
            page.Contents = pdfdoc.PDFStream(dictionary, flate.encode(page.stream), filters=[])
            page.stream = None

    def _new_page(self) -> Frame:
        if self.frame is not None:
            self._show_page()
        self.pages += 1
        self._header()
        width, height = PAGE
        self.frame = Frame(_MARGIN, _MARGIN + _FOOTER_H, width - 2 * _MARGIN, height - 2 * _MARGIN - self.header_h -
                           _FOOTER_H, leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        return self.frame

    def _header(self) -> None:
        c, ctx, s = self.canvas, self.context, self.styles
        width, height = PAGE
        top = height - _MARGIN
        c.setFillColor(_INK)
        c.setFont(s.bold, 11)
        c.drawString(_MARGIN, top - 10, "docctl audit trail")
        c.setFont(s.regular, 7.5)
        y = top - 21
        for line in self.filter_lines:
            c.drawString(_MARGIN, y, line)
            y -= 9
        c.setFillColor(_GREY)
        c.drawString(_MARGIN, y, f"Checkpoint: tree size {ctx.tree_size}, root {ctx.root_hex}. Events 1 to "
                                 f"{ctx.tree_size} are covered; each event's leaf hash and root check against it.")
        c.setStrokeColor(_RULE)
        c.line(_MARGIN, top - self.header_h + 2, width - _MARGIN, top - self.header_h + 2)

    def _footer(self) -> None:
        c, ctx, s = self.canvas, self.context, self.styles
        width, _ = PAGE
        y = _MARGIN
        c.setStrokeColor(_RULE)
        c.line(_MARGIN, y + 9, width - _MARGIN, y + 9)
        c.setFont(s.regular, 7.5)
        c.setFillColor(_GREY)
        made = ctx.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        local = ctx.generated_at.astimezone(_tz(ctx.zone)).isoformat(sep=" ", timespec="seconds")
        c.drawString(_MARGIN, y, printable(f"docctl audit trail · generated by {ctx.generated_by} at {made} "
                                          f"({local} {ctx.zone}) · checkpoint tree size {ctx.tree_size}"))
        label = f"page {self.pages} of "
        x = width - _MARGIN - 30 * mm
        c.drawString(x, y, label)
        c.saveState()
        c.translate(x + c.stringWidth(label, s.regular, 7.5), y)
        c.doForm(_TOTAL_FORM)
        c.restoreState()

    def place(self, flowable: Flowable) -> None:
        frame = self.frame or self._new_page()
        pending = [flowable]
        while pending:
            f = pending.pop(0)
            if frame.add(f, self.canvas, trySplit=0):
                continue
            parts = frame.split(f, self.canvas)
            if parts and frame.add(parts[0], self.canvas, trySplit=0):
                pending[:0] = parts[1:]
            elif frame._atTop:  # noqa: SLF001 - nothing fits even on an empty page: cannot happen for text
                raise ValueError("an audit event line does not fit on a page")
            else:
                pending.insert(0, f)
            frame = self._new_page()

    def keep_room(self, points: float) -> None:
        """Start a new page when less than `points` is left, so an event's heading is not alone at the bottom."""
        frame = self.frame or self._new_page()
        if frame._y - frame._y1p < points:  # noqa: SLF001
            self._new_page()

    def finish(self, events: int) -> int:
        if self.frame is None:
            self._new_page()
            self.place(_Lines("", "No events match these filters.", self.styles.line))
        self._show_page()
        c = self.canvas
        c.beginForm(_TOTAL_FORM)
        c.setFont(self.styles.regular, 7.5)
        c.setFillColor(_GREY)
        c.drawString(0, 0, f"{self.pages}   ({events} event{'' if events == 1 else 's'})")
        c.endForm()
        c.save()
        return self.pages


def write_audit_pdf(target: Any, context: PdfContext, rows: Iterable[tuple[bytes, bytes, bytes]]) -> tuple[int, int]:
    """Write the PDF of `rows` ((canonical event, leaf hash, root), oldest first) to `target` (a path or a binary
    file); returns (events, pages)."""
    writer = _Writer(target, context)
    zone = _tz(context.zone)
    count = 0
    for canonical, leaf, root in rows:
        count += 1
        writer.keep_room(60)
        for f in event_flowables(canonical, leaf, root, writer.styles, zone, context.zone):
            writer.place(f)
    return count, writer.finish(count)
