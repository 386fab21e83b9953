"""The transcript PDF on its own: the signatures written out in full (printed name, meaning, date and time in UTC),
a header and "page n of m" on every page, text that is never read as markup, and names in any script."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from docctl.renditions import transcript_pdf as pdf
from docctl.renditions.fonts import stamp_fonts

AT = datetime(2026, 3, 14, 9, 42, 7, tzinfo=UTC)


def _info(records: int = 1, name: str = "Jane Smith", title: str = "Monitoring visits") -> pdf.TranscriptInfo:
    sig = pdf.SignatureLine(meaning="Read and understood", printed_name=name, title="Head of QA", signed_at=AT,
                            signature_id="7f3a0c1e-1111-4222-8333-944455556666", manifest_sha256="ab" * 32)
    lines = [pdf.RecordLine(number=f"SOP-QA-{n:03}", title=title, revision_version="3.0", trained_version="3.0",
                            method="read_and_understood", result="completed", performed_at=AT,
                            recorded_at=AT + timedelta(seconds=2), signature=sig) for n in range(records)]
    return pdf.TranscriptInfo(
        username="jsmith", full_name=name, title="Head of QA", department="QA", status="active",
        generated_at=datetime(2026, 11, 21, 9, 0, tzinfo=UTC), generated_by="Ines Inspector (insp)",
        base_url="https://docctl.example",
        functions=[pdf.FunctionLine("QA", "Quality assurance", AT - timedelta(days=30), None, "hired")],
        records=lines,
        open=[pdf.OpenLine("SOP-QA-999", "Deviations", "1.0", AT, AT + timedelta(days=14), overdue=True)])


def _pages(data: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def test_the_signature_manifestation_is_printed_in_full_with_utc_time():
    pages = _pages(pdf.render_transcript(_info()))
    text = " ".join(pages)
    assert ("Signed: Read and understood — Jane Smith (Head of QA) — 2026-03-14 09:42:07 UTC — SOP-QA-000 v3.0 — "
            "signature 7f3a0c1e-1111-4222-8333-944455556666") in text
    assert "Training transcript: Jane Smith" in text
    assert "Performed (UTC)" in text and "Recorded (UTC)" in text and "2026-03-14 09:42:09 UTC" in text
    assert "Read and understood (e-signature)" in text and "Completed" in text
    assert "QA Quality assurance" in text and "hired" in text
    assert "SOP-QA-999 Deviations" in text and "Overdue" in text
    assert "https://docctl.example/api/v1/signatures/<signature id>" in text


def test_every_page_has_the_header_the_generation_time_and_its_number():
    data = pdf.render_transcript(_info(records=60))
    pages = _pages(data)
    assert len(pages) > 2
    for number, text in enumerate(pages, start=1):
        assert "Training transcript — Jane Smith (jsmith)" in text
        assert "Generated 2026-11-21 09:00:00 UTC by Ines Inspector (insp)" in text
        assert f"Page {number} of {len(pages)}" in text
    reader = PdfReader(io.BytesIO(data))
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert (round(width), round(height)) == (595, 842)  # A4
    assert reader.metadata.title == "Training transcript jsmith"


def test_offline_training_shows_the_day_it_was_given():
    line = pdf.RecordLine(number="WI-LAB-001", title="Pipetting", revision_version="1.0", trained_version="1.0",
                          method="offline", result="passed", performed_at=AT, recorded_at=AT + timedelta(days=2),
                          trainer="Dora Trainer", performed_on=AT.date())
    info = _info(records=0)
    text = " ".join(_pages(pdf.render_transcript(pdf.TranscriptInfo(**{**info.__dict__, "records": [line]}))))
    assert "2026-03-14 (day given)" in text and "2026-03-16 09:42:07 UTC" in text and "Dora Trainer" in text
    assert "Trained by a trainer (offline)" in text and "Passed" in text
    assert "no electronic signature is linked to this record" in text


def test_text_is_never_read_as_markup():
    text = " ".join(_pages(pdf.render_transcript(_info(title="Doses <b>& </para> units"))))
    assert "Doses <b>& </para> units" in text


@pytest.mark.skipif(not stamp_fonts()[2], reason="DejaVu Sans is not installed: Helvetica draws WinAnsi only")
def test_names_in_any_script_are_drawn():
    text = " ".join(_pages(pdf.render_transcript(_info(name="Zoë Ørsted-Łukasz Παπαδόπουλος"))))
    assert "Zoë Ørsted-Łukasz Παπαδόπουλος" in text


def test_an_empty_transcript_says_so():
    info = pdf.TranscriptInfo(username="new", full_name="New Starter", title="", department="", status="active",
                              generated_at=AT, generated_by="Admin (root)")
    text = " ".join(_pages(pdf.render_transcript(info)))
    assert "No training records." in text and "No job functions." in text and "Nothing open." in text
    assert "Page 1 of 1" in text


def test_the_output_is_deterministic():
    assert pdf.render_transcript(_info(records=3)) == pdf.render_transcript(_info(records=3))
