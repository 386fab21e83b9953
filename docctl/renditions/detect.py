"""inspect_file: the real type of an upload from its bytes, refusals with reasons, text, pages and title."""

from __future__ import annotations

from pathlib import Path

from docctl.errors import UploadRejected
from docctl.renditions.docxread import inspect_docx
from docctl.renditions.model import Inspection, Limits
from docctl.renditions.ooxml import NOT_WORD
from docctl.renditions.pdfread import inspect_pdf
from docctl.renditions.sniff import HEAD_BYTES, describe, is_pdf, is_zip

EMPTY = "The file is empty (0 bytes). Upload the document again."


def inspect_file(path: Path, *, limits: Limits = Limits()) -> Inspection:  # noqa: B008 - frozen, immutable default
    """Inspect an upload; UploadRejected, with a message for the person, for anything but a sound PDF or DOCX."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise UploadRejected("The uploaded file could not be read.") from exc
    if not head:
        raise UploadRejected(EMPTY)
    if is_pdf(head):
        return inspect_pdf(path, limits)
    if is_zip(head):
        return inspect_docx(path, limits)
    raise UploadRejected(NOT_WORD.format(what=describe(head, path)))
