"""Every real file in ../shared/corpus through the renditions library: page counts as files.json gives them, the
encrypted PDF refused clearly, text from every DOCX, every DOCX converted by LibreOffice, and controlled copies
(stamp_pdf on every PDF rendition, stamp_docx on every DOCX) that say what they are on EVERY page.

LibreOffice starts once per batch (convert_many): the 45 DOCX convert in two parallel batches, one per core.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from docx import Document as Docx
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject, NumberObject, RectangleObject
from reportlab.pdfgen import canvas

from docctl.errors import RenditionFailed, UploadRejected
from docctl.renditions import (
    DOCX_TYPE,
    PDF_TYPE,
    StampInfo,
    convert_many,
    convert_to_pdf,
    inspect_file,
    page_images,
    pdf_page_count,
    soffice_available,
    stamp_docx,
    stamp_pdf,
)

# Files of the corpus that are damaged beyond what a controlled document may be; each must be refused with a
# message that names the problem (and here, the page count files.json gives).
DAMAGED = {
    # The last ~3.5 KB are overwritten with zero bytes: the page tree (object 172) and one of the 4 page objects
    # are gone; pypdf recovers 3 pages, poppler renders 4 empty 0x0 pages. Accepting it would put a document
    # with a missing page under control.
    "017-unreadable-meta-data_unreadablemetadata.pdf": "only 3 of the 4 pages",
}

INFO = StampInfo(
    number="SOP-QA-007",
    title="Line clearance of filling line 3",
    version="2.1",
    state="effective",
    effective_date="2026-11-21",
    printed_by="Erika Mustermann",
    printed_at="2026-11-21 10:00:00+01:00 (Europe/Berlin)",
    check_url="https://docctl.example.org/documents/SOP-QA-007",
    signature_lines=(
        "Author: Max Mustermann (mmuster) — 2026-11-01 09:12:44+01:00 — Authorship",
        "Approver: Maria Garcia (mgarcia) — 2026-11-02 14:02:10+01:00 — Approval",
    ),
)
SUPERSEDED = StampInfo(**{**INFO.__dict__, "state": "superseded", "watermark": "SUPERSEDED"})


def required_fragments(info: StampInfo) -> list[str]:
    return [
        info.number, info.title, f"v{info.version}", info.state.upper(), f"Effective {info.effective_date}",
        f"Printed by {info.printed_by} on {info.printed_at}",
        f"Uncontrolled when printed: check the current version at {info.check_url}",
    ]


def normalised(text: str) -> str:
    """Whitespace collapsed; a line break after a hyphen inside a number (2026-11-\\n21) undone."""
    return re.sub(r"(?<=\d)- (?=\d)", "-", " ".join(text.split()))


def stamp_problems(pdf: Path, info: StampInfo, *, source_pages: int | None = None) -> list[str]:
    """Every page must carry every field and its "Page i of N"; the last page(s) the signatures."""
    reader = PdfReader(pdf)
    total = len(reader.pages)
    problems = []
    if source_pages is not None and total <= source_pages:
        problems.append(f"{pdf.name}: {total} pages, no signature page after the {source_pages} of the source")
    texts = [normalised(page.extract_text()) for page in reader.pages]
    for number, text in enumerate(texts, 1):
        missing = [f for f in [*required_fragments(info), f"Page {number} of {total}"] if f not in text]
        if missing:
            problems.append(f"{pdf.name} page {number}/{total} lacks {missing}")
    if info.signature_heading not in texts[-1] or not all(line in texts[-1] for line in info.signature_lines):
        problems.append(f"{pdf.name}: the last page does not list the signatures")
    return problems


def corpus_pdfs(shared_dir: Path) -> list[tuple[Path, dict]]:
    folder = shared_dir / "corpus" / "pdf"
    metadata = json.loads((folder / "files.json").read_text(encoding="utf-8"))["data"]
    by_name = {entry["path"].replace("/", "_", 1): entry for entry in metadata}  # see the corpus README
    files = sorted(folder.glob("*.pdf"))
    assert files, f"no PDFs in {folder}"
    assert not [f.name for f in files if f.name not in by_name], "a corpus PDF without files.json metadata"
    assert sorted(set(by_name) - {f.name for f in files}) == ["009-pdflatex-geotopo_GeoTopo.pdf"]  # README: absent
    return [(f, by_name[f.name]) for f in files]


def corpus_docx(shared_dir: Path) -> list[Path]:
    files = sorted((shared_dir / "corpus" / "docx").glob("*.docx"))
    assert len(files) == 45, f"expected the 45 corpus DOCX, found {len(files)}"
    return files


def require_tools(*tools: str) -> None:
    if "soffice" in tools and not soffice_available():
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-writer-nogui")
    for tool in tools:
        if tool != "soffice" and shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: apt-get install poppler-utils")


def convert_in_two_batches(files: list[Path], out_dir: Path) -> dict[Path, Path]:
    """One LibreOffice per core, each converting half of the files in one start."""
    halves = [files[0::2], files[1::2]]
    with ThreadPoolExecutor(2) as pool:
        results = pool.map(lambda pair: convert_many(pair[1], out_dir / str(pair[0]), timeout=240),
                           enumerate(halves))
        merged: dict[Path, Path] = {}
        for result in results:
            merged.update(result)
    return merged


_CONVERTED: dict[Path, dict[Path, Path]] = {}


@pytest.fixture
def converted_docx(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """{corpus DOCX: its PDF rendition}, converted once for the module."""
    require_tools("soffice")
    files = corpus_docx(shared_dir)
    if shared_dir not in _CONVERTED:
        _CONVERTED[shared_dir] = convert_in_two_batches(files, tmp_path_factory.mktemp("corpus-docx-pdf"))
    return _CONVERTED[shared_dir]


# --- inspection -----------------------------------------------------------------------------------------------


def test_every_pdf_has_the_page_count_of_files_json(shared_dir: Path) -> None:
    problems = []
    for path, meta in corpus_pdfs(shared_dir):
        try:
            found = inspect_file(path)
        except UploadRejected as exc:
            expected = "password-protected" if meta["encrypted"] else DAMAGED.get(path.name)
            if not expected or expected not in exc.message:
                problems.append(f"{path.name}: refused: {exc.message}")
            elif path.name in DAMAGED and f"of the {meta['pages']} pages" not in exc.message:
                problems.append(f"{path.name}: the refusal does not name the {meta['pages']} pages: {exc.message}")
            continue
        if meta["encrypted"] or path.name in DAMAGED:
            problems.append(f"{path.name}: accepted, but it is encrypted or damaged")
        elif (found.kind, found.media_type, found.page_count) != ("pdf", PDF_TYPE, meta["pages"]):
            problems.append(f"{path.name}: {found.kind} {found.page_count} pages, files.json says {meta['pages']}")
        elif pdf_page_count(path) != meta["pages"]:
            problems.append(f"{path.name}: pdf_page_count {pdf_page_count(path)} != {meta['pages']}")
    assert not problems, "\n".join(problems)


@pytest.mark.req("A11-5/6")
def test_the_encrypted_pdf_gets_a_clear_refusal(shared_dir: Path) -> None:
    encrypted = [path for path, meta in corpus_pdfs(shared_dir) if meta["encrypted"]]
    assert [p.name for p in encrypted] == ["005-libreoffice-writer-password_libreoffice-writer-password.pdf"]
    with pytest.raises(UploadRejected) as caught:
        inspect_file(encrypted[0])
    assert caught.value.message == (
        "The PDF is password-protected (encrypted). Upload the unprotected PDF: save or export it again without "
        "a password, then upload that file.")


def visible_text_runs(docx_path: Path) -> list[str]:
    """The text of every w:t of the body, headers, footers and notes, read with zipfile and a regex: an
    independent reading to hold inspect_file's text against."""
    runs = []
    with zipfile.ZipFile(docx_path) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml", name):
                xml = archive.read(name).decode("utf-8")
                xml = re.sub(r"<mc:Fallback>.*?</mc:Fallback>", "", xml, flags=re.S)
                runs += [m for m in re.findall(r"<w:t(?:\s[^>]*)?>([^<]*)</w:t>", xml) if m.strip()]
    return [normalised(r.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")) for r in runs]


def test_every_docx_has_its_text_extracted(shared_dir: Path) -> None:
    problems = []
    with_text = 0
    for path in corpus_docx(shared_dir):
        found = inspect_file(path)
        assert (found.kind, found.media_type, found.page_count) == ("docx", DOCX_TYPE, None), path.name
        runs = visible_text_runs(path)
        if runs:
            with_text += 1
            if not found.text:
                problems.append(f"{path.name}: has text, none extracted")
        missing = [r for r in runs if r not in found.text]
        if missing:
            problems.append(f"{path.name}: extracted text lacks {missing[:5]}")
    assert not problems, "\n".join(problems)
    assert with_text >= 25  # most of the corpus has text; an empty result everywhere would prove nothing


# --- controlled copies ----------------------------------------------------------------------------------------


@pytest.mark.req("A11-8.1")
def test_every_docx_is_converted_and_its_controlled_copy_stamped_on_every_page(
    shared_dir: Path, converted_docx: dict[Path, Path], tmp_path: Path
) -> None:
    require_tools("pdftoppm")
    problems = []
    for source in corpus_docx(shared_dir):
        pdf = converted_docx.get(source)
        if pdf is None:
            problems.append(f"{source.name}: not converted")
            continue
        pages = pdf_page_count(pdf)
        copy = tmp_path / f"{source.stem}-copy.pdf"
        with copy.open("wb") as out:
            total = stamp_pdf(pdf, out, INFO)
        if total != len(PdfReader(copy).pages) or total != pages + 1:
            problems.append(f"{source.name}: stamp_pdf said {total} pages for a {pages}-page rendition")
        problems += stamp_problems(copy, INFO, source_pages=pages)
        image = page_images(pdf, tmp_path / source.stem, first=1, last=1)
        if len(image) != 1 or not image[0].read_bytes().startswith(b"\x89PNG"):
            problems.append(f"{source.name}: no image of the first page")
    assert not problems, "\n".join(problems)


@pytest.mark.req("A11-8.1")
def test_every_docx_gets_a_stamped_docx_copy_that_says_what_it_is_on_every_page(
    shared_dir: Path, tmp_path: Path
) -> None:
    """stamp_docx (the rendition when LibreOffice is missing): every header/footer definition in use carries
    the stamp; LibreOffice then lays the copies out and every page of each must show every field."""
    require_tools("soffice")
    copies = []
    problems = []
    for source in corpus_docx(shared_dir):
        copy = tmp_path / "copies" / source.name
        copy.parent.mkdir(exist_ok=True)
        with copy.open("wb") as out:
            stamp_docx(source, out, INFO)
        copies.append(copy)
        document = Docx(str(copy))
        for index, section in enumerate(document.sections):
            for kind in ("header", "first_page_header", "even_page_header"):
                header = getattr(section, kind)
                if not header.is_linked_to_previous or (index == 0 and kind == "header"):
                    text = normalised(" ".join(p.text for p in header.paragraphs))
                    if INFO.number not in text or INFO.title not in text:
                        problems.append(f"{source.name}: section {index + 1} {kind} is not stamped")
        found = inspect_file(copy)  # the copy is itself a sound DOCX, signature page included
        if INFO.signature_lines[0] not in found.text or "Uncontrolled when printed" not in found.text:
            problems.append(f"{source.name}: the copy's text lacks the signatures or the footer")
    for pdf in convert_in_two_batches(copies, tmp_path / "laid-out").values():
        problems += stamp_problems(pdf, INFO)
    assert not problems, "\n".join(problems)


@pytest.mark.req("A11-8.1")
def test_every_readable_corpus_pdf_gets_a_controlled_copy(shared_dir: Path, tmp_path: Path) -> None:
    """Forms, outlines, attachments, rotated pages, 4x4 pt pages, CMYK, PDF/A, 117 pages: stamped, every page."""
    problems = []
    for path, meta in corpus_pdfs(shared_dir):
        if meta["encrypted"] or path.name in DAMAGED:
            continue
        copy = tmp_path / path.name
        with copy.open("wb") as out:
            total = stamp_pdf(path, out, INFO)
        if total != meta["pages"] + 1:
            problems.append(f"{path.name}: {total} pages in the copy of a {meta['pages']}-page PDF")
        problems += stamp_problems(copy, INFO, source_pages=meta["pages"])
    assert not problems, "\n".join(problems)


def diagonal_words(page) -> list[str]:  # noqa: ANN001 - a pypdf page
    """Text drawn at an angle (neither horizontal nor vertical), as pypdf sees it."""
    found = []

    def visit(text, cm, tm, _font, _size):  # noqa: ANN001, ANN202
        a, b = cm[0] * tm[0] + cm[2] * tm[1], cm[1] * tm[0] + cm[3] * tm[1]
        if text.strip() and abs(a) > 0.1 and abs(b) > 0.1:
            found.append(text.strip())

    page.extract_text(visitor_text=visit)
    return found


@pytest.mark.req("ISO-4.2.4h")
def test_a_superseded_copy_carries_the_superseded_watermark(
    shared_dir: Path, converted_docx: dict[Path, Path], tmp_path: Path
) -> None:
    sources = [shared_dir / "corpus" / "pdf" / "015-arabic_habibi-rotated.pdf",  # pages rotated 90/180/270
               shared_dir / "corpus" / "pdf" / "004-pdflatex-4-pages_pdflatex-4-pages.pdf",
               converted_docx[shared_dir / "corpus" / "docx" / "sct-first-page-hdrftr.docx"]]
    for source in sources:
        copy = tmp_path / f"{source.stem}-superseded.pdf"
        with copy.open("wb") as out:
            stamp_pdf(source, out, SUPERSEDED)
        assert not stamp_problems(copy, SUPERSEDED)
        for number, page in enumerate(PdfReader(copy).pages, 1):
            assert "SUPERSEDED" in diagonal_words(page), f"{copy.name} page {number}: no diagonal watermark"
    current = tmp_path / "current.pdf"
    with current.open("wb") as out:
        stamp_pdf(sources[1], out, INFO)
    assert not any(diagonal_words(page) for page in PdfReader(current).pages)  # effective: no watermark

    docx_copy = tmp_path / "superseded.docx"
    with docx_copy.open("wb") as out:
        stamp_docx(shared_dir / "corpus" / "docx" / "sct-first-page-hdrftr.docx", out, SUPERSEDED)
    with zipfile.ZipFile(docx_copy) as archive:
        headers = [n for n in archive.namelist() if re.fullmatch(r"word/header\d*\.xml", n)]
        assert headers
        for name in headers:
            xml = archive.read(name).decode("utf-8")
            if "SOP-QA-007" in xml:  # every stamped header draws the watermark
                assert 'string="SUPERSEDED"' in xml and "rotation:315" in xml, name
                assert "SUPERSEDED — Effective 2026-11-21" in xml, name


# --- page geometry --------------------------------------------------------------------------------------------


def odd_pages(path: Path) -> list[tuple[float, float]]:
    """A PDF of awkward pages; returns each page's displayed (width, height)."""
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pagesize=(400, 600))
    specs = [  # (rotate, media box, crop box)
        (0, (-300, -400, 100, 200), None),
        (90, (100, 200, 500, 800), (150, 250, 450, 700)),
        (180, (0, 0, 400, 600), None),
        (270, (-50, -50, 350, 550), (0, 0, 300, 500)),
        (-90, (0, 0, 400, 600), None),
        (0, (0, 0, 72, 72), None),
        (0, (0, 0, 2384, 3370), None),  # A0
    ]
    for _ in specs:
        drawing.drawString(150, 300, "content")
        drawing.showPage()
    drawing.save()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    sizes = []
    for page, (rotate, media, crop) in zip(writer.pages, specs, strict=True):
        page.mediabox = RectangleObject(media)
        if crop:
            page.cropbox = RectangleObject(crop)
        page[NameObject("/Rotate")] = NumberObject(rotate)
        box = crop or media
        width, height = box[2] - box[0], box[3] - box[1]
        sizes.append((height, width) if rotate % 180 else (width, height))
    writer.write(path)
    return sizes


@pytest.mark.req("A11-8.1")
def test_the_stamp_lands_inside_the_visible_page_and_upright(tmp_path: Path) -> None:
    """Rotated pages, media boxes away from the origin, crop boxes, a 1-inch page and A0: poppler lays out the
    copy as viewers show it (crop box, rotation applied); the heading must sit in the top band, the
    uncontrolled statement in the bottom band, both inside the page and running left to right."""
    require_tools("pdftotext")
    source = tmp_path / "odd.pdf"
    sizes = odd_pages(source)
    copy = tmp_path / "odd-copy.pdf"
    with copy.open("wb") as out:
        assert stamp_pdf(source, out, INFO) == len(sizes) + 1
    assert not stamp_problems(copy, INFO, source_pages=len(sizes))
    layout = subprocess.run(["pdftotext", "-cropbox", "-bbox", str(copy), "-"], check=True, capture_output=True,
                            text=True).stdout
    pages = layout.split("<page ")[1:]
    assert len(pages) == len(sizes) + 1
    for number, (page, (width, height)) in enumerate(zip(pages, sizes, strict=False), 1):
        words = {w: tuple(map(float, box)) for *box, w in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', page)}
        for word, band in (("SOP-QA-007", "top"), ("Uncontrolled", "bottom")):
            x0, y0, x1, y1 = words[word]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (number, word, words[word], width, height)
            assert x1 - x0 > y1 - y0, (number, word, "not horizontal")
            if band == "top":
                assert y1 < 0.1 * height, (number, word, words[word], height)
            else:
                assert y0 > 0.9 * height, (number, word, words[word], height)
        assert words["SOP-QA-007"][0] < words["Line"][0], (number, "heading not left to right")


# --- converter failures ---------------------------------------------------------------------------------------


def test_a_conversion_past_its_timeout_is_stopped(shared_dir: Path, tmp_path: Path) -> None:
    require_tools("soffice")
    started = time.monotonic()
    with pytest.raises(RenditionFailed, match="did not finish within 0.05 seconds and was stopped"):
        convert_to_pdf(shared_dir / "corpus" / "docx" / "having-images.docx", tmp_path, timeout=0.05)
    assert time.monotonic() - started < 10
    assert not list(tmp_path.glob("*.pdf"))


def test_missing_converters_fail_clearly(shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert not soffice_available()
    with pytest.raises(RenditionFailed, match=r"LibreOffice \(soffice\) is not installed"):
        convert_to_pdf(shared_dir / "corpus" / "docx" / "test.docx", tmp_path)
    with pytest.raises(RenditionFailed, match=r"pdftoppm \(poppler-utils\) is not installed"):
        page_images(shared_dir / "corpus" / "pdf" / "001-trivial_minimal-document.pdf", tmp_path)
