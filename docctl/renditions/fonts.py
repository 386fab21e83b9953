"""The stamp's typeface: DejaVu Sans (Unicode, embedded as a subset) when installed, else Helvetica."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

_DIRECTORIES = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
                Path("/usr/local/share/fonts"))


@cache
def stamp_fonts() -> tuple[str, str, bool]:
    """(regular, bold, unicode): font names registered with reportlab; unicode False means WinAnsi only."""
    for directory in _DIRECTORIES:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            try:
                pdfmetrics.registerFont(TTFont("DocctlSans", str(regular)))
                pdfmetrics.registerFont(TTFont("DocctlSans-Bold", str(bold)))
            except Exception:  # noqa: S112 - a broken font file: try the next place, then Helvetica
                continue
            return "DocctlSans", "DocctlSans-Bold", True
    return "Helvetica", "Helvetica-Bold", False


def drawable(text: str) -> str:
    """Text the stamp font can draw: with Helvetica only, characters outside WinAnsi become '?'."""
    if stamp_fonts()[2]:
        return text
    return text.encode("cp1252", "replace").decode("cp1252")
