"""Training in a real browser against a real `docctl serve`: an administrator creates a job function, maps it to
an SOP and gives it to a staff member; a new revision of the SOP becomes effective through real signatures; the
staff member sees the training task on the dashboard and in "My training", cannot sign before opening the
document, opens it (the view is recorded), signs "read and understood" with user ID and password; QA sees them
complete in the matrix, the compliance chart and the point-in-time answer.

The approval signatures go through the JSON API (the approval ceremony in the browser has its own journey test);
everything the issue's journey names happens in the browser. Screenshots land in tests/browser/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
import pytest

from tests.browser.conftest import OWN, LiveServer, Tab
from tests.browser.test_approval_journey import (
    ADMIN,
    APPROVER,
    AUTHOR,
    QA,
    REVIEWER,
    Person,
    accept_statement,
    create,
    verify_identity,
)
from tests.browser.test_login_journey import first_login
from tests.fixtures.files import make_pdf

pytestmark = pytest.mark.browser

TRAINEE = Person("tess", "Tess Trainee", "Clinical Research Associate", "staff", zone="Europe/Berlin")
NUMBER = "SOP-CLIN-001"


def api(live_server: LiveServer, username: str) -> httpx.Client:
    client = httpx.Client(base_url=live_server.url, timeout=60)
    with httpx.Client(base_url=live_server.url, timeout=60) as anonymous:
        token = anonymous.post("/api/v1/auth/token", json={"username": username, "password": OWN})
    assert token.status_code == 201, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['token']}"
    return client


def publish(live_server: LiveServer, version_change: str, words: str) -> str:
    """The author uploads a revision and submits it; reviewer, approver and QA sign through the API."""
    with api(live_server, AUTHOR.username) as author:
        if version_change == "first":
            created = author.post("/api/v1/documents", json={"type": "SOP", "title": "Monitoring visits",
                                                             "department": "CLIN"})
            assert created.status_code == 201, created.text
            assert created.json()["number"] == NUMBER
        uploaded = author.post(f"/api/v1/documents/{NUMBER}/revisions",
                               files={"file": ("monitoring.pdf", make_pdf(2, words), "application/pdf")},
                               data={"change": "major", "change_summary": words})
        assert uploaded.status_code == 201, uploaded.text
        version = uploaded.json()["version"]
        submitted = author.post(f"/api/v1/documents/{NUMBER}/revisions/{version}/submit", json={})
        assert submitted.status_code == 200, submitted.text
        for signer in (REVIEWER, APPROVER, QA):
            with api(live_server, signer.username) as client:
                tasks = client.get("/api/v1/tasks").json()
                assert len(tasks) == 1, tasks
                signed = client.post(f"/api/v1/tasks/{tasks[0]['id']}/sign", json={
                    "username": signer.username, "password": OWN, "meaning": tasks[0]["meaning"]})
                assert signed.status_code == 201, signed.text
        state = author.get(f"/api/v1/documents/{NUMBER}/revisions/{version}").json()["state"]
    assert state == "effective", state
    return version


def submit_form(tab: Tab, button: str) -> None:
    with tab.page.expect_navigation():
        tab.page.click(button)


@pytest.mark.req("TR-RU")
@pytest.mark.req("TR-MATRIX")
def test_function_mapped_new_revision_effective_staff_reads_and_signs_matrix_complete(
    live_server: LiveServer, new_tab: Any
) -> None:
    for person in (ADMIN, AUTHOR, REVIEWER, APPROVER, QA, TRAINEE):
        create(live_server, person)

    admin: Tab = new_tab("training-admin")
    first_login(admin, ADMIN.username)
    for person in (REVIEWER, APPROVER, QA, TRAINEE):
        verify_identity(admin, person)
    tabs: dict[str, Tab] = {}
    for person in (REVIEWER, APPROVER, QA, TRAINEE):
        tabs[person.username] = tab = new_tab(f"training-{person.role}")
        first_login(tab, person.username)
        accept_statement(tab, person)
    author: Tab = new_tab("training-author")
    first_login(author, AUTHOR.username)
    first = publish(live_server, "first", "monitoring visit schedule")
    assert first == "1.0"

    # The administrator gives the trainee a department, creates the job function and maps it to the SOP.
    page = admin.page
    admin.go("/admin/users")
    with page.expect_navigation():
        page.click(f"table a:text-is('{TRAINEE.username}')")
    page.locator("details.edit-profile summary").click()
    page.fill("#p-dept", "CLIN")
    page.fill("#p-reason", "HR record: clinical operations")
    with page.expect_response(lambda r: r.url.endswith("/profile") and r.request.method == "POST"):
        page.click("details.edit-profile button[type=submit]")
    page.locator("#user-panel .alert-ok").wait_for()
    admin.go("/training/functions")
    page.fill("#code", "CRA")
    page.fill("#name", "Clinical Research Associate")
    page.fill("#description", "Monitors sites")
    submit_form(admin, "form[action='/training/functions'] button[type=submit]")
    admin.go("/training/functions/CRA")
    assert "Clinical Research Associate" in page.locator("h1").inner_text()
    page.fill("#req-number", NUMBER)
    page.fill("#req-reason", "CRAs monitor sites by this SOP")
    submit_form(admin, "form[action='/training/functions/CRA/requirements'] button:has-text('Add requirement')")
    page.fill("#grant-username", TRAINEE.username)
    page.fill("#grant-reason", "Joined clinical operations as a CRA")
    submit_form(admin, "form[action='/training/functions/CRA/grant'] button[type=submit]")
    body = page.locator("main").inner_text()
    assert NUMBER in body and TRAINEE.name in body, body
    admin.shot("function-mapped")

    # A new revision becomes effective: the trainee's training on 1.0 is superseded by one on 2.0.
    second = publish(live_server, "second", "remote monitoring added")
    assert second == "2.0"

    trainee = tabs[TRAINEE.username]
    page = trainee.page
    trainee.go("/")
    dashboard = page.locator("main").inner_text()
    assert NUMBER in dashboard and "2.0" in dashboard, dashboard
    trainee.shot("dashboard")
    trainee.go("/training")
    open_rows = page.locator("main").inner_text()
    assert NUMBER in open_rows and "2.0" in open_rows, open_rows
    trainee.shot("my-training")
    link = page.locator("a[href^='/training/assignments/']").first
    with page.expect_navigation():
        link.click()
    assert re.fullmatch(r"/training/assignments/[0-9a-f-]{36}", trainee.path()), trainee.path()
    assignment = trainee.path()
    assert page.locator("h1").inner_text() == f"Read and understood: {NUMBER} v2.0"
    # before opening: no sign form, only a disabled button
    assert page.locator("form[hx-post$='/acknowledge']").count() == 0
    assert page.locator("button[disabled]:has-text('Sign')").count() == 1
    trainee.shot("before-opening")
    with page.expect_navigation():
        page.click("aside a:has-text('Open the document')")
    assert trainee.path() == f"{assignment}/read", trainee.path()
    images = page.locator("figure.page img")
    assert images.count() == 2
    for i in range(images.count()):  # they load lazily: scroll each into view and wait for its pixels
        images.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("(i) => { const img = document.querySelectorAll('figure.page img')[i];"
                               " return img.complete && img.naturalWidth > 0; }", arg=i, timeout=30_000)
    page.evaluate("() => window.scrollTo(0, 0)")
    trainee.shot("reading")
    # a wrong password is refused in place and recorded
    page.check("input[name=meaning]")
    page.fill("#sign-username", TRAINEE.username)
    page.fill("#sign-password", "Not-My-Password-99")
    with page.expect_response(lambda r: r.url.endswith("/acknowledge")) as answer:
        page.click("form[hx-post$='/acknowledge'] button[type=submit]")
    assert answer.value.status == 422
    page.locator("#sign-result .alert-error").wait_for()
    assert "incorrect" in page.locator("#sign-result").inner_text()
    trainee.expect_error_status(422)
    page.fill("#sign-password", OWN)
    trainee.shot("sign-filled")
    with page.expect_response(lambda r: r.url.endswith("/acknowledge")) as answer:
        page.click("form[hx-post$='/acknowledge'] button[type=submit]")
    assert answer.value.status == 200, answer.value.status
    page.wait_for_url(re.compile(r"/training\?signed=1$"))
    trainee.shot("signed")
    trainee.go(assignment)
    assert "This training is complete." in page.locator("#sign").inner_text()
    records = page.locator("main").inner_text()
    assert "Read and understood" in records and TRAINEE.name in records, records
    trainee.assert_no_errors()

    # QA sees the trainee complete on 2.0 in the matrix, 100 % in the compliance chart, and a point-in-time yes.
    qa = tabs[QA.username]
    page = qa.page
    qa.go("/training/matrix?department=CLIN")
    row = page.locator("tr", has=page.locator(f"th a:text-is('{TRAINEE.name}')"))
    cell = row.locator("td").first
    assert "trm-ok" in (cell.get_attribute("class") or ""), row.inner_html()
    assert "2.0" in cell.inner_text(), cell.inner_text()
    qa.shot("matrix")
    qa.go("/training/compliance")
    chart = page.locator("svg").first
    assert chart.count() == 1
    assert "100" in page.locator("main").inner_text()
    qa.shot("compliance")
    qa.go(f"/training/point-in-time?user={TRAINEE.username}&document={NUMBER}")
    answer = page.locator("main").inner_text()
    assert "Yes" in answer and "2.0" in answer, answer
    qa.shot("point-in-time")
    qa.assert_no_errors()
    admin.assert_no_errors()
