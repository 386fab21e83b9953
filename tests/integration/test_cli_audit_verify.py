"""`docctl audit verify` as a script uses it: events, then the signed checkpoints, a progress bar on request."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from docctl.blobstore.factory import blobstore_from_url
from docctl.clock import SystemClock
from docctl.config import load_settings
from docctl.db.models import AuditCheckpoint
from docctl.db.session import Database
from docctl.services import checkpoints
from tests.integration.test_cli import run


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def two_checkpoints(data_dir: Path) -> tuple[int, int]:
    """A trail with two checkpoints: the first signed by `docctl tick`, the second (ten minutes on, which
    `tick` would not do before DOCCTL_CHECKPOINT_MINUTES) through the service against the same database file."""
    assert run(data_dir, "init").returncode == 0
    assert run(data_dir, "user", "create", "alice", "--name", "Alice Smith", "--role", "author").returncode == 0
    ticked = run(data_dir, "tick", env={"DOCCTL_CHECKPOINT_MINUTES": "1"})
    assert ticked.returncode == 0 and "audit checkpoint signed at tree size" in ticked.stdout, ticked.stdout
    assert run(data_dir, "user", "create", "bob", "--name", "Bob Jones", "--role", "staff").returncode == 0
    settings = load_settings(data_dir=data_dir)
    database = Database.from_url(settings.resolved_database_url)
    try:
        with database.unit_of_work() as s:
            row = checkpoints.make_checkpoint(
                s, blobstore_from_url(settings.resolved_blobstore_url),
                secret=settings.secret_key.get_secret_value().encode(),
                at=SystemClock().now() + timedelta(minutes=10), made_by="on demand",
            )
            assert row is not None
        with database.read() as s:
            sizes = sorted(r.tree_size for r in s.scalars(select(AuditCheckpoint)))
    finally:
        database.dispose()
    assert len(sizes) == 2
    return sizes[0], sizes[1]


@pytest.mark.req("P11-10e.4")
def test_a_clean_trail_verifies_with_its_checkpoints(data_dir):
    first, second = two_checkpoints(data_dir)
    result = run(data_dir, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "audit trail verified: " in result.stdout
    assert f"2 checkpoints verified (latest tree size {second})" in result.stdout
    assert second > first
    # no terminal, no --progress: no bar
    assert "verifying audit trail" not in result.stderr


@pytest.mark.req("P11-10e.4")
def test_progress_on_request(data_dir):
    two_checkpoints(data_dir)
    shown = run(data_dir, "audit", "verify", "--progress")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"verifying audit trail \[#+\] 100% (\d+)/\1 events, [\d,]+ events/s", shown.stderr), shown.stderr
    assert "events/s)" in shown.stderr  # the closing rate line
    assert "audit trail verified: " in shown.stdout  # stdout as without the bar
    quiet = run(data_dir, "audit", "verify", "--progress", "--quiet")
    assert quiet.returncode == 0 and "verifying audit trail" not in quiet.stderr


@pytest.mark.req("P11-10e.4")
def test_a_tampered_checkpoint_fails_verification(data_dir):
    first, _ = two_checkpoints(data_dir)
    with sqlite3.connect(data_dir / "docctl.sqlite3") as db:
        db.execute("DROP TRIGGER audit_checkpoints_no_update")
        (signature,) = db.execute("SELECT signature FROM audit_checkpoints WHERE tree_size = ?", (first,)).fetchone()
        flipped = signature[:-1] + bytes([signature[-1] ^ 1])
        db.execute("UPDATE audit_checkpoints SET signature = ? WHERE tree_size = ?", (flipped, first))
    result = run(data_dir, "audit", "verify")
    assert result.returncode == 1
    # the events still verify and are reported first; then the checkpoint, by name
    assert "audit trail verified: " in result.stdout
    assert "CHECKPOINT DOES NOT VERIFY" in result.stderr
    assert f"checkpoint at tree size {first} (" in result.stderr and "signature does not match" in result.stderr
    assert "checkpoints verified" not in result.stdout
    assert "Traceback" not in result.stderr
