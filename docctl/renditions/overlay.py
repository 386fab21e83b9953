"""The stamp drawn with reportlab: one PDF whose page i is the band (and watermark) for page i of the copy,
followed by the signature page(s). Every page is drawn upright in the page's displayed size; stamp_pdf places
it onto the source page."""

from __future__ import annotations

import math
from dataclasses import dataclass
from io import BytesIO

from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from docctl.renditions import stamp_text
from docctl.renditions.fonts import drawable, stamp_fonts
from docctl.renditions.model import StampInfo
from docctl.renditions.text import clean

A4 = (595.28, 841.89)
FONT_SIZE = 7.0  # the band's type at full size
_INK = (0.13, 0.13, 0.13)
_GREY = (0.38, 0.38, 0.38)
_RULE = (0.55, 0.55, 0.55)
_WATERMARK = (0.75, 0.1, 0.1)


@dataclass(frozen=True)
class SignatureLayout:
    size: tuple[float, float]
    pages: tuple[tuple[str, ...], ...]  # each page's rows, each row already wrapped into lines


def signature_size(first_page: tuple[float, float]) -> tuple[float, float]:
    """The signature page has the first page's displayed size, unless that is too small to write on."""
    width, height = first_page
    return (width, height) if min(width, height) >= 300 and max(width, height) <= 2000 else A4


def layout_signatures(info: StampInfo, size: tuple[float, float]) -> SignatureLayout:
    regular, _bold, _ = stamp_fonts()
    width, height = size
    rows = [clean(line) for line in info.signature_lines if clean(line)] or [stamp_text.NO_SIGNATURES]
    wrapped = [tuple(simpleSplit(drawable(row), regular, 9.5, width - 2 * 56)) or ("",) for row in rows]
    usable = height - 2 * 36 - 110  # below the heading, above the footer band
    pages: list[tuple[str, ...]] = []
    page: list[tuple[str, ...]] = []
    used = 0.0
    for lines in wrapped:
        needed = len(lines) * 12.5 + 9
        if page and used + needed > usable:
            pages.append(tuple("\n".join(row) for row in page))
            page, used = [], 0.0
        page.append(lines)
        used += needed
    pages.append(tuple("\n".join(row) for row in page))
    return SignatureLayout(size=size, pages=tuple(pages))


def draw_overlay(info: StampInfo, page_sizes: list[tuple[float, float]], signatures: SignatureLayout) -> bytes:
    """Pages 1..n: the stamp for each source page; then the signature pages, stamped too."""
    total = len(page_sizes) + len(signatures.pages)
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=page_sizes[0] if page_sizes else signatures.size, invariant=1,
                    pageCompression=1)
    canvas.setTitle(f"{clean(info.number)} v{clean(info.version)} controlled copy")
    mark = stamp_text.watermark(info)
    for number, size in enumerate(page_sizes, 1):
        canvas.setPageSize(size)
        if mark:
            _watermark(canvas, size, mark)
        _bands(canvas, size, info, number, total)
        canvas.showPage()
    for offset, rows in enumerate(signatures.pages):
        canvas.setPageSize(signatures.size)
        if mark:
            _watermark(canvas, signatures.size, mark)
        _signature_page(canvas, signatures.size, info, rows, continued=offset > 0)
        _bands(canvas, signatures.size, info, len(page_sizes) + offset + 1, total)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _scale(size: tuple[float, float]) -> float:
    """1 on ordinary paper; smaller on pages narrower or lower than 420 pt, so the bands stay in proportion."""
    return max(min(1.0, size[0] / 420, size[1] / 420), 0.001)


def _fit(text: str, font: str, size: float, room: float, smallest: float) -> float:
    width = stringWidth(text, font, size)
    return size if width <= room else max(smallest, size * room / width)


