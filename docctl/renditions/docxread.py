"""Text and title of a Word document with python-docx: body (tables included), headers, footers, notes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.parser import parse_xml
from lxml import etree

from docctl.errors import UploadRejected
from docctl.renditions.model import DOCX_TYPE, Inspection, Limits
from docctl.renditions.ooxml import DAMAGED, WORD_MAIN, check_docx
from docctl.renditions.pdfread import quiet
from docctl.renditions.text import TextCollector, clean

_WML = "application/vnd.openxmlformats-officedocument.wordprocessingml."
# Parts whose text is the document's, in reading order (comments are reviewers' remarks, not content).
_TEXT_PARTS = (WORD_MAIN, _WML + "header+xml", _WML + "footer+xml", _WML + "footnotes+xml", _WML + "endnotes+xml")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_TEXT, _SPACES, _BLOCK_ENDS = _W + "t", {_W + "tab", _W + "br", _W + "cr"}, {_W + "p", _W + "tc"}


def inspect_docx(path: Path, limits: Limits) -> Inspection:
    check_docx(path, limits)
    with quiet():
        try:
            document = docx.Document(str(path))
            parts = sorted(document.part.package.iter_parts(), key=_reading_order)
            text = TextCollector(limits.max_text_chars)
            for part in parts:
                if part.content_type in _TEXT_PARTS:
                    root = getattr(part, "_element", None)
                    for paragraph in _paragraph_texts(root if root is not None else parse_xml(part.blob)):
                        text.add(paragraph)
                        if text.full:
                            break
            title = _title(document)
        except UploadRejected:
            raise
        except Exception as exc:  # any failure of python-docx/lxml/zipfile on a hostile file
            raise UploadRejected(DAMAGED) from exc
    return Inspection(kind="docx", media_type=DOCX_TYPE, page_count=None, text=text.text(), title=title)


def _title(document: DocxDocument) -> str | None:
    # Without a core-properties part python-docx makes up one titled "Word Document": that is not a title.
    package = document.part.package
    if not any(rel.reltype == RT.CORE_PROPERTIES for rel in package.rels.values()):
        return None
    return clean(document.core_properties.title or "") or None


def _reading_order(part: object) -> int:
    content_type = getattr(part, "content_type", "")
    return _TEXT_PARTS.index(content_type) if content_type in _TEXT_PARTS else len(_TEXT_PARTS)


def _paragraph_texts(root: etree._Element) -> Iterator[str]:
    """The text of each paragraph and table cell in document order; runs join without spaces, as Word shows
    them. Text of the fallback branch of alternate content (a second copy of a text box) is skipped."""
    pieces: list[str] = []
    fallback_depth = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag
        if tag == _FALLBACK:
            fallback_depth += 1 if event == "start" else -1
        elif fallback_depth:
            continue
        elif event == "start":
            if tag == _TEXT:
                pieces.append(element.text or "")
            elif tag in _SPACES:
                pieces.append(" ")
        elif tag in _BLOCK_ENDS and pieces:
            yield "".join(pieces)
            pieces = []
    if pieces:
        yield "".join(pieces)
