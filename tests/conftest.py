"""Shared fixtures. Real components only: SQLite files, the PostgreSQL server, an rclone S3 server, Chromium.

In CI (`CI=true` or `DOCCTL_STRICT_TESTS=1`) a skipped test is a failed test: nothing may be skipped.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from docctl.clock import FixedClock
from docctl.config import Settings

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.s3"]

STRICT = os.environ.get("CI", "").lower() in {"1", "true", "yes"} or os.environ.get("DOCCTL_STRICT_TESTS") == "1"
SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():  # a clone elsewhere: shared/ sits beside the checkout
    SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_configure(config: pytest.Config) -> None:
    from tests.fixtures.requirements import RequirementsReport

    config.pluginmanager.register(RequirementsReport(SHARED), "docctl-requirements")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (CI): nothing may be skipped: {report.longrepr}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC))


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for tests: a private data dir and cheap argon2 (the production floor is enforced elsewhere)."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 256,
        "argon2_parallelism": 1,
        "signing_kdf_n": 2**10,
        "scheduler_interval_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def shared_dir() -> Path:
    return SHARED
