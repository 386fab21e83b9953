"""Browser tests: the real server (`docctl serve` in a subprocess, as a user would start it) driven by
Debian's Chromium through Playwright.

Never `playwright install`: Chromium comes from Debian (`/usr/bin/chromium`). When Chromium or Playwright is
missing the tests skip with the reason, and strict mode (CI) turns that skip into a failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

CHROMIUM = Path(os.environ.get("DOCCTL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
STARTUP_SECONDS = 60.0
# A password as an administrator would hand it over (policy-compliant) and the one the user then chooses.
ADMIN_SET = "Handed-Over-2026-Temp"
OWN = "Correct-Horse-42-Battery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docctl_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """A fresh embedded instance's environment: its own data dir, cheap argon2, no in-process scheduler."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCTL_")}
    env.update(
        DOCCTL_DATA_DIR=str(data_dir),
        DOCCTL_BASE_URL=f"http://127.0.0.1:{port}",
        DOCCTL_ARGON2_TIME_COST="1",
        DOCCTL_ARGON2_MEMORY_KIB="256",
        DOCCTL_ARGON2_PARALLELISM="1",
        DOCCTL_SCHEDULER_INTERVAL_SECONDS="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class LiveServer:
    """A running `docctl serve` on 127.0.0.1 and the CLI pointed at the same data directory."""

    url: str
    data_dir: Path
    env: dict[str, str]
    log_path: Path

    def docctl(self, *args: str, stdin: str | None = None) -> str:
        """Run `docctl <args>` (as the operator of this server); return its standard output."""
        done = subprocess.run(
            [sys.executable, "-m", "docctl", *args], env=self.env, input=stdin, capture_output=True,
            text=True, timeout=120, check=False,
        )
        assert done.returncode == 0, f"docctl {' '.join(args)} failed ({done.returncode}): {done.stderr}"
        return done.stdout

    def create_user(self, username: str, name: str, *roles: str, password: str = ADMIN_SET) -> None:
        """`docctl user create` with the password on stdin: set by an administrator, so it must be changed."""
        args = ["user", "create", username, "--name", name]
        for role in roles:
            args += ["--role", role]
        self.docctl(*args, "--password-stdin", stdin=password + "\n")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path,
                 timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text()[-4000:]
            raise RuntimeError(f"docctl serve exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    tail = log_path.read_text()[-4000:]
    raise RuntimeError(f"docctl serve did not answer /healthz within {timeout:.0f} s:\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """`docctl serve` on a free port with a fresh data directory; stopped (and its log kept) afterwards."""
    port = free_port()
    data_dir = tmp_path / "data"
    env = docctl_env(data_dir, port)
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "docctl", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        wait_healthy(url, process, log_path)
        yield LiveServer(url=url, data_dir=data_dir, env=env, log_path=log_path)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, once per session."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"Playwright is not installed: {exc}")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        try:
            launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            pytest.skip(f"Chromium at {CHROMIUM} did not start: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Tab:
    """One browser context and page, with every console error and uncaught page error collected."""

    page: Any
    base: str
    name: str
    errors: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.page.url)

    def shot(self, step: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        target = SCREENSHOTS / f"{self.name}-{len(self.shots) + 1:02d}-{step}.png"
        self.page.screenshot(path=str(target), full_page=True)
        self.shots.append(target)
        return target

    def htmx_loaded(self) -> bool:
        return bool(self.page.evaluate('typeof htmx !== "undefined"'))

    def expect_error_status(self, status: int) -> None:
        """Chromium logs a page answered with an error status (a refused form: 422) as a console error;
        take the ones a step deliberately caused off the list, so that only unexpected errors remain."""
        marker = f"the server responded with a status of {status} "
        expected = [e for e in self.errors if marker in e]
        assert expected, f"no response with status {status} was logged"
        self.errors[:] = [e for e in self.errors if marker not in e]

    def assert_no_errors(self) -> None:
        listed = "\n".join(self.errors)
        assert not self.errors, f"console or page errors (CSP violations show up here):\n{listed}"


@pytest.fixture
def new_tab(browser: Any, live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of fresh browser contexts (separate cookie jars: one per person) on the live server."""
    contexts: list[Any] = []

    def make(person: str) -> Tab:
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        tab = Tab(page=page, base=live_server.url, name=f"{request.node.name}-{person}")

        def console(msg: Any) -> None:
            if msg.type == "error":
                tab.errors.append(f"console: {msg.text} @ {msg.location.get('url', '')}")

        page.on("console", console)
        page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
        return tab

    yield make
    for context in contexts:
        context.close()
