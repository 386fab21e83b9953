"""Journeys through a real browser against a real `docctl serve`: first login with a password an
administrator set, logging out, and an administrator creating a user, granting a role through htmx, and the
grant in the audit trail.

Screenshots of every step land in tests/browser/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
import pytest

from tests.browser.conftest import ADMIN_SET, OWN, LiveServer, Tab

pytestmark = pytest.mark.browser


def log_in(tab: Tab, username: str, password: str) -> None:
    page = tab.page
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


def change_password(tab: Tab, current: str, new: str) -> None:
    page = tab.page
    page.fill("#current_password", current)
    page.fill("#new_password", new)
    page.fill("#confirm_password", new)
    with page.expect_navigation():
        page.click("form[action='/account/password'] button[type=submit]")


def first_login(tab: Tab, username: str, *, shots: bool = False) -> None:
    """Log in with the password an administrator set, and replace it (forced) with one's own."""
    tab.go("/login")
    log_in(tab, username, ADMIN_SET)
    assert tab.path() == "/account/password", tab.path()
    if shots:
        tab.shot("change-password")
    change_password(tab, ADMIN_SET, OWN)
    assert tab.path() == "/?password=changed", tab.path()


@pytest.mark.req("P11-10d")
@pytest.mark.req("FDAQA-Q11a")
def test_first_login_change_password_dashboard_logout(live_server: LiveServer, new_tab: Any) -> None:
    live_server.create_user("alice", "Alice Smith", "author")
    tab: Tab = new_tab("alice")
    page = tab.page

    # Not logged in: the dashboard sends you to the login page.
    tab.go("/")
    assert tab.path().startswith("/login"), tab.path()
    assert page.locator("h1").inner_text() == "Log in"
    assert tab.htmx_loaded(), "htmx did not load on the login page"
    tab.shot("login")

    # The password was set by an administrator: logging in leads to the change-password page, and nothing else
    # opens until it is changed.
    log_in(tab, "alice", ADMIN_SET)
    assert tab.path() == "/account/password", tab.path()
    assert "set by an administrator" in page.locator(".alert-info").inner_text()
    tab.shot("forced-change")
    tab.go("/")
    assert tab.path() == "/account/password", "the dashboard opened before the password was changed"

    # A mismatch is refused on the page, then the user sets their own password.
    page.fill("#current_password", ADMIN_SET)
    page.fill("#new_password", OWN)
    page.fill("#confirm_password", OWN + "x")
    with page.expect_navigation():
        page.click("form[action='/account/password'] button[type=submit]")
    assert "differ" in page.locator(".alert-error").inner_text()
    tab.expect_error_status(422)
    tab.shot("mismatch")
    change_password(tab, ADMIN_SET, OWN)

    # The dashboard: their name, their roles, and an empty "My tasks".
    assert tab.path() == "/?password=changed", tab.path()
    assert page.locator("h1").inner_text() == "Welcome, Alice Smith"
    assert page.locator(".alert-ok").inner_text() == "Your password was changed."
    assert page.locator(".who-name").inner_text() == "Alice Smith"
    account = page.locator("section.card", has=page.locator("h2", has_text="My account"))
    assert account.locator(".tag").all_inner_texts() == ["Author"]
    tasks = page.locator("section.card", has=page.locator("h2", has_text="My tasks"))
    assert tasks.locator("li").count() == 0
    assert "Nothing waiting for you" in tasks.locator(".empty").inner_text()
    assert tab.htmx_loaded(), "htmx did not load on the dashboard"
    # Alice is an author: no administration or audit pages in her menu.
    assert page.locator("nav[aria-label=Main] a").all_inner_texts() == ["Dashboard", "Documents", "My training"]
    tab.shot("dashboard")

    # Log out: back on the login page, and the old session is dead on the server, not just forgotten by the
    # browser.
    session = {c["name"]: c["value"] for c in page.context.cookies() if c["name"] == "docctl_session"}
    assert session, "no session cookie after login"
    with page.expect_navigation():
        page.click("form[action='/logout'] button[type=submit]")
    assert tab.path() == "/login", tab.path()
    assert page.locator("h1").inner_text() == "Log in"
    assert page.locator(".who-name").count() == 0
    tab.shot("logged-out")

    tab.go("/")
    assert tab.path().startswith("/login"), tab.path()
    tab.shot("after-logout")
    replay = httpx.get(f"{live_server.url}/", cookies=session, follow_redirects=False, timeout=10)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login"), replay

    tab.assert_no_errors()


