"""An author's journey through controlled documents in a real browser against a real `docctl serve`: create a
document, upload a DOCX with the progress bar, see the revision's pages, find it by a word inside it, print a
controlled copy; and a bad upload refused in the page without a reload.

Screenshots of every step land in tests/browser/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from docx import Document as Docx
from docx.shared import Inches
from PIL import Image
from pypdf import PdfReader

from tests.browser.conftest import LiveServer, Tab
from tests.browser.test_login_journey import first_login

pytestmark = pytest.mark.browser

WORD = "pharmacovigilance"
TITLE = "Adverse event reconciliation"
NOISE_SIDE = 1000  # a 1000 x 1000 RGB noise image: ~3 MB that no compression shrinks
# Upload throttled to 1.5 MB/s by the browser (Chrome DevTools network emulation): a ~3 MB body takes about two
# seconds, so the progress bar passes through intermediate values that a test can see.
UPLOAD_BYTES_PER_SECOND = 1_500_000


def distinctive_docx(path: Path) -> int:
    """A DOCX with a distinctive word in its text and an incompressible picture that makes it ~3 MB."""
    noise = Image.frombytes("RGB", (NOISE_SIDE, NOISE_SIDE), os.urandom(NOISE_SIDE * NOISE_SIDE * 3))
    picture = io.BytesIO()
    noise.save(picture, format="PNG", compress_level=1)
    picture.seek(0)
    doc = Docx()
    doc.add_heading(TITLE, level=1)
    doc.add_paragraph(
        f"Purpose: this procedure describes the monthly {WORD} reconciliation between the safety database and "
        "the clinical database."
    )
    for n in range(1, 6):
        doc.add_paragraph(f"Step {n}: the safety physician checks each serious adverse event against the CRF.")
    doc.add_paragraph("Figure 1: scanned reconciliation log (sample).")
    doc.add_picture(picture, width=Inches(4))
    doc.save(path)
    return path.stat().st_size


def png_named_pdf(path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, format="PNG")
    path.write_bytes(out.getvalue())


# Installed in the upload page (Playwright evaluates it over CDP, so the page's CSP does not apply): reports every
# htmx:xhr:progress event and every change of the progress bar (its value and whether its box is shown) to Python
# through a binding, which survives the navigation that follows the upload.
WATCH_PROGRESS = """() => {
  const box = document.querySelector("form.upload-form .progress");
  const bar = box.querySelector("progress");
  const report = (what) => window.__progress({what, value: Number(bar.value), hidden: box.hidden,
                                              text: box.querySelector(".progress-text").textContent});
  new MutationObserver(() => report("mutation")).observe(box, {attributes: true, subtree: true,
                                                             characterData: true, childList: true});
  document.addEventListener("htmx:xhr:progress", (e) => {
    if (e.detail.lengthComputable) { window.__progressEvent({loaded: e.detail.loaded, total: e.detail.total}); }
  });
  report("installed");
}"""


def throttle_uploads(page: Any, bytes_per_second: int) -> Any:
    """Throttle the page's uploads (Chrome DevTools network emulation); the emulation lasts as long as the
    returned CDP session is attached: `.detach()` it to end the throttling."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second,
    })
    return cdp


def wait_images_loaded(tab: Tab) -> list[dict[str, Any]]:
    """Scroll every page image into view (they load lazily) and wait until each has decoded pixels."""
    images = tab.page.locator("section.viewer figure.page img")
    count = images.count()
    for i in range(count):
        images.nth(i).scroll_into_view_if_needed()
        tab.page.wait_for_function(
            "(i) => { const img = document.querySelectorAll('section.viewer figure.page img')[i];"
            " return img.complete && img.naturalWidth > 0; }",
            arg=i, timeout=30_000,
        )
    tab.page.evaluate("window.scrollTo(0, 0)")
    return tab.page.evaluate(
        "() => [...document.querySelectorAll('section.viewer figure.page img')].map(img => "
        "({src: img.getAttribute('src'), w: img.naturalWidth, h: img.naturalHeight, complete: img.complete}))"
    )


def search(tab: Tab, words: str, status: str) -> list[str]:
    """Search through the htmx form on /documents; the numbers in the rows that came back."""
    page = tab.page
    page.select_option("select[name=status]", status)
    page.fill("#q", words)
    with page.expect_response(lambda r: "/documents?" in r.url and f"status={status}" in r.url
                              and r.request.headers.get("hx-request") == "true") as answer:
        page.click("form.filters button[type=submit]")
    assert answer.value.status == 200
    page.wait_for_function(
        "(expected) => document.querySelector('#document-rows .count') && "
        "new URL(location.href).searchParams.get('status') === expected", arg=status,
    )
    page.wait_for_load_state("networkidle")
    return page.locator("#document-rows tbody tr td:first-child a").all_inner_texts()


