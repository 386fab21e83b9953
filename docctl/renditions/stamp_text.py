"""The words of a controlled copy, the same in PDF and DOCX stamps."""

from __future__ import annotations

from docctl.renditions.model import StampInfo
from docctl.renditions.text import clean

NO_SIGNATURES = "No signatures recorded for this revision."


def heading(info: StampInfo, title: str | None = None) -> str:
    """'<number> <title> v<version> — <STATE> — Effective <date or not effective>'; `title` may be shortened."""
    effective = f"Effective {clean(info.effective_date)}" if info.effective_date else "Not yet effective"
    shown_title = clean(info.title) if title is None else title
    return f"{clean(info.number)} {shown_title} v{clean(info.version)} — {clean(info.state).upper()} — {effective}"


def page_label(number: int, total: int) -> str:
    return f"Page {number} of {total}"


def printed(info: StampInfo) -> str:
    return f"Printed by {clean(info.printed_by)} on {clean(info.printed_at)}"


def uncontrolled(info: StampInfo) -> str:
    return f"Uncontrolled when printed: check the current version at {clean(info.check_url)}"


def watermark(info: StampInfo) -> str | None:
    return (clean(info.watermark).upper() or None) if info.watermark else None


def copy_note(info: StampInfo) -> str:
    """The line under the signature heading that ties the page to its copy."""
    return (f"Part of the controlled copy of {clean(info.number)} v{clean(info.version)} "
            f"printed by {clean(info.printed_by)} on {clean(info.printed_at)}.")
