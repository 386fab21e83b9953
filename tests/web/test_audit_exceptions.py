"""Exception reports: a trail seeded with known anomalies among normal work; each report flags exactly the seeded
anomalies of its kind, on the page, in the CSV export and in the PDF export of the report."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from docctl.audit import log
from docctl.audit.tags import Tag
from docctl.clock import FixedClock
from docctl.config import load_settings
from docctl.errors import ConfigurationError
from docctl.services import accounts, approvals, documents, revisions
from docctl.services.audit_exceptions import WorkingHours
from docctl.services.principal import Principal
from tests.fixtures.files import make_pdf
from tests.fixtures.workflow import make_ready
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import STRONG, Env, _env, api_token, login
from tests.web.test_documents import make_effective, new_document, upload

pytestmark = pytest.mark.req("MHRA-6.13/EMA-6.2.2")

LONDON = "Europe/London"
# the report's dates, London days: Mon 23 March to Fri 3 April 2026; British Summer Time starts Sun 29 March 01:00 UTC
RANGE = {"since": "2026-03-23", "until": "2026-04-03"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def report_env(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Env]:
    yield from _env(db_url, tmp_path, clock, working_timezone=LONDON)


class Seeder:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.tokens: dict[str, dict[str, str]] = {}

    def step(self, when: str, action: Callable[[], Any]) -> list[dict[str, Any]]:
        """Run `action` at `when` (UTC) and return the events it appended."""
        self.env.clock.set(at(when))
        start = last_seq(self.env.db)
        action()
        return events_since(self.env.db, start)

    def token(self, who: str) -> dict[str, str]:
        self.tokens[who] = api_token(self.env.client(), who)
        return self.tokens[who]

    def user_id(self, who: str) -> str:
        return self.env.client().get("/api/v1/me", headers=self.tokens[who]).json()["id"]


def seqs(events: list[dict[str, Any]], *actions: str) -> set[int]:
    return {e["seq"] for e in events if not actions or e["action"] in actions}


def seed(env: Env) -> dict[str, set[int]]:
    """Setup on 2 March (before the report's dates), then the anomalies and normal work within them."""
    s = Seeder(env)
    env.clock.set(at("2026-03-02T10:00:00"))
    for name, role in (("adm", "admin"), ("late", "staff"), ("insp", "inspector"), ("dc", "document_control"),
                       ("writer", "author"), ("bob", "staff"), ("carol", "staff"), ("rev", "reviewer"),
                       ("appr", "approver"), ("qa1", "qa")):
        env.user(name, role, time_zone=LONDON)
    with env.db.read() as db:
        ids = {u.username: u.id for u in accounts.list_users(db, principal=Principal.operator())}
    for name in ("rev", "appr", "qa1"):
        make_ready(env.db, env.config, ids[name], at=env.clock.now())
    approved = new_document(env)["number"]
    assert upload(env, approved, make_pdf(1), "a.pdf").status_code == 201
    make_effective(env, approved, "1.0")
    draft = new_document(env, title="Never approved")["number"]
    assert upload(env, draft, make_pdf(1), "b.pdf").status_code == 201
    in_review = new_document(env, title="Waiting for review")["number"]
    assert upload(env, in_review, make_pdf(1), "c.pdf").status_code == 201
    with env.db.unit_of_work() as db:
        approvals.submit(db, principal=_principal(env, "writer"), number=in_review, version="1.0",
                         at=env.clock.now())
    with env.db.read() as db:
        r = revisions.find(documents.get_document(db, in_review), "1.0")
        task = next(t for t in approvals.tasks_of(db, r.id) if t.state == "pending")
        task_id, rev_user = str(task.id), task.assignee_id
    rev_name = next(n for n, i in ids.items() if i == rev_user)

    flagged: dict[str, set[int]] = {k: set() for k in (
        "changes-after-approval", "admin-actions", "outside-working-hours", "failed-logins-signatures", "lockouts",
        "role-changes")}
    admin, failed, locks, roles, hours = (flagged["admin-actions"], flagged["failed-logins-signatures"],
                                          flagged["lockouts"], flagged["role-changes"],
                                          flagged["outside-working-hours"])
    client = env.client()

    # Monday 23 March (GMT), working hours: normal work
    s.step("2026-03-23T08:30:00", lambda: s.token("writer"))
    s.step("2026-03-23T08:40:00", lambda: s.token("dc"))
    late_before = s.step("2026-03-23T08:50:00", lambda: s.token("late"))  # not yet an administrator
    assert seqs(late_before, "token:issue")
    # the administrator at work: signs in, grants and revokes a role, unlocks an account
    admin |= seqs(s.step("2026-03-23T09:00:00", lambda: s.token("adm")))
    bad = s.step("2026-03-23T09:10:00", lambda: client.post(
        "/api/v1/auth/token", json={"username": "bob", "password": "wrong-password-1"}))
    assert [e["action"] for e in bad] == ["user:login_failed"]
    failed |= seqs(bad)

    def carol_locks_herself_out() -> None:
        for _ in range(env.settings.lockout_threshold):
            client.post("/api/v1/auth/token", json={"username": "carol", "password": "wrong-password-2"})

    lockout = s.step("2026-03-23T09:20:00", carol_locks_herself_out)
    assert len(seqs(lockout, "user:login_failed")) == env.settings.lockout_threshold
    assert len(seqs(lockout, "user:locked")) == 1
    failed |= seqs(lockout, "user:login_failed")
    locks |= seqs(lockout, "user:locked")
    bob, carol, late = (str(ids[n]) for n in ("bob", "carol", "late"))
    grant = s.step("2026-03-23T09:30:00", lambda: client.post(
        f"/api/v1/users/{bob}/roles", headers=s.tokens["adm"], json={"role": "reviewer", "reason": "covers QC"}))
    revoke = s.step("2026-03-23T10:00:00", lambda: client.post(
        f"/api/v1/users/{bob}/roles/reviewer/revoke", headers=s.tokens["adm"], json={"reason": "cover ended"}))
    unlock = s.step("2026-03-23T10:30:00", lambda: client.post(
        f"/api/v1/users/{carol}/unlock", headers=s.tokens["adm"], json={"reason": "identity confirmed by phone"}))
    assert [e["action"] for e in grant + revoke + unlock] == ["role:grant", "role:revoke", "user:unlocked"]
    roles |= seqs(grant + revoke)
    locks |= seqs(unlock)
    admin |= seqs(grant + revoke + unlock)
    # a failed signature (wrong password at signing)
    s.step("2026-03-23T11:00:00", lambda: s.token(rev_name))
    wrong = s.step("2026-03-23T11:05:00", lambda: client.post(
        f"/api/v1/tasks/{task_id}/sign", headers=s.tokens[rev_name],
        json={"username": rev_name, "password": "not-my-password-9", "meaning": "Reviewed"}))
    assert [e["action"] for e in wrong] == ["signature:failed"]
    failed |= seqs(wrong)

    # Tuesday 24 March: metadata changed on the approved document (flagged) and on one never approved (not)
    def edit(number: str, title: str) -> None:
        response = client.patch(f"/api/v1/documents/{number}", headers=s.tokens["dc"],
                                json={"title": title, "reason": "title aligned with the new template"})
        assert response.status_code == 200, response.text

    after_approval = s.step("2026-03-24T10:00:00", lambda: edit(approved, "Monitoring visits (renamed)"))
    assert [e["action"] for e in after_approval] == ["document:update"]
    flagged["changes-after-approval"] |= seqs(after_approval)
    assert [e["action"] for e in s.step("2026-03-24T10:30:00", lambda: edit(draft, "Still a draft"))] == [
        "document:update"]
    # 03:00 in London on a working day: someone at work in the night
    hours |= seqs(s.step("2026-03-24T03:00:00", lambda: s.token("writer")))
    # Wednesday: the administrator makes `late` an administrator; late works as one and revokes adm's role
    promote = s.step("2026-03-25T10:00:00", lambda: client.post(
        f"/api/v1/users/{late}/roles", headers=s.tokens["adm"], json={"role": "admin", "reason": "second admin"}))
    roles |= seqs(promote)
    admin |= seqs(promote)
    admin |= seqs(s.step("2026-03-25T11:00:00", lambda: s.token("late")))
    adm = str(ids["adm"])
    demote = s.step("2026-03-25T12:00:00", lambda: client.post(
        f"/api/v1/users/{adm}/roles/admin/revoke", headers=s.tokens["late"], json={"reason": "left IT"}))
    roles |= seqs(demote)
    admin |= seqs(demote)
    s.step("2026-03-25T13:00:00", lambda: s.token("adm"))  # adm no longer holds the role: not an admin action
    # Saturday 28 March at noon: weekend work
    hours |= seqs(s.step("2026-03-28T12:00:00", lambda: s.token("qa1")))

    # Sunday 29 March 02:00 UTC, summer time: a configuration change by the system (admin report, not "activity")
    def config_change() -> None:
        with env.db.unit_of_work() as db:
            log.append(db, Tag.CONFIG_CHANGE, actor=log.SYSTEM, subject=log.Subject("setting", "checkpoint_minutes"),
                       at=env.clock.now(), before={"checkpoint_minutes": 5}, after={"checkpoint_minutes": 10})

    admin |= seqs(s.step("2026-03-29T02:00:00", config_change))
    # Monday 30 March, BST: 06:30 UTC is 07:30 in London (working), 18:30 UTC is 19:30 (not): the zone's offset
    # moved, so a report in UTC or in winter time would get both wrong
    s.step("2026-03-30T06:30:00", lambda: s.token("dc"))
    hours |= seqs(s.step("2026-03-30T18:30:00", lambda: s.token("dc")))
    s.step("2026-04-02T15:00:00", lambda: s.token("writer"))  # Thursday afternoon: normal
    assert all(len(v) for v in flagged.values())
    env.clock.set(at("2026-04-08T10:00:00"))  # the reviewer's own events come after the report's dates
    return flagged


def _principal(env: Env, username: str) -> Principal:
    with env.db.read() as db:
        user = next(u for u in accounts.list_users(db, principal=Principal.operator()) if u.username == username)
        return Principal.of(accounts.get_user(db, user.id))


def page_seqs(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'<td class="num">(\d+)</td>', html)}