def _bands(canvas: Canvas, size: tuple[float, float], info: StampInfo, number: int, total: int) -> None:
    regular, bold, _ = stamp_fonts()
    width, height = size
    scale = _scale(size)
    font_size = FONT_SIZE * scale
    side = 28 * scale
    label = stamp_text.page_label(number, total)
    room = width - 2 * side - stringWidth(label, regular, font_size) - 12 * scale
    head_size, head_lines = _heading_lines(info, bold, font_size, room)
    leading = 1.25 * head_size
    top_band, bottom_band = 30 * scale + leading * (len(head_lines) - 1), 33 * scale

    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.setFillAlpha(0.8)
    canvas.rect(0, height - top_band, width, top_band, stroke=0, fill=1)
    canvas.rect(0, 0, width, bottom_band, stroke=0, fill=1)
    canvas.setFillAlpha(1)
    canvas.setStrokeColorRGB(*_RULE)
    canvas.setLineWidth(0.4 * scale)
    canvas.line(side, height - top_band, width - side, height - top_band)
    canvas.line(side, bottom_band, width - side, bottom_band)

    canvas.setFillColorRGB(*_INK)
    canvas.setFont(bold, head_size)
    for index, line in enumerate(head_lines):
        canvas.drawString(side, height - 21 * scale - index * leading, line)
    canvas.setFont(regular, font_size)
    canvas.drawRightString(width - side, height - 21 * scale, label)

    canvas.setFillColorRGB(*_GREY)
    for text, baseline in ((stamp_text.printed(info), 23.5), (stamp_text.uncontrolled(info), 14.5)):
        text = drawable(text)
        canvas.setFont(regular, _fit(text, regular, font_size, width - 2 * side, font_size / 4))
        canvas.drawString(side, baseline * scale, text)
    canvas.restoreState()


def _heading_lines(info: StampInfo, font: str, font_size: float, room: float) -> tuple[float, list[str]]:
    """The heading in one line, a little smaller if that is enough, else wrapped onto up to three lines;
    only a title too long even for that is cut (…). Number, version, state and date always stay whole."""
    head = drawable(stamp_text.heading(info))
    size = _fit(head, font, font_size, room, 0.85 * font_size)
    if stringWidth(head, font, size) <= room:
        return size, [head]
    lines = simpleSplit(head, font, size, room)
    if len(lines) <= 3 and all(stringWidth(line, font, size) <= room for line in lines):
        return size, lines
    title = drawable(clean(info.title))
    low, high = 0, len(title)
    while low < high:  # the longest title prefix whose heading wraps into three lines
        middle = (low + high + 1) // 2
        candidate = drawable(stamp_text.heading(info, title[:middle].rstrip() + "…"))
        if len(simpleSplit(candidate, font, size, room)) <= 3:
            low = middle
        else:
            high = middle - 1
    return size, simpleSplit(drawable(stamp_text.heading(info, title[:low].rstrip() + "…")), font, size, room)


def _watermark(canvas: Canvas, size: tuple[float, float], word: str) -> None:
    _regular, bold, _ = stamp_fonts()
    word = drawable(word)
    width, height = size
    diagonal = math.hypot(width, height)
    font_size = min(0.7 * diagonal / max(stringWidth(word, bold, 1), 0.01), 0.3 * min(width, height))
    canvas.saveState()
    canvas.setFillColorRGB(*_WATERMARK)
    canvas.setFillAlpha(0.14)
    canvas.translate(width / 2, height / 2)
    canvas.rotate(math.degrees(math.atan2(height, width)))
    canvas.setFont(bold, font_size)
    canvas.drawCentredString(0, -0.35 * font_size, word)
    canvas.restoreState()


def _signature_page(canvas: Canvas, size: tuple[float, float], info: StampInfo, rows: tuple[str, ...],
                    continued: bool) -> None:
    regular, bold, _ = stamp_fonts()
    width, height = size
    left, right = 56, width - 56
    y = height - 36 - 48
    canvas.setFillColorRGB(*_INK)
    heading = drawable(clean(info.signature_heading)) + (" (continued)" if continued else "")
    canvas.setFont(bold, _fit(heading, bold, 15, right - left, 8))
    canvas.drawString(left, y, heading)
    y -= 18
    canvas.setFillColorRGB(*_GREY)
    note = drawable(stamp_text.copy_note(info))
    canvas.setFont(regular, _fit(note, regular, 8.5, right - left, 4))
    canvas.drawString(left, y, note)
    y -= 14
    canvas.setStrokeColorRGB(*_RULE)
    canvas.setLineWidth(0.8)
    canvas.line(left, y, right, y)
    y -= 20
    canvas.setFillColorRGB(*_INK)
    canvas.setLineWidth(0.3)
    for row in rows:
        canvas.setFont(regular, 9.5)
        for line in row.split("\n"):
            canvas.drawString(left, y, line)
            y -= 12.5
        y -= 1
        canvas.line(left, y + 6, right, y + 6)
        y -= 8
