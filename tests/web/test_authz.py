"""Every registered route declares who may call it, and the server refuses everyone else (P11-10d, P11-10g)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.routing import APIRoute

from docctl.domain.policy import POLICY, Permission, Role
from docctl.web.deps import Public, Require, RequireApi
from tests.web.conftest import api_token, login, page_csrf

PUBLIC_ROUTES = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("POST", "/api/v1/auth/token")}


def _guards(route: APIRoute) -> list[object]:
    found: list[object] = []

    def walk(dependant) -> None:  # type: ignore[no-untyped-def]
        for dep in dependant.dependencies:
            if isinstance(dep.call, Public | Require | RequireApi):
                found.append(dep.call)
            walk(dep)

    walk(route.dependant)
    return found


def _api_routes(routes) -> list[APIRoute]:  # type: ignore[no-untyped-def]
    """APIRoutes, descending into included routers (which docctl includes with no extra prefix or dependencies,
    so each router's own route objects are what is served)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(_api_routes(route.original_router.routes))
    return found


def _routes(app) -> list[tuple[str, str, object]]:  # type: ignore[no-untyped-def]
    out = []
    for route in _api_routes(app.routes):
        guards = _guards(route)
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, route.path, guards))
    return out


def _concrete(path: str) -> str:
    return (
        path.replace("{user_id}", str(uuid.uuid4()))
        .replace("{notification_id}", str(uuid.uuid4()))
        .replace("{role}", "author")
        .replace("{number}", "SOP-QA-001")
        .replace("{version}", "1.0")
        .replace("{page}", "1")
        .replace("{code}", "SOP")
        .replace("{task_id}", str(uuid.uuid4()))
        .replace("{signature_id}", str(uuid.uuid4()))
        .replace("{assignment_id}", str(uuid.uuid4()))
        .replace("{requirement_id}", str(uuid.uuid4()))
        .replace("{username}", "nobody")
        .replace("{seq}", "1")
    )


def test_every_route_declares_exactly_one_guard(env):
    routes = _routes(env.app)
    assert len(routes) > 20
    for method, path, guards in routes:
        assert len(guards) == 1, f"{method} {path} declares {len(guards)} guards"
        if (method, path) in PUBLIC_ROUTES:
            assert isinstance(guards[0], Public), f"{method} {path} should be public"
        else:
            assert not isinstance(guards[0], Public), f"{method} {path} is public but not on the public list"
        if path.startswith("/api/"):
            assert not isinstance(guards[0], Require), f"{method} {path}: API routes use bearer tokens"
        else:
            assert not isinstance(guards[0], RequireApi), f"{method} {path}: pages use sessions"


@pytest.mark.req("P11-10d")
def test_anonymous_requests_are_refused_on_every_route(env):
    client = env.client()
    checked = 0
    for method, path, _guards_of_route in _routes(env.app):
        if (method, path) in PUBLIC_ROUTES:
            continue
        response = client.request(method, _concrete(path), follow_redirects=False)
        if path.startswith("/api/"):
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.headers.get("www-authenticate") == "Bearer"
        elif method == "GET":
            assert response.status_code == 303, f"{method} {path}: {response.status_code}"
            assert response.headers["location"].startswith("/login?next=")
        else:
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        checked += 1
    assert checked > 15


def _lacking(permission: Permission) -> Role:
    """A role that does not carry the permission."""
    return next(r for r in Role if r not in POLICY[permission])


@pytest.mark.req("P11-10g")
def test_a_user_without_the_role_gets_403_on_every_protected_route(env):
    """For each route guarded by a permission, log in as a user holding every role but those that carry it."""
    by_permission: dict[Permission, list[tuple[str, str]]] = {}
    for method, path, guards in _routes(env.app):
        guard = guards[0]
        permission = getattr(guard, "permission", None)
        if permission is not None:
            by_permission.setdefault(permission, []).append((method, path))
    # reading work in progress and history depends on the revision's state, so services check it (tested with
    # the documents); every other permission guards at least one route
    assert set(by_permission) == set(Permission) - {Permission.DOCUMENTS_READ_ALL}
    env.user("boss", "admin")
    for n, (permission, routes) in enumerate(sorted(by_permission.items())):
        roles = [r.value for r in Role if r not in POLICY[permission]]
        username = f"lacks{n}"
        env.user(username, *roles)
        browser = login(env.client(), username)
        csrf = page_csrf(browser)
        headers = api_token(env.client(), username)
        api = env.client()
        for method, path in routes:
            url = _concrete(path)
            if path.startswith("/api/"):
                response = api.request(method, url, headers=headers, json={"reason": "x", "role": "author"})
            else:
                response = browser.request(method, url, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
            assert response.status_code == 403, f"{username} ({roles}) {method} {path}: {response.status_code}"


@pytest.mark.req("P11-10g")
def test_every_role_gets_exactly_what_the_policy_grants(env):
    """The role x permission matrix: each single-role user may or may not read the guarded pages."""
    probes = {Permission.USERS_READ: "/admin/users", Permission.AUDIT_READ: "/audit",
              Permission.USERS_MANAGE: "/admin/users/new", Permission.AUDIT_REVIEW: "/audit/reviews/new"}
    for role in Role:
        env.user(f"only-{role.value}".replace("_", "-"), role.value)
        client = login(env.client(), f"only-{role.value}".replace("_", "-"))
        for permission, path in probes.items():
            expected = 200 if role in POLICY[permission] else 403
            assert client.get(path).status_code == expected, (role, permission)


# What any logged-in person may change about their own account and session, inspectors included.
OWN_ACCOUNT = {("POST", "/logout"), ("POST", "/account/password"), ("POST", "/notifications/{notification_id}/read"),
               ("DELETE", "/api/v1/auth/token")}
# Inspection itself: starting "verify integrity" changes no record (it reads the trail; the run is recorded in the
# trail like every export). test_integrity_check.py proves the inspector can, and that the run changes nothing else.
INSPECTION = {("POST", "/audit/integrity"), ("POST", "/api/v1/audit/integrity-checks")}


@pytest.mark.req("P11-10d", "E6-2.12.14/EMA-A6")
def test_the_inspector_changes_nothing(env):
    """Read-only in fact: every state-changing route (beyond their own session, password and notifications)
    refuses an inspector, in the browser and through the API."""
    env.user("irene", "inspector")
    browser = login(env.client(), "irene")
    csrf = page_csrf(browser)
    headers = api_token(env.client(), "irene")
    api = env.client()
    mutating = [(m, p) for m, p, _ in _routes(env.app)
                if m in ("POST", "PUT", "PATCH", "DELETE") and (m, p) not in PUBLIC_ROUTES | OWN_ACCOUNT | INSPECTION]
    assert len(mutating) > 40
    for method, path in mutating:
        url = _concrete(path)
        if path.startswith("/api/"):
            response = api.request(method, url, headers=headers, json={"reason": "x", "role": "author"})
        else:
            response = browser.request(method, url, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
        assert response.status_code == 403, f"inspector {method} {path}: {response.status_code}"