def csv_seqs(response) -> set[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8")[1:], newline="")))
    return {int(r["seq"]) for r in rows}


def pdf_seqs(response) -> set[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    return {int(n) for n in re.findall(r"#(\d+) ", text)}


def test_each_report_flags_exactly_the_seeded_anomalies(report_env):
    env = report_env
    flagged = seed(env)
    client = login(env.client(), "insp")
    index = client.get("/audit/exceptions", params=RANGE)
    assert index.status_code == 200, index.text
    for preset, expected in flagged.items():
        assert f'href="/audit/exceptions/{preset}?since=2026-03-23&amp;until=2026-04-03"' in index.text
        page = client.get(f"/audit/exceptions/{preset}", params=RANGE)
        assert page.status_code == 200, page.text
        assert page_seqs(page.text) == expected, preset
        count = re.search(rf'/audit/exceptions/{preset}\?[^"]*">[^<]+</a></th>\s*<td>.*?</td>\s*<td class="num">'
                          r"(?:<[^>]+>)?(\d+)", index.text, re.S)
        assert count and int(count.group(1)) == len(expected), preset
        query = f"preset={preset}&amp;since=2026-03-23&amp;until=2026-04-03"
        assert f'href="/audit/export.csv?{query}"' in page.text and f'href="/audit/export.pdf?{query}"' in page.text
        assert csv_seqs(client.get("/audit/export.csv", params={"preset": preset, **RANGE})) == expected, preset
        pdf = client.get("/audit/export.pdf", params={"preset": preset, **RANGE})
        assert pdf_seqs(pdf) == expected, preset
        export = events_since(env.db, last_seq(env.db) - 1)[0]
        assert export["action"] == "audit:export" and export["actor"]["username"] == "insp"
        assert export["after"]["format"] == "pdf"
        assert export["after"]["filters"]["preset"] == preset
        assert export["after"]["checkpoint"]["tree_size"] == int(pdf.headers["x-docctl-checkpoint-tree-size"])
        assert export["after"]["checkpoint"]["root"] == pdf.headers["x-docctl-checkpoint-root"]
    # keyset pages of a report: three at a time, older and older, the whole report once
    expected, seen, older = flagged["failed-logins-signatures"], [], None
    while True:
        params = {**RANGE, "limit": 3, **({"before": older} if older else {})}
        page = client.get("/audit/exceptions/failed-logins-signatures", params=params)
        found = sorted(page_seqs(page.text), reverse=True)
        assert 0 < len(found) <= 3
        seen += found
        link = re.search(r'href="/audit/exceptions/failed-logins-signatures\?[^"]*before=(\d+)"', page.text)
        if not link:
            break
        older = int(link.group(1))
    assert seen == sorted(expected, reverse=True)


def test_api_preset_and_working_hours_in_the_export_event(report_env):
    env = report_env
    flagged = seed(env)
    headers = api_token(env.client(), "insp", STRONG)
    client = env.client()
    span = {"since": "2026-03-23T00:00:00Z", "until": "2026-04-04T00:00:00Z"}
    for preset, expected in flagged.items():
        listed = client.get("/api/v1/audit", headers=headers, params={"preset": preset, **span})
        assert listed.status_code == 200, listed.text
        assert {e["seq"] for e in listed.json()["events"]} == expected, preset
        assert listed.json()["total"] == len(expected)
    csv_response = client.get("/api/v1/audit/export.csv", headers=headers,
                              params={"preset": "outside-working-hours", **span})
    assert csv_seqs(csv_response) == flagged["outside-working-hours"]
    export = events_since(env.db, last_seq(env.db) - 1)[0]
    assert export["after"]["format"] == "csv"
    assert export["after"]["filters"] == {"preset": "outside-working-hours", "since": "2026-03-23T00:00:00.000000Z",
                                          "until": "2026-04-04T00:00:00.000000Z",
                                          "working_hours": "Mon-Fri 07:00-19:00 Europe/London"}
    assert client.get("/api/v1/audit", headers=headers, params={"preset": "nonsense"}).status_code == 404


def test_unknown_report_is_404_and_staff_cannot_see_reports(report_env):
    env = report_env
    env.user("insp", "inspector")
    env.user("bob", "staff")
    assert login(env.client(), "insp").get("/audit/exceptions/not-a-report").status_code == 404
    staff = login(env.client(), "bob")
    for path in ("/audit/exceptions", "/audit/exceptions/admin-actions"):
        assert staff.get(path).status_code == 403
    trail = login(env.client(), "insp").get("/audit")
    assert 'href="/audit/exceptions"' in trail.text


def test_outside_hours_needs_a_bounded_range(report_env):
    env = report_env
    env.user("insp", "inspector")
    headers = api_token(env.client(), "insp")
    response = env.client().get("/api/v1/audit", headers=headers, params={
        "preset": "outside-working-hours", "since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert "366 days" in response.text


def test_working_hours_intervals_follow_the_zone_across_dst():
    hours = WorkingHours.parse("07:00-19:00", "Mon-Fri", LONDON)
    # Friday 27 March (GMT) to Tuesday 31 March (BST)
    out = hours.outside(at("2026-03-27T00:00:00"), at("2026-03-31T00:00:00"))
    assert out == [
        (at("2026-03-27T00:00:00"), at("2026-03-27T07:00:00")),
        (at("2026-03-27T19:00:00"), at("2026-03-30T06:00:00")),  # the weekend, and Monday before 07:00 BST
        (at("2026-03-30T18:00:00"), at("2026-03-31T00:00:00")),
    ]
    israel = WorkingHours.parse("08:30-17:00", "Sun-Thu", "Asia/Jerusalem")
    assert israel.days == frozenset({6, 0, 1, 2, 3})
    assert israel.describe() == "Mon-Thu,Sun 08:30-17:00 Asia/Jerusalem"
    assert WorkingHours.parse("09:00-17:00", "Mon,Wed-Fri", "UTC").describe() == "Mon,Wed-Fri 09:00-17:00 UTC"
    for bad in (("19:00-07:00", "Mon-Fri"), ("7-19", "Mon-Fri"), ("07:00-19:00", "Weekdays")):
        with pytest.raises(ConfigurationError):
            WorkingHours.parse(*bad, LONDON)
        with pytest.raises(ConfigurationError, match="DOCCTL_WORKING_"):  # refused at start-up
            load_settings(working_hours=bad[0], working_days=bad[1])