@pytest.mark.req("P11-10d")
def test_admin_creates_user_grants_role_and_the_grant_is_audited(
    live_server: LiveServer, new_tab: Any
) -> None:
    live_server.create_user("ada", "Ada Lovelace", "admin")
    live_server.create_user("irene", "Irene Novak", "inspector")
    admin: Tab = new_tab("admin")
    page = admin.page
    first_login(admin, "ada")

    # Create a user through the form.
    admin.go("/admin/users/new")
    page.fill("#username", "bob")
    page.fill("#full_name", "Bob Jones")
    page.fill("#title", "Clinical Research Associate")
    page.fill("#email", "bob@example.test")
    page.check("input[name=roles][value=staff]")
    admin.shot("new-user-form")
    with page.expect_navigation():
        page.click("form[action='/admin/users'] button[type=submit]")

    # The temporary password is shown once.
    secret = page.locator("code.secret")
    temporary = secret.inner_text().strip()
    assert len(temporary) >= 12, temporary
    assert "shown only this once" in page.locator(".alert-info").inner_text()
    assert page.locator("#user-panel h1").inner_text().startswith("Bob Jones")
    admin.shot("temporary-password")
    grant_form = page.locator("form[hx-post$='/roles']")
    user_id = re.search(r"/admin/users/([0-9a-f-]{36})/roles", grant_form.get_attribute("hx-post") or "")
    assert user_id, grant_form.get_attribute("hx-post")
    admin.go(f"/admin/users/{user_id.group(1)}")
    assert page.locator("code.secret").count() == 0, "the temporary password was shown a second time"
    assert temporary not in page.content()

    # Grant a role with a reason through the htmx form: the panel is swapped in place, no page load.
    assert admin.htmx_loaded(), "htmx did not load on the user page"
    page.evaluate("window.__noReload = 'still here'")
    loads: list[str] = []
    page.on("load", lambda _: loads.append(page.url))
    page.select_option("#grant-role", "reviewer")
    page.fill("#grant-reason", "Reviews clinical protocols from study 42 on")
    with page.expect_response(lambda r: r.url.endswith("/roles") and r.request.method == "POST") as answer:
        page.click("form[hx-post$='/roles'] button[type=submit]")
    assert answer.value.status == 200
    assert answer.value.request.headers.get("hx-request") == "true", "the grant was not sent by htmx"
    page.locator("#user-panel .alert-ok").wait_for()
    assert page.locator("#user-panel .alert-ok").inner_text() == "Role Reviewer granted."
    assert page.evaluate("window.__noReload") == "still here", "the page was reloaded"
    assert loads == [], f"a full page load happened: {loads}"
    assert page.locator("#user-panel").count() == 1, "the panel was nested instead of replaced"
    roles = page.locator("section.card", has=page.locator("h2", has_text="Roles")).locator("li .tag")
    assert sorted(roles.all_inner_texts()) == ["Reviewer", "Staff"]
    history = page.locator("section.card", has=page.locator("h2", has_text="Role history"))
    history = history.locator("tbody tr")
    assert "Reviews clinical protocols from study 42 on" in history.first.inner_text()
    admin.shot("role-granted")
    admin.assert_no_errors()

    # The inspector sees the grant, with its reason and who did it, in the audit trail.
    inspector: Tab = new_tab("inspector")
    first_login(inspector, "irene")
    # Inspectors read the user list (periodic access review) and the audit trail, and manage nothing.
    menu = inspector.page.locator("nav[aria-label=Main] a").all_inner_texts()
    assert menu == ["Dashboard", "Documents", "Training matrix", "Users", "Audit trail"], menu
    inspector.go("/audit")
    grant_code = inspector.page.locator("code", has_text="role:grant")
    row = inspector.page.locator("table.audit tbody tr", has=grant_code)
    row.first.wait_for()
    texts = row.all_inner_texts()
    reason = "Reviews clinical protocols from study 42 on"
    assert any(reason in t and "Ada Lovelace" in t for t in texts), texts
    inspector.shot("audit")

    # Filtering by action goes through htmx too.
    inspector.page.select_option("select[name=action]", "role:grant")
    with inspector.page.expect_response(lambda r: "/audit?" in r.url):
        inspector.page.click("form.filters button[type=submit]")
    inspector.page.wait_for_function(
        "() => [...document.querySelectorAll('table.audit tbody code')]"
        ".every(c => c.textContent === 'role:grant')"
    )
    assert "action=role%3Agrant" in inspector.page.url or "action=role:grant" in inspector.page.url
    inspector.shot("audit-filtered")
    inspector.assert_no_errors()
