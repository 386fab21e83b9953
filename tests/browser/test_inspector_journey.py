"""The inspector's visit, in a real browser against a real `docctl serve`: an SOP was approved through real
signatures and someone mistyped their password; the inspector (read-only) filters the audit trail, opens the
document's own trail, runs the failed-logins exception report and exports it, verifies the integrity of the whole
trail with the progress page, and downloads the document's evidence package, which `docctl verify-package`
checks on its own (no server, no database). Screenshots land in tests/browser/screenshots/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.browser.conftest import LiveServer, Tab
from tests.browser.test_approval_journey import ADMIN, APPROVER, AUTHOR, QA, REVIEWER, Person, accept_statement, create
from tests.browser.test_approval_journey import verify_identity as record_identity
from tests.browser.test_login_journey import first_login
from tests.browser.test_training_journey import NUMBER, publish

pytestmark = pytest.mark.browser

INSPECTOR = Person("ines", "Ines Inspector", "GCP Inspector", "inspector", zone="Europe/London")


def main_text(tab: Tab) -> str:
    return tab.page.locator("main").inner_text()


@pytest.mark.req("E6-2.12.14/EMA-A6", "P11-10e.7", "MHRA-6.13/EMA-6.2.2", "P11-10e.4", "FDAQA-Q3")
def test_an_inspector_reviews_verifies_and_takes_the_evidence_home(
    live_server: LiveServer, new_tab: Any, tmp_path: Path
) -> None:
    for person in (ADMIN, AUTHOR, REVIEWER, APPROVER, QA, INSPECTOR):
        create(live_server, person)
    admin: Tab = new_tab("inspector-setup-admin")
    first_login(admin, ADMIN.username)
    for person in (REVIEWER, APPROVER, QA):
        record_identity(admin, person)
        signer: Tab = new_tab(f"inspector-setup-{person.role}")
        first_login(signer, person.username)
        accept_statement(signer, person)
    author: Tab = new_tab("inspector-setup-author")
    first_login(author, AUTHOR.username)
    assert publish(live_server, "first", "monitoring visit schedule") == "1.0"
    with httpx.Client(base_url=live_server.url, timeout=60) as anonymous:  # two mistyped passwords
        for _ in range(2):
            refused = anonymous.post("/api/v1/auth/token", json={"username": REVIEWER.username,
                                                                 "password": "Not-The-Password-1"})
            assert refused.status_code == 401, refused.text

    inspector: Tab = new_tab("inspector")
    first_login(inspector, INSPECTOR.username)
    page = inspector.page

    # The trail, then filtered to the document (htmx swaps the rows; the export links follow the filter).
    inspector.go("/audit")
    assert "Audit trail" in page.locator("h1").inner_text()
    inspector.shot("trail")
    page.fill("input[name=document]", NUMBER)
    with page.expect_response(lambda r: "/audit?" in r.url and r.request.headers.get("hx-request") == "true"):
        page.click("form.filters button[type=submit]")
    page.locator(f"#audit-rows a[href*='document={NUMBER}']").first.wait_for()  # swapped in
    rows = page.locator("#audit-rows").inner_text()
    assert "revision:approve" in rows and "signature:create" in rows and "user:login_failed" not in rows, rows
    export = page.locator("#audit-rows a:has-text('Export CSV')")
    assert f"document={NUMBER}" in (export.get_attribute("href") or "")
    inspector.shot("trail-filtered-by-document")

    # The document's own page carries its trail.
    inspector.go(f"/documents/{NUMBER}")
    trail = page.locator("section.record-trail")
    assert "Audit trail of this document" in trail.inner_text()
    assert "revision:make_effective" in trail.inner_text()
    inspector.shot("document-trail")

    # The exception report for failed logins flags exactly the two mistyped passwords; export it.
    inspector.go("/audit/exceptions")
    inspector.shot("exception-reports")
    with page.expect_navigation():
        page.click("a:has-text('Failed logins and signatures')")
    flagged = page.locator("table.audit tbody tr")
    assert flagged.count() == 2 and "user:login_failed" in flagged.first.inner_text()
    inspector.shot("failed-logins")
    with page.expect_download() as csv_download:
        page.click("a:has-text('Export CSV')")
    csv_path = tmp_path / "failed-logins.csv"
    csv_download.value.save_as(csv_path)
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all("user:login_failed" in line for line in lines[1:]), lines

    # Verify integrity: the progress page polls until the check is done.
    inspector.go("/audit/integrity")
    inspector.shot("verify-integrity")
    with page.expect_navigation():
        page.click("#verify-integrity")
    page.locator("text=Every audit event and every signed checkpoint checks out").wait_for(timeout=60_000)
    assert "Verified" in main_text(inspector)
    inspector.shot("verified")

    # The evidence package, checked offline by the verifier alone (an empty environment, no server).
    inspector.go(f"/documents/{NUMBER}")
    with page.expect_download() as zip_download:
        page.click("a:has-text('Evidence package')")
    package = tmp_path / "evidence.zip"
    zip_download.value.save_as(package)
    checked = subprocess.run([sys.executable, "-m", "docctl", "verify-package", str(package)], cwd=tmp_path,
                             env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    inspector.shot("evidence-downloaded")

    # Read-only in fact: no sign, upload or edit controls anywhere on the way.
    inspector.go(f"/documents/{NUMBER}")
    assert page.locator("a:has-text('Upload'), a:has-text('Edit details')").count() == 0
    inspector.assert_no_errors()
