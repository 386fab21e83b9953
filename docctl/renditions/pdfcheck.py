"""Bounded-memory reading of large PDFs, and the check that an accepted PDF can later be stamped.

pypdf caches every object it resolves, images included: extracting the text of a 100 MB scan would keep 100 MB
of image data alive. CacheTrimmer drops big cached streams as reading proceeds, so memory stays near the size
of the largest object. check_copyable reads every object once, forgetting them as it goes; for files up to
FULL_COPY_BYTES and FULL_COPY_OBJECTS it also copies the whole document as stamp_pdf will (into /dev/null),
which catches the few failures that appear only when pypdf copies or writes.
"""

from __future__ import annotations

import itertools
import os

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import IndirectObject, StreamObject

from docctl.errors import UploadRejected

DAMAGED_PART = (
    "The PDF is damaged: part of it cannot be read, so no controlled copy could be made of it. Open it in the "
    "program that made it, save or export it again, and upload that file."
)
FULL_COPY_BYTES = 16 * 1024 * 1024  # and at most FULL_COPY_OBJECTS: pypdf needs ~2-4 KB per object
FULL_COPY_OBJECTS = 20_000
_LARGE_STREAM = 256 * 1024


class CacheTrimmer:
    """Forgets big streams (images, page contents) pypdf has cached; they are read again if ever needed."""

    def __init__(self, reader: PdfReader) -> None:
        self._cache = reader.resolved_objects
        self._seen = 0

    def forget_all_but_object_streams(self) -> None:
        """Everything read so far except object-stream containers (re-reading those for every object they
        hold would be slow): for a pass that reads each object once."""
        for key, obj in list(self._cache.items()):
            if not (isinstance(obj, StreamObject) and obj.get("/Type") == "/ObjStm"):
                del self._cache[key]
        self._seen = len(self._cache)

    def trim(self) -> None:
        if len(self._cache) < self._seen:
            self._seen = 0
        fresh = list(itertools.islice(self._cache.items(), self._seen, None))  # dicts keep insertion order
        for key, obj in fresh:
            if isinstance(obj, StreamObject) and _length(obj) > _LARGE_STREAM:
                del self._cache[key]
        self._seen = len(self._cache)


def _length(stream: StreamObject) -> int:
    data = getattr(stream, "_data", b"")
    return len(data) if isinstance(data, bytes | bytearray) else 0


def check_copyable(reader: PdfReader, pages: list[PageObject], file_size: int) -> None:
    """UploadRejected(DAMAGED_PART) unless every object can be read (and, for smaller files, the document
    copied and written the way stamp_pdf does)."""
    trimmer = CacheTrimmer(reader)
    try:
        references = [IndirectObject(number, generation, reader)
                      for generation, table in reader.xref.items() for number in table]
        references += [IndirectObject(number, 0, reader) for number in reader.xref_objStm]
        for count, reference in enumerate(references, 1):
            obj = reference.get_object()
            if isinstance(obj, StreamObject) and _length(obj) > _LARGE_STREAM:
                reader.resolved_objects.pop((reference.generation, reference.idnum), None)
            if count % 512 == 0:
                trimmer.forget_all_but_object_streams()
        trimmer.forget_all_but_object_streams()
        if file_size <= FULL_COPY_BYTES and len(references) <= FULL_COPY_OBJECTS:
            if len(reader.pages) == len(pages):
                writer = PdfWriter(clone_from=reader)
            else:
                writer = PdfWriter()
                for page in pages:
                    writer.add_page(page)
            with open(os.devnull, "wb") as nowhere:
                writer.write(nowhere)
    except Exception as exc:  # any failure to read or write an object: the file is damaged
        raise UploadRejected(DAMAGED_PART) from exc
