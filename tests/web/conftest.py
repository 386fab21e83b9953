"""A docctl app on a fresh database with a fixed clock, driven through Starlette's TestClient (real HTTP semantics,
real database, real blob store), plus helpers to create users and log in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from docctl.blobstore.factory import blobstore_from_url
from docctl.clock import FixedClock
from docctl.config import Settings
from docctl.db.models import User
from docctl.db.session import Database
from docctl.services import accounts, system
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal
from docctl.web.app import create_app
from tests.conftest import make_settings

BASE = "http://testserver"
STRONG = "Correct-Horse-42-Battery"


@dataclass
class Env:
    settings: Settings
    db: Database
    clock: FixedClock
    config: AccountConfig
    app: object

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=BASE)  # type: ignore[arg-type]

    def user(self, username: str, *roles: str, password: str = STRONG, full_name: str = "", own: bool = True,
             time_zone: str = "UTC") -> User:
        """A user whose password is their own (own=True) or still the administrator's (own=False)."""
        at = self.clock.now()
        with self.db.unit_of_work() as s:
            created = accounts.create_user(
                s, self.config, principal=Principal.operator(), username=username,
                full_name=full_name or username.title() + " Tester", roles=list(roles), at=at, time_zone=time_zone,
                password=None if own else password,
            )
        temp = created.temporary_password
        if own:
            assert temp is not None
            with self.db.read() as s:
                change = accounts.prepare_password_change(s, self.config, user_id=created.user.id,
                                                          current_password=temp, new_password=password,
                                                          at=at)
            with self.db.unit_of_work() as s:
                assert accounts.change_password(s, self.config, change=change, at=at)
        with self.db.read() as s:
            return accounts.get_user(s, created.user.id)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: TestClient, username: str, password: str = STRONG) -> TestClient:
    page = client.get("/login")
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_from(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def page_csrf(client: TestClient, path: str = "/") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_from(response.text)


def api_token(client: TestClient, username: str, password: str = STRONG) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _env(db_url: str, tmp_path: Path, clock: FixedClock, **overrides: object) -> Iterator[Env]:
    settings = make_settings(tmp_path, database_url=db_url, **overrides)
    database = Database.from_url(db_url)
    config = AccountConfig.from_settings(settings)
    with database.unit_of_work() as s:
        system.initialise(s, settings, at=clock.now())
    app = create_app(settings, database=database, clock=clock, accounts=config,
                     blobs=blobstore_from_url(settings.resolved_blobstore_url), run_scheduler=False)
    yield Env(settings, database, clock, config, app)
    database.dispose()


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Env]:
    """The app on SQLite (the embedded default)."""
    yield from _env(sqlite_url, tmp_path, clock)


@pytest.fixture
def any_env(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Env]:
    """The app on SQLite and on PostgreSQL (as the restricted application role)."""
    yield from _env(db_url, tmp_path, clock)
