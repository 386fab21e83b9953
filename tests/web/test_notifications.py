"""Notifications reach administrators in the app and, when SMTP is configured, by e-mail through a real SMTP
server (aiosmtpd on a local port); the scheduler tick sends them and, on PostgreSQL, runs in one process at a time."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text

from docctl.db.models import Notification, User
from docctl.services import system
from tests.web.conftest import csrf_from


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.mark.req("P11-300d")
def test_lockout_alert_is_emailed_to_administrators(smtp, sqlite_url, tmp_path, clock):
    from tests.web.conftest import _env

    inbox, url = smtp
    env = next(_env(sqlite_url, tmp_path, clock, smtp_url=url, mail_from="docctl@example.org"))
    admin = env.user("root", "admin")
    with env.db.unit_of_work() as s:
        s.get(User, admin.id).email = "root@example.org"
    env.user("victim", "staff")
    for _ in range(5):
        client = env.client()
        client.post("/login", data={"username": "victim", "password": "guess",
                                    "csrf_token": csrf_from(client.get("/login").text)})
    env.clock.advance(timedelta(seconds=30))
    with env.db.unit_of_work() as s:
        report = system.tick(s, env.settings, env.config, at=env.clock.now())
    assert report.emails_sent == 1
    sender, recipients, body = inbox.messages[0]
    assert sender == "docctl@example.org" and recipients == ["root@example.org"]
    assert "Account locked: victim" in body
    with env.db.read() as s:
        note = s.scalars(select(Notification)).one()
    assert note.email_state == "sent" and note.email_sent_at == env.clock.now()


def test_scheduler_runs_in_one_process_at_a_time_on_postgresql(any_env):
    if any_env.db.dialect != "postgresql":
        with any_env.db.unit_of_work() as s:
            assert not system.tick(s, any_env.settings, any_env.config, at=any_env.clock.now()).skipped
        return
    with any_env.db.engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": system.SCHEDULER_LOCK})
        with any_env.db.unit_of_work() as s:
            assert system.tick(s, any_env.settings, any_env.config, at=any_env.clock.now()).skipped
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": system.SCHEDULER_LOCK})
    with any_env.db.unit_of_work() as s:
        assert not system.tick(s, any_env.settings, any_env.config, at=any_env.clock.now()).skipped


def test_an_unreachable_mail_server_leaves_the_outbox_for_later(sqlite_url, tmp_path, clock):
    from tests.web.conftest import _env

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    env = next(_env(sqlite_url, tmp_path, clock, smtp_url=f"smtp://127.0.0.1:{dead}"))
    env.user("root", "admin")
    env.user("victim", "staff")
    for _ in range(5):
        client = env.client()
        client.post("/login", data={"username": "victim", "password": "guess",
                                    "csrf_token": csrf_from(client.get("/login").text)})
    with env.db.unit_of_work() as s:
        assert system.tick(s, env.settings, env.config, at=env.clock.now()).emails_sent == 0
    with env.db.read() as s:
        assert s.scalars(select(Notification.email_state)).one() == "pending"
