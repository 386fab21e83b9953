"""Logging in and out, session timeouts, lockout and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from docctl.db.models import Notification, User
from tests.web.audit_helpers import actions_since, events_since, last_seq
from tests.web.conftest import STRONG, api_token, csrf_from, login, page_csrf


def _post_login(client, username, password):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(page.text)}, follow_redirects=False)


@pytest.mark.req("P11-300d")
def test_unknown_user_and_wrong_password_get_the_same_message(env):
    env.user("alice", "author")
    client = env.client()
    wrong = _post_login(client, "alice", "not-her-password")
    unknown = _post_login(client, "nobody", "whatever")
    assert wrong.status_code == unknown.status_code == 401
    message = "The user ID or password is incorrect, or the account cannot log in."
    assert message in wrong.text and message in unknown.text


@pytest.mark.req("E6-4.2.2a-i", "P11-10e.1")
def test_account_life_is_audited_with_typed_timestamped_entries(env):
    start = last_seq(env.db)
    admin = env.user("root", "admin")
    target = env.user("bob", "staff")
    client = login(env.client(), "root")
    csrf = page_csrf(client, f"/admin/users/{target.id}")
    assert client.post(f"/admin/users/{target.id}/roles", data={"role": "reviewer", "reason": "new SOP reviewer",
                       "csrf_token": csrf}).status_code == 200
    assert client.post(f"/admin/users/{target.id}/roles/reviewer/revoke", data={"reason": "moved team",
                       "csrf_token": csrf}).status_code == 200
    for _ in range(3):
        assert _post_login(env.client(), "bob", "wrong").status_code == 401
    client.post("/logout", data={"csrf_token": csrf})
    events = events_since(env.db, start)
    actions = [e["action"] for e in events]
    for expected in ("user:create", "role:grant", "role:revoke", "user:login", "user:login_failed", "user:logout"):
        assert expected in actions, expected
    assert actions.count("user:login_failed") == 3
    grant = next(e for e in events if e["action"] == "role:grant" and e["reason"] == "new SOP reviewer")
    assert grant["actor"] == {"id": str(admin.id), "username": "root", "name": "Root Tester"}
    assert grant["before"] == {"roles": ["staff"]} and grant["after"] == {"roles": ["reviewer", "staff"]}
    assert grant["at"] == "2026-11-21T09:00:00.000000Z"
    revoke = next(e for e in events if e["action"] == "role:revoke")
    assert revoke["reason"] == "moved team" and revoke["after"] == {"roles": ["staff"]}


@pytest.mark.req("P11-300d")
def test_five_failures_lock_the_account_audit_it_and_alert_the_administrators(any_env):
    admins = [any_env.user("admin1", "admin"), any_env.user("admin2", "admin")]
    any_env.user("carol", "author")
    start = last_seq(any_env.db)
    for _ in range(5):
        assert _post_login(any_env.client(), "carol", "bad-guess").status_code == 401
    # locked: even the right password no longer works, with the same message
    assert _post_login(any_env.client(), "carol", STRONG).status_code == 401
    actions = actions_since(any_env.db, start)
    assert actions.count("user:locked") == 1
    assert actions[:6] == ["user:login_failed"] * 5 + ["user:locked"]
    with any_env.db.read() as s:
        carol = s.scalars(select(User).where(User.username == "carol")).one()
        assert carol.status == "locked"
        notes = list(s.scalars(select(Notification).where(Notification.kind == "security.lockout")))
    assert sorted(n.user_id for n in notes) == sorted(a.id for a in admins)
    assert all("carol" in n.subject for n in notes)
    # an administrator sees it on the dashboard and can unlock with a reason
    client = login(any_env.client(), "admin1")
    assert "Account locked: carol" in client.get("/").text
    csrf = page_csrf(client, f"/admin/users/{carol.id}")
    assert client.post(f"/admin/users/{carol.id}/unlock", data={"reason": "verified by phone",
                       "csrf_token": csrf}).status_code == 200
    login(any_env.client(), "carol")


@pytest.mark.req("P11-300d")
def test_lockout_threshold_is_configurable(tmp_path, sqlite_url, clock):
    from tests.web.conftest import _env

    env = next(_env(sqlite_url, tmp_path, clock, lockout_threshold=2))
    env.user("dave", "staff")
    _post_login(env.client(), "dave", "x")
    _post_login(env.client(), "dave", "y")
    with env.db.read() as s:
        assert s.scalars(select(User.status).where(User.username == "dave")).one() == "locked"


@pytest.mark.req("FDAQA-Q11a")
def test_idle_session_times_out_and_the_timeout_is_audited(any_env):
    any_env.user("erin", "staff")
    client = login(any_env.client(), "erin")
    assert client.get("/").status_code == 200
    any_env.clock.advance(timedelta(minutes=14))
    assert client.get("/").status_code == 200  # activity keeps it alive
    start = last_seq(any_env.db)
    any_env.clock.advance(timedelta(minutes=15, seconds=1))
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert actions_since(any_env.db, start) == ["session:timeout"]
    # and an htmx or form request gets 401, not a page
    assert client.post("/logout", follow_redirects=False).status_code == 401


@pytest.mark.req("FDAQA-Q11a")
def test_absolute_session_lifetime(env):
    env.user("fay", "staff")
    client = login(env.client(), "fay")
    for _ in range(12 * 6):  # active every 10 minutes for 12 hours
        env.clock.advance(timedelta(minutes=10))
        if client.get("/", follow_redirects=False).status_code != 200:
            break
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.req("FDAQA-Q11a")
def test_logout_invalidates_the_session_token(env):
    env.user("gus", "staff")
    client = login(env.client(), "gus")
    cookie = client.cookies.get("docctl_session")
    csrf = page_csrf(client)
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    replay = env.client()
    replay.cookies.set("docctl_session", cookie)
    assert replay.get("/", follow_redirects=False).status_code == 303
    # a form captured before logout cannot be replayed either
    assert replay.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 401


def test_scheduler_sweep_ends_idle_sessions(env):
    from docctl.services import sessions

    env.user("hal", "staff")
    login(env.client(), "hal")
    env.clock.advance(timedelta(minutes=16))
    start = last_seq(env.db)
    with env.db.unit_of_work() as s:
        assert sessions.sweep_idle(s, env.config, at=env.clock.now()) == 1
    assert actions_since(env.db, start) == ["session:timeout"]


def test_password_set_by_an_administrator_must_be_changed_at_first_login(env):
    env.user("ivy", "author", own=False)
    client = login(env.client(), "ivy")
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/account/password"
    csrf = page_csrf(client, "/account/password")
    # the policy is enforced
    weak = client.post("/account/password", data={"current_password": STRONG, "new_password": "short",
                       "confirm_password": "short", "csrf_token": csrf})
    assert weak.status_code == 422 and "at least 12 characters" in weak.text
    same = client.post("/account/password", data={"current_password": STRONG, "new_password": STRONG,
                       "confirm_password": STRONG, "csrf_token": csrf})
    assert same.status_code == 422 and "last 5 passwords" in same.text
    new = "Another-Good-Pass-77"
    ok = client.post("/account/password", data={"current_password": STRONG, "new_password": new,
                     "confirm_password": new, "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    assert client.get("/").status_code == 200


def test_api_token_requires_own_password_and_can_be_revoked(env):
    env.user("jay", "author", own=False)
    client = env.client()
    refused = client.post("/api/v1/auth/token", json={"username": "jay", "password": STRONG})
    assert refused.status_code == 403
    env.user("kim", "inspector")
    start = last_seq(env.db)
    headers = api_token(client, "kim")
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["username"] == "kim" and "audit.read" in me.json()["permissions"]
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert actions_since(env.db, start) == ["token:issue", "token:revoke"]
    bad = client.post("/api/v1/auth/token", json={"username": "kim", "password": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"]["message"].startswith("The user ID or password")


def test_expired_api_token_is_refused(env):
    env.user("lou", "staff")
    headers = api_token(env.client(), "lou")
    env.clock.advance(timedelta(days=31))
    assert env.client().get("/api/v1/me", headers=headers).status_code == 401


def test_a_password_past_its_maximum_age_must_be_changed(env):
    env.user("old", "staff")
    env.clock.advance(timedelta(days=366))
    client = login(env.client(), "old")
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/account/password"
    assert "has expired" in client.get("/account/password").text
