"""The `docctl` command as a script uses it: no terminal, exit codes, the audit trail behind every change."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from docctl.blobstore.local import LocalBlobStore
from tests.web.conftest import STRONG


def run(data_dir: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DOCCTL_DATA_DIR": str(data_dir),
        "DOCCTL_ARGON2_TIME_COST": "1",
        "DOCCTL_ARGON2_MEMORY_KIB": "256",
        "DOCCTL_ARGON2_PARALLELISM": "1",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "docctl", *args], input=stdin, capture_output=True, text=True, env=environment,
        timeout=120, check=False,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.mark.req("E6-4.2.2a-i", "P11-10e.1")
def test_user_administration_from_a_script(data_dir):
    assert run(data_dir, "init").returncode == 0
    created = run(data_dir, "user", "create", "alice", "--name", "Alice Smith", "--role", "author",
                  "--password-stdin", stdin=STRONG + "\n")
    assert created.returncode == 0, created.stderr
    assert "created alice" in created.stdout and "temporary password" not in created.stdout
    generated = run(data_dir, "user", "create", "bob", "--name", "Bob Jones", "--role", "staff", "--role", "reviewer")
    assert generated.returncode == 0 and "temporary password: " in generated.stdout
    assert run(data_dir, "user", "grant", "alice", "reviewer", "--reason", "SOP reviewer").returncode == 0
    assert run(data_dir, "user", "revoke", "alice", "reviewer", "--reason", "rotation").returncode == 0
    reset = run(data_dir, "user", "reset-password", "bob", "--reason", "forgotten")
    assert reset.returncode == 0 and "temporary password: " in reset.stdout
    assert run(data_dir, "user", "deactivate", "bob", "--reason", "left").returncode == 0
    listing = run(data_dir, "user", "list").stdout
    assert "alice\tactive\tauthor" in listing and "bob\tdeactivated" in listing
    # failures exit non-zero with a message, never a traceback
    for args, text in (
        (("user", "create", "ALICE", "--name", "Other"), "never reused"),
        (("user", "grant", "nobody", "qa", "--reason", "x"), "no user"),
        (("user", "revoke", "alice", "qa", "--reason", "x"), "does not hold"),
        (("user", "deactivate", "bob", "--reason", "again"), "already deactivated"),
        (("user", "grant", "alice", "qa", "--reason", ""), "reason is required"),
    ):
        result = run(data_dir, *args)
        assert result.returncode == 1, args
        assert text in result.stderr and "Traceback" not in result.stderr, result.stderr
    weak = run(data_dir, "user", "create", "carol", "--name", "Carol", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr
    bad_role = run(data_dir, "user", "grant", "alice", "wizard", "--reason", "x")
    assert bad_role.returncode == 2
    with sqlite3.connect(data_dir / "docctl.sqlite3") as db:
        actions = [r[0] for r in db.execute("SELECT action FROM audit_events ORDER BY seq")]
    assert actions[:2] == ["system:init", "config:change"]
    for action in ("user:create", "role:grant", "role:revoke", "user:password_reset", "user:deactivate"):
        assert action in actions
    verified = run(data_dir, "audit", "verify")
    assert verified.returncode == 0 and f"{len(actions)} events" in verified.stdout


@pytest.mark.req("P11-10e.4")
def test_audit_verify_exits_non_zero_on_a_tampered_log(data_dir):
    run(data_dir, "init")
    run(data_dir, "user", "create", "alice", "--name", "Alice Smith", "--role", "author")
    with sqlite3.connect(data_dir / "docctl.sqlite3") as db:
        db.execute("DROP TRIGGER audit_events_no_update")
        db.execute("UPDATE audit_events SET canonical = replace(canonical, 'Alice', 'Mallory') WHERE seq = 3")
    result = run(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert "AUDIT TRAIL DOES NOT VERIFY" in result.stderr and "audit event 3" in result.stderr


def test_storage_scrub_and_tick(data_dir):
    assert run(data_dir, "init").returncode == 0
    scrub = run(data_dir, "storage", "scrub")
    assert scrub.returncode == 0, scrub.stderr
    (data_dir / "blobs").mkdir(parents=True, exist_ok=True)
    LocalBlobStore(data_dir / "blobs").put(io.BytesIO(b"orphan bytes"))
    orphan = run(data_dir, "storage", "scrub")
    assert "orphan" in orphan.stdout.lower()
    tick = run(data_dir, "tick")
    assert tick.returncode == 0 and "sessions ended" in tick.stdout


def test_configuration_changes_are_recorded_when_the_server_starts(data_dir):
    run(data_dir, "init")
    run(data_dir, "init", env={"DOCCTL_SESSION_IDLE_MINUTES": "10"})
    run(data_dir, "init", env={"DOCCTL_SESSION_IDLE_MINUTES": "10"})
    with sqlite3.connect(data_dir / "docctl.sqlite3") as db:
        rows = [r[0] for r in db.execute("SELECT canonical FROM audit_events WHERE action = 'config:change'")]
    assert len(rows) == 2
    change = json.loads(rows[1])
    assert change["before"]["configuration"]["session_idle_minutes"] == 15
    assert change["after"]["configuration"]["session_idle_minutes"] == 10
    assert change["after"]["changed"] == ["session_idle_minutes"]
    assert b"secret_key" not in rows[1] and b"development-secret" not in rows[1]


def test_production_mode_refuses_development_settings(data_dir):
    result = run(data_dir, "init", env={"DOCCTL_MODE": "production"})
    assert result.returncode == 1
    assert "production mode refuses development settings" in result.stderr
    assert "DOCCTL_SECRET_KEY" in result.stderr


def test_serve_refuses_an_unmigrated_postgresql(pg_server):
    name = pg_server.create_database()
    url = pg_server.url(name, "docctl_test_owner")
    result = run(Path("/nonexistent"), "serve", env={"DOCCTL_DATABASE_URL": url})
    assert result.returncode == 1 and "run `docctl migrate`" in result.stderr


def test_migrate_on_postgresql_grants_the_app_role(pg_server):
    name = pg_server.create_database()
    owner = pg_server.url(name, "docctl_test_owner")
    app = pg_server.url(name, "docctl_test_app")
    result = run(Path("/nonexistent"), "migrate", "--owner-url", owner, "--grant-to", "docctl_test_app",
                 env={"DOCCTL_DATABASE_URL": app})
    assert result.returncode == 0, result.stderr
    assert "granted role docctl_test_app" in result.stdout
    created = run(Path("/nonexistent"), "user", "create", "pgadmin", "--name", "Pg Admin", "--role", "admin",
                  env={"DOCCTL_DATABASE_URL": app})
    assert created.returncode == 0, created.stderr
    assert run(Path("/nonexistent"), "audit", "verify", env={"DOCCTL_DATABASE_URL": app}).returncode == 0


def test_help_works_without_a_terminal(data_dir):
    result = run(data_dir, "--help")
    assert result.returncode == 0
    for command in ("init", "serve", "migrate", "demo", "user", "audit", "storage", "tick"):
        assert command in result.stdout


def test_the_demo_instance_ca_is_valid_from_the_start_of_its_back_dated_history(tmp_path: Path) -> None:
    """`docctl demo` writes six weeks of history: the instance CA must be valid when its first signatures were made,
    or every signature in an evidence package fails `verify-package` (found by downloading one from the demo). An
    existing instance is never back-dated."""
    from datetime import UTC, datetime, timedelta

    from docctl import cli
    from docctl.config import Settings
    from docctl.services import signing_keys
    from docctl.signatures.certs import load_certificate

    settings = Settings(data_dir=tmp_path, mode="demo")
    database = cli._database(settings)
    start = datetime.now(UTC) - timedelta(days=42)
    cli._record_configuration(database, settings, first_at=start)
    with database.read() as s:
        first = signing_keys.instance_ca(s).certificate_pem
    assert load_certificate(first).not_valid_before_utc <= start
    cli._record_configuration(database, settings, first_at=start - timedelta(days=400))
    with database.read() as s:
        assert signing_keys.instance_ca(s).certificate_pem == first
    database.dispose()