@pytest.mark.req("ISO-4.2.4d")
@pytest.mark.req("A11-8.1")
def test_author_creates_uploads_finds_and_prints_a_document(
    live_server: LiveServer, new_tab: Any, tmp_path: Path
) -> None:
    live_server.create_user("amy", "Amy Author", "author")
    tab: Tab = new_tab("author")
    page = tab.page
    first_login(tab, "amy")

    # The documents list starts empty; the author may create one.
    tab.go("/documents")
    assert page.locator("h1").inner_text() == "Documents"
    assert "No documents match" in page.locator("#document-rows").inner_text()
    tab.shot("empty-list")
    with page.expect_navigation():
        page.click("a.btn-primary[href='/documents/new']")

    # Create the document through the form: the number comes from the SOP pattern.
    assert tab.path() == "/documents/new"
    page.select_option("#type", "SOP")
    page.fill("#title", TITLE)
    page.fill("#department", "QA")
    tab.shot("new-document")
    with page.expect_navigation():
        page.click("form[action='/documents'] button[type=submit]")
    number = "SOP-QA-001"
    assert tab.path() == f"/documents/{number}/revisions/new?created=1", tab.path()
    assert page.locator("h1").inner_text().startswith(number)
    assert f"{number} was created" in page.locator(".alert-ok").inner_text()
    assert page.locator("form.upload-form .progress").is_hidden()
    assert tab.htmx_loaded(), "htmx did not load on the upload page"

    # Upload a ~3 MB DOCX through the htmx form with the upload throttled: the progress bar appears and moves
    # through intermediate values to its end, then the browser lands on the new revision's page.
    docx_path = tmp_path / "adverse-event-reconciliation.docx"
    size = distinctive_docx(docx_path)
    assert size > 2_500_000, size
    seen: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    page.expose_function("__progress", lambda entry: seen.append(entry))
    page.expose_function("__progressEvent", lambda entry: events.append(entry))
    page.evaluate(WATCH_PROGRESS)
    page.set_input_files("#file", str(docx_path))
    page.check("input[name=change][value=major]")
    page.fill("#change_summary", "First issue")
    page.fill("#reason", "New procedure for the safety reconciliation (CAPA-2026-014)")
    tab.shot("upload-form")
    throttled = throttle_uploads(page, UPLOAD_BYTES_PER_SECOND)
    started = time.monotonic()
    page.click("form.upload-form button[type=submit]")
    page.locator("form.upload-form .progress").wait_for(state="visible", timeout=10_000)
    page.wait_for_function(
        "() => { const v = Number(document.querySelector('#upload-progress').value); return v > 0 && v < 100; }",
        timeout=10_000,
    )
    assert page.locator("form.upload-form button[type=submit]").is_disabled(), "the button stays usable"
    tab.shot("uploading")
    # The upload ends (100 %), the server checks the file and makes the PDF rendition with LibreOffice, and htmx
    # follows the HX-Redirect to the revision page.
    page.wait_for_url(re.compile(rf"/documents/{number}/revisions/1\.0\?uploaded=1$"), timeout=90_000)
    throttled.detach()
    elapsed = time.monotonic() - started
    values = [s["value"] for s in seen if not s["hidden"]]
    intermediate = sorted({v for v in values if 0 < v < 100})
    assert any(not s["hidden"] for s in seen), f"the progress bar never became visible: {seen}"
    assert intermediate, f"no intermediate progress value was seen: {seen}"
    assert max(values) == 100, f"the progress bar did not reach its end: {values}"
    assert values == sorted(values), f"the progress went backwards: {values}"
    assert events and events[-1]["loaded"] == events[-1]["total"] >= size, events[-3:]
    print(f"upload of {size:,} bytes: {len(events)} progress events, bar values {intermediate} then 100; "
          f"revision page after {elapsed:.1f} s")

    # The revision page: a draft, version 1.0, with its page images rendered from the PDF rendition.
    assert "Version 1.0 was uploaded as a draft." in page.locator(".alert-ok").inner_text()
    facts = page.locator("aside.card dl.facts").inner_text()
    assert "draft" in facts and "adverse-event-reconciliation.docx" in facts and f"{size:,} bytes" in facts, facts
    images = wait_images_loaded(tab)
    assert images, "no page images on the revision page"
    assert all(img["w"] > 0 and img["h"] > img["w"] for img in images), images
    tab.shot("revision")

    # Search for the word from inside the document: the draft is not effective, so the default list (current
    # effective versions) does not show it, and "all versions" does.
    tab.go("/documents")
    assert search(tab, WORD, "current") == []
    assert "No documents match" in page.locator("#document-rows").inner_text()
    tab.shot("search-current")
    found = search(tab, WORD, "all")
    assert found == [number], found
    row = page.locator("#document-rows tbody tr").first.inner_text()
    assert TITLE in row and "draft" in row and "1.0" in row, row
    assert "q=pharmacovigilance" in page.url, page.url
    tab.shot("search-all")

    # Print a controlled copy from the revision page: a PDF stamped with what it is and who printed it.
    with page.expect_navigation():
        page.click(f"#document-rows a[href='/documents/{number}/revisions/1.0']")
    wait_images_loaded(tab)
    with page.expect_download() as download_info:
        page.click("a:has-text('Print a controlled copy')")
    download = download_info.value
    assert download.suggested_filename == f"{number}_v1.0_controlled-copy.pdf", download.suggested_filename
    copy_path = tmp_path / download.suggested_filename
    download.save_as(copy_path)
    reader = PdfReader(copy_path)
    assert len(reader.pages) >= len(images) + 1, "no signature page after the document's pages"
    first = " ".join(reader.pages[0].extract_text().split())
    for expected in (number, TITLE, "1.0", "DRAFT", "Printed by Amy Author", "Uncontrolled when printed"):
        assert expected in first, f"{expected!r} not on page 1 of the controlled copy: {first}"
    for n, pdf_page in enumerate(reader.pages[:-1], start=1):
        text = " ".join(pdf_page.extract_text().split())
        assert number in text and "Uncontrolled when printed" in text, f"page {n} is not stamped: {text}"
    assert WORD in " ".join(p.extract_text() for p in reader.pages), "the document's own text is missing"
    tab.shot("after-copy")
    tab.assert_no_errors()


