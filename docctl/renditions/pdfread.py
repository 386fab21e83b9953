"""Reading PDFs with pypdf: refuse encrypted and truncated files, count pages, extract text and title.

Files are read through an open handle, so pypdf fetches objects lazily instead of loading the whole file.
A PDF whose page tree is broken but whose page objects are intact (viewers show it) is recovered by
scanning its objects for pages, as poppler does.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pypdf import PageObject, PdfReader
from pypdf.generic import DictionaryObject, IndirectObject

from docctl.errors import UploadRejected
from docctl.renditions.model import PDF_TYPE, Inspection, Limits
from docctl.renditions.pdfcheck import CacheTrimmer, check_copyable
from docctl.renditions.text import TextCollector, clean

DAMAGED = "The file is damaged or not a valid PDF document: it could not be read."
ENCRYPTED = (
    "The PDF is password-protected (encrypted). Upload the unprotected PDF: save or export it again without "
    "a password, then upload that file."
)
RESTRICTED = (
    "The PDF is encrypted with usage restrictions (an owner password that limits printing or copying). "
    "Upload the PDF saved without encryption or security restrictions."
)
TRUNCATED = (
    "The PDF is incomplete: it does not end with the PDF end-of-file marker, so it was probably cut off while "
    "downloading or copying. Upload the complete file."
)
NO_PAGES = "The PDF has no pages."
PAGES_LOST = (
    "The PDF is damaged: its list of pages is missing and only {found} of the {declared} pages it declares could "
    "be read. Open it in the program that made it, save or export it again, and upload that file."
)
_LINEARIZED_N = re.compile(rb"<<[^>]*/Linearized\b[^>]*/N\s+(\d+)")
_TAIL = 16 * 1024  # %%EOF must be this near the end (producers sometimes append a little padding)


@contextmanager
def quiet() -> Iterator[None]:
    """pypdf and python-docx warn about many harmless oddities of real files; those are not failures here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextmanager
def open_pdf(path: Path) -> Iterator[tuple[PdfReader, list[PageObject]]]:
    """The reader and its pages; UploadRejected if the file is encrypted, unreadable or has no pages."""
    with open(path, "rb") as fh, quiet():
        try:
            reader = PdfReader(fh, strict=False)
            encrypted = reader.is_encrypted
        except Exception as exc:  # any failure on a hostile file is "damaged", never a crash
            raise UploadRejected(DAMAGED) from exc
        if encrypted:
            raise UploadRejected(RESTRICTED if _opens_without_password(reader) else ENCRYPTED)
        yield reader, _pages(reader, fh)


def inspect_pdf(path: Path, limits: Limits) -> Inspection:
    if not _ends_with_eof_marker(path):
        raise UploadRejected(TRUNCATED)
    with open_pdf(path) as (reader, pages):
        text = TextCollector(limits.max_text_chars)
        deadline = time.monotonic() + limits.max_text_seconds
        trimmer = CacheTrimmer(reader)
        for page in pages:
            if text.full or time.monotonic() > deadline:  # a huge PDF: accept it with the text found so far
                break
            try:
                text.add(page.extract_text())
            except Exception:  # noqa: S112 - a page whose text cannot be extracted is still a page to show
                continue
            finally:
                trimmer.trim()
        check_copyable(reader, pages, path.stat().st_size)
        return Inspection(kind="pdf", media_type=PDF_TYPE, page_count=len(pages), text=text.text(),
                          title=_title(reader))


def pdf_page_count(path: Path) -> int:
    """Pages of a readable, unencrypted PDF; UploadRejected otherwise."""
    with open_pdf(path) as (_reader, pages):
        return len(pages)


def _opens_without_password(reader: PdfReader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False


def _ends_with_eof_marker(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - _TAIL))
        return b"%%EOF" in fh.read()


def _pages(reader: PdfReader, fh: BinaryIO) -> list[PageObject]:
    try:
        pages = list(reader.pages)
    except Exception:
        pages = []
    if pages:
        return pages
    pages = _recovered_pages(reader)
    declared = _linearized_page_count(fh)
    if declared is not None and declared > len(pages):
        raise UploadRejected(PAGES_LOST.format(found=len(pages), declared=declared))
    if not pages:
        raise UploadRejected(NO_PAGES)
    return pages


def _linearized_page_count(fh: BinaryIO) -> int | None:
    """/N of the linearization dictionary, which opens a linearized ("fast web view") file, if there is one."""
    fh.seek(0)
    match = _LINEARIZED_N.search(fh.read(2048))
    return int(match.group(1)) if match else None


def _recovered_pages(reader: PdfReader) -> list[PageObject]:
    """Page objects found by scanning every object, in file order: for a PDF whose page tree is broken."""
    try:
        found: list[tuple[int, int, IndirectObject]] = []
        for generation, table in reader.xref.items():
            for number, offset in table.items():
                found.append((offset, 0, IndirectObject(number, generation, reader)))
        for number, (stream_number, index) in reader.xref_objStm.items():
            found.append((reader.xref.get(0, {}).get(stream_number, 0), index, IndirectObject(number, 0, reader)))
    except Exception:
        return []
    pages = []
    for _offset, _index, ref in sorted(found, key=lambda item: (item[0], item[1])):
        try:
            obj = ref.get_object()
        except Exception:  # noqa: S112 - a damaged object is simply not a page we can recover
            continue
        if isinstance(obj, DictionaryObject) and obj.get("/Type") == "/Page":
            page = PageObject(reader, ref)
            page.update(obj)
            pages.append(page)
    return pages


def _title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:
        return None
    return (clean(str(title)) or None) if title else None
