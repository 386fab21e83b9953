"""Bad input, CSRF, cross-site requests, request-size limits, headers and cookies."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from docctl.db.models import User
from docctl.web.assets import HTMX, STATIC_DIR
from tests.web.audit_helpers import last_seq
from tests.web.conftest import STRONG, api_token, csrf_from, login, page_csrf


def test_a_10000_character_field_gets_422_not_500(env):
    env.user("root", "admin")
    admin = login(env.client(), "root")
    csrf = page_csrf(admin, "/admin/users/new")
    start = last_seq(env.db)
    long = "x" * 10_000
    for data in ({"username": long, "full_name": "A"}, {"username": "ok1", "full_name": long},
                 {"username": "ok2", "full_name": "A", "title": long}):
        response = admin.post("/admin/users", data={**data, "csrf_token": csrf})
        assert response.status_code == 422, data.keys()
        assert "not valid" in response.text
    anonymous = env.client()
    assert anonymous.post("/login", data={"username": long, "password": long,
                          "csrf_token": csrf_from(anonymous.get("/login").text)}).status_code == 422
    api = env.client().post("/api/v1/auth/token", json={"username": long, "password": "x"})
    assert api.status_code == 422 and api.json()["error"]["code"] == "InvalidInput"
    assert last_seq(env.db) == start, "nothing half-written"


def test_malformed_bodies_get_422(env):
    env.user("root", "admin")
    client = env.client()
    headers = api_token(client, "root")
    for body in (b"{not json", b"[]", b'{"username": 5}', b'{"username": "a", "full_name": "b", "extra": 1}'):
        response = client.post("/api/v1/users", headers={**headers, "Content-Type": "application/json"},
                               content=body)
        assert response.status_code == 422, body
    assert client.get("/api/v1/users/not-a-uuid", headers=headers).status_code == 422
    assert client.get("/api/v1/audit?limit=100000", headers=headers).status_code == 422


def test_request_bodies_have_a_size_limit(env):
    env.user("root", "admin")
    client = env.client()
    headers = api_token(client, "root")
    big = b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/api/v1/users", headers={**headers, "Content-Type": "application/json"}, content=big)
    assert response.status_code == 413

    def chunks():
        for _ in range(40):
            yield b"a" * 65536

    streamed = client.post("/api/v1/users", headers={**headers, "Content-Type": "application/json"},
                           content=chunks())
    assert streamed.status_code == 413


def test_sql_and_html_are_stored_literally_and_shown_escaped(env):
    env.user("root", "admin")
    admin = login(env.client(), "root")
    csrf = page_csrf(admin, "/admin/users/new")
    name = "<script>alert(1)</script> O'Brien\"; DROP TABLE users; --"
    response = admin.post("/admin/users", data={"username": "obrien", "full_name": name, "csrf_token": csrf})
    assert response.status_code == 201
    with env.db.read() as s:
        assert s.scalars(select(User.full_name).where(User.username == "obrien")).one() == name
        assert s.scalars(select(func.count()).select_from(User)).one() == 2
    listing = admin.get("/admin/users").text
    assert "<script>alert(1)</script>" not in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing


def test_forms_without_a_valid_csrf_token_are_refused(env):
    bob = env.user("bob", "staff")
    env.user("root", "admin")
    admin = login(env.client(), "root")
    other_sessions_token = page_csrf(login(env.client(), "bob"))
    start = last_seq(env.db)
    for token in (None, "", "forged", other_sessions_token):
        data = {"reason": "x", "role": "author"}
        if token is not None:
            data["csrf_token"] = token
        response = admin.post(f"/admin/users/{bob.id}/roles", data=data)
        assert response.status_code == 403, token
        assert "did not come from this site" in response.text
    assert last_seq(env.db) == start
    # htmx requests carry it in a header instead
    ok = admin.post(f"/admin/users/{bob.id}/roles", data={"reason": "x", "role": "author"},
                    headers={"X-CSRF-Token": page_csrf(admin), "HX-Request": "true"})
    assert ok.status_code == 200 and 'id="user-panel"' in ok.text and "<html" not in ok.text


def test_cross_site_posts_are_refused_even_with_a_token(env):
    env.user("bob", "staff")
    client = login(env.client(), "bob")
    csrf = page_csrf(client)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        response = client.post("/logout", data={"csrf_token": csrf}, headers=headers, follow_redirects=False)
        assert response.status_code == 403, headers
    same = client.post("/logout", data={"csrf_token": csrf}, headers={"Origin": "http://testserver"},
                       follow_redirects=False)
    assert same.status_code == 303


def test_login_form_is_csrf_protected(env):
    env.user("bob", "staff")
    client = env.client()
    client.get("/login")
    response = client.post("/login", data={"username": "bob", "password": STRONG, "csrf_token": "x"})
    assert response.status_code == 403


def test_security_headers_on_every_response(env):
    client = env.client()
    for path in ("/login", "/healthz", "/static/app.css", "/does-not-exist", "/api/v1/me"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"


def test_pages_have_no_inline_script_or_style(env):
    env.user("root", "admin")
    admin = login(env.client(), "root")
    for path in ("/", "/admin/users", "/admin/users/new", "/audit", "/account/password"):
        html = admin.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"<[^>]+\son[a-z]+=", html), f"inline event handler in {path}"


def test_session_cookie_flags(env):
    env.user("bob", "staff")
    client = env.client()
    page = client.get("/login")
    response = client.post("/login", data={"username": "bob", "password": STRONG,
                                           "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http in development


def test_cookies_are_secure_behind_https(tmp_path, sqlite_url, clock):
    from tests.web.conftest import _env

    env = next(_env(sqlite_url, tmp_path, clock, base_url="https://docs.example.org"))
    env.user("bob", "staff")
    client = env.client()
    page = client.get("/login")
    assert "__host-docctl_anon" in page.headers["set-cookie"].lower()
    assert "secure" in page.headers["set-cookie"].lower()
    assert page.headers["strict-transport-security"].startswith("max-age=")


def test_vendored_htmx_matches_its_recorded_checksum_and_is_loaded_with_sri(env):
    data = (STATIC_DIR / HTMX.file).read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX.sha256
    assert HTMX.version in HTMX.file
    assert HTMX.sha256 in (STATIC_DIR / "VENDORED.md").read_text()
    html = env.client().get("/login").text
    tag = re.search(r'<script src="/static/(htmx-[^"]+)" integrity="(sha384-[^"]+)"', html)
    assert tag and tag.group(1) == HTMX.file
    import base64

    assert tag.group(2) == "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert env.client().get(f"/static/{HTMX.file}").content == data


@pytest.mark.req("E6-4.2.2b")
def test_no_setting_turns_auditing_off():
    from docctl.config import Settings

    # the only setting naming the audit trail limits the size of one PDF export; none switches recording off
    assert [name for name in Settings.model_fields if "audit" in name] == ["audit_pdf_max_events"]
    assert Settings().audit_pdf_max_events >= 1
    with pytest.raises(ValueError):
        Settings(audit_pdf_max_events=0)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "There is no setting that turns auditing off" in readme
