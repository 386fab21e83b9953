"""inspect_file on hostile and odd uploads crafted here: the type comes from the bytes, every refusal names the
problem for the person, and nothing crashes (every failure is UploadRejected)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest
from docx import Document as Docx
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from docctl.errors import UploadRejected
from docctl.renditions import DOCX_TYPE, PDF_TYPE, Limits, inspect_file, pdf_page_count

pytestmark = pytest.mark.req("A11-5/6")

MACRO_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rejected(path: Path, *fragments: str, limits: Limits | None = None) -> str:
    with pytest.raises(UploadRejected) as caught:
        inspect_file(path, limits=limits or Limits())
    message = caught.value.message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


def pdf_bytes(pages: int = 3, title: str | None = "Temperature excursions") -> bytes:
    out = io.BytesIO()
    c = canvas.Canvas(out)
    if title:
        c.setTitle(title)
    for n in range(pages):
        c.drawString(72, 720, f"Page {n + 1} investigational product accountability")
        c.showPage()
    c.save()
    return out.getvalue()


def docx_bytes() -> bytes:
    doc = Docx()
    doc.core_properties.title = "Monitoring visits"
    doc.add_paragraph("Purpose: source data verification.")
    table = doc.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Monitor"
    table.cell(0, 1).text = "pharmacovigilance reconciliation"
    doc.sections[0].header.paragraphs[0].text = "Header words: sponsor confidential"
    doc.sections[0].footer.paragraphs[0].text = "Footer words: retention class B"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def rezip(data: bytes, *, add: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None) -> bytes:
    """A copy of the ZIP `data` with members replaced or added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, (replace or {}).get(info.filename, src.read(info)))
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def content_types(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("[Content_Types].xml")


# --- accepted, by bytes not by name ---------------------------------------------------------------------------


def test_pdf_is_inspected_whatever_its_name(tmp_path: Path) -> None:
    found = inspect_file(write(tmp_path, "report.docx", pdf_bytes(3)))
    assert (found.kind, found.media_type, found.page_count) == ("pdf", PDF_TYPE, 3)
    assert found.title == "Temperature excursions"
    assert "Page 3 investigational product accountability" in found.text
    assert pdf_page_count(tmp_path / "report.docx") == 3


def test_docx_text_includes_tables_headers_and_footers(tmp_path: Path) -> None:
    found = inspect_file(write(tmp_path, "upload", docx_bytes()))
    assert (found.kind, found.media_type, found.page_count) == ("docx", DOCX_TYPE, None)
    assert found.title == "Monitoring visits"
    for words in ("source data verification", "pharmacovigilance reconciliation", "sponsor confidential",
                  "retention class B"):
        assert words in found.text
    assert "  " not in found.text and "\n" not in found.text


def test_text_is_truncated_to_the_limit(tmp_path: Path) -> None:
    found = inspect_file(write(tmp_path, "a.pdf", pdf_bytes(20)), limits=Limits(max_text_chars=100))
    assert 0 < len(found.text) <= 100
    assert found.page_count == 20


# --- not PDF, not DOCX ----------------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    rejected(write(tmp_path, "a.pdf", b""), "empty")


def test_png_named_pdf(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
    rejected(write(tmp_path, "scan.pdf", png), "PNG image", "Only PDF and Word (.docx)")


def test_plain_text(tmp_path: Path) -> None:
    rejected(write(tmp_path, "sop.docx", b"Standard operating procedure\nStep 1: wash hands.\n" * 20), "plain text")


def ole_file(*names: str) -> bytes:
    """An OLE compound file header whose first directory sector (sector 0) holds `names`."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<H", header, 0x1E, 9)  # 512-byte sectors
    struct.pack_into("<I", header, 0x30, 0)  # first directory sector
    directory = bytearray(512)
    for index, name in enumerate(("Root Entry", *names)[:4]):
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        directory[index * 128 : index * 128 + len(encoded)] = encoded
        struct.pack_into("<H", directory, index * 128 + 64, len(encoded))
    return bytes(header + directory + bytes(1024))


def test_legacy_doc(tmp_path: Path) -> None:
    rejected(write(tmp_path, "old.docx", ole_file("WordDocument", "1Table")), "legacy Word .doc (OLE)")


def test_password_protected_office_file(tmp_path: Path) -> None:
    rejected(write(tmp_path, "secret.docx", ole_file("EncryptionInfo", "EncryptedPackage")), "password-protected")


def test_zip_that_is_not_a_word_document(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    rejected(write(tmp_path, "a.docx", out.getvalue()), "a ZIP archive that is not a Word document")


def test_excel_workbook(tmp_path: Path) -> None:
    data = docx_bytes()
    types = content_types(data).replace(WORD_MAIN.encode(),
                                        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
    rejected(write(tmp_path, "a.docx", rezip(data, replace={"[Content_Types].xml": types})), "Excel workbook")


def test_word_template(tmp_path: Path) -> None:
    data = docx_bytes()
    types = content_types(data).replace(WORD_MAIN.encode(), WORD_MAIN.replace("document.main", "template.main")
                                        .encode())
    rejected(write(tmp_path, "a.docx", rezip(data, replace={"[Content_Types].xml": types})), "template")


# --- macros ---------------------------------------------------------------------------------------------------


def test_docm_with_vba_project_and_macro_content_type(tmp_path: Path) -> None:
    data = docx_bytes()
    types = content_types(data).replace(WORD_MAIN.encode(), MACRO_MAIN.encode()).replace(
        b"</Types>", b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>')
    docm = rezip(data, replace={"[Content_Types].xml": types}, add={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" * 64})
    rejected(write(tmp_path, "procedure.docx", docm), "macros", "docm")


def test_docm_renamed_docx_by_content_type_alone(tmp_path: Path) -> None:
    data = docx_bytes()
    types = content_types(data).replace(WORD_MAIN.encode(), MACRO_MAIN.encode())
    rejected(write(tmp_path, "renamed.docx", rezip(data, replace={"[Content_Types].xml": types})), "macros")


def test_vba_project_alone(tmp_path: Path) -> None:
    data = rezip(docx_bytes(), add={"word/vbaProject.bin": b"x" * 100})
    rejected(write(tmp_path, "a.docx", data), "macros")


def test_embedded_macro_document(tmp_path: Path) -> None:
    data = rezip(docx_bytes(), add={"word/embeddings/Microsoft_Excel_Macro-Enabled_Worksheet.xlsm": b"PK" * 10})
    rejected(write(tmp_path, "a.docx", data), "macro-enabled")


# --- zip bombs ------------------------------------------------------------------------------------------------


def test_zip_bomb_by_compression_ratio(tmp_path: Path) -> None:
    data = rezip(docx_bytes(), add={"word/media/padding.xml": b"\x00" * (8 * 1024 * 1024)})
    rejected(write(tmp_path, "a.docx", data), "zip bomb", "times")


def test_zip_bomb_by_total_size(tmp_path: Path) -> None:
    data = rezip(docx_bytes(), add={"word/media/padding.xml": b"\x00" * (3 * 1024 * 1024)})
    rejected(write(tmp_path, "a.docx", data), "zip bomb", "more than the limit of 2 MB",
             limits=Limits(max_docx_uncompressed=2 * 1024 * 1024, max_docx_ratio=10_000))


def test_zip_bomb_with_lying_size_headers(tmp_path: Path) -> None:
    """The directory and local header claim 1,000 bytes; the data inflates to 20 MB. Caught while inflating,
    long before 20 MB exist in memory."""
    data = bytearray(rezip(docx_bytes(), add={"word/media/bomb.xml": b"\x00" * (20 * 1024 * 1024)}))
    name = b"word/media/bomb.xml"
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(name))  # its central directory entry
    local = data.find(b"PK\x03\x04" + data[central + 6 : central + 10])  # local header of the same member
    while data[local + 30 : local + 30 + len(name)] != name:
        local = data.find(b"PK\x03\x04", local + 4)
    struct.pack_into("<I", data, central + 24, 1000)
    struct.pack_into("<I", data, local + 22, 1000)
    rejected(write(tmp_path, "a.docx", bytes(data)), "zip bomb", "more than the 1,000 bytes its header declares",
             limits=Limits(max_docx_ratio=10**9))


def test_too_many_members(tmp_path: Path) -> None:
    data = rezip(docx_bytes(), add={f"customXml/extra{n}.xml": b"<a/>" for n in range(60)})
    rejected(write(tmp_path, "a.docx", data), "parts", limits=Limits(max_docx_members=50))


# --- damaged --------------------------------------------------------------------------------------------------


def test_truncated_pdf(tmp_path: Path) -> None:
    data = pdf_bytes(5)
    rejected(write(tmp_path, "a.pdf", data[: len(data) // 2]), "incomplete")


def test_garbage_pdf(tmp_path: Path) -> None:
    rejected(write(tmp_path, "a.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"),
             "damaged or not a valid PDF")


def test_truncated_docx(tmp_path: Path) -> None:
    data = docx_bytes()
    rejected(write(tmp_path, "a.docx", data[: len(data) // 2]), "damaged or not a valid Word document")


def test_docx_with_broken_xml(tmp_path: Path) -> None:
    data = rezip(docx_bytes(), replace={"word/document.xml": b"<w:document><w:body><w:p>"})
    rejected(write(tmp_path, "a.docx", data), "damaged or not a valid Word document")


def test_docx_with_a_doctype_in_content_types(tmp_path: Path) -> None:
    data = docx_bytes()
    types = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>' + content_types(data).split(b"?>", 1)[1]
    rejected(write(tmp_path, "a.docx", rezip(data, replace={"[Content_Types].xml": types})), "damaged")


def test_corrupted_member_fails_its_crc(tmp_path: Path) -> None:
    data = bytearray(rezip(docx_bytes(), add={"word/media/image1.bin": bytes(range(256)) * 40}))
    at = data.find(b"word/media/image1.bin") + len("word/media/image1.bin") + 200
    data[at] ^= 0xFF
    rejected(write(tmp_path, "a.docx", bytes(data)), "damaged")


# --- encrypted PDFs -------------------------------------------------------------------------------------------


def encrypted_pdf(user_password: str, owner_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(2))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_password_protected_pdf(tmp_path: Path) -> None:
    message = rejected(write(tmp_path, "a.pdf", encrypted_pdf("open-sesame", "owner")), "password-protected",
                       "upload the unprotected PDF")
    assert "open-sesame" not in message


def test_pdf_with_owner_password_only(tmp_path: Path) -> None:
    rejected(write(tmp_path, "a.pdf", encrypted_pdf("", "owner")), "encrypted", "restrictions")


# --- memory ---------------------------------------------------------------------------------------------------


def test_inspecting_a_large_scanned_pdf_keeps_memory_bounded(tmp_path: Path) -> None:
    """30 pages of incompressible 0.75 MB images (a 27 MB scan): every image is read (text, integrity check)
    but never all kept at once, so the peak stays near the largest object (the upload target is < 64 MB)."""
    import os
    import tracemalloc

    from PIL import Image
    from reportlab.lib.utils import ImageReader

    path = tmp_path / "scan.pdf"
    drawing = canvas.Canvas(str(path))
    for number in range(30):
        image = Image.frombytes("RGB", (500, 500), os.urandom(500 * 500 * 3))
        drawing.drawImage(ImageReader(image), 50, 200, 500, 500)
        drawing.drawString(72, 760, f"Scanned page {number + 1}")
        drawing.showPage()
    drawing.save()
    size = path.stat().st_size
    assert size > 20 * 1024 * 1024
    tracemalloc.start()
    try:
        found = inspect_file(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.page_count == 30 and "Scanned page 30" in found.text
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
