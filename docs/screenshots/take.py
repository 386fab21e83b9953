"""Take the README screenshots (dashboard.png, audit.png) of a fresh demo instance. Re-run after UI changes:

    .venv/bin/python docs/screenshots/take.py [--keep]

Starts `docctl demo` on a free port with a temporary DOCCTL_DATA_DIR, logs in as `admin` with the password
from <data dir>/demo-credentials.txt, does a few things so the audit trail has something to show (failed
logins locking `staff` out, which alerts the administrators, and the unlock; a new user created through the
form, a role granted with a reason, that user's first login and forced password change), then saves 1280x800
screenshots here. Uses Debian's Chromium (/usr/bin/chromium) through Playwright; never runs
`playwright install`. `--keep` leaves the data directory in place and prints its path.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
NEW_USER = ("jdoe", "Jordan Doe", "Clinical Research Associate")
NEW_PASSWORD = "Quiet-Lantern-2026-Rivers"  # noqa: S105 (a throwaway demo account's password)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_demo(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCTL_")}
    env.update(DOCCTL_DATA_DIR=str(data_dir), DOCCTL_BASE_URL=f"http://127.0.0.1:{port}",
               DOCCTL_SCHEDULER_INTERVAL_SECONDS="0", PYTHONUNBUFFERED="1")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "docctl", "demo", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"docctl demo exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"docctl demo did not come up:\n{log_path.read_text()}")


def demo_password(data_dir: Path, username: str) -> str:
    for line in (data_dir / "demo-credentials.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _role, password = line.split("\t")
            if name == username:
                return password
    raise SystemExit(f"no demo credentials for {username}")


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


def stage(page: Page, new_user_page: Page, base: str, admin_password: str) -> None:
    # Five mistyped passwords lock `staff` out; the administrators are alerted (a dashboard notification).
    for attempt in range(5):
        log_in(page, base, "staff", f"not-the-password-{attempt}")
    log_in(page, base, "admin", admin_password)
    if page.url != f"{base}/":
        raise SystemExit(f"admin login failed: ended on {page.url}")

    # A new user through the form; the temporary password is shown once.
    username, full_name, title = NEW_USER
    page.goto(f"{base}/admin/users/new")
    page.fill("#username", username)
    page.fill("#full_name", full_name)
    page.fill("#title", title)
    page.fill("#email", f"{username}@example.test")
    page.fill("#time_zone", "Europe/Berlin")
    page.check("input[name=roles][value=staff]")
    with page.expect_navigation():
        page.click("form[action='/admin/users'] button[type=submit]")
    temporary = page.locator("code.secret").inner_text().strip()

    # A role granted with a reason (the htmx form swaps the panel in place).
    page.select_option("#grant-role", "reviewer")
    page.fill("#grant-reason", "Trained on SOP-CLN-004 (protocol review); training record TR-2026-118")
    page.click("form[hx-post$='/roles'] button[type=submit]")
    page.locator("#user-panel .alert-ok").wait_for()

    # The locked account is unlocked, with a reason.
    page.goto(f"{base}/admin/users")
    page.click("a:text-is('staff')")
    page.fill("#unlock-reason", "Identity confirmed by phone; mistyped after a keyboard layout change")
    page.click("form[hx-post$='/unlock'] button[type=submit]")
    page.locator("#user-panel .alert-ok").wait_for()

    # The new user's first login: the administrator's password must be replaced before anything else.
    log_in(new_user_page, base, username, temporary)
    new_user_page.fill("#current_password", temporary)
    new_user_page.fill("#new_password", NEW_PASSWORD)
    new_user_page.fill("#confirm_password", NEW_PASSWORD)
    with new_user_page.expect_navigation():
        new_user_page.click("form[action='/account/password'] button[type=submit]")
    with new_user_page.expect_navigation():
        new_user_page.click("form[action='/logout'] button[type=submit]")


def main() -> None:
    keep = "--keep" in sys.argv[1:]
    work = Path(tempfile.mkdtemp(prefix="docctl-screens-"))
    data_dir = work / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_demo(data_dir, port, work / "server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            admin = browser.new_context(viewport=VIEWPORT).new_page()
            other = browser.new_context(viewport=VIEWPORT).new_page()
            stage(admin, other, base, demo_password(data_dir, "admin"))

            admin.goto(f"{base}/")
            admin.screenshot(path=str(HERE / "dashboard.png"))
            admin.goto(f"{base}/audit")
            admin.screenshot(path=str(HERE / "audit.png"))
            browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if keep:
            print(f"data directory kept: {data_dir}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {HERE / 'dashboard.png'} and {HERE / 'audit.png'}")


if __name__ == "__main__":
    main()
