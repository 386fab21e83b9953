"""stamp_docx: the controlled copy of a DOCX-only rendition (no LibreOffice), with python-docx.

Every header definition (primary, first-page, even-page; the first section gets every kind any section uses,
later sections inherit it unless they define their own) starts with the heading line and the watermark as
Word draws one (a VML text path behind the text); every footer ends with the printed-by line, the page number
(PAGE and NUMPAGES fields) and the uncontrolled line. A final section holds the signature lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import quoteattr

import docx
from docx.document import Document as DocxDocument
from docx.enum.section import WD_SECTION
from docx.oxml.parser import parse_xml
from docx.section import _Footer, _Header
from docx.shared import Pt, RGBColor
from docx.text.paragraph import Paragraph

from docctl.errors import RenditionFailed
from docctl.renditions import stamp_text
from docctl.renditions.model import StampInfo
from docctl.renditions.pdfread import quiet
from docctl.renditions.text import clean

_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_SIZE = Pt(7.5)
_FONT = "Arial"  # narrow enough for the heading on one line; LibreOffice uses the metric-compatible Liberation Sans
_INK = RGBColor(0x22, 0x22, 0x22)
_GREY = RGBColor(0x60, 0x60, 0x60)
_KINDS = (("header", "footer"), ("first_page_header", "first_page_footer"), ("even_page_header", "even_page_footer"))


def stamp_docx(source: Path, out: BinaryIO, info: StampInfo) -> None:
    """Write the controlled copy of the Word document `source` to `out`."""
    try:
        with quiet():
            document = docx.Document(str(source))
            _stamp(document, info)
            document.save(out)
    except RenditionFailed:
        raise
    except Exception as exc:  # python-docx/lxml on a document it reads but cannot rewrite
        raise RenditionFailed(f"The controlled copy of the Word document could not be made: "
                              f"{type(exc).__name__}: {exc}") from exc


def _stamp(document: DocxDocument, info: StampInfo) -> None:
    sections = list(document.sections)
    used = {0}
    if any(section.different_first_page_header_footer for section in sections):
        used.add(1)
    if document.settings.odd_and_even_pages_header_footer:
        used.add(2)
    _signature_section(document, info)
    shapes = iter(range(1, 10_000))
    for index, section in enumerate(document.sections):
        for kind, (header_name, footer_name) in enumerate(_KINDS):
            # Every definition there is gets the stamp, used or not (settings may change); the first section
            # also gets one of each kind in use, for later sections to inherit.
            header, footer = getattr(section, header_name), getattr(section, footer_name)
            if not header.is_linked_to_previous or (index == 0 and kind in used):
                header.is_linked_to_previous = False
                _stamp_header(header, info, next(shapes), _text_width(section))
            if not footer.is_linked_to_previous or (index == 0 and kind in used):
                footer.is_linked_to_previous = False
                _stamp_footer(footer, info)


def _text_width(section: object) -> float:
    try:
        width = section.page_width - section.left_margin - section.right_margin  # type: ignore[attr-defined]
        return max(width / 12700, 144.0)  # EMU to points
    except (AttributeError, TypeError):
        return 450.0


def _paragraph_at_start(container: _Header | _Footer) -> Paragraph:
    element = container._element
    new = parse_xml(f'<w:p xmlns:w="{_W_NS}"/>')
    element.insert(0, new)
    return Paragraph(new, container)


def _styled(paragraph: Paragraph) -> Paragraph:
    paragraph.paragraph_format.space_before = Pt(0)
    paragraph.paragraph_format.space_after = Pt(0)
    return paragraph


def _run(paragraph: Paragraph, text: str, *, bold: bool = False, color: RGBColor = _INK) -> None:
    run = paragraph.add_run(text)
    run.font.name = _FONT
    run.font.size = _SIZE
    run.font.bold = bold
    run.font.color.rgb = color


def _field(paragraph: Paragraph, instruction: str, shown: str) -> None:
    """A simple field (PAGE, NUMPAGES) whose cached result is `shown`; Word and LibreOffice recompute it."""
    half_points = int(_SIZE.pt * 2)
    paragraph._p.append(parse_xml(
        f'<w:fldSimple xmlns:w="{_W_NS}" w:instr=" {instruction} "><w:r><w:rPr>'
        f'<w:rFonts w:ascii="{_FONT}" w:hAnsi="{_FONT}"/><w:color w:val="{_GREY}"/><w:sz w:val="{half_points}"/>'
        f'</w:rPr><w:t>{shown}</w:t></w:r></w:fldSimple>'))


def _stamp_header(header: _Header, info: StampInfo, shape_number: int, text_width: float) -> None:
    paragraph = _styled(_paragraph_at_start(header))
    heading = stamp_text.heading(info)
    word = stamp_text.watermark(info)
    if word and word != clean(info.state).upper():
        heading += f" — {word}"
    _run(paragraph, heading, bold=True)
    if word:
        paragraph._p.append(parse_xml(_watermark_xml(word, shape_number, text_width)))


def _stamp_footer(footer: _Footer, info: StampInfo) -> None:
    # "Page i of N" sits here rather than beside the heading: the heading alone may fill the header's width.
    paragraph = _styled(footer.add_paragraph())
    _run(paragraph, stamp_text.printed(info) + " — Page ", color=_GREY)
    _field(paragraph, "PAGE", "1")
    _run(paragraph, " of ", color=_GREY)
    _field(paragraph, "NUMPAGES", "1")
    _run(_styled(footer.add_paragraph()), stamp_text.uncontrolled(info), color=_GREY)


def _signature_section(document: DocxDocument, info: StampInfo) -> None:
    document.add_section(WD_SECTION.NEW_PAGE)
    heading = _styled(document.add_paragraph())
    run = heading.add_run(clean(info.signature_heading))
    run.font.size, run.font.bold = Pt(15), True
    note = document.add_paragraph()
    note.paragraph_format.space_after = Pt(12)
    run = note.add_run(stamp_text.copy_note(info))
    run.font.size, run.font.color.rgb = Pt(8.5), _GREY
    rows = [clean(line) for line in info.signature_lines if clean(line)] or [stamp_text.NO_SIGNATURES]
    for row in rows:
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.space_after = Pt(6)
        run = paragraph.add_run(row)
        run.font.size = Pt(9.5)


def _watermark_xml(word: str, number: int, text_width: float) -> str:
    """The watermark as Word's own "Insert watermark" writes it: a VML text path, diagonal, behind the text."""
    width = 0.9 * text_width
    height = width / (0.62 * max(len(word), 4))
    return f"""<w:r xmlns:w="{_W_NS}" xmlns:v="urn:schemas-microsoft-com:vml"
 xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w10="urn:schemas-microsoft-com:office:word">
<w:rPr><w:noProof/></w:rPr><w:pict>
<v:shapetype id="_x0000_t136" coordsize="21600,21600" o:spt="136" adj="10800" path="m@7,l@8,m@5,21600l@6,21600e">
<v:formulas><v:f eqn="sum #0 0 10800"/><v:f eqn="prod #0 2 1"/><v:f eqn="sum 21600 0 @1"/><v:f eqn="sum 0 0 @2"/>
<v:f eqn="sum 21600 0 @3"/><v:f eqn="if @0 @3 0"/><v:f eqn="if @0 21600 @1"/><v:f eqn="if @0 0 @2"/>
<v:f eqn="if @0 @4 21600"/><v:f eqn="mid @5 @6"/><v:f eqn="mid @8 @5"/><v:f eqn="mid @7 @8"/>
<v:f eqn="mid @6 @7"/><v:f eqn="sum @6 0 @5"/></v:formulas>
<v:path textpathok="t" o:connecttype="custom" o:connectlocs="@9,0;@10,10800;@11,21600;@12,10800"
 o:connectangles="270,180,90,0"/>
<v:textpath on="t" fitshape="t"/><v:handles><v:h position="#0,bottomRight" xrange="6629,14971"/></v:handles>
<o:lock v:ext="edit" text="t" shapetype="t"/></v:shapetype>
<v:shape id="DocctlWatermark{number}" o:spid="_x0000_s{2048 + number}" type="#_x0000_t136"
 style="position:absolute;margin-left:0;margin-top:0;width:{width:.1f}pt;height:{height:.1f}pt;rotation:315;
z-index:-251654144;mso-position-horizontal:center;mso-position-horizontal-relative:margin;
mso-position-vertical:center;mso-position-vertical-relative:margin" o:allowincell="f" fillcolor="#c01a1a"
 stroked="f"><v:fill opacity="14%"/>
<v:textpath style="font-family:&quot;DejaVu Sans&quot;;font-size:1pt;font-weight:bold"
 string={quoteattr(word)}/><w10:wrap anchorx="margin" anchory="margin"/></v:shape></w:pict></w:r>"""