@pytest.mark.req("ISO-4.2.4d")
@pytest.mark.req("A11-8.1")
def test_a_png_named_pdf_is_refused_in_the_page(live_server: LiveServer, new_tab: Any, tmp_path: Path) -> None:
    live_server.create_user("amy", "Amy Author", "author")
    tab: Tab = new_tab("author")
    page = tab.page
    first_login(tab, "amy")
    tab.go("/documents/new")
    page.select_option("#type", "SOP")
    page.fill("#title", "Monitoring visits")
    page.fill("#department", "CLIN")
    with page.expect_navigation():
        page.click("form[action='/documents'] button[type=submit]")
    number = "SOP-CLIN-001"
    assert tab.path().startswith(f"/documents/{number}/revisions/new"), tab.path()

    # A PNG renamed .pdf: refused from its bytes, the message shown in the page by htmx, no page load.
    fake = tmp_path / "scan.pdf"
    png_named_pdf(fake)
    page.evaluate("window.__noReload = 'still here'")
    loads: list[str] = []
    page.on("load", lambda _: loads.append(page.url))
    page.set_input_files("#file", str(fake))
    page.fill("#change_summary", "First issue")
    with page.expect_response(lambda r: r.url.endswith(f"/documents/{number}/revisions")
                              and r.request.method == "POST") as answer:
        page.click("form.upload-form button[type=submit]")
    assert answer.value.status == 422
    assert answer.value.request.headers.get("hx-request") == "true", "the upload was not sent by htmx"
    message = page.locator("#upload-result .alert-error")
    message.wait_for()
    text = message.inner_text()
    assert "PNG" in text, text
    assert page.evaluate("window.__noReload") == "still here", "the page was reloaded"
    assert loads == [], f"a full page load happened: {loads}"
    assert tab.path().startswith(f"/documents/{number}/revisions/new"), tab.path()
    assert page.locator("form.upload-form button[type=submit]").is_enabled(), "the button stays disabled"
    tab.shot("bad-upload")

    # Nothing was left behind: the document still has no revisions.
    tab.go(f"/documents/{number}")
    revisions = page.locator("section.card", has=page.locator("h2", has_text="Revisions"))
    assert "No revisions yet." in revisions.inner_text()
    tab.shot("no-revision")
    tab.errors[:] = [e for e in tab.errors if "the server responded with a status of 422" not in e]
    tab.assert_no_errors()
