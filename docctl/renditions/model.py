"""The values the renditions library takes and returns: media types, limits, an inspection, a stamp."""

from __future__ import annotations

from dataclasses import dataclass

PDF_TYPE = "application/pdf"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Limits:
    """Bounds on what an upload may make us do (zip bombs, huge text)."""

    max_docx_uncompressed: int = 512 * 1024 * 1024  # total decompressed size of all zip members
    max_docx_ratio: int = 200  # decompressed/compressed ratio of the archive (and per member where large)
    max_docx_members: int = 10_000
    max_text_chars: int = 2_000_000  # text kept for search
    max_text_seconds: float = 20.0  # PDF text extraction stops after this (pages done so far are kept)


@dataclass(frozen=True)
class Inspection:
    kind: str  # "pdf" or "docx"
    media_type: str  # PDF_TYPE or DOCX_TYPE
    page_count: int | None  # PDF: its pages; DOCX: None (known after conversion)
    text: str  # whitespace-normalised, at most Limits.max_text_chars
    title: str | None  # the document's metadata title, if any


@dataclass(frozen=True)
class StampInfo:
    """What a controlled copy says about itself; every string is already formatted by the caller."""

    number: str
    title: str
    version: str
    state: str  # "effective", "draft", "superseded", ...
    effective_date: str | None  # e.g. "2026-11-21"
    printed_by: str
    printed_at: str  # e.g. "2026-11-21 10:00:00+01:00 (Europe/Berlin)"
    check_url: str
    watermark: str | None = None  # "SUPERSEDED", "OBSOLETE", "DRAFT", ...
    signature_heading: str = "Approval and signatures"
    signature_lines: tuple[str, ...] = ()
