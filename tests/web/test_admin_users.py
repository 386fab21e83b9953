"""User administration through the pages and the API: every change audited with who, what, before and after."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from docctl.db.models import AuditEvent, User
from tests.web.audit_helpers import actions_since, events_since, last_seq
from tests.web.conftest import STRONG, api_token, csrf_from, login, page_csrf


@pytest.fixture
def admin(env):
    env.user("root", "admin")
    return login(env.client(), "root")


@pytest.mark.req("P11-10e.1", "P11-10e.2")
def test_create_user_in_the_browser_shows_a_temporary_password_once(env, admin):
    start = last_seq(env.db)
    csrf = page_csrf(admin, "/admin/users/new")
    response = admin.post("/admin/users", data={"username": "NewHire", "full_name": "New Hire", "title": "CRA",
                          "email": "n@example.org", "time_zone": "Europe/London", "roles": ["staff", "author"],
                          "csrf_token": csrf})
    assert response.status_code == 201
    assert "Temporary password for" in response.text
    events = events_since(env.db, start)
    assert [e["action"] for e in events] == ["user:create", "role:grant", "role:grant"]
    created = events[0]
    assert created["subject"]["label"] == "newhire"
    assert created["after"]["full_name"] == "New Hire" and created["after"]["status"] == "active"
    assert created["actor"]["username"] == "root"
    assert created["request"]["ip"] == "testclient"
    # the temporary password works once, and must be changed
    temp = response.text.split('<code class="secret">')[1].split("</code>")[0]
    client = login(env.client(), "newhire", temp)
    assert client.get("/", follow_redirects=False).headers["location"] == "/account/password"


@pytest.mark.req("P11-300a", "P11-100a")
def test_user_ids_are_unique_in_any_letter_case_and_never_reused(env, admin):
    env.user("jsmith", "staff")
    csrf = page_csrf(admin, "/admin/users/new")
    dup = admin.post("/admin/users", data={"username": "JSmith", "full_name": "Other Smith", "csrf_token": csrf})
    assert dup.status_code == 422 and "never reused" in dup.text
    with env.db.read() as s:
        jsmith = s.scalars(select(User).where(User.username == "jsmith")).one()
    page_csrf(admin, f"/admin/users/{jsmith.id}")
    assert admin.post(f"/admin/users/{jsmith.id}/deactivate", data={"reason": "left the company",
                      "csrf_token": csrf}).status_code == 200
    again = admin.post("/admin/users", data={"username": "jsmith", "full_name": "Jo Smith", "csrf_token": csrf})
    assert again.status_code == 422
    with env.db.read() as s:
        assert s.scalars(select(func.count()).select_from(User).where(User.username_key == "jsmith")).one() == 1


@pytest.mark.req("E6-4.3.8")
def test_deactivated_user_cannot_log_in_but_history_resolves(env, admin):
    bob = env.user("bob", "author")
    headers = api_token(env.client(), "bob")
    bob_browser = login(env.client(), "bob")
    csrf = page_csrf(admin, f"/admin/users/{bob.id}")
    start = last_seq(env.db)
    done = admin.post(f"/admin/users/{bob.id}/deactivate", data={"reason": "contract ended", "csrf_token": csrf})
    assert done.status_code == 200 and "deactivated" in done.text
    # sessions and tokens end at once (P11-300c)
    assert bob_browser.get("/", follow_redirects=False).status_code == 303
    assert env.client().get("/api/v1/me", headers=headers).status_code == 401
    fresh = env.client()
    refused = fresh.post("/login", data={"username": "bob", "password": STRONG,
                         "csrf_token": csrf_from(fresh.get("/login").text)})
    assert refused.status_code == 401
    event = events_since(env.db, start)[0]
    assert event["action"] == "user:deactivate" and event["reason"] == "contract ended"
    assert event["before"] == {"status": "active"}
    assert event["after"]["status"] == "deactivated" and event["after"]["tokens_revoked"] == 1
    # the access review still lists bob with grant times and his history
    listing = admin.get("/admin/users?show=all").text
    assert "bob" in listing and "deactivated" in listing
    detail = admin.get(f"/admin/users/{bob.id}").text
    assert "initial role at account creation" in detail
    trail = admin.get(f"/audit?subject_type=user&subject_id={bob.id}").text
    assert "user:deactivate" in trail and "contract ended" in trail


@pytest.mark.req("P11-10e.2")
def test_reason_is_required_and_stored_verbatim(env, admin):
    bob = env.user("bob", "author")
    csrf = page_csrf(admin, f"/admin/users/{bob.id}")
    start = last_seq(env.db)
    missing = admin.post(f"/admin/users/{bob.id}/roles", data={"role": "reviewer", "reason": "  ", "csrf_token": csrf})
    assert missing.status_code == 422 and "reason is required" in missing.text
    assert last_seq(env.db) == start
    reason = "Per SOP-QA-001 §4.2: \"trained\" <b>not bold</b>'; DROP TABLE users;--"
    ok = admin.post(f"/admin/users/{bob.id}/roles", data={"role": "reviewer", "reason": reason, "csrf_token": csrf})
    assert ok.status_code == 200
    event = events_since(env.db, start)[0]
    assert event["reason"] == reason
    trail = admin.get("/audit").text
    assert "&lt;b&gt;not bold&lt;/b&gt;" in trail and "<b>not bold</b>" not in trail


def test_reset_password_issues_a_temporary_password_and_ends_sessions(env, admin):
    bob = env.user("bob", "author")
    bob_browser = login(env.client(), "bob")
    csrf = page_csrf(admin, f"/admin/users/{bob.id}")
    start = last_seq(env.db)
    response = admin.post(f"/admin/users/{bob.id}/reset-password", data={"reason": "forgotten", "csrf_token": csrf})
    assert response.status_code == 200 and "Temporary password for" in response.text
    assert bob_browser.get("/", follow_redirects=False).status_code == 303
    assert actions_since(env.db, start) == ["user:password_reset", "signing_key:retire"]
    temp = response.text.split('<code class="secret">')[1].split("</code>")[0]
    fresh = login(env.client(), "bob", temp)
    assert fresh.get("/", follow_redirects=False).headers["location"] == "/account/password"
    assert env.client().post("/api/v1/auth/token", json={"username": "bob", "password": temp}).status_code == 403


def test_administrators_cannot_remove_the_last_administrator(env, admin):
    with env.db.read() as s:
        root = s.scalars(select(User).where(User.username == "root")).one()
    csrf = page_csrf(admin, f"/admin/users/{root.id}")
    own = admin.post(f"/admin/users/{root.id}/roles/admin/revoke", data={"reason": "x", "csrf_token": csrf})
    assert own.status_code == 409
    deact = admin.post(f"/admin/users/{root.id}/deactivate", data={"reason": "x", "csrf_token": csrf})
    assert deact.status_code == 409


@pytest.mark.req("P11-10e.1", "P11-10g")
def test_user_administration_through_the_api(env):
    env.user("root", "admin")
    env.user("insp", "inspector")
    client = env.client()
    admin = api_token(client, "root")
    start = last_seq(env.db)
    created = client.post("/api/v1/users", headers=admin, json={"username": "api-user", "full_name": "Api User",
                          "roles": ["staff"]})
    assert created.status_code == 201 and created.json()["temporary_password"]
    uid = created.json()["id"]
    assert client.post(f"/api/v1/users/{uid}/roles", headers=admin,
                       json={"role": "author", "reason": "writes SOPs"}).json()["roles"] == ["author", "staff"]
    assert client.post(f"/api/v1/users/{uid}/roles/staff/revoke", headers=admin,
                       json={"reason": "not needed"}).json()["roles"] == ["author"]
    assert client.post(f"/api/v1/users/{uid}/reset-password", headers=admin,
                       json={"reason": "lost"}).json()["temporary_password"]
    assert client.post(f"/api/v1/users/{uid}/deactivate", headers=admin,
                       json={"reason": "left"}).json()["status"] == "deactivated"
    assert actions_since(env.db, start) == ["user:create", "role:grant", "role:grant", "role:revoke",
                                            "user:password_reset", "user:deactivate"]
    # the inspector reads but cannot change
    insp = api_token(client, "insp")
    assert client.get("/api/v1/users", headers=insp).status_code == 200
    assert client.post("/api/v1/users", headers=insp, json={"username": "x1", "full_name": "X"}).status_code == 403
    no_reason = client.post(f"/api/v1/users/{uid}/roles", headers=admin, json={"role": "author"})
    assert no_reason.status_code == 422


@pytest.mark.req("P11-10e.4")
def test_no_route_edits_or_deletes_audit_events(env):
    """Administrators included: the trail has no UPDATE or DELETE anywhere in the HTTP surface."""
    from tests.web.test_authz import _routes

    # the only POSTs under /audit add new records beside the trail (a signed review, an integrity check run);
    # none takes an event to change, and nothing anywhere puts, patches or deletes
    appends = {"/audit/reviews", "/api/v1/audit/reviews", "/audit/integrity", "/api/v1/audit/integrity-checks"}
    for method, path, _ in _routes(env.app):
        if "audit" in path:
            assert method == "GET" or (method == "POST" and path in appends), f"{method} {path}"
    env.user("root", "admin")
    client = env.client()
    headers = api_token(client, "root")
    for method in ("PUT", "PATCH", "DELETE"):
        assert client.request(method, "/api/v1/audit", headers=headers).status_code == 405
    with env.db.read() as s:
        before = s.scalars(select(func.count()).select_from(AuditEvent)).one()
    assert before > 0


@pytest.mark.req("E6-4.3.8")
def test_access_review_lists_grants_with_times_and_last_login_and_exports_csv(env):
    env.user("root", "admin")
    bob = env.user("bob", "author", "reviewer")
    admin = login(env.client(), "root")
    csrf = page_csrf(admin, f"/admin/users/{bob.id}")
    admin.post(f"/admin/users/{bob.id}/roles/reviewer/revoke", data={"reason": "left the team", "csrf_token": csrf})
    login(env.client(), "bob")
    insp = env.user("insp", "inspector")
    inspector = login(env.client(), "insp")
    page = inspector.get("/admin/access-review")
    assert page.status_code == 200 and "left the team" in page.text
    start = last_seq(env.db)
    csv_text = inspector.get("/admin/access-review.csv").text
    lines = csv_text.splitlines()
    assert lines[0].startswith("username,full_name,status,last_login_at,role,granted_at")
    reviewer = next(line for line in lines if line.startswith("bob,") and ",reviewer," in line)
    assert "2026-11-21T09:00:00.000000Z" in reviewer and "left the team" in reviewer and ",root," in reviewer
    author = next(line for line in lines if line.startswith("bob,") and ",author," in line)
    assert author.split(",")[3] == "2026-11-21T09:00:00.000000Z"  # last login
    events = events_since(env.db, start)
    assert [e["action"] for e in events] == ["access_review:export"]
    assert events[0]["actor"]["id"] == str(insp.id)
    # staff may not see it
    env.user("plain", "staff")
    assert login(env.client(), "plain").get("/admin/access-review").status_code == 403


def test_openapi_document_lists_the_api(env):
    env.user("root", "admin")
    client = env.client()
    assert client.get("/api/v1/openapi.json").status_code == 401
    spec = client.get("/api/v1/openapi.json", headers=api_token(client, "root")).json()
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/users", "/api/v1/users/{user_id}/roles",
                 "/api/v1/audit", "/api/v1/audit/verify"):
        assert path in spec["paths"], path
    assert not any(p.startswith("/admin") for p in spec["paths"]), "pages are not part of the API document"
